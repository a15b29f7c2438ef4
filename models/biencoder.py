"""The bi-encoder model kind: a sentence encoder embeds the query and the target apart, a small head scores
the pair from the two embeddings.

Why a second kind beside the cross-encoder: on the shared QC data a frozen EmbeddingGemma-300M with this
head beats every fine-tuned cross-encoder the CPU budget allows (docs/quality.md), and a target's
embedding does not depend on the query, so the category paths and item titles a service sees again are
embedded once (`BiEncoderModel.target_cache`) and a K-candidate request costs one query pass.

One encoded pair keeps the batcher's contract: `input_ids` is the query's ids then the target's, and
`token_type_ids` says which is which (0 query, 1 target). Training, offline predict and both serving paths
split it here and embed each side with `SentenceEncoder.embed_ids`, so they score the same ids.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from models.card import InputSpec
from models.formatting import EncodedPair, PairInput, format_query, format_target

if TYPE_CHECKING:
    import numpy as np
    import torch

    from models.embedding import SentenceEncoder, SentenceTokenizer
    from models.head import RelevanceHead

QUERY_PROMPT, TARGET_PROMPT = "query", "document"  # sentence-transformers prompt names
TARGET_CACHE_SIZE = 65536  # target embeddings kept (768 floats each: ~200 MB at most)
Ids = tuple[int, ...]


class BiPairEncoder:
    """Encodes pairs for a bi-encoder checkpoint (the `models.PairEncoder` of this kind)."""

    def __init__(self, text: SentenceTokenizer, spec: InputSpec) -> None:
        self.text = text
        self.spec = spec
        self.max_side = min(spec.max_length, text.max_length)

    def encode(self, pair: PairInput) -> EncodedPair:
        return self.encode_batch([pair])[0]

    def encode_batch(self, pairs: Sequence[PairInput]) -> list[EncodedPair]:
        queries = [format_query(p.query, p.query_en, self.spec, p.task) for p in pairs]
        targets = [format_target(p.task, p.target) for p in pairs]
        return [
            EncodedPair(input_ids=q + t, token_type_ids=[0] * len(q) + [1] * len(t), truncated=qcut or tcut)
            for (q, qcut), (t, tcut) in zip(
                self.tokenize(queries, QUERY_PROMPT), self.tokenize(targets, TARGET_PROMPT), strict=True
            )
        ]

    def tokenize(self, texts: Sequence[str], prompt_name: str) -> list[tuple[list[int], bool]]:
        """Ids of one side's texts (`QUERY_PROMPT` or `TARGET_PROMPT`), with whether each was cut."""
        return self.text.tokenize_flagged(texts, prompt_name=prompt_name, max_length=self.max_side)


def split_pair(pair: EncodedPair) -> tuple[Ids, Ids]:
    """(query ids, target ids) of a bi-encoder pair."""
    cut = pair.token_type_ids.index(1) if 1 in pair.token_type_ids else pair.num_tokens
    return tuple(pair.input_ids[:cut]), tuple(pair.input_ids[cut:])


class TargetCache:
    """Target embeddings by token ids, least recently used first out: a target's embedding does not depend
    on the query, so a category path or title seen again costs nothing."""

    def __init__(self, size: int = TARGET_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Ids, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def missing(self, keys: set[Ids]) -> list[Ids]:
        return [k for k in keys if k not in self._items]

    def take(self, keys: set[Ids], computed: dict[Ids, torch.Tensor]) -> dict[Ids, torch.Tensor]:
        """`keys`' embeddings from the cache or `computed` (which is then kept)."""
        found = {k: computed[k] if k in computed else self._items[k] for k in keys}
        if self.size:
            self._items.update(computed)
            for k in keys:
                self._items.move_to_end(k)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return found


class BiEncoderModel:
    """A loaded bi-encoder checkpoint scored in torch: embeds each distinct side of a batch once (targets
    through the `TargetCache`), then the head."""

    def __init__(
        self, encoder: SentenceEncoder, head: RelevanceHead, *, cache_size: int = TARGET_CACHE_SIZE
    ) -> None:
        self.encoder = encoder
        self.head = head
        self.target_cache = TargetCache(cache_size)
        self.config = encoder.model.config  # pad id and the like, as a transformers model exposes them

    @classmethod
    def load(cls, path: Path, **kwargs: int) -> BiEncoderModel:
        from models.embedding import SentenceEncoder
        from models.head import RelevanceHead

        encoder = SentenceEncoder.load(Path(path))
        return cls(encoder, RelevanceHead.load(Path(path), text=encoder.text), **kwargs)

    def close(self) -> None:
        """Free what the encoder's transformer holds outside torch: an ONNX Runtime session and the folder
        of its exported graph (`models.onnx_export`), which no garbage collection should be left to remove."""
        release = getattr(self.encoder.model, "close", None)
        if callable(release):
            release()

    def _embed(self, ids: Sequence[Ids], *, batch_size: int = 32) -> dict[Ids, torch.Tensor]:
        distinct = sorted(set(ids), key=len)  # length-sorted batches pad little
        out: dict[Ids, torch.Tensor] = {}
        for start in range(0, len(distinct), batch_size):
            chunk = distinct[start : start + batch_size]
            out.update(zip(chunk, self.encoder.embed_ids(chunk), strict=True))
        return out

    def score_pairs(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Probabilities of relevance, in batch order."""
        sides = [split_pair(p) for p in batch]
        keys = {t for _, t in sides}
        targets = self.target_cache.take(keys, self._embed(self.target_cache.missing(keys)))
        return self.head.probabilities(sides, self._embed([q for q, _ in sides]), targets)
