"""The shared forward pass's throughput in fp32 against bf16: a random MiniLM-sized (or tiny) BERT
classifier, one batch of K pairs at a time through `models.inference.forward_scores` (what the torch
backend runs per batch), pairs/s per dtype and K. Random weights and token ids: no download, no tokenizer.

    python -m bench.gpu_throughput                          # CUDA, MiniLM-sized, K 16/64, 10 s a cell
    python -m bench.gpu_throughput --device cpu --seconds 5 # a smoke run anywhere

Prints a table; writes JSON to --out, else $OUT/gpu_throughput.json when $OUT is set, else
runs/gpu_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.formatting import EncodedPair

# MiniLM-L12-H384's shape (the project's MiniLM bases) and a tiny one for quick smoke runs.
SHAPES: dict[str, dict[str, int]] = {
    "minilm": {
        "hidden_size": 384,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
    },
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128},
}
VOCAB = 30522
PAD_ID = 0
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def random_model(shape: str, *, device: str, dtype: str, seed: int = 0) -> Any:
    """A random BERT sequence classifier (2 labels) of the named shape, on `device` in `dtype`."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=VOCAB, max_position_embeddings=512, num_labels=2, **SHAPES[shape])
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    return model.to(device=device, dtype=getattr(torch, dtype)).eval()


def random_pairs(n: int, *, seed: int, min_tokens: int = 12, max_tokens: int = 40) -> list[EncodedPair]:
    """Pairs shaped like QC traffic (~26 tokens mean): [CLS] query [SEP] category [SEP], random ids."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        length = rng.randint(min_tokens, max_tokens)
        query = rng.randint(3, max(3, length // 3))
        ids = [101] + [rng.randint(1000, VOCAB - 1) for _ in range(length - 2)] + [102]
        ids[query] = 102
        types = [0] * (query + 1) + [1] * (length - query - 1)
        pairs.append(EncodedPair(input_ids=ids, token_type_ids=types, truncated=False))
    return pairs


def measure(model: Any, batches: Sequence[Sequence[EncodedPair]], *, seconds: float, warmup: int = 3) -> dict:
    """Score the batches round-robin for `seconds` (after `warmup` batches); every call returns the scores
    on the CPU, so each timed batch includes the device sync and copy the service pays."""
    from models.inference import forward_scores

    for batch in batches[:warmup]:
        forward_scores(model, batch, pad_id=PAD_ID)
    latencies: list[float] = []
    pairs = 0
    started = time.perf_counter()
    i = 0
    while True:
        batch = batches[i % len(batches)]
        t0 = time.perf_counter()
        forward_scores(model, batch, pad_id=PAD_ID)
        latencies.append(time.perf_counter() - t0)
        pairs += len(batch)
        i += 1
        if time.perf_counter() - started >= seconds:
            break
    elapsed = time.perf_counter() - started
    return {
        "pairs_per_s": round(pairs / elapsed, 1),
        "batches": len(latencies),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "seconds": round(elapsed, 2),
    }


def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
        info["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
    else:
        info["device_name"] = platform.processor() or platform.machine()
        info["threads"] = torch.get_num_threads()
    return info


def run(*, device: str, shape: str, ks: Sequence[int], dtypes: Sequence[str], seconds: float) -> dict:
    rows = []
    for name in dtypes:
        model = random_model(shape, device=device, dtype=DTYPES[name])
        for k in ks:
            pairs = random_pairs(k * 16, seed=k)
            batches = [pairs[i : i + k] for i in range(0, len(pairs), k)]
            tokens = sum(p.num_tokens for p in pairs) / len(pairs)
            rows.append({"dtype": name, "k": k, "mean_tokens": round(tokens, 1)} | measure(
                model, batches, seconds=seconds
            ))  # fmt: skip
        del model
    speedup = {}
    for k in ks:
        by = {r["dtype"]: r["pairs_per_s"] for r in rows if r["k"] == k}
        if "fp32" in by and "bf16" in by and by["fp32"]:
            speedup[str(k)] = round(by["bf16"] / by["fp32"], 2)
    return {"environment": environment(device), "model": shape, "rows": rows, "bf16_over_fp32": speedup}


def table(result: dict) -> str:
    lines = [
        f"forward pass, random {result['model']} BERT on {result['environment']['device_name']} "
        f"({result['environment']['device']})",
        "| dtype | K | mean tokens | pairs/s | p50 batch ms | batches |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['dtype']} | {r['k']} | {r['mean_tokens']} | {r['pairs_per_s']:,.1f} | {r['p50_ms']} "
            f"| {r['batches']} |"
        )
    for k, x in result["bf16_over_fp32"].items():
        lines.append(f"bf16 / fp32 at K={k}: {x}x")
    return "\n".join(lines)


def default_out() -> Path:
    out = os.environ.get("OUT")
    return Path(out) / "gpu_throughput.json" if out else Path("runs") / "gpu_throughput.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for a smoke run)")
    parser.add_argument("--model", choices=sorted(SHAPES), default="minilm", help="random model shape")
    parser.add_argument("--k", default="16,64", help="pairs per batch, comma-separated (default 16,64)")
    parser.add_argument("--dtypes", default="fp32,bf16", help="comma-separated from fp32,bf16")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per (dtype, K) cell")
    parser.add_argument("--out", type=Path, help="JSON output (default $OUT/gpu_throughput.json)")
    args = parser.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("CUDA is not available here; pass --device cpu for a smoke run")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    unknown = sorted(set(dtypes) - set(DTYPES))
    if unknown:
        parser.error(f"unknown dtypes {unknown}; use fp32, bf16")
    ks = [int(k) for k in args.k.split(",") if k.strip()]
    result = run(device=args.device, shape=args.model, ks=ks, dtypes=dtypes, seconds=args.seconds)
    print(table(result))
    out = args.out or default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
