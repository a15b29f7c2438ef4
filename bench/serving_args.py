"""`python -m bench.serving`'s command line: which systems, which traffic, which server settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import peers, traffic

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTION = (
    "Serving benchmark: this service (torch, vLLM backends) vs vLLM's own server vs infinity vs the ceiling."
)
ALL_SYSTEMS = ("ceiling", "torch", "torch-cached", "vllm", "vllm-server", "infinity")
DEFAULT_SYSTEMS = ALL_SYSTEMS


def csv_of(cast: type[int] | type[float]):
    """An argparse type: comma-separated values of `cast`."""

    def parse(text: str) -> list:
        try:
            return [cast(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None

    return parse


csv_ints, csv_floats = csv_of(int), csv_of(float)


def json_object(text: str) -> str:
    """An argument that must be a JSON object, checked when parsed (not after the ceiling has run)."""
    try:
        ok = isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"not a JSON object: {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.serving",
        description=DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model", type=Path, help="QC checkpoint (default: newest QC checkpoint in --models-dir)"
    )
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="model store")
    parser.add_argument(
        "--data", type=Path, default=traffic.DEFAULT_DATA, help="QC data the traffic is drawn from"
    )
    parser.add_argument(
        "--systems", default=",".join(DEFAULT_SYSTEMS), help=f"comma-separated, from {','.join(ALL_SYSTEMS)}"
    )
    parser.add_argument("--k", type=csv_ints, default=[1, 16, 64], help="categories per request")
    parser.add_argument("--concurrency", type=csv_ints, default=[1, 8, 32], help="closed-loop clients")
    parser.add_argument(
        "--max-inflight-pairs",
        type=int,
        default=512,
        help="skip matrix cells whose K x concurrency exceeds this (they only add queueing)",
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per server")
    parser.add_argument(
        "--open-loop-k",
        type=int,
        default=16,
        help="K of the open-loop (Poisson arrival) runs below saturation (0 skips them)",
    )
    parser.add_argument(
        "--open-loop-loads",
        type=csv_floats,
        default=[0.25, 0.5],
        help="offered load of each open-loop run, as a fraction of the system's saturated rate",
    )
    parser.add_argument(
        "--open-loop-seconds",
        type=float,
        default=60.0,
        help="seconds per open-loop run (a p99 needs many hundred requests to be stable)",
    )
    parser.add_argument(
        "--zipf", action=argparse.BooleanOptionalAction, default=True, help="run the Zipf trace"
    )
    parser.add_argument("--zipf-s", type=float, default=1.0, help="Zipf exponent of query popularity")
    parser.add_argument(
        "--zipf-prefix",
        type=float,
        default=30.0,
        help="seconds of the Zipf trace the cached service plays, unmeasured, between cold and warm windows",
    )
    parser.add_argument("--zipf-concurrency", type=int, default=16, help="clients on the Zipf trace")
    parser.add_argument(
        "--growth-k",
        type=csv_ints,
        default=[256],
        help="extra K values for the growth runs (at --growth-concurrency)",
    )
    parser.add_argument(
        "--growth-paths",
        type=csv_ints,
        default=[2, 8],
        help="category paths joined per target for the text-length runs",
    )
    parser.add_argument("--growth-concurrency", type=int, default=1, help="clients in the growth runs")
    parser.add_argument(
        "--growth-systems",
        default="ceiling,torch,vllm,vllm-server,infinity",
        help="systems that run the growth cells",
    )
    parser.add_argument(
        "--profile", default="", help="comma-separated systems to py-spy during K=16 saturation"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch intra-op threads for the ceiling and the torch backend (0 = torch's default)",
    )
    parser.add_argument(
        "--torch-compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="torch.compile in the ceiling and the torch backend (the service's default)",
    )
    parser.add_argument(
        "--vllm-backend-options",
        type=json_object,
        default=None,
        help="the service's vLLM engine arguments as JSON (RELEVANCE_BACKEND_OPTIONS), e.g. "
        "'{\"enable_prefix_caching\": false}'",
    )
    parser.add_argument(
        "--encoder-runtime",
        choices=("torch", "onnxruntime"),
        default="torch",
        help="a bi-encoder's transformer in the ceiling and the torch backend (RELEVANCE_ENCODER_RUNTIME)",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=ROOT / "runs" / "bench", help="peer checkpoint, logs"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "results" / "serving.json", help="results JSON"
    )
    return parser


def default_checkpoint(models_dir: Path, work_dir: Path) -> Path:
    """The newest QC checkpoint in the store, else the MiniLM base with a fresh head (same compute)."""
    try:
        return peers.find_checkpoint(models_dir)
    except FileNotFoundError:
        from bench.service_throughput import minilm_checkpoint
        from models import CARD_FILENAME

        path = work_dir / "bench-minilm"
        if not (path / CARD_FILENAME).is_file():
            print(f"no QC checkpoint in {models_dir}: using all-MiniLM-L6-v2 + a fresh head ({path})")
            path.mkdir(parents=True, exist_ok=True)
            minilm_checkpoint(path)
        return path
