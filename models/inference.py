"""The batched forward pass shared by training (evaluation, merge check, predict) and the torch backend.

Keeping it in one place is what makes a served score equal the offline score bit for bit on the same
device and dtype: same encoder, same padding, same logits-to-probability map.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from models.formatting import EncodedPair, PairEncoder, PairInput
from models.scores import logits_to_scores
from models.tasks import Task

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel


# What starting one more batch costs, in padded tokens: a torch forward pass costs about a fixed ~1.5 ms
# per batch plus ~0.054 ms per padded token for MiniLM compiled on 2 CPU cores (4x12 tokens: 4.4 ms,
# 64x24: 83 ms), so a batch is worth cutting once widening it would pad more than ~28 tokens. On real QC
# pairs this brings the compute per real token from 1.09x (fixed batches of 64, sorted) to 1.04x.
BATCH_COST_TOKENS = 28


def pack_sorted(
    lengths: Sequence[int],
    *,
    max_pairs: int,
    max_tokens: int,
    batch_cost_tokens: int | None = BATCH_COST_TOKENS,
) -> list[range]:
    """Cut ascending `lengths` into consecutive batches (index ranges): a batch closes when it is full
    (`max_pairs`, or `max_tokens` padded tokens) or when taking the next, longer item would pad the rows
    already in it by more tokens than a new batch costs (`batch_cost_tokens`; None: never cut for
    padding, for runtimes that do not pad)."""
    batches: list[range] = []
    start = 0
    for i in range(1, len(lengths) + 1):
        if i == len(lengths):
            batches.append(range(start, i))
            break
        count, width, nxt = i - start, lengths[i - 1], lengths[i]
        full = count + 1 > max_pairs or (count + 1) * nxt > max_tokens
        too_wide = batch_cost_tokens is not None and count * (nxt - width) > batch_cost_tokens
        if full or too_wide:
            batches.append(range(start, i))
            start = i
    return batches


def collate(
    batch: Sequence[EncodedPair], *, pad_id: int, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Right-pad a batch into tensors; classifier heads find the last non-pad token themselves."""
    import torch

    width = max(e.num_tokens for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = e.num_tokens
        ids[row, :n] = torch.tensor(e.input_ids)
        types[row, :n] = torch.tensor(e.token_type_ids)
        mask[row, :n] = 1
    return {
        "input_ids": ids.to(device),
        "token_type_ids": types.to(device),
        "attention_mask": mask.to(device),
    }


def uses_token_types(config: Any) -> bool:
    """Whether a model reads segment ids: BERT-style encoders with two or more token types. Decoders have
    none, and a `type_vocab_size` of 1 (XLM-R, e5) means every id is 0, the model's own default.
    `config` is a transformers config or a config.json mapping."""
    if isinstance(config, dict):
        size = config.get("type_vocab_size")
    else:
        size = getattr(config, "type_vocab_size", 0)
    return int(size or 0) > 1


def forward_scores(model: PreTrainedModel, batch: Sequence[EncodedPair], *, pad_id: int) -> np.ndarray:
    """Relevance probabilities for one batch, in batch order."""
    import torch

    if hasattr(model, "score_pairs"):  # a bi-encoder (`models.biencoder.BiEncoderModel`)
        return model.score_pairs(batch)
    inputs = collate(batch, pad_id=pad_id, device=model.device)
    if not uses_token_types(model.config):
        inputs.pop("token_type_ids")
    with torch.inference_mode():
        logits = model(**inputs).logits
    return logits_to_scores(logits.float().cpu().numpy(), model.config.num_labels)


_COMPILE_LOCK = threading.Lock()


def _call_model(model: PreTrainedModel, **inputs: torch.Tensor) -> Any:
    return model(**inputs)


class CompiledModel:
    """A model run through `torch.compile` for inference: inductor kernels with the weights frozen as
    constants (on CPU the matmuls get oneDNN-prepacked weights), dynamic batch and sequence sizes.

    About 2x eager fp32 throughput for MiniLM on CPU, with scores within ~2e-7 of eager. Compiling is
    lazy: the first call at batch size >= 2 and the first at batch size 1 (specialised) each compile for
    ~10-15 s, so `warm_up(shape_batches(...))` before serving. Needs a C++ compiler on CPU.
    `config` and `device` are the model's, so `forward_scores` takes either.

    Releasing a model matters to a service that hot-reloads. Every instance compiles its own copy of a
    one-line function (a fresh code object and globals): dynamo keeps compiled graphs on the code object
    and in the globals of the function they were made for, so a shared one (the model class's `forward`)
    would pin every model ever compiled and stop compiling after 8 (`recompile_limit`). And inductor
    keeps each generated module, frozen weights included, in a process-wide cache: `release` drops the
    ones `warm_up` saw created and any holding this model's tensors (tested: a released model's
    weights are freed).
    """

    def __init__(self, model: PreTrainedModel) -> None:
        import types

        import torch
        import torch._inductor.config as inductor_config

        # Process-wide on purpose: `options={"freezing": True}` is not honoured by torch 2.13, and a
        # later recompile (a new shape) must freeze too. Freezing only touches graphs compiled without
        # autograd (inference).
        inductor_config.freezing = True
        code = _call_model.__code__.replace(co_name=f"_call_model_{id(self):x}")
        # Its own globals too: dynamo stores each compiled graph as a global of the compiled function.
        fresh = types.FunctionType(code, {"__builtins__": __builtins__}, code.co_name)
        self._code = code
        self.model = model
        self.config = model.config
        self.device = model.device
        self._forward = torch.compile(fresh, dynamic=True)
        self._modules: list[Any] = []

    def __call__(self, **inputs: torch.Tensor) -> Any:
        return self._forward(self.model, **inputs)

    def warm_up(self, batches: Sequence[Sequence[EncodedPair]], *, pad_id: int) -> None:
        """Compile now for each batch's shape class (batch size 1 and >= 2 compile apart); raises if
        compiling fails. Warm-ups are serialised so the modules each one creates can be attributed."""
        import sys

        from torch._inductor.codecache import PyCodeCache
        from torch._inductor.runtime.cache_dir_utils import cache_dir

        with _COMPILE_LOCK:
            known = {id(m) for m in PyCodeCache.modules} | {id(m) for m in sys.modules.values()}
            try:
                for batch in batches:
                    forward_scores(self, batch, pad_id=pad_id)  # type: ignore[arg-type]
            finally:
                generated = [m for m in list(sys.modules.values()) if id(m) not in known]
                root = cache_dir()
                self._modules += [m for m in PyCodeCache.modules if id(m) not in known] + [
                    m for m in generated if str(getattr(m, "__file__", "") or "").startswith(root)
                ]

    def release(self) -> None:
        """Free the compiled code and the weights frozen into it; the instance is unusable after."""
        import sys

        from torch._dynamo.eval_frame import reset_code
        from torch._inductor.codecache import PyCodeCache

        with _COMPILE_LOCK:
            reset_code(self._code)  # dynamo's compiled graphs (and guards) for this model
            # Generated modules hold frozen weights as attributes; besides those the warm-up created,
            # any holding one of this model's own tensors (e.g. an embedding frozen as is) is its too.
            own = {id(p) for p in self.model.parameters()} | {id(b) for b in self.model.buffers()}
            candidates = list(PyCodeCache.modules) + list(sys.modules.values())
            mine = {id(m) for m in self._modules} | {
                id(m) for m in candidates if any(id(v) in own for v in getattr(m, "__dict__", {}).values())
            }
            PyCodeCache.modules[:] = [m for m in PyCodeCache.modules if id(m) not in mine]
            for path, module in list(PyCodeCache.modules_no_attr.items()):
                if id(module) in mine:
                    del PyCodeCache.modules_no_attr[path]
            for name, module in list(sys.modules.items()):
                if id(module) in mine:
                    del sys.modules[name]
        self._modules = []
        self._forward = None  # type: ignore[assignment]
        self.model = None  # type: ignore[assignment]


def shape_batches(encoder: PairEncoder, task: Task) -> list[list[EncodedPair]]:
    """One batch per shape class a compiled model specialises on, for `CompiledModel.warm_up`: batch
    size 1 compiles apart from >= 2, and rows of equal length build no padding mask."""
    short = encoder.encode(PairInput(task=task, query="a", target="b"))
    long = encoder.encode(PairInput(task=task, query="warm up query", target="warm,up,category path"))
    return [[short, long], [short, short], [long]]


def score_encoded(
    model: PreTrainedModel,
    encoded: Sequence[EncodedPair],
    *,
    pad_id: int,
    batch_size: int = 64,
    max_batch_tokens: int | None = None,
    batch_cost_tokens: int | None = BATCH_COST_TOKENS,
    progress: bool = False,
    desc: str = "scoring",
) -> np.ndarray:
    """Score many pairs in length-sorted batches (`pack_sorted`: little padding), in input order."""
    order = sorted(range(len(encoded)), key=lambda i: encoded[i].num_tokens)
    lengths = [encoded[i].num_tokens for i in order]
    batches = pack_sorted(
        lengths,
        max_pairs=batch_size,
        max_tokens=max_batch_tokens or batch_size * max(lengths, default=1),
        batch_cost_tokens=batch_cost_tokens,
    )
    scores = np.empty(len(encoded), dtype=np.float64)
    progress_bar = None
    if progress:
        from tqdm.auto import tqdm

        progress_bar = tqdm(total=len(encoded), desc=desc, unit="pair")
    for rows in batches:
        idx = order[rows.start : rows.stop]
        scores[idx] = forward_scores(model, [encoded[i] for i in idx], pad_id=pad_id)
        if progress_bar is not None:
            progress_bar.update(len(idx))
    if progress_bar is not None:
        progress_bar.close()
    return scores
