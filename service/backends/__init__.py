"""Scoring backends behind one contract (`service.backends.base.Backend`); each backend is one module.

A backend module exposes `async def load_backend(checkpoint, *, settings) -> Backend`. Modules are imported
only when selected (`settings.backend`), so the torch service never imports vLLM and vice versa.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from service.backends.base import Backend, BackendError, BackendLimits

if TYPE_CHECKING:
    from models import Checkpoint
    from service.settings import Settings

BackendFactory = Callable[["Checkpoint", "Settings"], Awaitable[Backend]]
BACKENDS = ("torch", "vllm")

__all__ = ["BACKENDS", "Backend", "BackendError", "BackendFactory", "BackendLimits", "load_backend"]


async def load_backend(checkpoint: Checkpoint, settings: Settings) -> Backend:
    """The default factory: the backend module named by `settings.backend`, imported on first use."""
    if settings.backend not in BACKENDS:
        raise ValueError(f"unknown backend {settings.backend!r}; use one of {', '.join(BACKENDS)}")
    try:
        module = importlib.import_module(f"service.backends.{settings.backend}")
    except ImportError as exc:
        raise BackendError(f"backend {settings.backend!r} is not available here: {exc}") from exc
    return await module.load_backend(checkpoint, settings=settings)
