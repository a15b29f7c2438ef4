"""The HTTP systems `bench.serving` runs: this service on each backend with the benchmark's settings,
the peer servers that can load the same checkpoint, the software versions of each, and how to read a
server's py-spy profile."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from bench import peers

if TYPE_CHECKING:
    from models.card import ModelCard

SERVICE_SYSTEMS = ("torch", "torch-cached", "vllm")  # this service; the others are peers
VLLM_SERVICE_FLAGS = (
    "--batch-max-pairs",
    "256",
    "--batch-max-wait-ms",
    "1",
    "--batch-concurrency",
    "8",
    "--max-queue-pairs",
    "100000",
)


def http_system(name: str, *, args: argparse.Namespace, checkpoint: Path, card: ModelCard) -> peers.System:
    """The server process of one HTTP system: this service on a backend, or a peer server."""
    ckpt = Path(checkpoint)
    if name == "torch":
        return peers.service_system(
            "torch",
            "this service, torch backend (cache off)",
            checkpoint=ckpt,
            backend="torch",
            cache_size=0,
            extra=torch_flags(args),
        )
    if name == "torch-cached":
        return peers.service_system(
            "torch-cached",
            "this service, torch backend (cache on)",
            checkpoint=ckpt,
            backend="torch",
            cache_size=100_000,
            extra=torch_flags(args),
        )
    if name == "vllm":
        # The vLLM engine batches continuously by itself: hand it many pairs at once, at once
        # (the settings bench/vllm_vs_server.py uses).
        return peers.service_system(
            "vllm",
            "this service, vLLM backend (CPU build, cache off)",
            checkpoint=ckpt,
            backend="vllm",
            cache_size=0,
            extra=(*VLLM_SERVICE_FLAGS, *vllm_options(args)),
        )
    if card.kind == "bi-encoder":
        return bi_encoder_peer(name, ckpt, card=card)
    peer_ckpt = peers.export_peer_checkpoint(ckpt, args.work_dir / "peer-checkpoint")
    if name == "vllm-server":
        return peers.vllm_server_system(peer_checkpoint=peer_ckpt, max_model_len=card.input.max_length)
    if name == "infinity":
        return peers.infinity_system(peer_checkpoint=peer_ckpt)
    raise ValueError(name)


def bi_encoder_peer(name: str, ckpt: Path, *, card: ModelCard) -> peers.System:
    """The peers of a bi-encoder checkpoint: vLLM's server embeds with the same encoder (cosine
    scores); infinity's `/rerank` needs a cross-encoder and its `/embeddings` returns no scores."""
    if name == "infinity":
        raise ValueError("infinity cannot score with a bi-encoder's head: /rerank needs a cross-encoder")
    from models.embedding import SentenceTokenizer

    return peers.vllm_embedding_server_system(
        checkpoint=ckpt,
        max_model_len=card.input.max_length,
        prompts=SentenceTokenizer.load(ckpt).prompts,
    )


def served_runtime(url: str, name: str, *, args: argparse.Namespace, card: ModelCard) -> str | None:
    """What runs the model in the service (`GET /v1/models`): the service falls back to torch when
    ONNX Runtime cannot take over, and a run must not report a runtime it did not measure."""
    import httpx

    (model,) = httpx.get(f"{url}/v1/models", timeout=30).json()["models"]
    runtime = model.get("runtime")
    wanted = args.encoder_runtime if name.startswith("torch") and card.kind == "bi-encoder" else None
    if wanted and runtime != wanted:
        raise RuntimeError(f"{name}: asked for encoder runtime {wanted}, the service runs {runtime}")
    return runtime


def vllm_options(args: argparse.Namespace) -> tuple[str, ...]:
    return ("--backend-options", args.vllm_backend_options) if args.vllm_backend_options else ()


def torch_flags(args: argparse.Namespace) -> tuple[str, ...]:
    threads = ("--num-threads", str(args.torch_threads)) if args.torch_threads else ()
    compile_ = ("--torch-compile", str(args.torch_compile).lower())
    return (*threads, *compile_, "--encoder-runtime", args.encoder_runtime)


def versions() -> dict:
    out = {"python": platform.python_version(), "cpu_count": os.cpu_count(), "machine": platform.machine()}
    for mod in ("torch", "transformers", "vllm", "fastapi"):
        with contextlib.suppress(Exception):
            out[mod] = __import__(mod).__version__
    try:
        pip = peers.BENCH_VENV / "bin" / "pip"
        listing = subprocess.run([str(pip), "list"], capture_output=True, text=True, timeout=60).stdout
        for line in listing.splitlines():
            name = line.split()[0].lower() if line.split() else ""
            if name in ("infinity_emb", "infinity-emb", "sentence-transformers"):
                out[f"peer:{name}"] = line.split()[1]
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def summarise_profile(path: Path, top: int = 25) -> dict:
    """Self time and inclusive time per function from py-spy's collapsed stacks."""
    from collections import Counter

    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not path.is_file():
        return {"error": f"no profile at {path}"}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return {
        "samples": total,
        "file": str(path),
        "self": [(f, round(n / total, 4)) for f, n in self_time.most_common(top)] if total else [],
        "inclusive": [(f, round(n / total, 4)) for f, n in inclusive.most_common(top)] if total else [],
    }
