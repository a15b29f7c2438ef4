"""What every pipeline stage shares: shared files written by the main process only, and work directories
that are resumed only by the training they were started for."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from models.io import atomic_write_text

log = logging.getLogger(__name__)
T = TypeVar("T")


def on_main_process(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Under `accelerate launch` every process runs the pipeline; steps that write shared files
    (folds, merged models, checkpoints, reports) run on the main process while the others wait.
    In a single process this is just `fn(...)`."""
    from accelerate import PartialState

    state = PartialState()
    result = fn(*args, **kwargs) if state.is_main_process else None
    state.wait_for_everyone()
    return result


def write_json(path: Path, doc: Any) -> None:
    atomic_write_text(path, json.dumps(doc) + "\n")


def prepare_dir(path: Path, identity: dict[str, Any]) -> None:
    """Make `path` the working directory of a training described by `identity`: kept (and resumed
    from) if it was started for the same identity, emptied first otherwise, since Trainer checkpoints
    of other data or settings must not be resumed from."""
    marker = path / "identity.json"
    if path.exists():
        same = marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == identity
        if same:
            return
        log.warning("%s holds a training with other data or settings; starting it afresh", path)
        on_main_process(shutil.rmtree, path)
    on_main_process(write_json, marker, identity)
