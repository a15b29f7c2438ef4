"""Sentence embeddings from a sentence-transformers folder, with transformers and safetensors only.

`modules.json` names the pipeline (Transformer -> Pooling -> Dense ... -> Normalize); each module is read
from the folder's own config files, so a base built from a sentence-transformers export embeds exactly as
`SentenceTransformer(folder).encode(texts, prompt_name=...)` would, without sentence-transformers
installed and without running any code from the folder (`trust_remote_code=False`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

MODULE_TRANSFORMER = "sentence_transformers.models.Transformer"
MODULE_POOLING = "sentence_transformers.models.Pooling"
MODULE_DENSE = "sentence_transformers.models.Dense"
MODULE_NORMALIZE = "sentence_transformers.models.Normalize"
ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": torch.nn.Identity,
    "torch.nn.modules.activation.Tanh": torch.nn.Tanh,
}


class EmbeddingFolderError(ValueError):
    """The folder's sentence-transformers files describe a pipeline this reader does not implement."""


def _json(path: Path) -> dict:
    if not path.is_file():
        raise EmbeddingFolderError(f"{path} missing")
    return json.loads(path.read_text())


def _dense(folder: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    config = _json(folder / "config.json")
    activation = ACTIVATIONS.get(config.get("activation_function", ""))
    if activation is None:
        name = config.get("activation_function")
        raise EmbeddingFolderError(f"{folder}: unsupported Dense activation {name}")
    linear = torch.nn.Linear(config["in_features"], config["out_features"], bias=config.get("bias", True))
    state = load_file(str(folder / "model.safetensors"))
    linear.load_state_dict({k.removeprefix("linear."): v for k, v in state.items()})
    return torch.nn.Sequential(linear, activation())


@dataclass
class SentenceTokenizer:
    """The text side of a sentence-transformers folder: tokenizer, prompts and length limit (no weights)."""

    tokenizer: Any
    max_length: int
    vocab_rows: int  # rows of the model's embedding table: ids past it are mapped to unk
    prompts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> SentenceTokenizer:
        from transformers import AutoConfig, AutoTokenizer

        folder = Path(folder)
        st_config = folder / "config_sentence_transformers.json"
        prompts = json.loads(st_config.read_text()).get("prompts", {}) if st_config.is_file() else {}
        bert_config = folder / "sentence_bert_config.json"
        max_length = None
        if bert_config.is_file():
            max_length = json.loads(bert_config.read_text()).get("max_seq_length")
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        return cls(
            tokenizer=tokenizer,
            max_length=max_length or tokenizer.model_max_length,
            vocab_rows=int(config.vocab_size),
            prompts=prompts,
        )

    def tokenize(
        self, texts: Sequence[str], *, prompt_name: str | None = None, max_length: int | None = None
    ) -> list[list[int]]:
        """Token ids of each text with the named prompt ("query", "document", ...) prepended, truncated
        to `max_length` (default and at most the folder's): exactly what `SentenceEncoder` embeds."""
        flagged = self.tokenize_flagged(texts, prompt_name=prompt_name, max_length=max_length)
        return [ids for ids, _ in flagged]

    def tokenize_flagged(
        self, texts: Sequence[str], *, prompt_name: str | None = None, max_length: int | None = None
    ) -> list[tuple[list[int], bool]]:
        """`tokenize`, with whether each text was truncated."""
        if prompt_name is not None and prompt_name not in self.prompts:
            raise KeyError(f"no prompt {prompt_name!r}; the folder defines {sorted(self.prompts)}")
        prompt = self.prompts.get(prompt_name, "") if prompt_name else ""
        limit = min(max_length or self.max_length, self.max_length)
        texts = [prompt + t for t in texts]
        rows = self.tokenizer(texts, truncation=False, padding=False, verbose=False)["input_ids"]
        long = [i for i, ids in enumerate(rows) if len(ids) > limit]
        if long:  # the tokenizer's own truncation keeps its special tokens where they belong
            cut = self.tokenizer([texts[i] for i in long], truncation=True, max_length=limit)["input_ids"]
            for i, ids in zip(long, cut, strict=True):
                rows[i] = ids
        # Gemma-3's tokenizer maps the literal text "<image_soft_token>" to an id past the text
        # model's embedding table (a multimodal placeholder); a user's text must not crash the model.
        unk = self.tokenizer.unk_token_id or 0
        flagged = set(long)
        return [
            ([i if i < self.vocab_rows else unk for i in ids], r in flagged) for r, ids in enumerate(rows)
        ]


@dataclass
class SentenceEncoder:
    model: torch.nn.Module
    text: SentenceTokenizer
    pooling: str  # "mean" or "cls"
    head: torch.nn.Sequential  # the Dense modules, in order
    normalize: bool

    @classmethod
    def load(cls, folder: Path, *, dtype: torch.dtype = torch.float32) -> SentenceEncoder:
        from transformers import AutoModel

        folder = Path(folder)
        modules = json.loads((folder / "modules.json").read_text())
        pooling, dense, normalize = None, [], False
        for i, module in enumerate(modules):
            kind, path = module["type"], folder / module.get("path", "")
            if kind == MODULE_TRANSFORMER:
                if i != 0 or module.get("path", ""):
                    raise EmbeddingFolderError(f"{folder}: the Transformer must be module 0, at the root")
            elif kind == MODULE_POOLING:
                config = _json(path / "config.json")
                if not config.get("include_prompt", True):
                    raise EmbeddingFolderError(f"{folder}: pooling without the prompt is not implemented")
                modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v]
                if modes not in (["pooling_mode_mean_tokens"], ["pooling_mode_cls_token"]):
                    raise EmbeddingFolderError(f"{folder}: unsupported pooling {modes}")
                pooling = "mean" if modes == ["pooling_mode_mean_tokens"] else "cls"
            elif kind == MODULE_DENSE:
                dense.append(_dense(path))
            elif kind == MODULE_NORMALIZE:
                normalize = True
            else:
                raise EmbeddingFolderError(f"{folder}: unsupported sentence-transformers module {kind}")
        if pooling is None:
            raise EmbeddingFolderError(f"{folder}: modules.json has no Pooling module")
        model = AutoModel.from_pretrained(folder, dtype=dtype, trust_remote_code=False, use_safetensors=True)
        head = torch.nn.Sequential(*dense).to(dtype)
        return cls(
            model=model.eval(),
            text=SentenceTokenizer.load(folder),
            pooling=pooling,
            head=head.eval(),
            normalize=normalize,
        )

    @property
    def tokenizer(self) -> Any:
        return self.text.tokenizer

    @property
    def prompts(self) -> dict[str, str]:
        return self.text.prompts

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """Embeddings of already-tokenized texts (one batch, right-padded here)."""
        width = max(len(row) for row in ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = torch.tensor(list(row), dtype=torch.long)
            mask[r, : len(row)] = 1
        device = self.model.device
        input_ids, mask = input_ids.to(device), mask.to(device)
        with torch.inference_mode():
            hidden = self.model(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state
            if self.pooling == "mean":
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            else:
                pooled = hidden[:, 0]
            emb = self.head(pooled)
            if self.normalize:
                emb = torch.nn.functional.normalize(emb, p=2, dim=-1)
        return emb.float().cpu()

    def to(self, device: str, dtype: torch.dtype | None = None) -> SentenceEncoder:
        """Move the encoder (and its Dense layers) to `device` (e.g. "cuda", in bf16 for bulk embedding)."""
        self.model = self.model.to(device=device, dtype=dtype)
        self.head = self.head.to(device=device, dtype=dtype)
        return self

    def encode(
        self, texts: Sequence[str], *, prompt_name: str | None = None, batch_size: int = 16
    ) -> torch.Tensor:
        """Embeddings of `texts` (one row each), the named prompt ("query", "document", ...) prepended."""
        ids = self.text.tokenize(texts, prompt_name=prompt_name)
        out = [self.embed_ids(ids[start : start + batch_size]) for start in range(0, len(ids), batch_size)]
        return torch.cat(out) if out else torch.empty((0, 0))
