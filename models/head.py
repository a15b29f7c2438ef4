"""The bi-encoder's scoring head: what it reads of a pair (embeddings, optionally word overlap), its
network (`mlp` or `linear`), and its file.

The file is self-describing: the safetensors metadata records the kind and the lexical features, so a
checkpoint's head loads the same way in training, offline predict and both serving backends, and a head
saved before these options existed (no metadata) is an `mlp` over embeddings alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from models import lexical

if TYPE_CHECKING:
    import numpy as np
    import torch

    from models.embedding import SentenceTokenizer

HEAD_FILENAME = "relevance_head/model.safetensors"  # in a folder: vLLM loads every root *.safetensors
HeadKind = Literal["mlp", "linear"]
Ids = tuple[int, ...]


def embedding_features(q: torch.Tensor, t: torch.Tensor, kind: HeadKind = "mlp") -> torch.Tensor:
    """What a head reads of two embeddings (made unit-length): `mlp` [q, t, q*t, |q-t|, cos]; `linear`
    [q*t, |q-t|, cos] (a linear function of q or t alone cannot rank targets for a query)."""
    import torch

    q = torch.nn.functional.normalize(q, dim=-1)
    t = torch.nn.functional.normalize(t, dim=-1)
    related = [q * t, (q - t).abs(), (q * t).sum(-1, keepdim=True)]
    return torch.cat([q, t, *related] if kind == "mlp" else related, dim=-1)


def head_inputs(
    q: torch.Tensor, t: torch.Tensor, words: torch.Tensor | None = None, *, kind: HeadKind
) -> torch.Tensor:
    """A head's input rows: `embedding_features`, then the word-overlap features (`lexical`) if given."""
    import torch

    x = embedding_features(q, t, kind)
    return x if words is None else torch.cat([x, words], dim=-1)


def input_width(dim: int, *, kind: HeadKind, lexical_features: bool) -> int:
    """Features per pair for `dim`-d embeddings."""
    return (4 if kind == "mlp" else 2) * dim + 1 + (lexical.WIDTH if lexical_features else 0)


def build_net(width: int, *, kind: HeadKind, hidden: int = 256, dropout: float = 0.0) -> torch.nn.Sequential:
    """`mlp`: one hidden layer; `linear`: a logistic regression. One logit either way."""
    import torch

    if kind == "linear":
        return torch.nn.Sequential(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(
        torch.nn.Dropout(dropout / 2),
        torch.nn.Linear(width, hidden),
        torch.nn.GELU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, 1),
    )


@dataclass
class RelevanceHead:
    """A trained head: its network, its kind and, when it reads word overlap, the lexicon that reads it."""

    net: torch.nn.Sequential
    kind: HeadKind = "mlp"
    lexicon: lexical.Lexicon | None = None

    def probabilities(
        self,
        sides: Sequence[tuple[Ids, Ids]],
        queries: dict[Ids, torch.Tensor],
        targets: dict[Ids, torch.Tensor],
    ) -> np.ndarray:
        """The probability for each (query ids, target ids), from the sides' embeddings."""
        import torch

        q = torch.stack([queries[qi] for qi, _ in sides]).float()
        t = torch.stack([targets[ti] for _, ti in sides]).float()
        words = self.lexicon.features(sides) if self.lexicon is not None else None
        with torch.inference_mode():
            return (
                torch.sigmoid(self.net(head_inputs(q, t, words, kind=self.kind)).squeeze(-1)).double().numpy()
            )

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        metadata = {"kind": self.kind, "lexical": lexical.LEXICAL_FEATURES if self.lexicon else ""}
        state = {k: v.contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(path), metadata=metadata)

    @classmethod
    def load(cls, folder: Path, *, text: SentenceTokenizer | None = None) -> RelevanceHead:
        """The head of the checkpoint in `folder` (its tokenizer read from there if the head needs it)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = Path(folder) / HEAD_FILENAME
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        kind, words = metadata.get("kind", "mlp"), metadata.get("lexical", "")
        if kind not in ("mlp", "linear") or words not in ("", lexical.LEXICAL_FEATURES):
            raise ValueError(
                f"{path}: unknown head (kind {kind!r}, lexical {words!r}); a newer version wrote it?"
            )
        state = load_file(str(path))
        first = state["0.weight" if kind == "linear" else "1.weight"]
        net = build_net(first.shape[1], kind=kind, hidden=first.shape[0])
        net.load_state_dict(state)
        lexicon = None
        if words:
            from models.embedding import SentenceTokenizer

            lexicon = lexical.Lexicon(text or SentenceTokenizer.load(Path(folder)))
        return cls(net=net.eval(), kind=kind, lexicon=lexicon)
