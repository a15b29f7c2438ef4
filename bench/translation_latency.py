"""What filling a missing `query_en` with Apertium adds to a request (issue #14 §2; not a test).

    .venv/bin/python -m bench.translation_latency --models-dir models \
        --model qc-embeddinggemma-head-apertium --data ../shared/data/qc_train_confluentia.csv \
        --out docs/results/translation_latency.json [--requests 30 --pairs 16]

The service (`python -m service`, torch backend, score cache off) runs on a checkpoint whose card says it
was trained on Apertium translations (`input.translation.engine == "apertium"`; others are refused: the
service translates for no other). Requests of K pairs, each pair a distinct real query of one language
with its own category path (the languages rotate across requests), are sent one at a time under three
conditions with the same model input, so the differences are translation alone:

1. `query_en` given by the client (translated beforehand with `ApertiumTranslator`): the baseline;
2. `query_en` missing, cold translation cache: every request's queries never seen before;
3. `query_en` missing, warm cache: the requests of (2) again.

The score cache is off, so (3) measures the translation cache, not cached scores. Also recorded: the
translation counters of /metrics around each condition, and Apertium's own time per call (1 and K
queries) outside the service. An unmeasured pass of (1) first warms the model on the very input all three
conditions send (for a bi-encoder it embeds every target), so they differ in translation alone.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np

from bench import peers

if TYPE_CHECKING:
    from models import ModelCard
    from models.translation import Translator

ROOT = Path(__file__).resolve().parents[1]
CONDITIONS = {
    "query_en_given": "1 query_en given (baseline)",
    "cold_cache": "2 query_en missing, cold cache",
    "warm_cache": "3 query_en missing, warm cache",
}


@dataclass(frozen=True, slots=True)
class Query:
    language: str
    text: str
    category_path: str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.translation_latency",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="model store")
    parser.add_argument("--model", required=True, help="checkpoint name in --models-dir (or a path)")
    parser.add_argument("--data", type=Path, required=True, help="QC data (CSV or JSONL): the queries")
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    parser.add_argument("--requests", type=int, default=30, help="requests per condition")
    parser.add_argument("--pairs", type=int, default=16, help="pairs (distinct queries) per request: K")
    parser.add_argument("--seed", type=int, default=0, help="seed of the query draw")
    parser.add_argument("--apertium-repeats", type=int, default=5, help="direct Apertium calls per cell")
    parser.add_argument("--apertium-binary", default="apertium", help="the apertium command")
    parser.add_argument("--translation-timeout-s", type=float, default=2.0, help="the service's setting")
    parser.add_argument("--torch-compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--num-threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "bench" / "translation", help="logs")
    return parser


def open_apertium_checkpoint(models_dir: Path, model: str) -> tuple[Path, ModelCard]:
    """(path, card) of the checkpoint; ValueError unless its card asks the service for Apertium."""
    from models import ModelStore, Task, open_checkpoint

    path = ModelStore(models_dir).resolve(model)
    card = open_checkpoint(path, verify_weights=False).card
    spec = card.input
    engine = spec.translation.engine if spec.translation is not None else None
    if not (spec.uses_translation and engine == "apertium"):
        raise ValueError(
            f"{card.name}: its card's input.translation.engine is {engine!r} (uses_translation="
            f"{spec.uses_translation}), not 'apertium': the service fills query_en only for models trained "
            "on Apertium translations, so there is no translation latency to measure"
        )
    if Task.QC not in card.tasks:
        raise ValueError(f"{card.name} does not serve QC (tasks {[t.value for t in card.tasks]})")
    return path, card


def translated_languages(card: ModelCard) -> list[str]:
    """The languages the service translates for this card: its list (None: every route) with a route."""
    from models.translation import APERTIUM_ROUTES, normalize_language

    listed = card.input.translation.languages
    wanted = {normalize_language(lang).replace("_", "-").split("-")[0] for lang in listed or APERTIUM_ROUTES}
    return sorted(wanted & set(APERTIUM_ROUTES))


def query_pools(data: Path, languages: Sequence[str], seed: int) -> dict[str, list[Query]]:
    """Distinct queries per language, each with the category path of its first row, shuffled: distinct
    by (language, clean text), the translation cache's key, so a cold request never meets a cached one."""
    from models import Task
    from models.translation import clean_text
    from training.data import load_examples

    examples, _ = load_examples(data, task=Task.QC, on_error="drop", require_labels=False, dedupe=False)
    pools: dict[str, dict[str, Query]] = {lang: {} for lang in languages}
    for ex in examples:
        text = clean_text(ex.query)
        if ex.language in pools and text and ex.target.strip():
            pools[ex.language].setdefault(text, Query(ex.language, text, ex.target))
    rng = random.Random(seed)
    out = {lang: list(found.values()) for lang, found in pools.items() if found}
    for queries in out.values():
        rng.shuffle(queries)
    return out


