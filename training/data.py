"""Labelled relevance data: read the competition's JSONL / CSV, validate, de-duplicate.

(Reader and validation are being written; the `Example` type below is the contract other stages use.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models import PairInput, Task


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    task: Task
    language: str
    query: str
    target: str  # category path "a,b,c" (QC) or item title (QI)
    label: int | None = None  # None for unlabelled (test / predict) data
    query_en: str | None = None  # English translation of the query, when known
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def pair(self) -> PairInput:
        return PairInput(task=self.task, query=self.query, target=self.target, query_en=self.query_en)
