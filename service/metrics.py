"""Every Prometheus metric of the service: names live here and nowhere else (the metrics table of
docs/operations.md describes them; dashboards and alerts depend on them).

Each app owns a `CollectorRegistry`, so several apps can live in one process (tests). Backends that
bring their own metrics (vLLM's `vllm:` family) expose them through `backends.base.ExposesMetrics`, which
the `/metrics` route renders after the app's own.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector

from models import TaskMetrics, registered_tasks
from service.errors import ErrorType

PREFIX = "relevance_"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_PAIRS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_TOKENS_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 0.05 .. 1.0

# Low cardinality: languages outside this closed set count as "other", absent ones as "unknown".
LANGUAGES = frozenset({"en", "es", "fr", "ja", "ko", "pt", "th", "ar", "de", "it", "pl", "id", "vi"})
LANGUAGE_ALIASES = {"vn": "vi", "jp": "ja", "kr": "ko"}
# Why a pair that needed a translation was scored without one: the engine failed, did not answer within
# RELEVANCE_TRANSLATION_TIMEOUT_S, or cannot run here (not installed).
TRANSLATION_FAILURES = ("error", "timeout", "unavailable")


def language_label(language: str | None) -> str:
    if not language:
        return "unknown"
    code = language.strip().lower().replace("_", "-").split("-")[0]
    code = LANGUAGE_ALIASES.get(code, code)
    return code if code in LANGUAGES else "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        p = PREFIX
        self.requests = Counter(
            f"{p}requests", "API requests by task and HTTP status", ["task", "status"], registry=r
        )
        self.request_duration = Histogram(
            f"{p}request_duration_seconds",
            "Request latency, receipt to response",
            ["task"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_duration = Histogram(
            f"{p}queue_duration_seconds",
            "Time a pair waits before its batch starts",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokenization_duration = Histogram(
            f"{p}tokenization_duration_seconds",
            "Time to encode one request's pairs",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            f"{p}inference_duration_seconds",
            "Backend time per batch",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_pairs = Histogram(
            f"{p}batch_pairs", "Pairs per batch", buckets=BATCH_PAIRS_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            f"{p}batch_tokens",
            "Padded tokens per batch (pairs x longest pair)",
            buckets=BATCH_TOKENS_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(f"{p}queue_depth", "Pairs waiting for a batch", registry=r)
        self.inflight = Gauge(f"{p}inflight_requests", "Scoring requests being handled", registry=r)
        self.pairs_scored = Counter(
            f"{p}pairs_scored", "Pairs scored by task and query language", ["task", "language"], registry=r
        )
        self.pairs_relevant = Counter(
            f"{p}pairs_relevant",
            "Pairs judged relevant by task and query language",
            ["task", "language"],
            registry=r,
        )
        self.pairs_truncated = Counter(
            f"{p}pairs_truncated", "Pairs cut to the model's max length", ["task"], registry=r
        )
        self.rejected = Counter(
            f"{p}rejected_requests", "Failed requests by error type", ["reason"], registry=r
        )
        self.cache_hits = Counter(
            f"{p}cache_hits", "Pairs answered from the score cache", ["task"], registry=r
        )
        self.cache_misses = Counter(f"{p}cache_misses", "Pairs sent to the model", ["task"], registry=r)
        self.score = Histogram(
            f"{p}score", "Distribution of served scores", ["task"], buckets=SCORE_BUCKETS, registry=r
        )
        self.model_info = Gauge(
            f"{p}model_info", "Loaded model per task (value 1)", ["task", "model", "backend"], registry=r
        )
        self.ready = Gauge(f"{p}ready", "1 when models are loaded, warmed and healthy", registry=r)
        self.backend_failures = Counter(
            f"{p}backend_failures", "Failed backend batches", ["backend"], registry=r
        )
        self.model_reloads = Counter(f"{p}model_reloads", "Model reloads by result", ["result"], registry=r)
        # From the served checkpoint's card (its evaluation data, by language): the served relevant rate is
        # compared with these (docs/operations.md, RelevanceRelevantRateOffTraining).
        self.training_positive_rate = Gauge(
            f"{p}training_positive_rate",
            "Share of the served checkpoint's evaluation pairs labelled relevant (model card)",
            ["task", "model", "language"],
            registry=r,
        )
        self.training_relevant_rate = Gauge(
            f"{p}training_relevant_rate",
            "Share of the served checkpoint's evaluation pairs it judged relevant at its threshold (card)",
            ["task", "model", "language"],
            registry=r,
        )
        # Query translation (`service.translation`): a model trained on "<query> - <english>" scores pairs
        # left untranslated on input it never saw, so every such pair is counted by why.
        self.translations = Counter(
            f"{p}translations",
            "Queries translated to English by the engine (translation cache misses)",
            ["language"],
            registry=r,
        )
        self.translation_cache_hits = Counter(
            f"{p}translation_cache_hits", "Pairs whose query translation came from the cache", registry=r
        )
        self.translation_failures = Counter(
            f"{p}translation_failures",
            "Pairs scored untranslated because translation failed, by reason",
            ["reason"],
            registry=r,
        )
        self.translation_duration = Histogram(
            f"{p}translation_duration_seconds",
            "Time of one translation engine call",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Zero series exist from the start so rate() and alerts work before the first event.
        for reason in TRANSLATION_FAILURES:
            self.translation_failures.labels(reason=reason)
        for reason in ErrorType:
            self.rejected.labels(reason=reason.value)
        for result in ("success", "failure"):
            self.model_reloads.labels(result=result)
        # A fast load can start and end between two scrapes: rate() needs the 0 before it.
        for task in registered_tasks():
            for counter in (self.cache_hits, self.cache_misses, self.pairs_truncated):
                counter.labels(task=task.value)

    def set_models(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """(task, model name, backend) of every served task; replaces the previous set."""
        self.model_info.clear()
        for task, model, backend in entries:
            self.model_info.labels(task=task, model=model, backend=backend).set(1)
            # The failure counter's 0 must be scraped before the first failure, or rate() sees one sample.
            self.backend_failures.labels(backend=backend)

    def set_training_rates(self, entries: Iterable[tuple[str, str, TaskMetrics | None]]) -> None:
        """(task, model name, the card's metrics for the task) of every served task; replaces the previous
        set. Card languages map to the pair counters' `language` label; several landing on one label
        (`other`) are averaged, weighted by their pairs."""
        self.training_positive_rate.clear()
        self.training_relevant_rate.clear()
        for task, model, metrics in entries:
            groups: dict[str, list] = {}
            for language, rates in (metrics.language_rates() if metrics is not None else {}).items():
                groups.setdefault(language_label(language), []).append(rates)
            for language, group in groups.items():
                labels = {"task": task, "model": model, "language": language}
                weights = [r.n for r in group] if all(r.n for r in group) else [1] * len(group)
                positive = sum(w * r.positive for w, r in zip(weights, group, strict=True)) / sum(weights)
                self.training_positive_rate.labels(**labels).set(positive)
                if all(r.relevant is not None for r in group):
                    relevant = sum(w * r.relevant for w, r in zip(weights, group, strict=True)) / sum(weights)
                    self.training_relevant_rate.labels(**labels).set(relevant)

    def render(self, extra: Iterable[Collector] = ()) -> bytes:
        parts = [generate_latest(self.registry)]
        unique = {id(reg): reg for reg in extra}  # two tasks may share a backend
        parts += [generate_latest(reg) for reg in unique.values()]  # type: ignore[arg-type]
        return b"".join(parts)
