"""Bulk offline scoring with vLLM's `LLM.classify` (millions of pairs on a GPU; vLLM's CPU build here).

Token ids come from `models.PairEncoder` (the caller encodes), vLLM returns raw logits and the card's
`num_labels` maps them with `models.logits_to_scores`, so the result equals `models.inference.score_encoded`
up to kernel rounding. vLLM batches and schedules by itself; `batch_size` only sets how many pairs are
handed over per call, which bounds host memory and drives the progress bar.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from models import Checkpoint, EncodedPair, logits_to_scores

log = logging.getLogger(__name__)

# Large submissions let vLLM fill its own batches; small ones would leave the scheduler idle between calls.
DEFAULT_CHUNK = 4096


def score_with_vllm(
    checkpoint: Checkpoint,
    encoded: Sequence[EncodedPair],
    *,
    batch_size: int = DEFAULT_CHUNK,
    progress: bool = True,
    dtype: str | None = None,
    engine_options: dict[str, Any] | None = None,
) -> np.ndarray:
    """Relevance probabilities for `encoded`, in input order (float64, shape [n])."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    bi_encoder = checkpoint.card.kind == "bi-encoder"
    too_long = [
        i for i, e in enumerate(encoded) if _longest(e, bi_encoder) > checkpoint.card.input.max_length
    ]
    if too_long:
        raise ValueError(
            f"{len(too_long)} pairs exceed the card's max_length {checkpoint.card.input.max_length} "
            f"(first at index {too_long[0]}); encode them with this checkpoint's PairEncoder"
        )
    scores = np.empty(len(encoded), dtype=np.float64)
    if not encoded:
        return scores

    from vllm import LLM, TokensPrompt

    from models.vllm_engine import classify_params, engine_kwargs, uses_token_types

    llm = LLM(**engine_kwargs(checkpoint, dtype=dtype, **(engine_options or {})))
    try:
        if bi_encoder:
            return _bi_encoder_scores(llm, checkpoint, encoded)
        token_types = uses_token_types(checkpoint)
        starts = range(0, len(encoded), batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"vllm {checkpoint.name}", unit="chunk")
        for start in starts:
            chunk = encoded[start : start + batch_size]
            outputs = llm.classify(
                [TokensPrompt(prompt_token_ids=e.input_ids) for e in chunk],
                pooling_params=[classify_params(e, token_types=token_types) for e in chunk],
                use_tqdm=False,
            )
            # With use_activation=False vLLM's `probs` field carries the raw logits.
            logits = np.asarray([o.outputs.probs for o in outputs], dtype=np.float64)
            scores[start : start + len(chunk)] = logits_to_scores(logits, checkpoint.card.num_labels)
    finally:
        _shutdown(llm)
    return scores


def _longest(pair: EncodedPair, bi_encoder: bool) -> int:
    """What must fit the engine's max model length: the pair, or a bi-encoder pair's longer side."""
    if not bi_encoder:
        return pair.num_tokens
    from models.biencoder import split_pair

    return max(len(side) for side in split_pair(pair))


def _bi_encoder_scores(llm: Any, checkpoint: Checkpoint, encoded: Sequence[EncodedPair]) -> np.ndarray:
    """vLLM embeds every distinct side once (`LLM.embed`); the card's head scores the pairs."""
    import torch
    from vllm import TokensPrompt

    from models.biencoder import split_pair
    from models.head import RelevanceHead
    from models.vllm_engine import embed_params

    sides = [split_pair(e) for e in encoded]
    distinct = sorted({ids for pair in sides for ids in pair})
    outputs = llm.embed(
        [TokensPrompt(prompt_token_ids=list(ids)) for ids in distinct],
        pooling_params=embed_params(),
        use_tqdm=False,
    )
    vectors = {ids: torch.tensor(o.outputs.embedding) for ids, o in zip(distinct, outputs, strict=True)}
    return RelevanceHead.load(checkpoint.path).probabilities(sides, vectors, vectors)


def _shutdown(llm: Any) -> None:
    # The engine runs in child processes; stop them now rather than at garbage collection.
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    if core is not None:
        core.shutdown()
