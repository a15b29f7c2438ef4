"""The bi-encoder recipe's embedding stage: each distinct query and target embedded once through the
checkpoint's own `BiPairEncoder`, cached in chunks keyed by role and text (an interrupted run resumes, and
runs of the same encoder settings share a folder), then turned into the head's input rows."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from models.biencoder import BiPairEncoder
    from models.embedding import SentenceEncoder
    from models.lexical import Lexicon
    from training.data import Example

log = logging.getLogger(__name__)
CHUNK = 512  # texts embedded (and cached) at a time


def _key(role: str, text: str) -> str:
    return hashlib.sha256(f"{role}\0{text}".encode()).hexdigest()[:24]


def embed_texts(
    texts: Sequence[str], role: str, *, encoder: SentenceEncoder, pairs: BiPairEncoder, cache: Path
) -> tuple[dict[str, np.ndarray], int]:
    """text -> embedding for every distinct text of one side (`role`: its prompt name), resuming from
    `cache` (chunks keyed by role and text)."""
    from tqdm.auto import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    known: dict[str, np.ndarray] = {}
    for part in sorted(cache.glob(f"{role}-*.npz")):
        with np.load(part) as saved:
            known.update(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
    todo = sorted({t for t in texts if _key(role, t) not in known}, key=len)
    if todo:
        log.info("%s: %d of %d distinct texts to embed", role, len(todo), len(set(texts)))
    for start in tqdm(range(0, len(todo), CHUNK), desc=f"embedding {role} texts", disable=not todo):
        batch = todo[start : start + CHUNK]
        ids = [tuple(i) for i, _ in pairs.tokenize(batch, role)]
        vectors = np.concatenate([encoder.embed_ids(ids[s : s + 32]).numpy() for s in range(0, len(ids), 32)])
        keys = np.asarray([_key(role, t) for t in batch])
        part = cache / f"{role}-{int(time.time() * 1000)}.npz"
        tmp = part.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors.astype(np.float32))
        tmp.rename(part)  # a chunk is cached whole or not at all
        known.update(zip(keys.tolist(), vectors, strict=True))
    return {t: known[_key(role, t)] for t in set(texts)}, len(todo)


def head_features(
    examples: Sequence[Example],
    *,
    encoder: SentenceEncoder,
    pairs: BiPairEncoder,
    cache: Path,
    lexicon: Lexicon | None,
    kind: str,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The head's input rows and labels of labelled `examples`, and how many texts this call embedded."""
    import torch

    from models.head import head_inputs

    q, t, embedded = embed_examples(examples, encoder=encoder, pairs=pairs, cache=cache)
    words = _word_features(examples, pairs=pairs, lexicon=lexicon) if lexicon else None
    labels = torch.tensor([e.label for e in examples], dtype=torch.float32)
    return head_inputs(q, t, words, kind=kind), labels, embedded


def embed_examples(
    examples: Sequence[Example], *, encoder: SentenceEncoder, pairs: BiPairEncoder, cache: Path
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Query and target embeddings of every example, and how many texts this call embedded."""
    import torch

    from models.biencoder import QUERY_PROMPT, TARGET_PROMPT
    from models.formatting import format_query, format_target

    spec = pairs.spec
    # The query as the service formats it: with its translation when the card says it uses one.
    q_text = [format_query(e.query, e.query_en, spec, e.task) for e in examples]
    t_text = [format_target(e.task, e.target) for e in examples]
    qv, q_new = embed_texts(q_text, QUERY_PROMPT, encoder=encoder, pairs=pairs, cache=cache)
    tv, t_new = embed_texts(t_text, TARGET_PROMPT, encoder=encoder, pairs=pairs, cache=cache)
    q = torch.tensor(np.stack([qv[s] for s in q_text]))
    return q, torch.tensor(np.stack([tv[s] for s in t_text])), q_new + t_new


def _word_features(examples: Sequence[Example], *, pairs: BiPairEncoder, lexicon: Lexicon) -> torch.Tensor:
    """Each example's word-overlap features, read from the ids the encoder embeds (as served)."""
    from models.biencoder import split_pair

    return lexicon.features([split_pair(p) for p in pairs.encode_batch([e.pair() for e in examples])])
