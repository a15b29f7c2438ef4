"""The local model store: checkpoint directories under one root (by default `models/`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.card import CARD_FILENAME
from models.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from models.io import atomic_directory

__all__ = ["ModelStore", "StoreEntry", "atomic_directory"]  # atomic_directory's old home


@dataclass(frozen=True, slots=True)
class StoreEntry:
    name: str
    path: Path
    checkpoint: Checkpoint | None
    error: str | None


class ModelStore:
    def __init__(self, root: str | Path = "models") -> None:
        self.root = Path(root)

    def list(self, *, verify_weights: bool = False) -> list[StoreEntry]:
        """Every directory under the root that has a card, valid or not (invalid ones carry the error)."""
        if not self.root.is_dir():
            return []
        entries = []
        for path in sorted(p for p in self.root.iterdir() if (p / CARD_FILENAME).is_file()):
            if path.name.startswith("."):
                continue
            try:
                entries.append(
                    StoreEntry(path.name, path, open_checkpoint(path, verify_weights=verify_weights), None)
                )
            except CheckpointError as exc:
                entries.append(StoreEntry(path.name, path, None, str(exc)))
        return entries

    def resolve(self, ref: str | Path) -> Path:
        """A checkpoint by path, or by name under the root."""
        candidate = Path(ref)
        if candidate.is_dir():
            return candidate
        named = self.root / str(ref)
        if named.is_dir():
            return named
        known = ", ".join(e.name for e in self.list()) or "none"
        raise CheckpointError(
            f"no checkpoint {str(ref)!r} (not a directory, not a name under {self.root}; known: {known})"
        )

    @contextmanager
    def publishing(self, name: str) -> Iterator[Path]:
        """Yield a temporary directory; on success it replaces `root/name` in one rename."""
        with atomic_directory(self.root / name) as tmp:
            yield tmp
