"""Load a validated checkpoint's tokenizer and model (imports torch and transformers)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models.checkpoint import Checkpoint

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from models.biencoder import BiEncoderModel, BiPairEncoder
    from models.formatting import PairEncoder

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


def load_tokenizer(source: Checkpoint | str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer of a checkpoint or of a model directory (a base, a fine-tuning output).

    A tokenizer without a pad token (decoder bases: Qwen3, Gemma) pads with its eos token, so batches can
    be padded; one with neither is refused.
    """
    from transformers import AutoTokenizer

    path = source.path if isinstance(source, Checkpoint) else Path(source)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ValueError(f"tokenizer of {path} has neither a pad nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_pair_encoder(checkpoint: Checkpoint) -> PairEncoder | BiPairEncoder:
    """The encoder that turns a checkpoint's pairs into the ids its model scores (per model kind)."""
    if checkpoint.card.kind == "bi-encoder":
        from models.biencoder import BiPairEncoder
        from models.embedding import SentenceTokenizer

        return BiPairEncoder(SentenceTokenizer.load(checkpoint.path), checkpoint.card.input)
    from models.formatting import PairEncoder

    return PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input)


def load_model(
    checkpoint: Checkpoint, *, device: str = "cpu", dtype: str | None = None
) -> PreTrainedModel | BiEncoderModel:
    """The checkpoint's scoring model: a transformers classifier, or a `BiEncoderModel` (its encoder on
    `device` in `dtype`; embeddings come back as fp32 on the CPU, where the small head runs)."""
    from transformers import AutoModelForSequenceClassification

    if checkpoint.card.kind == "bi-encoder":
        from models.biencoder import BiEncoderModel

        model = BiEncoderModel.load(checkpoint.path)
        model.encoder.to(device, torch_dtype(dtype or checkpoint.card.dtype))  # the head stays fp32 on CPU
        return model

    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint.path,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=torch_dtype(dtype or checkpoint.card.dtype),
    )
    return model.to(device).eval()
