"""Load a validated checkpoint's tokenizer and model (imports torch and transformers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.checkpoint import Checkpoint

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


def torch_dtype(name: str) -> torch.dtype:
    import torch

    try:
        return getattr(torch, DTYPES[name])
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use one of {sorted(set(DTYPES))}") from None


def load_tokenizer(checkpoint: Checkpoint) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(checkpoint.path, trust_remote_code=False)


def load_model(checkpoint: Checkpoint, *, device: str = "cpu", dtype: str | None = None) -> PreTrainedModel:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint.path,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=torch_dtype(dtype or checkpoint.card.dtype),
    )
    return model.to(device).eval()
