"""Filling a request's missing `query_en`, so a served model sees the input it was trained on.

A model trained with translation augmentation reads `"<query> - <english>"` (`models.formatting`), and its
card names the engine that made the English (`input.translation`). Clients rarely send `query_en`; when
the engine is Apertium (`models.translation.ApertiumTranslator`, which training ran too) the service
translates the query itself, routed by the pair's `language`. A pair with no language, an English one or
one without a route is scored untranslated, as training left such queries (no translation); a pair
that brings its own `query_en` keeps it (training replaced such a column with Apertium's: documented).

`load_translation` is run per served model at load (a reload builds it anew from the new card), and
`QueryTranslations.fill` by `ScoringService` before encoding, so the score cache and the batcher see the
filled input. Translation never fails a request: a pair whose translation failed, timed out or cannot run
here (Apertium not installed: a warning at load) is scored untranslated and counted
(`relevance_translation_failures_total{reason}`).

Apertium costs a process start per mode (~0.2 s on 2 busy cores) whatever the number of texts, so
translations are not run per request: queries missing from the cache join the translator's next call,
one call in flight per translator, and a call takes everything that queued while the previous one ran
(the batcher's rule). A burst of requests then costs a few calls, and a query already on its way is not
sent twice. Each call runs in a worker thread: Apertium is subprocesses, and the loop must keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models import Checkpoint, PairInput
from models.translation import (
    APERTIUM_PACKAGES,
    APERTIUM_ROUTES,
    ApertiumTranslator,
    Translator,
    clean_text,
    normalize_language,
)
from service.cache import LruCache
from service.metrics import Metrics, language_label
from service.settings import Settings

log = logging.getLogger(__name__)

# Most queries in one engine call: a backlog larger than this is split, so one call stays well inside
# the timeout (Apertium translates thousands of short queries a second once started).
MAX_CALL_QUERIES = 1024

Key = tuple[str, str]  # (source language, clean query): the engine's output depends on nothing else


@dataclass(frozen=True, eq=False)
class ServedTranslation:
    """What a served model's card asks of translation: the source languages it was trained with
    translated, and the engine that translates them here (None: it cannot run here)."""

    languages: frozenset[str]
    translator: Translator | None


def source_language(language: str | None) -> str:
    """A request's language as a route key (`normalize_language`, as training routes it)."""
    return normalize_language(language)