def draw_requests(pools: dict[str, list[Query]], *, n: int, k: int) -> list[list[Query]]:
    """`n` requests of `k` queries, each request one language (as one storefront sends), the languages in
    turn; no query twice. A language whose queries run out drops out of the rotation."""
    left = {lang: list(queries) for lang, queries in pools.items()}
    requests: list[list[Query]] = []
    while len(requests) < n:
        turn = [lang for lang in sorted(left) if len(left[lang]) >= k]
        if not turn:
            counts = {lang: len(queries) for lang, queries in pools.items()}
            raise ValueError(f"only {len(requests)} requests of {k} distinct queries in the data {counts}")
        for lang in turn[: n - len(requests)]:
            requests.append(left[lang][:k])
            left[lang] = left[lang][k:]
    return requests


def latency_stats(seconds: Sequence[float]) -> dict:
    ms = np.asarray(seconds) * 1000.0
    values = {"p50": np.percentile(ms, 50), "p95": np.percentile(ms, 95)}
    values |= {"mean": ms.mean(), "min": ms.min(), "max": ms.max()}
    return {f"{name}_ms": round(float(value), 2) for name, value in values.items()}


def time_apertium(translator: Translator, pools: dict[str, list[Query]], *, k: int, repeats: int) -> dict:
    """Apertium's own time per call, outside the service: one query, and K queries, per language (a call
    costs a process start per mode whatever the number of texts; fr, pt and it run two modes in turn)."""
    out: dict[str, dict] = {}
    for lang, queries in sorted(pools.items()):
        cells = {}
        for size in (1, k):
            times = []
            for r in range(repeats):
                # Other queries each time, wrapping round a short pool (Apertium keeps no cache).
                texts = [queries[(r * size + i) % len(queries)].text for i in range(size)]
                started = time.perf_counter()
                translator.translate(texts, source_languages=[lang] * len(texts))
                times.append(time.perf_counter() - started)
            cells[str(size)] = {"queries": size, "calls": repeats, **latency_stats(times)}
        out[lang] = cells
    return out


def metric_snapshot(url: str) -> dict:
    """The translation counters of the service's /metrics now."""
    from prometheus_client.parser import text_string_to_metric_families

    snap: dict = {"translations_by_language": {}, "failures_by_reason": {}}
    sums = {"cache_hits": 0.0, "engine_calls": 0.0, "engine_seconds": 0.0}
    text = httpx.get(f"{url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "relevance_translations_total":
                snap["translations_by_language"][s.labels.get("language", "")] = s.value
            elif s.name == "relevance_translation_failures_total":
                snap["failures_by_reason"][s.labels.get("reason", "")] = s.value
            elif s.name == "relevance_translation_cache_hits_total":
                sums["cache_hits"] += s.value
            elif s.name == "relevance_translation_duration_seconds_count":
                sums["engine_calls"] += s.value
            elif s.name == "relevance_translation_duration_seconds_sum":
                sums["engine_seconds"] += s.value
    snap["translations"] = sum(snap["translations_by_language"].values(), 0.0)
    snap["failures"] = sum(snap["failures_by_reason"].values(), 0.0)
    return {**snap, **sums}


def metric_delta(before: dict, after: dict) -> dict:
    out: dict = {}
    for key, value in after.items():
        if isinstance(value, dict):
            moved = {k: v - before[key].get(k, 0.0) for k, v in value.items()}
            out[key] = {k: round(v, 6) for k, v in moved.items() if v}
        else:
            out[key] = round(value - before[key], 6)
    return out


def bodies(requests: list[list[Query]], english: dict[Query, str], mode: str) -> list[dict]:
    """Request bodies: `given` carries the translation, `missing` leaves it to the service."""
    out = []
    for queries in requests:
        pairs = [{"query": q.text, "category_path": q.category_path, "language": q.language} for q in queries]
        if mode == "given":
            pairs = [{**pair, "query_en": english[q]} for pair, q in zip(pairs, queries, strict=True)]
        out.append({"pairs": pairs})
    return out


def send(client: httpx.Client, url: str, payload: list[dict]) -> tuple[list[float], list, float]:
    """Send `payload` one request after another: (latency of each, scores of each, wall seconds)."""
    latencies, scores = [], []
    started = time.perf_counter()
    for body in payload:
        sent = time.perf_counter()
        response = client.post(url, json=body)
        latencies.append(time.perf_counter() - sent)
        if response.status_code != 200:
            raise RuntimeError(f"the service answered {response.status_code}: {response.text[:500]}")
        scores.append([r["score"] for r in response.json()["results"]])
    return latencies, scores, time.perf_counter() - started


def run_condition(
    client: httpx.Client, server_url: str, requests: list[list[Query]], payload: list[dict]
) -> dict:
    before = metric_snapshot(server_url)
    latencies, scores, wall = send(client, server_url + "/v1/relevance/qc", payload)
    after = metric_snapshot(server_url)
    by_language: dict[str, list[float]] = {}
    for queries, seconds in zip(requests, latencies, strict=True):
        by_language.setdefault(queries[0].language, []).append(seconds)
    pairs = sum(len(b["pairs"]) for b in payload)
    return {
        "requests": len(payload),
        "pairs_per_request": len(payload[0]["pairs"]),
        **latency_stats(latencies),
        "requests_per_s": round(len(payload) / wall, 3),
        "pairs_per_s": round(pairs / wall, 2),
        "by_language": {lang: latency_stats(times) for lang, times in sorted(by_language.items())},
        "metrics_before": before,
        "metrics_after": after,
        "metrics_delta": metric_delta(before, after),
        "scores": scores,
    }


def machine() -> dict:
    info = {
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    for package in ("torch", "transformers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[package] = metadata.version(package)
    return info


def print_table(results: dict) -> None:
    base = results["conditions"]["query_en_given"]
    head = ("condition", "p50 ms", "p95 ms", "mean ms", "req/s", "+p50 ms", "translated", "hits", "failed")
    print("\n{:<34} {:>8} {:>8} {:>8} {:>7} {:>8} {:>10} {:>6} {:>6}".format(*head))
    for key, label in CONDITIONS.items():
        c = results["conditions"][key]
        d = c["metrics_delta"]
        print(
            f"{label:<34} {c['p50_ms']:8.1f} {c['p95_ms']:8.1f} {c['mean_ms']:8.1f} "
            f"{c['requests_per_s']:7.2f} {c['p50_ms'] - base['p50_ms']:+8.1f} "
            f"{d['translations']:10.0f} {d['cache_hits']:6.0f} "
            f"{d['failures']:6.0f}"
        )
    cold = results["conditions"]["cold_cache"]
    calls = cold["metrics_delta"]["engine_calls"]
    if calls:
        mean_call = 1000 * cold["metrics_delta"]["engine_seconds"] / calls
        print(f"cold: {calls:.0f} engine calls in the service, {mean_call:.1f} ms each on average")
    by_language = ", ".join(f"{lang} {v['p50_ms']:.1f} ms" for lang, v in cold["by_language"].items())
    print(f"cold p50 by language: {by_language}")
    k = results["meta"]["pairs_per_request"]
    print(f"Apertium alone (p50 of {results['meta']['apertium_repeats']} direct calls, 1 / {k} queries):")
    for lang, cells in results["apertium_direct"].items():
        print(f"  {lang}: {cells['1']['p50_ms']:.1f} ms / {cells[str(k)]['p50_ms']:.1f} ms")


def run(args: argparse.Namespace, command: str) -> dict:
    from models.io import atomic_write_json
    from models.translation import ApertiumTranslator

    if args.requests < 1 or args.pairs < 1 or args.apertium_repeats < 1:
        raise ValueError("--requests, --pairs and --apertium-repeats must be at least 1")
    path, card = open_apertium_checkpoint(args.models_dir, args.model)
    languages = translated_languages(card)
    pools = query_pools(args.data, languages, args.seed)
    if not pools:
        raise ValueError(f"{args.data}: no queries in the languages the model translates ({languages})")
    translator = ApertiumTranslator(languages=languages, binary=args.apertium_binary)
    requests = draw_requests(pools, n=args.requests, k=args.pairs)
    queries = [q for req in requests for q in req]
    # The baseline's query_en is what the service would fill (the same engine, and a blank line between
    # texts makes each translate as it would alone). An empty one (never seen on real queries) would leave
    # the pair to the service: counted in the meta and in the baseline's metrics.
    translated = translator.translate(
        [q.text for q in queries], source_languages=[q.language for q in queries]
    )
    english = dict(zip(queries, translated, strict=True))
    # Explicit, so no RELEVANCE_* variable of the caller's shell changes what is measured.
    compile_flag = str(args.torch_compile).lower()
    extra = f"--translate-queries true --translation-cache-size 100000 --torch-compile {compile_flag}".split()
    extra += ["--translation-timeout-s", str(args.translation_timeout_s)]
    extra += ["--apertium-binary", args.apertium_binary]
    extra += ["--num-threads", str(args.num_threads)] if args.num_threads else []
    results: dict = {
        "meta": {
            "command": command,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "checkpoint": str(path),
            "model": card.name,
            "kind": card.kind,
            "base_model": card.base_model,
            "translation": card.input.translation.model_dump(),
            "languages": sorted(pools),
            "data": str(args.data),
            "requests": args.requests,
            "pairs_per_request": args.pairs,
            "apertium_repeats": args.apertium_repeats,
            "service_flags": ["--backend", "torch", "--cache-size", "0", *extra],
            "machine": machine(),
            "loadavg_start": os.getloadavg(),
            "untranslated_queries": sum(not english[q] for q in queries),
        },
    }
    print(
        f"{card.name}: {len(requests)} requests x {args.pairs} pairs, languages {sorted(pools)}", flush=True
    )
    results["apertium_direct"] = time_apertium(translator, pools, k=args.pairs, repeats=args.apertium_repeats)

    system = peers.service_system(
        "translation", "service, torch", checkpoint=path, backend="torch", cache_size=0, extra=extra
    )
    with peers.Server(system, log_dir=args.work_dir / "logs") as server, httpx.Client(timeout=120) as client:
        url = server.url + system.path
        results["meta"]["startup_s"] = round(server.started_s, 1)
        start = metric_snapshot(server.url)
        send(client, url, bodies(requests, english, "given"))  # warm-up: translates nothing
        results["meta"]["warmup_metrics_delta"] = metric_delta(start, metric_snapshot(server.url))
        conditions = {
            "query_en_given": run_condition(client, server.url, requests, bodies(requests, english, "given")),
            "cold_cache": run_condition(client, server.url, requests, bodies(requests, english, "missing")),
            "warm_cache": run_condition(client, server.url, requests, bodies(requests, english, "missing")),
        }
    baseline = [s for scores in conditions["query_en_given"].pop("scores") for s in scores]
    for key in ("cold_cache", "warm_cache"):
        flat = [s for scores in conditions[key].pop("scores") for s in scores]
        # 0 when every pair read its translation; a failed one reads the untranslated query instead.
        cell = conditions[key]
        cell["max_abs_score_diff_vs_baseline"] = max(abs(a - b) for a, b in zip(flat, baseline, strict=True))
        cell["added_p50_ms"] = round(cell["p50_ms"] - conditions["query_en_given"]["p50_ms"], 2)
        cell["added_mean_ms"] = round(cell["mean_ms"] - conditions["query_en_given"]["mean_ms"], 2)
    results["conditions"] = {key: {"label": CONDITIONS[key], **conditions[key]} for key in CONDITIONS}
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    atomic_write_json(args.out, results, indent=1)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = "python -m bench.translation_latency " + shlex.join(argv)
    try:
        results = run(args, command)
    except (FileNotFoundError, ValueError) as exc:  # not an Apertium card, no data, no Apertium
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_table(results)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
