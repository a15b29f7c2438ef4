"""The systems under test: how each is started, addressed and read, and the peer copy of the checkpoint.

Every HTTP system is its own server process on loopback, started fresh, waited on until ready, and
stopped (its whole process group) afterwards. Peers (infinity, vLLM's own server) are handed a copy of
the same checkpoint exported the way they expect a cross-encoder: one logit. A two-logit softmax head
(what training writes by default) is folded into one logit exactly — sigmoid(w1·h + b1 − w0·h − b0) is
the softmax's positive probability — so every system computes the same function with the same cost.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.traffic import Request

ROOT = Path(__file__).resolve().parents[1]
PYTHON = os.environ.get("BENCH_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
BENCH_VENV = Path(os.environ.get("BENCH_VENV", "/work/bench-venv"))
SERVED_NAME = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------------
# Request bodies and answers, per API


def service_body(req: Request) -> dict:
    return {"pairs": [{"query": req.query, "category_path": c} for c in req.categories]}


def service_scores(answer: dict) -> list[float]:
    return [r["score"] for r in answer["results"]]


def rerank_body(req: Request) -> dict:
    return {
        "model": SERVED_NAME,
        "query": req.query,
        "documents": list(req.categories),
        "return_documents": False,
    }


def rerank_scores(answer: dict) -> list[float]:
    results = sorted(answer["results"], key=lambda r: r["index"])
    return [r["relevance_score"] for r in results]


def vllm_score_body(req: Request) -> dict:
    # -1: cut at max_model_len, as the other systems do, instead of refusing the request with 400.
    return {
        "model": SERVED_NAME,
        "text_1": req.query,
        "text_2": list(req.categories),
        "truncate_prompt_tokens": -1,
    }


def vllm_score_scores(answer: dict) -> list[float]:
    return [d["score"] for d in sorted(answer["data"], key=lambda d: d["index"])]


@dataclass
class System:
    name: str
    label: str
    path: str  # POST endpoint
    body: Callable[[Request], dict]
    scores: Callable[[dict], list[float]]
    command: Callable[[int], list[str]]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 300.0


def service_system(
    name: str, label: str, *, checkpoint: Path, backend: str, cache_size: int, extra: Sequence[str] = ()
) -> System:
    def command(port: int) -> list[str]:
        return [
            PYTHON,
            "-m",
            "service",
            "--backend",
            backend,
            "--qc-model",
            str(checkpoint),
            "--port",
            str(port),
            "--cache-size",
            str(cache_size),
            "--log-level",
            "warning",
            # Closed-loop runs at K=64 keep ~1000 pairs in flight: no request may time out in a benchmark.
            "--request-timeout-s",
            "300",
            *extra,
        ]

    env = {"VLLM_CPU_KVCACHE_SPACE": "1"} if backend == "vllm" else {}
    return System(
        name, label, "/v1/relevance/qc", service_body, service_scores, command, "/health/ready", env=env
    )


def vllm_server_system(*, peer_checkpoint: Path, max_model_len: int) -> System:
    def command(port: int) -> list[str]:
        return [
            PYTHON,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(peer_checkpoint),
            "--served-model-name",
            SERVED_NAME,
            "--runner",
            "pooling",
            "--dtype",
            "float32",
            "--max-model-len",
            str(max_model_len),
            "--load-format",
            "safetensors",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-uvicorn-access-log",
            "--uvicorn-log-level",
            "warning",
        ]

    return System(
        "vllm-server",
        "vLLM OpenAI server (/score)",
        "/score",
        vllm_score_body,
        vllm_score_scores,
        command,
        "/health",
        env={"VLLM_LOGGING_LEVEL": "WARNING", "VLLM_CPU_KVCACHE_SPACE": "1"},
    )


def vllm_embedding_server_system(*, checkpoint: Path, max_model_len: int, prompts: dict[str, str]) -> System:
    """vLLM's own server on a bi-encoder's sentence-transformers folder: `/score` of an embedding model is
    the cosine of the two embeddings. The same encoder work per pair as this service's bi-encoder (the
    prompts sent as text, as its pairs carry them), but cosine scores, not the trained head's."""
    query, document = prompts.get("query", ""), prompts.get("document", "")

    def body(req: Request) -> dict:
        return vllm_score_body(Request(query + req.query, tuple(document + c for c in req.categories)))

    def command(port: int) -> list[str]:
        return [
            PYTHON,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(checkpoint),
            "--served-model-name",
            SERVED_NAME,
            "--runner",
            "pooling",
            "--convert",
            "embed",
            "--dtype",
            "float32",
            "--max-model-len",
            str(max_model_len),
            "--load-format",
            "safetensors",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-uvicorn-access-log",
            "--uvicorn-log-level",
            "warning",
        ]

    return System(
        "vllm-server",
        "vLLM OpenAI server (/score of the embedding model: cosine)",
        "/score",
        body,
        vllm_score_scores,
        command,
        "/health",
        env={"VLLM_LOGGING_LEVEL": "WARNING", "VLLM_CPU_KVCACHE_SPACE": "1"},
    )