def load_translation(checkpoint: Checkpoint, settings: Settings) -> ServedTranslation | None:
    """The translation `checkpoint` is served with, or None (no apertium translation in its card, or the
    `translate_queries` setting off). Blocking (it runs `apertium -l`): call it in a thread."""
    spec = checkpoint.card.input
    if not (settings.translate_queries and spec.uses_translation and spec.translation is not None):
        return None
    if spec.translation.engine != "apertium":
        return None  # a seq2seq engine or a data column: clients bring the translations, as documented
    wanted = spec.translation.languages
    try:
        translator = ApertiumTranslator(
            languages=wanted, binary=settings.apertium_binary, timeout_s=settings.translation_timeout_s
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        languages = {source_language(lang) for lang in wanted or APERTIUM_ROUTES} & set(APERTIUM_ROUTES)
        log.warning(
            "the model was trained on apertium translations but apertium cannot run here: its pairs without "
            "query_en are scored untranslated (counted as relevance_translation_failures_total"
            '{reason="unavailable"}); install the Debian packages: ' + APERTIUM_PACKAGES,
            extra={"model": checkpoint.name, "error": str(exc), "binary": settings.apertium_binary},
        )
        return ServedTranslation(frozenset(languages), None)
    log.info(
        "translating queries without query_en",
        extra={"model": checkpoint.name, "engine": translator.name, "binary": translator.binary},
    )
    return ServedTranslation(frozenset(translator.languages), translator)


class QueryTranslations:
    """The app's translation state: the cache shared by every model and request, and the calls in flight."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.timeout_s = settings.translation_timeout_s
        self.metrics = metrics
        self.cache: LruCache[str] = LruCache(settings.translation_cache_size)
        # Queries waiting for their translator's next call, and those in a call now: each to the future
        # its requests wait on (the translation; "" when there is none, None when the call failed).
        self._queued: dict[Translator, dict[Key, asyncio.Future[str | None]]] = {}
        self._running: dict[Key, asyncio.Future[str | None]] = {}
        self._pumps: dict[Translator, asyncio.Task[None]] = {}

    async def fill(
        self,
        translation: ServedTranslation | None,
        pairs: Sequence[PairInput],
        languages: Sequence[str | None] | None,
    ) -> Sequence[PairInput]:
        """`pairs` with `query_en` filled where the served model translates the pair's language and the
        request left it out; every other pair, and any whose translation failed, as it came."""
        if translation is None or languages is None:
            return pairs
        todo: dict[Key, list[int]] = {}  # queries to translate -> positions of their pairs
        for i, (pair, language) in enumerate(zip(pairs, languages, strict=True)):
            lang = source_language(language)
            if lang in translation.languages and not (pair.query_en or "").strip():
                todo.setdefault((lang, clean_text(pair.query)), []).append(i)
        if not todo:
            return pairs
        if translation.translator is None:
            self._failed("unavailable", todo.values())
            return pairs
        found: dict[Key, str] = {}
        for key in todo:
            hit = self.cache.get(key)
            if hit is not None:
                found[key] = hit
                self.metrics.translation_cache_hits.inc(len(todo[key]))
        misses = [key for key in todo if key not in found]
        if misses:
            found |= await self._translate(translation.translator, misses, todo)
        out = list(pairs)
        for key, english in found.items():
            for i in todo[key]:
                # An empty translation means none, as training recorded it.
                out[i] = dataclasses.replace(pairs[i], query_en=english or None)
        return out

    async def _translate(
        self, translator: Translator, keys: list[Key], todo: dict[Key, list[int]]
    ) -> dict[Key, str]:
        """Translations of `keys` that arrive within the timeout; the others are counted as failed."""
        futures = {key: self._submit(translator, key) for key in keys}
        done, _ = await asyncio.wait(set(futures.values()), timeout=self.timeout_s)
        found: dict[Key, str] = {}
        for key, future in futures.items():
            english = future.result() if future in done else None
            if english is not None:
                found[key] = english
            else:
                self._failed("timeout" if future not in done else "error", [todo[key]])
        return found

    def _submit(self, translator: Translator, key: Key) -> asyncio.Future[str | None]:
        """The future of `key`'s translation: one already on its way, else a place in the next call."""
        future = self._running.get(key) or self._queued.get(translator, {}).get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._queued.setdefault(translator, {})[key] = future
        if translator not in self._pumps:
            pump = asyncio.create_task(self._pump(translator), name="query-translation")
            self._pumps[translator] = pump
        return future

    async def _pump(self, translator: Translator) -> None:
        """Calls `translator` while queries queue for it, each call on everything queued meanwhile."""
        try:
            while queue := self._queued.pop(translator, None):
                batch = dict(list(queue.items())[:MAX_CALL_QUERIES])
                if len(batch) < len(queue):
                    self._queued[translator] = {k: f for k, f in queue.items() if k not in batch}
                self._running |= batch
                try:
                    await self._call(translator, batch)
                finally:
                    for key, future in batch.items():
                        self._running.pop(key, None)
                        if not future.done():
                            future.set_result(None)
        finally:
            self._pumps.pop(translator, None)

    async def _call(self, translator: Translator, batch: dict[Key, asyncio.Future[str | None]]) -> None:
        keys = list(batch)
        started = time.perf_counter()
        try:
            results = await asyncio.to_thread(
                translator.translate, [q for _, q in keys], source_languages=[lang for lang, _ in keys]
            )
            if len(results) != len(keys):
                raise RuntimeError(f"the translator returned {len(results)} texts for {len(keys)}")
        except Exception as exc:
            # The waiting requests count it (each pair once); one log line per failed call.
            log.warning("query translation failed", extra={"queries": len(keys), "error": str(exc)})
            return
        finally:
            self.metrics.translation_duration.observe(time.perf_counter() - started)
        for key, text in zip(keys, results, strict=True):
            english = clean_text(text)
            self.cache.put(key, english)
            self.metrics.translations.labels(language=language_label(key[0])).inc()
            batch[key].set_result(english)

    def _failed(self, reason: str, positions: Iterable[list[int]]) -> None:
        """Count the pairs at `positions` (lists per query) as scored untranslated for `reason`."""
        self.metrics.translation_failures.labels(reason=reason).inc(sum(len(p) for p in positions))

    async def close(self) -> None:
        """Stop the calls in flight (their threads end at the engine's own timeout)."""
        pumps = list(self._pumps.values())
        for pump in pumps:
            pump.cancel()
        for pump in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump
