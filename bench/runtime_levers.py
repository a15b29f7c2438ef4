"""Runtime levers on the served bi-encoder, in-process: torch threads, bf16, int8 dynamic quantisation,
ONNX Runtime (and, opt-in, torch.compile), each alone against the fp32 eager baseline.

    .venv/bin/python -m bench.runtime_levers --model models/qc-embeddinggemma-head \
        --data ../shared/data/qc_train_confluentia.csv --out docs/results/runtime_levers.json

Traffic: `--queries` distinct queries of the data (a seeded sample), one request each of K pairs: the
query's own labelled category paths, filled up to K with the other sampled queries' paths. Each lever's
encoder embeds every target once before it is timed (what `RELEVANCE_WARM_TARGETS` does at load), so a
timed request costs what it costs the torch backend: tokenising its K pairs, one query pass, the head.
Requests run one after another after a warm-up. Per lever: pairs/s, speed-up over the baseline, p50 per
request, max |Δscore| against the fp32 baseline over every scored pair and, where that is over the
tolerance (1e-3), ROC-AUC on the labelled pairs with and without the lever. The baseline runs again
last: the gap between its two runs is the machine's noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.runtime_variants import VARIANTS, Builder
from bench.traffic import DEFAULT_DATA, Request
from models.io import atomic_write_json

if TYPE_CHECKING:
    from models.biencoder import BiEncoderModel, BiPairEncoder

log = logging.getLogger("bench.runtime_levers")
ROOT = Path(__file__).resolve().parents[1]
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
LEVERS = ("baseline", "threads", *VARIANTS, "baseline_again")  # --levers names, in run order


class Skipped(Exception):
    """The lever was not run, for the reason given."""


@dataclasses.dataclass
class Traffic:
    requests: list[Request]
    labels: np.ndarray  # one per scored pair in request order: 1 / 0, or -1 for a filler without a label


def load_rows(path: Path) -> list[tuple[str, str, int]]:
    """(query, category path, label) of a QC data file (CSV or JSON lines, the training formats)."""
    from training.datafile import data_format, iter_csv, iter_jsonl, read_text

    text = read_text(Path(path))
    raw = iter_csv(text)[1] if data_format(Path(path)) == "csv" else iter_jsonl(text)
    rows = []
    for item in raw:
        row = item.row or {}
        query = str(row.get("origin_query") or row.get("query") or "").strip()
        target = str(row.get("category_path") or "").strip()
        label = str(row.get("label", "")).strip()
        if query and target and label in ("0", "1", "0.0", "1.0"):
            rows.append((query, target, int(float(label))))
    if not rows:
        raise ValueError(f"{path}: no labelled origin_query/category_path rows")
    return rows


def build_traffic(rows: Sequence[tuple[str, str, int]], *, queries: int, k: int, seed: int) -> Traffic:
    by_query: dict[str, dict[str, int]] = {}
    for query, target, label in rows:
        by_query.setdefault(query, {}).setdefault(target, label)  # a repeated pair keeps its first label
    rng = random.Random(seed)
    chosen = rng.sample(list(by_query), min(queries, len(by_query)))
    pool = list(dict.fromkeys(t for q in chosen for t in by_query[q]))
    if len(pool) < k:  # a tiny sample: borrow other paths of the file so requests still hold K pairs
        taken = set(pool)
        pool += [t for t in dict.fromkeys(t for _, t, _ in rows) if t not in taken][: k - len(pool)]
    requests, labels = [], []
    for query in chosen:
        own = list(by_query[query])[:k]
        others = [t for t in pool if t not in by_query[query]]
        targets = own + rng.sample(others, min(k - len(own), len(others)))
        requests.append(Request(query, tuple(targets)))
        labels += [by_query[query].get(t, -1) for t in targets]
    return Traffic(requests, np.asarray(labels, dtype=np.int64))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC of the labelled pairs (label >= 0), ties at half (Mann-Whitney); None with one class."""
    keep = labels >= 0
    y, s = labels[keep], scores[keep]
    positives = int(y.sum())
    negatives = len(y) - positives
    if not positives or not negatives:
        return None
    order = np.argsort(s, kind="mergesort")
    _, first, counts = np.unique(s[order], return_index=True, return_counts=True)
    ranks = np.empty(len(s))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)  # 1-based, averaged over ties
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def cpu_info() -> dict[str, Any]:
    """The CPU's model name and the instruction-set flags bf16 and int8 kernels depend on."""
    model, flags = platform.processor() or None, set[str]()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.is_file() else ():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break  # every core lists the same flags
    return {"model": model, **{flag: flag in flags for flag in CPU_FLAGS}}


# --- measuring ---


