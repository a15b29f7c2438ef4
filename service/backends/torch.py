"""The embedded torch backend: a transformers classifier scored by the same forward pass training uses.

Inference runs in one dedicated worker thread, so the event loop keeps accepting and encoding requests
while a batch is computed (torch releases the GIL inside its kernels); batches reach the thread one after
another, which is what a CPU wants. The backend never tokenizes a request (`service.encoding` does); it
builds an encoder only to compile for the shapes served traffic has. A bi-encoder's transformer may run
under ONNX Runtime instead of eager torch (`RELEVANCE_ENCODER_RUNTIME=onnxruntime`, `models.onnx_export`):
set up at load, falling back to torch whenever it cannot be.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from models import Checkpoint, EncodedPair, Task
from models.biencoder import BiEncoderModel
from models.inference import CompiledModel, shape_batches
from service.backends.base import BackendError, BackendLimits

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from service.settings import EncoderRuntime, Settings

log = logging.getLogger(__name__)

# After this many consecutive failed batches the backend reports itself unhealthy (readiness -> 503).
UNHEALTHY_AFTER_FAILURES = 3


class TorchBackend:
    name = "torch"

    def __init__(
        self,
        *,
        checkpoint: Checkpoint,
        model: PreTrainedModel | BiEncoderModel,
        pad_id: int,
        executor: ThreadPoolExecutor,
        max_batch_pairs: int,
        max_batch_tokens: int,
        batch_cost_tokens: int | None,
        length_sorted: bool = True,
        runtime: EncoderRuntime = "torch",
    ) -> None:
        self.checkpoint = checkpoint
        self.model = model
        self.runtime = runtime  # what runs the model's transformer (`service.backends.base.runtime_of`)
        self.pad_id = pad_id
        self._executor = executor
        self._limits = BackendLimits(
            max_batch_pairs=max_batch_pairs,
            max_batch_tokens=max(max_batch_tokens, checkpoint.card.input.max_length),
            max_model_len=checkpoint.card.input.max_length,
            batch_cost_tokens=batch_cost_tokens,
            length_sorted=length_sorted,
        )
        self._failures = 0
        self._closed = False

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    async def score(self, batch: Sequence[EncodedPair]) -> list[float]:
        if self._closed:
            raise BackendError("backend is closed")
        loop = asyncio.get_running_loop()
        try:
            scores = await loop.run_in_executor(self._executor, self._forward, list(batch))
        except Exception as exc:
            self._failures += 1
            raise BackendError(f"torch forward pass failed: {exc!r}") from exc
        self._failures = 0
        return scores

    def _forward(self, batch: list[EncodedPair]) -> list[float]:
        import torch

        from models.inference import forward_scores

        with torch.inference_mode():
            return forward_scores(self.model, batch, pad_id=self.pad_id).tolist()

    async def healthy(self) -> bool:
        return not self._closed and self._failures < UNHEALTHY_AFTER_FAILURES

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Waits for a batch still in the thread; the service closes a backend only once it is idle.
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        if isinstance(self.model, CompiledModel):
            self.model.release()  # else inductor's module cache keeps its frozen weights for good
        elif isinstance(self.model, BiEncoderModel):
            self.model.close()  # an ONNX Runtime session's exported graph lives in a temporary folder
        self.model = None  # type: ignore[assignment]


def _compiled(
    model: PreTrainedModel, *, checkpoint: Checkpoint, pad_id: int, task: Task
) -> PreTrainedModel | CompiledModel:
    """The model compiled, with every specialisation served traffic needs built now (in the loader
    thread, before the deployment is published), or the eager model if compiling fails."""
    import time

    import torch

    from service.encoding import load_encoder

    name = checkpoint.name
    started = time.monotonic()
    compiled = CompiledModel(model)
    try:
        with torch.inference_mode():
            compiled.warm_up(shape_batches(load_encoder(checkpoint), task), pad_id=pad_id)
    except Exception as exc:  # a missing C++ compiler, an unsupported op: serve eager rather than not at all
        log.warning(
            "torch.compile failed; serving the eager model",
            extra={"model": name, "error": repr(exc)[:500]},
        )
        compiled.release()
        return model
    log.info("model compiled", extra={"model": name, "seconds": round(time.monotonic() - started, 1)})
    return compiled


def _encoder_runtime(
    model: PreTrainedModel | BiEncoderModel, *, checkpoint: Checkpoint, settings: Settings
) -> EncoderRuntime:
    """Apply `settings.encoder_runtime` to a freshly loaded model; the runtime that then runs it. ONNX
    Runtime is a speed lever, never a reason not to serve: whatever stops it (not a bi-encoder, not fp32 on
    the CPU, the extra not installed, a failed export or check) is logged and the model serves with torch."""
    import time

    import torch

    from models.onnx_export import serve_with_onnxruntime

    if settings.encoder_runtime == "torch":
        return "torch"
    name = checkpoint.name
    if not isinstance(model, BiEncoderModel):
        log.warning(
            "RELEVANCE_ENCODER_RUNTIME=onnxruntime applies to bi-encoders only; this cross-encoder is "
            "served with torch",
            extra={"model": name},
        )
        return "torch"
    started = time.monotonic()
    threads = torch.get_num_threads()  # the backend's, set from RELEVANCE_NUM_THREADS before the load
    try:
        max_length = checkpoint.card.input.max_length  # the check's texts are cut as served ones are
        delta = serve_with_onnxruntime(model.encoder, threads=threads, max_length=max_length)
    except Exception as exc:
        log.warning(
            "ONNX Runtime could not take over the bi-encoder's transformer; serving it with torch",
            extra={"model": name, "error": repr(exc)[:500]},
        )
        return "torch"
    seconds = round(time.monotonic() - started, 1)
    log.info(
        "bi-encoder transformer served by ONNX Runtime",
        extra={"model": name, "threads": threads, "max_abs_delta": delta, "seconds": seconds},
    )
    return "onnxruntime"


async def load_backend(checkpoint: Checkpoint, *, settings: Settings) -> TorchBackend:
    """Load the weights in the backend's own worker thread (keeps the event loop free)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"torch-{checkpoint.name}")

    def load() -> TorchBackend:
        import torch

        from models.loading import load_model, load_tokenizer

        if settings.num_threads:
            torch.set_num_threads(settings.num_threads)
        model = load_model(checkpoint, device=settings.device, dtype=settings.dtype)
        pad_id = model.config.pad_token_id
        if pad_id is None:  # training writes it into the config; else the tokenizer's, as before
            pad_id = load_tokenizer(checkpoint).pad_token_id
        pad_id = int(pad_id) if pad_id is not None else 0
        cross_encoder = checkpoint.card.kind == "cross-encoder"
        if settings.torch_compile and cross_encoder:
            model = _compiled(model, checkpoint=checkpoint, pad_id=pad_id, task=checkpoint.card.tasks[0])
        runtime = _encoder_runtime(model, checkpoint=checkpoint, settings=settings)
        return TorchBackend(
            checkpoint=checkpoint,
            model=model,
            pad_id=pad_id,
            executor=executor,
            max_batch_pairs=settings.max_batch_pairs(checkpoint.card.kind),
            max_batch_tokens=settings.batch_max_tokens,
            # A bi-encoder pads each side on its own and embeds each distinct query once per batch: cutting
            # or sorting batches by pair length would only split a request's pairs and embed its query again.
            batch_cost_tokens=settings.batch_cost_tokens if cross_encoder else None,
            length_sorted=cross_encoder,
            runtime=runtime,
        )

    try:
        return await asyncio.get_running_loop().run_in_executor(executor, load)
    except BaseException:
        executor.shutdown(wait=False)
        raise
