"""A bi-encoder's transformer exported to ONNX and run by ONNX Runtime on the CPU.

The one home of the export: the torch backend uses it when `RELEVANCE_ENCODER_RUNTIME=onnxruntime`
(`serve_with_onnxruntime`) and `bench.runtime_variants` times it (`onnx_transformer`). Only the transformer
moves: `SentenceEncoder.embed_ids` calls an `OrtTransformer` where it called the transformers model, so
pooling, the Dense layers, normalising and the relevance head stay the project's own torch code and a score
difference is the runtime's alone (docs/benchmarks.md: within 1.1e-6 on EmbeddingGemma, 1.65x the eager
query pass). Needs `onnx` (the TorchScript exporter writes with it) and `onnxruntime`: the `serving-onnx`
extra.
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from models.embedding import SentenceEncoder

ONNX_FILE = "encoder.onnx"
CHECK_TOLERANCE = 1e-4  # max |Δ| on embeddings: the same fp32 graph measured within ~1e-6
# The load's check: short and long, several scripts, in one padded batch, so the mask path is compared too.
CHECK_TEXTS = (
    "ドライヤー",
    "peluche stitch",
    "zapatillas running hombre",
    "home appliances,personal care appliances,hair dryers",
    "toys & hobbies,stuffed animals & plush",
    "Электрический чайник из нержавеющей стали 1,7 л с автоматическим отключением " * 8,
)


class OnnxCheckFailed(RuntimeError):
    """ONNX Runtime's embeddings differ from torch's by more than the tolerance."""


def export_module(model: Any) -> torch.nn.Module:
    """The transformer as `(input_ids, attention_mask) -> last_hidden_state`. A bidirectional Gemma 3
    (EmbeddingGemma) gets its attention masks built here from the padding mask in plain tensor ops, the
    masks transformers builds for it (padding keys off; sliding layers see |i - j| < window): the
    TorchScript exporter fails inside transformers' own mask builders ("unordered_map::at")."""
    import torch

    config = model.config
    bidirectional = bool(getattr(config, "use_bidirectional_attention", False))
    if bidirectional and config._attn_implementation != "sdpa":
        raise ValueError(f"export builds boolean (sdpa) masks; the model uses {config._attn_implementation}")

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            mask: Any = attention_mask
            if bidirectional:
                n = input_ids.shape[1]
                full = attention_mask.bool()[:, None, None, :].expand(-1, 1, n, -1)
                pos = torch.arange(n, device=input_ids.device)
                near = (pos[:, None] - pos[None, :]).abs() < config.sliding_window
                mask = {"full_attention": full, "sliding_attention": full & near}
            return self.model(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state

    return Exported().eval()


def export(model: Any, path: Path, *, pad_id: int) -> Path:
    """Write the fp32 transformer to `path` with the TorchScript exporter, batch and length dynamic."""
    import torch

    ids = torch.full((2, 8), pad_id, dtype=torch.long)
    ids[0], ids[1, :5] = torch.arange(2, 10), torch.arange(2, 7)
    mask = (torch.arange(8) < torch.tensor([[8], [5]])).long()  # one row padded: the mask path is traced
    axes = {0: "batch", 1: "length"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings, one per layer
        torch.onnx.export(
            export_module(model),
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            dynamo=False,  # the dynamo exporter needs onnxscript as well as onnx
        )
    return path


def ort_session(path: Path, *, threads: int) -> Any:
    """A CPU session on the exported graph, `threads` intra-op threads (the torch threads it replaces),
    every graph optimisation on (as measured)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OrtTransformer:
    """An ONNX Runtime session where `SentenceEncoder.embed_ids` calls its transformer. It may own the
    temporary folder its graph was exported to (`close` removes it)."""

    def __init__(self, session: Any, config: Any, folder: tempfile.TemporaryDirectory | None = None) -> None:
        import torch

        self.session, self.config, self.device = session, config, torch.device("cpu")
        self.folder = folder

    @property
    def path(self) -> Path | None:
        """The exported graph's folder, while this transformer owns one."""
        return Path(self.folder.name) if self.folder is not None else None

    def __call__(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> SimpleNamespace:
        import torch

        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))

    def close(self) -> None:
        self.session = None
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None


def onnx_transformer(model: Any, *, pad_id: int, threads: int, workdir: Path) -> OrtTransformer:
    """`model` exported into `workdir` (the caller's folder) and opened by ONNX Runtime."""
    path = export(model, Path(workdir) / ONNX_FILE, pad_id=pad_id)
    return OrtTransformer(ort_session(path, threads=threads), model.config)


def max_embedding_delta(
    encoder: SentenceEncoder, transformer: OrtTransformer, ids: Sequence[Sequence[int]]
) -> float:
    """Largest |Δ| between `encoder`'s embeddings of `ids` and the same with `transformer` in its place."""
    reference = encoder.embed_ids(ids)
    swapped = dataclasses.replace(encoder, model=transformer).embed_ids(ids)
    return float((reference - swapped).abs().max())


def serve_with_onnxruntime(encoder: SentenceEncoder, *, threads: int, max_length: int) -> float:
    """Put ONNX Runtime in place of `encoder`'s fp32 CPU transformer, in place; the max |Δ| on the check
    texts (tokenized at most `max_length` long, as served). The graph lives in a temporary folder the
    new transformer owns (the model store may be read-only); on any failure that folder is removed,
    `encoder` is left as it was and the error is raised."""
    import torch

    if encoder.model.device.type != "cpu" or encoder.model.dtype != torch.float32:
        raise ValueError(
            f"ONNX Runtime serves the fp32 encoder on the CPU; this one is {encoder.model.dtype} on "
            f"{encoder.model.device}"
        )
    folder = tempfile.TemporaryDirectory(prefix="relevance-onnx-")
    try:
        pad_id = encoder.tokenizer.pad_token_id or 0
        path = export(encoder.model, Path(folder.name) / ONNX_FILE, pad_id=pad_id)
        transformer = OrtTransformer(ort_session(path, threads=threads), encoder.model.config, folder)
        ids = encoder.text.tokenize(CHECK_TEXTS, max_length=max_length)
        delta = max_embedding_delta(encoder, transformer, ids)
        if not delta <= CHECK_TOLERANCE:  # a NaN fails too
            raise OnnxCheckFailed(f"embeddings differ from torch's by {delta:.2e} > {CHECK_TOLERANCE}")
    except BaseException:
        folder.cleanup()
        raise
    # The torch transformer goes: ONNX Runtime holds its own copy of the weights, two would double memory.
    encoder.model = transformer
    return delta