def score_request(model: BiEncoderModel, pairs: BiPairEncoder, request: Request) -> np.ndarray:
    """One request as the torch backend scores it: its pairs encoded, then embedded and scored."""
    from models import PairInput, Task

    encoded = pairs.encode_batch(
        [PairInput(task=Task.QC, query=request.query, target=t) for t in request.categories]
    )
    return model.score_pairs(encoded)


def warm_targets(
    model: BiEncoderModel, pairs: BiPairEncoder, targets: Sequence[str], chunk: int = 256
) -> float:
    """Embed every target into `model`'s cache (a no-op where the cache holds them); seconds taken."""
    started = time.perf_counter()
    for start in range(0, len(targets), chunk):
        score_request(model, pairs, Request("warm-up", tuple(targets[start : start + chunk])))
    return time.perf_counter() - started


def measure(model: BiEncoderModel, pairs: BiPairEncoder, traffic: Traffic, *, warmup: int) -> dict[str, Any]:
    for request in traffic.requests[:warmup]:
        score_request(model, pairs, request)
    scores, times = [], []
    started = time.perf_counter()
    for request in traffic.requests:
        t0 = time.perf_counter()
        scores.append(score_request(model, pairs, request))
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    flat = np.concatenate(scores)
    return {
        "scores": flat,
        "pairs": len(flat),
        "seconds": round(elapsed, 3),
        "pairs_per_s": len(flat) / elapsed,
        "p50_ms": float(np.percentile(np.asarray(times) * 1000, 50)),
    }


# lever, setting, torch threads, builder (None: time the baseline's own model)
Step = tuple[str, str, int, Builder | None]


def plan(args: argparse.Namespace, default_threads: int) -> list[Step]:
    """The levers to time, in run order; the baseline always comes first (it is the reference)."""
    chosen = set(args.levers.split(","))
    steps: list[Step] = [
        ("baseline", f"fp32 eager, {default_threads} threads (torch's default)", default_threads, None)
    ]
    if "threads" in chosen:
        for n in dict.fromkeys(int(t) for t in args.threads.split(",")):
            steps.append((f"threads_{n}", f"fp32 eager, torch.set_num_threads({n})", n, None))
    steps += [
        (name, setting, default_threads, b) for name, (setting, b) in VARIANTS.items() if name in chosen
    ]
    if "baseline_again" in chosen:
        steps.append(("baseline_again", "the baseline again: the run-to-run noise", default_threads, None))
    return steps


class Bench:
    """The fp32 model, the traffic, and the baseline's scores every lever is compared with."""

    def __init__(self, args: argparse.Namespace) -> None:
        from models import open_checkpoint
        from models.loading import load_model, load_pair_encoder

        self.args = args
        self.checkpoint = open_checkpoint(args.model, verify_weights=False)
        if self.checkpoint.card.kind != "bi-encoder":
            kind = self.checkpoint.card.kind
            raise ValueError(f"{args.model} is a {kind}; this bench times a bi-encoder's query pass")
        self.base = load_model(self.checkpoint, device="cpu", dtype="float32")
        self.pairs = load_pair_encoder(self.checkpoint)
        self.traffic = build_traffic(load_rows(args.data), queries=args.queries, k=args.k, seed=args.seed)
        self.targets = list(dict.fromkeys(t for r in self.traffic.requests for t in r.categories))
        self.reference: np.ndarray | None = None
        self.base_rate = 0.0

    def lever(self, step: Step) -> dict[str, Any]:
        """Time one lever; raises `Skipped`, or whatever building or running it raised."""
        import torch

        name, setting, threads, build = step
        entry: dict[str, Any] = {"lever": name, "setting": setting, "threads": threads}
        if name == "torch_compile" and not self.args.compile:
            raise Skipped("the torch backend serves a bi-encoder eager (it compiles cross-encoders only); "
                          "--compile times it")  # fmt: skip
        torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory(prefix="runtime-levers-") as workdir:
            started = time.perf_counter()
            model = self.base if build is None else build(self.base, threads=threads, workdir=Path(workdir))
            entry["setup_s"] = round(time.perf_counter() - started, 2)
            entry["warm_targets_s"] = round(warm_targets(model, self.pairs, self.targets), 2)
            result = measure(model, self.pairs, self.traffic, warmup=self.args.warmup)
        scores = result.pop("scores")
        if self.reference is None:
            self.reference, self.base_rate = scores, result["pairs_per_s"]
        delta = float(np.abs(scores - self.reference).max())
        entry |= result | {"speedup": result["pairs_per_s"] / self.base_rate, "max_abs_delta": delta}
        entry["roc_auc"] = None
        if delta > self.args.tolerance:  # the quality effect is stated, not only the scores' change
            labels = self.traffic.labels
            entry["roc_auc"] = {"with": roc_auc(labels, scores), "without": roc_auc(labels, self.reference)}
        return entry

    def run(self) -> list[dict[str, Any]]:
        import torch

        default_threads = torch.get_num_threads()
        entries = []
        for step in plan(self.args, default_threads):
            name, setting = step[:2]
            log.info("%s: %s", name, setting)
            try:
                entry = self.lever(step)
                log.info("%s: %.1f pairs/s (%.2fx), max |Δscore| %.1e", name, entry["pairs_per_s"],
                         entry["speedup"], entry["max_abs_delta"])  # fmt: skip
            except Skipped as exc:
                entry = {"lever": name, "setting": setting, "skipped": str(exc)}
                log.info("%s: skipped: %s", name, exc)
            except Exception as exc:  # a lever that cannot run on this model or machine is a finding
                if self.reference is None:
                    raise  # without the baseline no other number means anything
                entry = {"lever": name, "setting": setting, "error": f"{type(exc).__name__}: {exc}"[:2000]}
                log.warning("%s: failed: %s", name, entry["error"][:300])
            finally:
                torch.set_num_threads(default_threads)
                gc.collect()  # the variant's weights and target cache go before the next lever loads its own
            entries.append(entry)
        return entries


