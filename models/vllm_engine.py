"""How a checkpoint is loaded into vLLM's pooling runner: one place for the online backend and bulk scoring.

vLLM is imported lazily (only to ask its model registry), so `models` stays light. Both callers feed
token ids made by `models.PairEncoder` and map raw logits to probabilities with `models.logits_to_scores`,
so a vLLM score is computed from the same input, by the same formula, as a torch score.
"""

from __future__ import annotations

import os
from typing import Any

from models.checkpoint import Checkpoint
from models.formatting import EncodedPair
from models.loading import DTYPES

CLASSIFIER_SUFFIX = "ForSequenceClassification"
# vLLM's CPU build otherwise sizes its KV cache from free memory; a classifier needs one prefill per request
# and no decode, so 1 GiB holds thousands of in-flight pairs at max_length 512.
DEFAULT_CPU_KVCACHE_GIB = 1
# What the checkpoint and the score-equality guarantee decide; options may not change them.
FIXED_ARGS = frozenset(
    {
        "model",
        "tokenizer",
        "runner",
        "convert",
        "max_model_len",
        "trust_remote_code",
        "hf_overrides",
        "load_format",
    }
)


def causal_architecture(architecture: str) -> str | None:
    """The decoder vLLM should load when it has no `...ForSequenceClassification` class of its own.

    Text-only Gemma-3 classifiers are the case in point: vLLM knows `Gemma3ForCausalLM` and turns it into
    a classifier with `convert="classify"` (last-token pooling + the checkpoint's `score` head).
    """
    from vllm import ModelRegistry

    supported = set(ModelRegistry.get_supported_archs())
    if architecture in supported or not architecture.endswith(CLASSIFIER_SUFFIX):
        return None
    stem = architecture.removesuffix(CLASSIFIER_SUFFIX)
    if f"{stem}ForCausalLM" in supported:
        return None  # vLLM maps `XForSequenceClassification` to its `XForCausalLM` + classify by itself
    # transformers names the text-only Gemma-3 classes `Gemma3Text...`; vLLM's decoder is `Gemma3ForCausalLM`.
    causal = f"{stem.removesuffix('Text')}ForCausalLM"
    if causal in supported:
        return causal
    raise ValueError(
        f"vLLM {_vllm_version()} cannot load {architecture} (nor {causal}); serve this checkpoint with "
        "the torch backend"
    )


def engine_kwargs(checkpoint: Checkpoint, *, dtype: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Engine arguments (for `vllm.LLM` or `AsyncEngineArgs`) that serve `checkpoint` as a classifier.

    dtype and max model length come from the card; `overrides` (e.g. `enforce_eager`,
    `kv_cache_memory_bytes`, `max_num_seqs`) win over everything except the settings that keep scores
    equal to the torch backend's.
    """
    card = checkpoint.card
    bi_encoder = card.kind == "bi-encoder"
    name = dtype or card.dtype
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use one of {sorted(set(DTYPES))}")
    kwargs: dict[str, Any] = {
        "model": str(checkpoint.path),
        "tokenizer": str(checkpoint.path),
        "served_model_name": card.name,
        "runner": "pooling",
        # A bi-encoder's folder is a sentence-transformers export: vLLM's embed runner reads its pooling,
        # Dense and Normalize modules itself; the head runs beside the engine (`models.biencoder`).
        "convert": "embed" if bi_encoder else "classify",
        "dtype": DTYPES[name],
        "max_model_len": card.input.max_length,
        "trust_remote_code": False,
        "load_format": "safetensors",
        "seed": 0,
    }
    causal = None if bi_encoder else causal_architecture(card.architecture)
    if causal is not None:
        kwargs["hf_overrides"] = {"architectures": [causal]}
    if "VLLM_CPU_KVCACHE_SPACE" not in os.environ and _is_cpu_build():
        kwargs["kv_cache_memory_bytes"] = DEFAULT_CPU_KVCACHE_GIB << 30
    fixed = sorted(FIXED_ARGS & overrides.keys())
    if fixed:
        raise ValueError(f"vLLM engine arguments {fixed} follow from the checkpoint and cannot be overridden")
    kwargs.update(overrides)
    return kwargs


def _is_cpu_build() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def _vllm_version() -> str:
    import vllm

    return getattr(vllm, "__version__", "?")


def uses_token_types(checkpoint: Checkpoint) -> bool:
    """Whether the model reads segment ids, from its config.json (the rule: `models.inference`)."""
    import json

    from models.inference import uses_token_types as reads_segment_ids

    config = json.loads((checkpoint.path / "config.json").read_text(encoding="utf-8"))
    return reads_segment_ids(config)


def embed_params() -> Any:
    """vLLM pooling parameters for one side of a bi-encoder pair: its sentence embedding."""
    from vllm import PoolingParams

    return PoolingParams(task="embed")


def classify_params(pair: EncodedPair, *, token_types: bool) -> Any:
    """vLLM pooling parameters for one pair: raw logits, and the pair's segment ids for encoders.

    A `TokensPrompt` carries no token type ids, so without this an encoder would score the target side as
    segment 0 — a different input from the torch backend's. vLLM takes them compressed as the index of
    the first 1 (zeros then ones), the form its own /score route sends.
    """
    from vllm import PoolingParams

    params = PoolingParams(task="classify", use_activation=False)
    if token_types and 1 in pair.token_type_ids:
        params.extra_kwargs = {"compressed_token_type_ids": pair.token_type_ids.index(1)}
    return params
