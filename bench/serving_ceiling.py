"""Worker for `bench.serving`: runs the ceiling cells it is given on stdin (JSON) and prints JSON.

A separate process so the in-process model's threads and memory are gone before the servers run.
Run `python -m bench.ceiling --help` for the stand-alone ceiling.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

from bench import traffic
from bench.ceiling import Ceiling


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=traffic.DEFAULT_DATA, help="QC data")
    args = parser.parse_args(argv)
    spec = json.loads(sys.stdin.read())
    corpus = traffic.load_corpus(args.data)
    ceiling = Ceiling(
        Path(spec["checkpoint"]),
        num_threads=spec.get("threads") or None,
        compile_model=spec.get("torch_compile", True),
        encoder_runtime=spec.get("encoder_runtime", "torch"),
    )
    warmed = ceiling.warm_targets(corpus.categories)  # a bi-encoder's catalogue, embedded once ahead
    probe = [traffic.Request(q, tuple(cats)) for q, cats in spec["probe"]]
    ceiling.throughput(probe, seconds=1.0)  # warm-up
    cells = []
    for cell in spec["cells"]:
        if cell["kind"] == "growth_len":
            reqs = traffic.long_targets(
                corpus, n=2000, k=cell["k"], seed=cell["seed"], paths_per_target=cell["paths"]
            )
        else:
            reqs = traffic.uniform(corpus, n=max(200, 6000 // cell["k"]), k=cell["k"], seed=cell["seed"])
        chunk = max(256, cell["k"])
        cells.append(
            {
                **cell,
                **ceiling.throughput(reqs, seconds=spec["seconds"], chunk_pairs=chunk),
                "single_request": ceiling.single_request_latency(reqs, n=5),
            }
        )
    out = {
        "probe_scores": ceiling.scores(probe, reference=True).tolist(),
        "batch_size": ceiling.batch_size,
        "runtime": ceiling.runtime,
        "targets_warmed": warmed,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "cells": cells,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
