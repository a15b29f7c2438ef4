"""The ceiling: the same model's batched, length-sorted forward pass in-process (no HTTP, no queue).

Timed on the model as the torch backend runs it by default (`torch.compile`, frozen weights;
`--no-torch-compile` times eager; a bi-encoder runs eager, with its target cache unless
`--no-target-cache`, its transformer on ONNX Runtime with `--encoder-runtime onnxruntime`); reference
scores always come from the eager fp32 model.

    .venv/bin/python -m bench.ceiling --model models/<qc checkpoint> --k 16

It scores exactly the pairs the HTTP systems are sent: requests are encoded with `models.PairEncoder`
(the service's formatter) and scored with `models.inference.score_encoded` (the service's forward pass),
in chunks of many requests at once, sorted by length — the best any batcher could do with this traffic.
Tokenisation is inside the timed region, as it is for the servers. It also reports the latency floor:
one request's K pairs encoded and scored alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.traffic import DEFAULT_DATA, Request, load_corpus, uniform


class Ceiling:
    def __init__(
        self,
        checkpoint: Path,
        *,
        batch_size: int = 64,
        num_threads: int | None = None,
        compile_model: bool = True,
        target_cache: bool = True,
        encoder_runtime: str = "torch",
    ) -> None:
        import torch

        from models import Task, open_checkpoint
        from models.loading import load_model, load_pair_encoder, load_tokenizer

        if num_threads:
            torch.set_num_threads(num_threads)
        self.checkpoint = open_checkpoint(checkpoint, verify_weights=False)
        self.bi_encoder = self.checkpoint.card.kind == "bi-encoder"
        tokenizer = load_tokenizer(self.checkpoint)
        # `eager` is the fp32 reference every system's scores are compared with; `model` is what is
        # timed: compiled like the torch backend's default (`compile_model`), or the same eager model.
        self.eager = load_model(self.checkpoint, device="cpu", dtype="float32")
        self.model = self.eager
        pad = self.model.config.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.pad_token_id or 0))
        self.encoder = load_pair_encoder(self.checkpoint)
        self.batch_size = batch_size
        self.runtime = "torch"
        if self.bi_encoder and encoder_runtime == "onnxruntime":
            # What the torch backend serves with RELEVANCE_ENCODER_RUNTIME=onnxruntime: the same export and
            # check; the eager torch model stays the reference.
            from models.onnx_export import serve_with_onnxruntime

            self.model = load_model(self.checkpoint, device="cpu", dtype="float32")
            serve_with_onnxruntime(
                self.model.encoder,
                threads=torch.get_num_threads(),
                max_length=self.checkpoint.card.input.max_length,
            )
            self.runtime = "onnxruntime"
        if self.bi_encoder and not target_cache:  # every target embedded again, as a cross-encoder would
            self.model.target_cache.size = 0
        if compile_model and not self.bi_encoder:  # the torch backend compiles cross-encoders only
            from models.inference import CompiledModel, shape_batches

            self.model = CompiledModel(self.eager)
            self.model.warm_up(shape_batches(self.encoder, Task.QC), pad_id=self.pad_id)

    def encode(self, requests: Sequence[Request]):
        from models import PairInput, Task

        return self.encoder.encode_batch(
            [PairInput(task=Task.QC, query=r.query, target=c) for r in requests for c in r.categories]
        )

    def scores(self, requests: Sequence[Request], *, reference: bool = False) -> np.ndarray:
        """Scores of the timed model, or with `reference` of the eager fp32 model."""
        from models.inference import score_encoded

        if self.bi_encoder:  # embeds each distinct side of the chunk once, length-sorted, as the backend does
            return (self.eager if reference else self.model).score_pairs(self.encode(requests))
        return score_encoded(
            self.eager if reference else self.model,
            self.encode(requests),
            pad_id=self.pad_id,
            batch_size=self.batch_size,
        )

    def warm_targets(self, targets: Sequence[str], *, chunk: int = 256) -> dict:
        """Bi-encoder: embed a catalogue of `targets` once, ahead of traffic (the "targets computed once"
        lever); timed. Later chunks find them in the target cache. A no-op for a cross-encoder."""
        if not self.bi_encoder or not self.model.target_cache.size:
            return {}
        started = time.perf_counter()
        for start in range(0, len(targets), chunk):
            self.scores([Request("warm-up", tuple(targets[start : start + chunk]))])
        return {"targets": len(targets), "seconds": round(time.perf_counter() - started, 1)}

    def throughput(self, requests: Sequence[Request], *, seconds: float, chunk_pairs: int = 1024) -> dict:
        """Pairs/s scoring `requests` in chunks of about `chunk_pairs` pairs, for at least `seconds`."""
        per_chunk = max(1, chunk_pairs // max(1, requests[0].k))
        pairs = 0
        started = time.perf_counter()
        i = 0
        while time.perf_counter() - started < seconds:
            chunk = [requests[(i + j) % len(requests)] for j in range(per_chunk)]
            i += per_chunk
            pairs += len(self.scores(chunk))
        elapsed = time.perf_counter() - started
        return {"pairs": pairs, "seconds": round(elapsed, 3), "pairs_per_s": pairs / elapsed}

    def single_request_latency(self, requests: Sequence[Request], *, n: int = 20) -> dict:
        times = []
        for req in requests[:n]:
            t0 = time.perf_counter()
            self.scores([req])
            times.append(time.perf_counter() - t0)
        ms = np.asarray(times) * 1000
        return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="carded checkpoint directory")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="QC data the traffic is drawn from")
    parser.add_argument("--k", type=int, default=16, help="categories per query")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="traffic seed")
    parser.add_argument(
        "--target-cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="bi-encoder: keep target embeddings between chunks, as the backends do",
    )
    parser.add_argument(
        "--torch-compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the model under torch.compile (the torch backend's default)",
    )
    parser.add_argument(
        "--encoder-runtime",
        choices=("torch", "onnxruntime"),
        default="torch",
        help="bi-encoder: what runs the transformer (the service's RELEVANCE_ENCODER_RUNTIME)",
    )
    args = parser.parse_args(argv)
    ceiling = Ceiling(
        args.model,
        batch_size=args.batch_size,
        compile_model=args.torch_compile,
        target_cache=args.target_cache,
        encoder_runtime=args.encoder_runtime,
    )
    corpus = load_corpus(args.data)
    warmed = ceiling.warm_targets(corpus.categories)
    requests = uniform(corpus, n=2000, k=args.k, seed=args.seed)
    ceiling.throughput(requests[:50], seconds=1.0)  # warm-up
    result = {
        "k": args.k,
        "targets_warmed": warmed,
        **ceiling.throughput(requests, seconds=args.seconds),
        "single_request": ceiling.single_request_latency(requests),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
