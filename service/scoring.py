"""The scoring service: request limits, encoding, the score cache, the batcher, thresholds, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from models import PairInput, Task
from service.batcher import Job, MicroBatcher
from service.cache import ScoreCache
from service.deployment import ModelManager
from service.errors import ApiError, ErrorType
from service.metrics import Metrics, language_label
from service.schemas import PairResult, QCPair, QCRequest, QIPair, QIRequest, RelevanceResponse, Usage
from service.settings import Settings


class ClientDisconnected(Exception):
    """The client went away before its answer was ready; its queued work was dropped."""


class ScoringService:
    def __init__(
        self,
        *,
        settings: Settings,
        manager: ModelManager,
        batcher: MicroBatcher,
        cache: ScoreCache,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.batcher = batcher
        self.cache = cache
        self.metrics = metrics

    def check_limits(self, pairs: Sequence[QCPair | QIPair]) -> None:
        limit = self.settings.max_pairs_per_request
        if len(pairs) > limit:
            raise ApiError(
                ErrorType.TOO_MANY_PAIRS,
                f"{len(pairs)} pairs in one request; the limit is {limit} (split the request)",
                param="pairs",
            )
        max_chars = self.settings.max_chars_per_field
        for i, pair in enumerate(pairs):
            target = pair.target if isinstance(pair.target, str) else ",".join(pair.target)
            fields = {
                "query": pair.query,
                "query_en": pair.query_en or "",
                "id": pair.id if isinstance(pair.id, str) else "",
                "category_path" if isinstance(pair, QCPair) else "item_title": target,
            }
            for name, text in fields.items():
                if len(text) > max_chars:
                    raise ApiError(
                        ErrorType.TEXT_TOO_LONG,
                        f"pairs[{i}].{name} has {len(text)} characters; the limit is {max_chars}",
                        param=f"pairs[{i}].{name}",
                    )

    async def score(
        self,
        task: Task,
        request: QCRequest | QIRequest,
        *,
        disconnected: Callable[[], Awaitable[object]] | None = None,
    ) -> RelevanceResponse:
        self.check_limits(request.pairs)
        async with self.manager.lease() as deployment:
            backend = deployment.backend_for(task)
            started = time.perf_counter()
            encoded = backend.encoder.encode_batch(
                [
                    PairInput(task=task, query=p.query, target=p.target, query_en=p.query_en)
                    for p in request.pairs
                ]
            )
            self.metrics.tokenization_duration.observe(time.perf_counter() - started)

            # Cache key: the model's weights (a reload with new weights misses) + its exact input ids.
            model_key = backend.checkpoint.card.weights_sha256
            scores: list[float | None] = []
            misses: dict[tuple, list[int]] = {}  # unique inputs to score -> positions in the request
            for i, enc in enumerate(encoded):
                key = (model_key, enc.cache_key)
                hit = self.cache.get(key)
                scores.append(hit)
                if hit is None:
                    misses.setdefault(key, []).append(i)
            n_hits = len(encoded) - sum(len(v) for v in misses.values())
            self.metrics.cache_hits.labels(task=task.value).inc(n_hits)
            self.metrics.cache_misses.labels(task=task.value).inc(len(encoded) - n_hits)

            if misses:
                keys = list(misses)
                job = self.batcher.submit(backend, [encoded[misses[k][0]] for k in keys])
                fresh = await self._wait(job, disconnected)
                for key, score in zip(keys, fresh, strict=True):
                    self.cache.put(key, score)
                    for i in misses[key]:
                        scores[i] = score

        threshold = (
            request.threshold if request.threshold is not None else backend.checkpoint.card.threshold(task)
        )
        results = []
        for pair, score in zip(request.pairs, scores, strict=True):
            assert score is not None
            relevant = score >= threshold
            language = language_label(pair.language)
            self.metrics.pairs_scored.labels(task=task.value, language=language).inc()
            if relevant:
                self.metrics.pairs_relevant.labels(task=task.value, language=language).inc()
            self.metrics.score.labels(task=task.value).observe(score)
            results.append(PairResult(id=pair.id, score=score, relevant=relevant))
        truncated = sum(e.truncated for e in encoded)
        self.metrics.pairs_truncated.labels(task=task.value).inc(truncated)
        return RelevanceResponse(
            model=backend.checkpoint.name,
            task=task,
            results=results,
            usage=Usage(pairs=len(encoded), tokens=sum(e.num_tokens for e in encoded), truncated=truncated),
        )

    async def _wait(self, job: Job, disconnected: Callable[[], Awaitable[object]] | None) -> list[float]:
        waiters: set[asyncio.Future] = {job.future}
        watcher = asyncio.ensure_future(disconnected()) if disconnected is not None else None
        if watcher is not None:
            waiters.add(watcher)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=self.settings.request_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()
        if job.future in done:
            return job.future.result()
        job.cancel()
        if watcher is not None and watcher in done:
            raise ClientDisconnected
        raise ApiError(
            ErrorType.TIMEOUT,
            f"no answer within {self.settings.request_timeout_s:g}s (the server is "
            "busy); retry, or send fewer pairs per request",
        )
