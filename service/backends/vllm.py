"""The vLLM backend: vLLM's pooling runner (classify) behind the same contract as the torch backend.

Token ids come from `models.PairEncoder` (`service.encoding`), exactly as for torch, and go in as
`TokensPrompt`s, so vLLM never tokenizes or truncates anything itself. Each pair is its own engine request:
vLLM's continuous batching packs them with every other in-flight request (no padding), so a batch from the
service's micro-batcher is just a convenient unit of submission. The engine returns raw logits
(`use_activation=False`) and the card's `num_labels` maps them to probabilities through
`models.logits_to_scores`, the formula torch uses; vLLM's own activation would follow the config's
`problem_type` instead, which need not match the card.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

# At the top, not inside `load_backend` (this module is itself imported only when the vLLM backend is
# chosen): vLLM's first import leaves a frame of it alive for good, and with it the frames of its callers,
# whose locals would then keep the first engine (a reload's old one) in memory after it is shut down.
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.v1.engine.async_llm import AsyncLLM

from models import Checkpoint, EncodedPair, logits_to_scores
from models.biencoder import TargetCache, split_pair
from models.vllm_engine import classify_params, embed_params, uses_token_types
from service.backends.base import BackendError, BackendLimits

if TYPE_CHECKING:
    import torch
    from prometheus_client.metrics_core import Metric

    from models.head import RelevanceHead
    from service.settings import Settings

log = logging.getLogger(__name__)

_request_ids = itertools.count()


class VllmMetrics:
    """A Prometheus collector exposing the `vllm:` families vLLM registers in the process-wide registry.

    vLLM's stat logger writes to `prometheus_client.REGISTRY`; the service renders its own registry, so this
    forwards just vLLM's families (not the global process/GC collectors) to the service's `/metrics`.
    """

    def collect(self) -> Iterator[Metric]:
        from prometheus_client import REGISTRY

        for family in REGISTRY.collect():
            if family.name.startswith("vllm:"):
                yield family


class VllmBackend:
    name = "vllm"

    def __init__(
        self,
        *,
        checkpoint: Checkpoint,
        engine: AsyncLLM,
        limits: BackendLimits,
        head: RelevanceHead | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.engine = engine
        self._limits = limits
        # Bi-encoder checkpoints: vLLM embeds each side, this head scores the pair (`models.biencoder`).
        self._head = head
        self._targets = TargetCache() if head is not None else None
        self._num_labels = checkpoint.card.num_labels
        self._token_types = uses_token_types(checkpoint)
        self._closed = False
        self._metrics = VllmMetrics()

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    async def score(self, batch: Sequence[EncodedPair]) -> list[float]:
        if self._closed:
            raise BackendError("backend is closed")
        if self.engine.errored:
            raise BackendError("the vLLM engine is dead")
        if not batch:
            return []
        try:
            if self._head is not None:
                return await self._bi_encoder_scores(batch)
            logits = await asyncio.gather(*(self._logits(pair) for pair in batch))
        except BackendError:
            raise
        except Exception as exc:
            from vllm.v1.engine.exceptions import EngineDeadError

            if isinstance(exc, EngineDeadError) or self.engine.errored:
                raise BackendError("the vLLM engine is dead") from exc
            raise BackendError(f"vLLM request failed: {exc!r}") from exc
        return logits_to_scores(np.asarray(logits), self._num_labels).tolist()

    async def _bi_encoder_scores(self, batch: Sequence[EncodedPair]) -> list[float]:
        sides = [split_pair(pair) for pair in batch]
        queries = {q for q, _ in sides}
        keys = {t for _, t in sides}
        todo = [*queries, *self._targets.missing(keys)]
        vectors = await asyncio.gather(*(self._pooled(list(ids), embed_params()) for ids in todo))
        embedded = {ids: torch_tensor(v) for ids, v in zip(todo, vectors, strict=True)}
        targets = self._targets.take(keys, {k: v for k, v in embedded.items() if k in keys})
        return self._head.probabilities(sides, embedded, targets).tolist()

    async def _logits(self, pair: EncodedPair) -> list[float]:
        return await self._pooled(pair.input_ids, classify_params(pair, token_types=self._token_types))

    async def _pooled(self, input_ids: list[int], params: Any) -> list[float]:
        """One engine request: the pooled output (logits or an embedding) of one token sequence."""
        from vllm import TokensPrompt

        request_id = f"relevance-{next(_request_ids)}"
        final = None
        async for output in self.engine.encode(
            TokensPrompt(prompt_token_ids=input_ids), params, request_id=request_id
        ):
            final = output
        if final is None or not final.finished:
            raise BackendError(f"vLLM returned no result for request {request_id}")
        if final.error is not None:
            raise BackendError(f"vLLM rejected request {request_id}: {final.error.message}")
        return final.outputs.data.float().tolist()

    async def healthy(self) -> bool:
        return not self._closed and not self.engine.errored

    def metrics_registries(self) -> list[VllmMetrics]:
        """Extra collectors for the service's `/metrics` (vLLM's own `vllm:` metrics)."""
        return [self._metrics]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        engine = self.engine
        # Stop reading outputs first, else the reader reports the engine we are stopping as "dead".
        handler = engine.output_handler
        if handler is not None and not handler.done():
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handler
        # shutdown() joins the engine processes (seconds); keep the event loop serving meanwhile.
        await asyncio.to_thread(engine.shutdown)
        self.engine = None  # type: ignore[assignment]  # collected now, not during interpreter teardown


def torch_tensor(values: list[float]) -> torch.Tensor:
    import torch

    return torch.tensor(values, dtype=torch.float32)


def engine_options(settings: Settings) -> dict[str, Any]:
    """Engine arguments from `settings.backend_options`; stats stay on because they feed `vllm:` metrics."""
    return {"disable_log_stats": False, "enable_log_requests": False, **settings.backend_options}


async def load_backend(checkpoint: Checkpoint, *, settings: Settings) -> VllmBackend:
    """Start an AsyncLLM engine for `checkpoint` (tens of seconds; the event loop stays free meanwhile)."""
    from models.vllm_engine import engine_kwargs

    card = checkpoint.card
    if settings.encoder_runtime != "torch":
        log.warning(
            "RELEVANCE_ENCODER_RUNTIME applies to bi-encoders on the torch backend only: vLLM runs this "
            "model",
            extra={"model": card.name, "encoder_runtime": settings.encoder_runtime},
        )
    args = AsyncEngineArgs(**engine_kwargs(checkpoint, dtype=settings.dtype, **engine_options(settings)))
    log.info("starting vLLM engine", extra={"model": card.name, "dtype": args.dtype})
    failure = None
    try:
        engine = await asyncio.to_thread(AsyncLLM.from_engine_args, args)
    except Exception as exc:
        failure = f"vLLM engine failed to start for {card.name}: {exc}"
    if failure is not None:
        # Raised unchained, outside the handler: the failure's traceback holds the half-started engine,
        # which should go (and shut down what it started) with the next gc, not linger until exit.
        raise BackendError(failure)
    limits = BackendLimits(
        max_batch_pairs=settings.max_batch_pairs(checkpoint.card.kind),
        max_batch_tokens=max(settings.batch_max_tokens, card.input.max_length),
        max_model_len=card.input.max_length,
        length_sorted=card.kind == "cross-encoder",  # a bi-encoder's batch embeds each query once
    )
    head = None
    if card.kind == "bi-encoder":
        from models.head import RelevanceHead

        head = RelevanceHead.load(checkpoint.path)
    return VllmBackend(checkpoint=checkpoint, engine=engine, limits=limits, head=head)
