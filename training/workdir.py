"""What every pipeline stage shares: shared files written by the main process only, and work directories
that are resumed only by the training they were started for."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from models.io import atomic_write_text

log = logging.getLogger(__name__)
T = TypeVar("T")


# How long the other processes wait while the main one works alone. Torch's default (30 min) is shorter
# than main-only stages can take at full scale: translating every query with an MT model, merging a 12B
# model. A process that fails ends the launch (the launcher stops the others), so waiting long costs nothing.
MAIN_PROCESS_TIMEOUT = timedelta(hours=12)


def distributed_state() -> Any:
    """accelerate's `PartialState`: how many processes run the pipeline and which one this is. The first
    call joins the process group; on CPU (`ACCELERATE_USE_CPU=true`) that is gloo, as the Trainer expects."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"), timeout=MAIN_PROCESS_TIMEOUT)


def on_main_process(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Under `accelerate launch` every process runs the pipeline; steps that write shared files
    (translations, folds, merged models, checkpoints, reports) run on the main process while the others
    wait. In a single process this is just `fn(...)`.

    Everyone meets before `fn` as well as after: a process that checked whether a file exists before
    calling this cannot see the main process's write, so all of them take the same branch and meet the
    same barriers (`if not saved: on_main_process(save)` is safe)."""
    state = distributed_state()
    state.wait_for_everyone()
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
