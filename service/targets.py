"""A bi-encoder's target catalogue, embedded before its model serves.

A bi-encoder's target embedding does not depend on the query, and the backends keep the targets they have
embedded (`models.biencoder.TargetCache`, 65,536 entries). A catalogue known ahead — the category tree, a
shop's titles — is embedded once at load (`RELEVANCE_WARM_TARGETS='{"qc": "categories.txt"}'`), so from the
first request a K-candidate request costs one query pass instead of K + 1 passes (docs/benchmarks.md: 33
pairs/s cold, 520 warm, for EmbeddingGemma at K = 16 on 2 CPU cores). It is done before the generation is
published, so a replica reports ready only once its catalogue is in memory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from models import PairInput, Task
from models.biencoder import TARGET_CACHE_SIZE

if TYPE_CHECKING:
    from models import PairEncoder
    from service.backends import Backend

log = logging.getLogger(__name__)
WARM_QUERY = "warm-up"  # any query: the pass embeds it once per batch, only the targets are kept


def read_catalogue(path: Path) -> list[str]:
    """Distinct non-blank lines of a UTF-8 text file, in order: one target (category path, title) each."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"warm_targets: cannot read {path}: {exc}") from None
    targets = list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if not targets:
        raise ValueError(f"warm_targets: {path} holds no targets (one per line)")
    if len(targets) > TARGET_CACHE_SIZE:
        log.warning(
            "the catalogue is larger than the target cache: the oldest entries will be evicted",
            extra={"path": str(path), "targets": len(targets), "cache": TARGET_CACHE_SIZE},
        )
    return targets


async def warm_targets(task: Task, *, backend: Backend, encoder: PairEncoder, kind: str, path: Path) -> None:
    """Embed every target of the catalogue at `path` through `backend` (its target cache keeps them).
    Nothing to do for a cross-encoder (`kind`), which has no per-target work to keep."""
    if kind != "bi-encoder":
        log.warning(
            "warm_targets is set but the model is not a bi-encoder: ignored", extra={"task": str(task)}
        )
        return
    targets = read_catalogue(path)
    chunk = backend.limits.max_batch_pairs
    started = last = time.monotonic()
    for start in range(0, len(targets), chunk):
        pairs = [PairInput(task=task, query=WARM_QUERY, target=t) for t in targets[start : start + chunk]]
        await backend.score(encoder.encode_batch(pairs))
        if time.monotonic() - last > 10:  # long on a CPU (~30 targets/s for a 300M encoder): show progress
            last = time.monotonic()
            log.info("embedding the target catalogue", extra={"task": str(task), "done": start + len(pairs)})
    log.info(
        "target catalogue embedded",
        extra={"task": str(task), "targets": len(targets), "seconds": round(time.monotonic() - started, 1)},
    )
