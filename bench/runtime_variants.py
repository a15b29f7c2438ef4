"""The models `bench.runtime_levers` times: the served bi-encoder with one runtime lever applied.

Each builder takes the loaded fp32 `BiEncoderModel` and returns a model to time: the same head, its
sentence encoder's transformer (and Dense layers) swapped, and an empty target cache, so the lever also
embeds the targets its scores are compared on (as a service deployed with it would). The swapped
transformer is whatever `SentenceEncoder.embed_ids` can call: pooling, normalising and the head stay the
project's own code, so a score difference is the lever's alone. The baseline's weights are never changed.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.biencoder import BiEncoderModel

Builder = Callable[..., "BiEncoderModel"]  # (base, *, threads, workdir) -> the model to time


def _variant(base: BiEncoderModel, model: Any, head: Any = None) -> BiEncoderModel:
    """`base` with its transformer (and Dense layers) swapped and an empty target cache."""
    from models.biencoder import BiEncoderModel

    encoder = dataclasses.replace(base.encoder, model=model, head=base.encoder.head if head is None else head)
    return BiEncoderModel(encoder, base.head, cache_size=base.target_cache.size)


def bf16_weights(base: BiEncoderModel, **_: Any) -> BiEncoderModel:
    """The encoder cast to bf16, as `RELEVANCE_DTYPE=bfloat16` loads it (the head stays fp32)."""
    import torch

    enc = base.encoder
    return _variant(
        base, copy.deepcopy(enc.model).to(torch.bfloat16), copy.deepcopy(enc.head).to(torch.bfloat16)
    )


class _Autocast:
    """The fp32 transformer run under CPU bf16 autocast; hidden states back in fp32 for the fp32 Dense."""

    def __init__(self, model: Any) -> None:
        self.model, self.config, self.device = model, model.config, model.device

    def __call__(self, **inputs: Any) -> SimpleNamespace:
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = self.model(**inputs).last_hidden_state
        return SimpleNamespace(last_hidden_state=hidden.float())


def bf16_autocast(base: BiEncoderModel, **_: Any) -> BiEncoderModel:
    return _variant(base, _Autocast(base.encoder.model))


def int8_dynamic(base: BiEncoderModel, **_: Any) -> BiEncoderModel:
    """Every Linear (transformer and Dense) with int8 weights, activations quantised per batch on the fly
    (copies: the baseline keeps its fp32 weights)."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        model = quantize_dynamic(base.encoder.model, {torch.nn.Linear}, dtype=torch.qint8)
        head = quantize_dynamic(base.encoder.head, {torch.nn.Linear}, dtype=torch.qint8)
    return _variant(base, model, head)


def onnx_runtime(base: BiEncoderModel, *, threads: int, workdir: Path, **_: Any) -> BiEncoderModel:
    """The transformer exported to `workdir` and run by ONNX Runtime on the CPU with the baseline's thread
    count (`models.onnx_export`: what the torch backend serves with RELEVANCE_ENCODER_RUNTIME=onnxruntime)."""
    from models.onnx_export import onnx_transformer

    pad = base.encoder.tokenizer.pad_token_id or 0
    return _variant(base, onnx_transformer(base.encoder.model, pad_id=pad, threads=threads, workdir=workdir))


def torch_compile(base: BiEncoderModel, **_: Any) -> BiEncoderModel:
    """The transformer under `torch.compile` (inductor, frozen weights, dynamic shapes), as
    `models.inference.CompiledModel` compiles cross-encoders; it compiles during the target warm-up."""
    import torch
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True  # process-wide, as CompiledModel sets it
    return _variant(base, torch.compile(base.encoder.model, dynamic=True))


# lever name -> (what it does, builder), in run order
VARIANTS: dict[str, tuple[str, Builder]] = {
    "bf16": ("encoder weights bf16 (RELEVANCE_DTYPE=bfloat16)", bf16_weights),
    "bf16_autocast": ("fp32 weights, torch.autocast(cpu, bf16) over the transformer", bf16_autocast),
    "int8": ("quantize_dynamic(Linear, qint8): transformer and Dense", int8_dynamic),
    "onnxruntime": ("transformer exported to ONNX, ONNX Runtime CPU", onnx_runtime),
    "torch_compile": ("torch.compile(transformer, dynamic=True), frozen weights", torch_compile),
}