def describe(bench: Bench) -> dict[str, Any]:
    """What the numbers were measured on: checkpoint, traffic, software, CPU."""
    import torch
    import transformers

    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:
        ort_version = None
    traffic = bench.traffic
    return {
        "checkpoint": bench.checkpoint.name,
        "base_model": bench.checkpoint.card.base_model,
        "data": str(bench.args.data),
        "queries": len(traffic.requests),
        "k": bench.args.k,
        "pairs": len(traffic.labels),
        "labelled_pairs": int((traffic.labels >= 0).sum()),
        "distinct_targets": len(bench.targets),
        "tolerance": bench.args.tolerance,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnxruntime": ort_version,
        "quantized_engine": torch.backends.quantized.engine,
        "cores": os.cpu_count(),
        "default_threads": torch.get_num_threads(),
        "cpu": cpu_info(),
    }


def table(result: dict[str, Any]) -> str:
    header = [
        "lever",
        "setting",
        "pairs/s",
        "x baseline",
        "p50 ms",
        "max \\|Δscore\\|",
        "ROC-AUC with / without",
    ]
    lines = ["| " + " | ".join([*header, "note"]) + " |", "|---|---|---:|---:|---:|---:|---|---|"]
    for e in result["levers"]:
        if "pairs_per_s" not in e:
            note = f"skipped: {e['skipped']}" if "skipped" in e else f"error: {e['error'][:160]}"
            note = " ".join(note.replace("|", "/").split())  # one table cell: no pipes, no newlines
            lines.append(f"| {e['lever']} | {e['setting']} | – | – | – | – | – | {note} |")
            continue
        auc = e["roc_auc"]
        shown = "–" if auc is None else " / ".join("n/a" if v is None else f"{v:.4f}" for v in auc.values())
        cells = [
            e["lever"],
            e["setting"],
            f"{e['pairs_per_s']:.1f}",
            f"{e['speedup']:.2f}x",
            f"{e['p50_ms']:.1f}",
        ]
        cells += [f"{e['max_abs_delta']:.1e}", shown, f"targets warmed in {e['warm_targets_s']} s"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="carded bi-encoder checkpoint directory")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="labelled QC data (CSV or JSON lines)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "runtime_levers.json")
    parser.add_argument("--queries", type=int, default=256, help="distinct queries: one request each")
    parser.add_argument("--k", type=int, default=16, help="pairs per request (categories of one query)")
    parser.add_argument("--seed", type=int, default=0, help="which queries and filler targets")
    parser.add_argument("--warmup", type=int, default=16, help="requests scored untimed before each lever")
    parser.add_argument("--threads", default="1,2", help="torch thread counts the threads lever times")
    parser.add_argument("--levers", default=",".join(LEVERS), help=f"comma list of {', '.join(LEVERS)}")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes to compile)")
    parser.add_argument(
        "--tolerance", type=float, default=1e-3, help="|Δscore| above which ROC-AUC is stated"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    unknown = set(args.levers.split(",")) - set(LEVERS)
    if unknown:
        print(f"error: unknown levers {sorted(unknown)}; choose from {', '.join(LEVERS)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    bench = Bench(args)
    result: dict[str, Any] = {"command": shlex.join(["python", "-m", "bench.runtime_levers", *argv])}
    result |= {"started": started, **describe(bench)}
    log.info("%d requests of %d pairs (%d labelled), %d distinct targets", result["queries"], args.k,
             result["labelled_pairs"], result["distinct_targets"])  # fmt: skip
    result["levers"] = bench.run()
    result["roc_auc_fp32"] = roc_auc(bench.traffic.labels, bench.reference)
    atomic_write_json(args.out, result)
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
