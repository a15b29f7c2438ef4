"""The service on its vLLM backend against vLLM's own OpenAI-compatible server (not a test; prints numbers).

    .venv/bin/python -m bench.vllm_vs_server [--checkpoint DIR | --base-root DIR] [--duration 20]

Same checkpoint, same pairs, same engine settings, one server at a time on the same machine:

- service: `python -m service --backend vllm`, QC requests with text; the service encodes the pairs itself
  (`models.PairEncoder`) and hands token ids to vLLM's AsyncLLM, one engine request per pair.
- vLLM:    `python -m vllm.entrypoints.openai.api_server` with `/classify`, fed the token ids the service's
  encoder produces for the same pairs (vLLM's own tokenizer would not build our pair input; giving it ids
  also spares it the tokenization the service pays for).

For each: a warm-up, closed-loop saturation (pairs/s), then open-loop Poisson arrivals for p50/p99 at the
same offered rate for both (`--rate`, default half the first server's saturation). Scores are cross-checked on
a sample first.

Without `--checkpoint`, the gemma-3-270m base (built with `python -m training bases install gemma-3-270m`,
looked up under `--base-root`) gets a fresh classifier head and a card: the compute is what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from bench.loadgen import Target, closed_loop, fetch_scores, open_loop
from bench.service_throughput import free_port, qc_pairs
from models import (
    InputSpec,
    PairEncoder,
    PairInput,
    Task,
    card_model_dir,
    open_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]


def gemma_checkpoint(base: Path, dest: Path, *, max_length: int) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2, dtype=torch.float32)
    model.config.pad_token_id = AutoTokenizer.from_pretrained(base).pad_token_id
    model.save_pretrained(dest, safe_serialization=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(dest)
    card_model_dir(
        dest,
        name="bench-gemma3-270m",
        tasks=[Task.QC],
        base_model="gemma-3-270m",
        input_spec=InputSpec(max_length=max_length),
        dtype="float32",
    )
    return dest


def wait_until(url: str, proc: subprocess.Popen, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before {url} answered")
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} not ready after {timeout:.0f} s")
        time.sleep(0.5)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def measure(
    name: str, url: str, bodies: list[dict], sizes: list[int], args, *, rate_pairs: float | None
) -> dict:
    """Saturation, then open-loop latency at `rate_pairs` pairs/s (default: half this server's saturation)."""
    target = Target(url, bodies, sizes)
    asyncio.run(closed_loop(target, concurrency=args.concurrency, seconds=3))  # warm-up
    sat = asyncio.run(closed_loop(target, concurrency=args.concurrency, seconds=args.duration))
    print(
        f"  {name:8s} saturation: {sat.pairs_per_s:8.1f} pairs/s  (p50 {sat.p50_ms:.1f} ms, "
        f"p99 {sat.p99_ms:.1f} ms at {args.concurrency} clients; {sat.errors} errors)",
        flush=True,
    )
    rate_pairs = rate_pairs or sat.pairs_per_s / 2
    before = scrape_means(url)
    lat = asyncio.run(
        open_loop(target, rate_rps=rate_pairs / args.pairs_per_request, seconds=args.latency_duration)
    )
    breakdown = {k: v for k, v in diff_means(before, scrape_means(url)).items() if v is not None}
    print(
        f"  {name:8s} open loop at {rate_pairs:.0f} pairs/s: p50 {lat.p50_ms:.1f} ms, "
        f"p99 {lat.p99_ms:.1f} ms ({lat.requests} requests, {lat.errors} errors)",
        flush=True,
    )
    if breakdown:
        print(
            "           service-side means in that phase: "
            + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in breakdown.items()),
            flush=True,
        )
    return {
        "saturation": sat.to_dict(),
        "open_loop": lat.to_dict(),
        "rate_pairs": rate_pairs,
        "service_means_s": breakdown,
    }


# Histograms whose mean splits the service's latency into waiting and computing.
BREAKDOWN = {
    "request": "relevance_request_duration_seconds",
    "queue": "relevance_queue_duration_seconds",
    "inference": "relevance_inference_duration_seconds",
    "vllm_e2e": "vllm:e2e_request_latency_seconds",
    "vllm_queue": "vllm:request_queue_time_seconds",
}


