"""The backend contract: everything the service needs from a model runtime, and nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from models import Checkpoint, EncodedPair


@dataclass(frozen=True, slots=True)
class BackendLimits:
    max_batch_pairs: int  # most pairs one `score` call accepts
    max_batch_tokens: int  # most (padded) tokens one call accepts
    max_model_len: int  # longest single input, special tokens included
    # A new batch's fixed cost in padded tokens (`models.inference.pack_sorted`): the batcher cuts a batch
    # rather than pad it by more. None: the runtime does not pad (vLLM packs tokens), so never cut for it.
    batch_cost_tokens: int | None = None
    # False: batches keep arrival order, a request's pairs together (a bi-encoder embeds each distinct
    # query once per batch and pads each side on its own, so sorting pairs by length only scatters them).
    length_sorted: bool = True


@runtime_checkable
class Backend(Protocol):
    """A loaded checkpoint that scores already-encoded pairs: token ids in, probabilities out.

    Tokenization is not the backend's: the service encodes pairs with `models.PairEncoder` (shared with
    training) before they reach the batcher (`service.encoding`), so a backend never sees raw text and
    both backends and the offline pipeline score identical token ids.
    """

    name: str  # "torch" | "vllm"
    checkpoint: Checkpoint

    @property
    def limits(self) -> BackendLimits: ...

    async def score(self, batch: Sequence[EncodedPair]) -> list[float]:
        """Probabilities of relevance, in batch order. Raises `BackendError` on engine failure."""
        ...

    async def healthy(self) -> bool: ...

    async def close(self) -> None: ...


@runtime_checkable
class ExposesMetrics(Protocol):
    """Optional for a backend: its own Prometheus collectors (e.g. vLLM's `vllm:` families), rendered by
    the service's `/metrics` after the service's registry. (A backend module also exposes
    `async def load_backend(checkpoint, *, settings) -> Backend`, which `service.backends` calls.)"""

    def metrics_registries(self) -> Sequence[object]: ...


def runtime_of(backend: Backend) -> str:
    """What runs `backend`'s model: its `runtime` attribute where it has one (the torch backend: "torch",
    or "onnxruntime" when ONNX Runtime runs a bi-encoder's transformer, `Settings.encoder_runtime`), else
    the backend's name. Optional, so a backend that is its own runtime (vLLM) need not say it twice."""
    return str(getattr(backend, "runtime", backend.name))


class BackendError(RuntimeError):
    """The runtime failed (engine dead, out of memory); the service answers 503."""
