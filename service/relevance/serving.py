"""Relevance scoring as a library: pairs in (`models.PairInput`), scores and decisions out.

`ScoringService.score` knows nothing of HTTP: the route (`api_router`) maps request bodies to pairs and
results back to a response, and the edge (`service.http.cancel_on_disconnect`) cancels a call whose
client went away. It is usable on its own for bulk scoring or tests, given a manager, a batcher and a
cache (`service.app.build_services`). One call: lease the current deployment, fill missing translations
(`service.translation`), encode the pairs with the served model's encoder (`service.encoding`), answer
repeats from the score cache, send the rest through the shared micro-batcher to the backend, and apply the
threshold (`models.is_relevant`). Cancelling the call (a client that left) cancels its batcher job, so its
queued pairs are dropped, not scored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from models import EncodedPair, PairInput, Task, check_threshold, is_relevant
from service.batcher import MicroBatcher
from service.cache import ScoreCache
from service.deployment import ModelManager, ServedModel
from service.encoding import encode
from service.errors import ApiError, ErrorType
from service.metrics import Metrics, language_label
from service.settings import Settings
from service.translation import QueryTranslations


@dataclass(frozen=True, slots=True)
class Scored:
    """The result of scoring one list of pairs, in their order."""

    model: str  # the checkpoint that scored them
    task: Task
    threshold: float  # the request's, else the card's
    scores: list[float]
    relevant: list[bool]
    tokens: int  # model input tokens, special tokens included
    truncated: int  # pairs cut to the model's max length


class ScoringService:
    def __init__(
        self,
        *,
        settings: Settings,
        manager: ModelManager,
        batcher: MicroBatcher,
        cache: ScoreCache,
        metrics: Metrics,
        translations: QueryTranslations,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.batcher = batcher
        self.cache = cache
        self.metrics = metrics
        self.translations = translations

    async def score(
        self,
        task: Task,
        pairs: Sequence[PairInput],
        *,
        threshold: float | None = None,
        languages: Sequence[str | None] | None = None,
    ) -> Scored:
        """Score `pairs` of `task` on the model serving it now. `languages` (one per pair) label metrics
        and route the translation of a missing `query_en` (`service.translation`). Raises `ApiError` (not
        ready, unknown task, overloaded, timeout, backend failure)."""
        if threshold is not None:
            try:
                check_threshold(threshold)
            except ValueError as exc:
                raise ApiError(ErrorType.VALIDATION_ERROR, str(exc), param="threshold") from None
        async with self.manager.lease() as deployment:
            served = deployment.model_for(task)
            # Before encoding: the score cache and the batcher key on the input the model reads.
            pairs = await self.translations.fill(served.translation, pairs, languages)
            started = time.perf_counter()
            encoded = await encode(served.encoder, pairs)
            self.metrics.tokenization_duration.observe(time.perf_counter() - started)
            scores = await self._scores(task, served, encoded)
        if threshold is None:
            threshold = served.checkpoint.card.threshold(task)
        relevant = [bool(is_relevant(score, threshold)) for score in scores]
        self._count(task, scores, relevant, languages or [None] * len(scores))
        truncated = sum(e.truncated for e in encoded)
        self.metrics.pairs_truncated.labels(task=task.value).inc(truncated)
        return Scored(
            model=served.checkpoint.name,
            task=task,
            threshold=threshold,
            scores=scores,
            relevant=relevant,
            tokens=sum(e.num_tokens for e in encoded),
            truncated=truncated,
        )

    async def _scores(self, task: Task, served: ServedModel, encoded: Sequence[EncodedPair]) -> list[float]:
        """Cached scores, and the misses scored through the batcher (identical inputs once)."""
        # Cache key: the model's weights (a reload with new weights misses) + its exact input ids.
        model_key = served.checkpoint.card.weights_sha256
        scores: list[float | None] = []
        misses: dict[Hashable, list[int]] = {}  # unique inputs to score -> positions in the request
        for i, enc in enumerate(encoded):
            key = (model_key, enc.cache_key)
            hit = self.cache.get(key)
            scores.append(hit)
            if hit is None:
                misses.setdefault(key, []).append(i)
        n_misses = sum(len(v) for v in misses.values())
        self.metrics.cache_hits.labels(task=task.value).inc(len(encoded) - n_misses)
        self.metrics.cache_misses.labels(task=task.value).inc(n_misses)
        if misses:
            keys = list(misses)
            fresh = await self._batched(served, [encoded[misses[k][0]] for k in keys])
            for key, score in zip(keys, fresh, strict=True):
                self.cache.put(key, score)
                for i in misses[key]:
                    scores[i] = score
        return scores  # type: ignore[return-value]  # every position is filled by now

    async def _batched(self, served: ServedModel, encoded: Sequence[EncodedPair]) -> list[float]:
        """Scores from the micro-batcher within the request timeout. However the wait ends early (timeout,
        or this call cancelled because its client left), the job is cancelled: queued pairs are dropped."""
        job = self.batcher.submit(served.backend, encoded)
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                return await asyncio.shield(job.future)
        except TimeoutError:
            raise ApiError(
                ErrorType.TIMEOUT,
                f"no answer within {self.settings.request_timeout_s:g}s (the server is "
                "busy); retry, or send fewer pairs per request",
            ) from None
        finally:
            if not job.future.done() or job.future.cancelled():
                job.cancel()

    def _count(
        self, task: Task, scores: Sequence[float], relevant: Sequence[bool], languages: Sequence[str | None]
    ) -> None:
        for score, hit, language in zip(scores, relevant, languages, strict=True):
            label = language_label(language)
            self.metrics.pairs_scored.labels(task=task.value, language=label).inc()
            if hit:
                self.metrics.pairs_relevant.labels(task=task.value, language=label).inc()
            self.metrics.score.labels(task=task.value).observe(score)