def scrape_means(url: str) -> dict[str, tuple[float, float]]:
    """(sum, count) of the breakdown histograms from the server's /metrics (empty when it has none)."""
    from prometheus_client.parser import text_string_to_metric_families

    base = url.split("/v1/")[0].removesuffix("/classify")
    try:
        text = httpx.get(f"{base}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    totals: dict[str, list[float]] = {}
    names = {v: k for k, v in BREAKDOWN.items()}
    for family in text_string_to_metric_families(text):
        if family.name not in names:
            continue
        acc = totals.setdefault(names[family.name], [0.0, 0.0])
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                acc[0] += sample.value
            elif sample.name.endswith("_count"):
                acc[1] += sample.value
    return {k: (v[0], v[1]) for k, v in totals.items()}


def diff_means(before: dict, after: dict) -> dict[str, float | None]:
    out = {}
    for key, (total, count) in after.items():
        t0, c0 = before.get(key, (0.0, 0.0))
        out[key] = (total - t0) / (count - c0) if count > c0 else None
    return out


@dataclass
class Server:
    cmd: list[str]
    ready: str
    route: str
    bodies: list[dict]
    parse: Callable[[dict], list[float]]


def service_command(path: Path) -> list[str]:
    # vLLM batches by itself: hand micro-batches over at once and keep several in flight.
    return [
        sys.executable, "-m", "service", "--backend", "vllm", "--model", str(path), "--cache-size", "0",
        "--log-level", "warning", "--max-queue-pairs", "100000", "--batch-max-pairs", "256",
        "--batch-max-wait-ms", "1", "--batch-concurrency", "8", "--request-timeout-s", "300",
    ]  # fmt: skip


def vllm_command(kwargs: dict) -> list[str]:
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1",
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    for key, value in kwargs.items():
        if key in ("trust_remote_code", "seed"):
            continue  # the server's defaults already
        cmd += ["--" + key.replace("_", "-"), json.dumps(value) if isinstance(value, dict) else str(value)]
    return cmd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", type=Path, help="carded checkpoint (default: gemma-3-270m + new head)"
    )
    parser.add_argument("--base-root", type=Path, default=ROOT / "models" / "bases", help="built bases root")
    parser.add_argument("--max-length", type=int, default=128, help="card max_length of the made checkpoint")
    parser.add_argument("--pairs", type=int, default=2000, help="distinct QC pairs used")
    parser.add_argument("--pairs-per-request", type=int, default=8, help="pairs in each request")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients at saturation")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of closed-loop saturation")
    parser.add_argument("--latency-duration", type=float, default=60.0, help="seconds of open-loop load")
    parser.add_argument(
        "--order", default="service,vllm", help="which server runs first (the machine may drift)"
    )
    parser.add_argument(
        "--rate", type=float, help="open-loop pairs/s for both (default: half the first server's saturation)"
    )
    parser.add_argument("--kv-cache-gib", type=int, default=1, help="VLLM_CPU_KVCACHE_SPACE for both servers")
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON here")
    args = parser.parse_args()

    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(args.kv_cache_gib), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint or gemma_checkpoint(
            args.base_root / "gemma-3-270m", Path(tmp) / "bench", max_length=args.max_length
        )
        checkpoint = open_checkpoint(path)
        from models.loading import load_tokenizer
        from models.vllm_engine import engine_kwargs

        encoder = PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input)
        pairs = [{"query": p["query"], "category_path": p["category_path"]} for p in qc_pairs(args.pairs)]
        encoded = encoder.encode_batch([PairInput(Task.QC, p["query"], p["category_path"]) for p in pairs])
        k = args.pairs_per_request
        chunks = [range(i, min(i + k, len(pairs))) for i in range(0, len(pairs), k)]
        sizes = [len(c) for c in chunks]
        service_bodies = [{"pairs": [pairs[i] for i in c]} for c in chunks]
        vllm_bodies = [{"model": checkpoint.name, "input": [encoded[i].input_ids for i in c]} for c in chunks]
        tokens = np.mean([e.num_tokens for e in encoded])
        print(
            f"checkpoint {path} ({checkpoint.card.architecture}, {checkpoint.card.dtype}), "
            f"{len(pairs)} pairs, mean {tokens:.1f} tokens, {k} pairs/request, {os.cpu_count()} CPUs",
            flush=True,
        )

        results: dict[str, dict] = {}
        scores: dict[str, list[float]] = {}
        servers = {
            "service": Server(
                cmd=service_command(path),
                ready="/health/ready",
                route="/v1/relevance/qc",
                bodies=service_bodies,
                parse=lambda p: [x["score"] for x in p["results"]],
            ),
            "vllm": Server(
                cmd=vllm_command(engine_kwargs(checkpoint)),
                ready="/health",
                route="/classify",
                bodies=vllm_bodies,
                parse=lambda p: [d["probs"][-1] for d in p["data"]],
            ),
        }
        order = [name.strip() for name in args.order.split(",")]
        if sorted(order) != sorted(servers):
            raise SystemExit(f"--order must name service and vllm, got {args.order!r}")
        rate = args.rate
        for name in order:
            server = servers[name]
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            cmd = [*server.cmd, "--port", str(port)]
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                wait_until(f"{url}{server.ready}", proc, timeout=900)
                probe = asyncio.run(fetch_scores(f"{url}{server.route}", server.bodies[:8], server.parse))
                scores[name] = [s for r in probe for s in r]
                # Latency at one rate for both: both servers see the same offered load.
                results[name] = measure(
                    name, f"{url}{server.route}", server.bodies, sizes, args, rate_pairs=rate
                )
                rate = results[name]["rate_pairs"]
            finally:
                stop(proc)

    diff = float(np.max(np.abs(np.subtract(scores["service"], scores["vllm"]))))
    print(f"  score check on {len(scores['vllm'])} pairs: max |service - vllm| = {diff:.2e}")
    ratio = results["service"]["saturation"]["pairs_per_s"] / results["vllm"]["saturation"]["pairs_per_s"]
    print(f"service / vLLM server throughput: {ratio:.1%}")
    if args.out:
        out: dict = dict(results)
        out.update(ratio=ratio, score_max_abs_diff=diff, pairs_per_request=k, concurrency=args.concurrency)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