def infinity_system(*, peer_checkpoint: Path) -> System:
    exe = BENCH_VENV / "bin" / "infinity_emb"

    def command(port: int) -> list[str]:
        if not exe.is_file():
            raise FileNotFoundError(f"{exe} not found: run `bash bench/setup_peers.sh` first")
        return [
            str(exe),
            "v2",
            "--model-id",
            str(peer_checkpoint),
            "--served-model-name",
            SERVED_NAME,
            "--engine",
            "torch",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--no-bettertransformer",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]

    return System(
        "infinity",
        "infinity-emb (/rerank)",
        "/rerank",
        rerank_body,
        rerank_scores,
        command,
        "/health",
        env={"INFINITY_ANONYMOUS_USAGE_STATS": "0", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"},
    )


# --------------------------------------------------------------------------------------------------
# Process management


class Server:
    """A system's server process; `with Server(system) as url:` starts it, waits for ready, stops it."""

    def __init__(self, system: System, *, log_dir: Path) -> None:
        self.system = system
        self.port = free_port()
        self.log_path = log_dir / f"{system.name}.log"
        self.proc: subprocess.Popen | None = None
        self.started_s = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_gib(self) -> float | None:
        """Peak resident memory of the server and its child processes (vLLM's engine core is one): the
        sum of each process's own peak (VmHWM), an upper bound of the tree's peak. Read while it runs."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        total_kib, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:  # the process ended meanwhile
                continue
            total_kib += next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0
            )
        return round(total_kib / 2**20, 2)

    def __enter__(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        env = {**os.environ, **self.system.env, "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        self.proc = subprocess.Popen(
            self.system.command(self.port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + self.system.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.system.name} exited with {self.proc.returncode} during start-up; "
                    f"see {self.log_path}:\n" + self.tail()
                )
            try:
                if httpx.get(self.url + self.system.ready_path, timeout=2).status_code == 200:
                    self.started_s = time.monotonic() - started
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(
            f"{self.system.name} not ready after {self.system.startup_timeout_s:.0f}s; see {self.log_path}"
        )

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --------------------------------------------------------------------------------------------------
# The peer copy of the checkpoint


def export_peer_checkpoint(checkpoint: Path, dest: Path) -> Path:
    """A one-logit copy of `checkpoint` for cross-encoder servers (idempotent: reuses a matching copy)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from models import open_checkpoint
    from models.loading import load_tokenizer

    ckpt = open_checkpoint(checkpoint, verify_weights=False)
    stamp = dest / "peer_source.json"
    source = {"checkpoint": str(Path(checkpoint).resolve()), "weights_sha256": ckpt.card.weights_sha256}
    if stamp.is_file() and json.loads(stamp.read_text()) == source:
        return dest
    model = AutoModelForSequenceClassification.from_pretrained(
        ckpt.path, use_safetensors=True, dtype=torch.float32
    )
    if ckpt.card.num_labels == 2:
        head = model.classifier if hasattr(model, "classifier") else model.score
        folded = torch.nn.Linear(head.in_features, 1, bias=head.bias is not None)
        with torch.no_grad():
            folded.weight.copy_(head.weight[1:2] - head.weight[0:1])
            if head.bias is not None:
                folded.bias.copy_(head.bias[1:2] - head.bias[0:1])
        if hasattr(model, "classifier"):
            model.classifier = folded
        else:
            model.score = folded
        model.config.num_labels = 1
        model.config.id2label = {0: "LABEL_0"}
        model.config.label2id = {"LABEL_0": 0}
        model.config.problem_type = None
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer = load_tokenizer(ckpt)
    # Peers truncate with the tokenizer's own limit; give them the card's, so no one scores longer input.
    tokenizer.model_max_length = ckpt.card.input.max_length
    tokenizer.save_pretrained(dest)
    stamp.write_text(json.dumps(source))
    return dest


def find_checkpoint(models_dir: Path) -> Path:
    """The newest carded checkpoint in the store that serves QC (preferring non-joint ones)."""
    from models import ModelStore, Task

    entries = [e for e in ModelStore(models_dir).list() if e.checkpoint and e.checkpoint.serves(Task.QC)]
    if not entries:
        raise FileNotFoundError(
            f"no QC checkpoint under {models_dir}: train one (`python -m training run --config "
            "training/configs/shared_qc_cpu.yaml`) or pass --model"
        )
    entries.sort(key=lambda e: (not e.checkpoint.card.is_joint, e.path.stat().st_mtime))
    return entries[-1].path


if __name__ == "__main__":  # pragma: no cover - manual helper
    print(export_peer_checkpoint(Path(sys.argv[1]), Path(sys.argv[2])))
