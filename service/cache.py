"""A bounded LRU of scores keyed by model and formatted input (the token ids the model sees)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class ScoreCache:
    """Used only from the event loop thread, so no lock. `max_entries=0` disables it."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> float | None:
        score = self._data.get(key)
        if score is not None:
            self._data.move_to_end(key)
        return score

    def put(self, key: Hashable, score: float) -> None:
        if self.max_entries <= 0:
            return
        self._data[key] = score
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()
