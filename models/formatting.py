"""The one function that turns a relevance pair into model input.

Training, evaluation, the torch backend and the vLLM backend all encode through `PairEncoder`, so a
served score is computed from exactly the token ids the model was trained and evaluated on.

Truncation policy: the target side (category path or item title) is shortened first; the query is cut
only when the query alone would not leave room for a minimal target. Which end of the target goes is the
task's (`TaskSpec.truncate_from`: category paths keep their deepest levels, titles their leading words).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.card import InputSpec
from models.tasks import Task

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer
    from transformers import PreTrainedTokenizerBase

# Tokens the target keeps even when a long query crowds it, so the pair stays a pair.
MIN_TARGET_TOKENS = 8


@dataclass(frozen=True, slots=True)
class PairInput:
    task: Task
    query: str
    target: str | Sequence[str]  # category path ("a,b,c" or levels) or item title
    query_en: str | None = None


@dataclass(frozen=True, slots=True)
class EncodedPair:
    input_ids: list[int]
    token_type_ids: list[int]
    truncated: bool

    @property
    def num_tokens(self) -> int:
        return len(self.input_ids)

    @property
    def cache_key(self) -> tuple[int, ...]:
        # Token type ids follow from input ids for a given tokenizer, so ids alone identify the input.
        return tuple(self.input_ids)


def format_query(query: str, query_en: str | None, spec: InputSpec, task: Task) -> str:
    query = " ".join(query.split())
    translation = " ".join(query_en.split()) if query_en else ""
    if spec.uses_translation and translation and translation.casefold() != query.casefold():
        text = spec.query_format_translated.format(query=query, query_en=translation)
    else:
        text = spec.query_format.format(query=query, query_en="")
    return spec.task_prefix.get(task, "") + text


def format_target(task: Task, target: str | Sequence[str]) -> str:
    """The target in its training-data form (a category path given as levels becomes "a,b,c")."""
    return Task(task).spec.clean_target(target)


class PairEncoder:
    """Encodes pairs for one tokenizer and input spec; build once, reuse for every batch.

    Works on a private copy of the fast tokenizer's `tokenizers.Tokenizer` with its own padding and
    truncation switched off: those settings live in tokenizer.json and would otherwise pad every pair
    to max length or cut it without our policy.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase | Tokenizer, spec: InputSpec) -> None:
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not isinstance(backend, Tokenizer):
            raise TypeError("a fast tokenizer (tokenizer.json) is required")
        self.tokenizer = Tokenizer.from_str(backend.to_str())
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.spec = spec
        processor = self.tokenizer.post_processor
        self.num_special_tokens = processor.num_special_tokens_to_add(True) if processor is not None else 0
        if spec.max_length <= self.num_special_tokens + MIN_TARGET_TOKENS:
            raise ValueError(f"max_length {spec.max_length} leaves no room for a query and a target")

    def encode(self, pair: PairInput) -> EncodedPair:
        return self.encode_batch([pair])[0]

    def encode_batch(self, pairs: Sequence[PairInput]) -> list[EncodedPair]:
        queries = self.tokenizer.encode_batch(
            [format_query(p.query, p.query_en, self.spec, p.task) for p in pairs], add_special_tokens=False
        )
        targets = self.tokenizer.encode_batch(
            [format_target(p.task, p.target) for p in pairs], add_special_tokens=False
        )
        return [self._fit(p.task, q, t) for p, q, t in zip(pairs, queries, targets, strict=True)]

    def _fit(self, task: Task, query: Encoding, target: Encoding) -> EncodedPair:
        budget = self.spec.max_length - self.num_special_tokens
        n_query, n_target = len(query.ids), len(target.ids)
        truncated = n_query + n_target > budget
        if truncated:
            target_keep = max(budget - n_query, min(n_target, MIN_TARGET_TOKENS))
            target.truncate(target_keep, direction=task.spec.truncate_from)
            if n_query > budget - len(target.ids):
                query.truncate(budget - len(target.ids), direction="right")
        final = self.tokenizer.post_process(query, target, add_special_tokens=True)
        return EncodedPair(
            input_ids=list(final.ids), token_type_ids=list(final.type_ids), truncated=truncated
        )
