"""Serving benchmark: this service (torch, vLLM backends) vs vLLM's own server vs infinity vs the ceiling.

    bash bench/setup_peers.sh                       # once: infinity + py-spy in /work/bench-venv
    .venv/bin/python -m bench.serving               # everything, the newest QC checkpoint in models/
    .venv/bin/python -m bench.serving --systems torch,ceiling --k 16 --concurrency 8 --seconds 5   # quick
    .venv/bin/python -m bench.report                # tables + plots from the results JSON

One run, one machine, the same checkpoint and the same requests for every system (see `bench.traffic`).
Systems run one at a time, each its own fresh server process; the load generator shares the machine.
Per system: a correctness probe (largest |score - ceiling score| over 256 pairs), a closed-loop matrix
(K x concurrency -> pairs/s, p50/p95/p99), open-loop runs at a quarter and half of its saturated rate
(tail latency when not overloaded), the Zipf trace, and the growth runs (K up to 256, longer category text).
Results go to `docs/results/serving.json` (raw, per cell) as each system finishes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import loadgen, peers, traffic
from bench.serving_args import ALL_SYSTEMS, ROOT, build_parser, default_checkpoint
from bench.serving_systems import SERVICE_SYSTEMS, http_system, served_runtime, summarise_profile, versions

PROBE_K, PROBE_N = 16, 16
# --------------------------------------------------------------------------------------------------


def write_json(path: Path, payload: dict) -> None:
    from models.io import atomic_write_json

    atomic_write_json(path, payload, indent=1)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.checkpoint = args.model or default_checkpoint(args.models_dir, args.work_dir)
        from models import open_checkpoint

        self.card = open_checkpoint(self.checkpoint, verify_weights=False).card
        self.corpus = traffic.load_corpus(args.data)
        self.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
        unknown = sorted(set(self.systems) - set(ALL_SYSTEMS))
        if unknown:
            raise ValueError(f"unknown systems {unknown}; choose from {', '.join(ALL_SYSTEMS)}")
        self.growth_systems = {s.strip() for s in args.growth_systems.split(",")}
        self.profile = {s.strip() for s in args.profile.split(",") if s.strip()}
        n_requests = 6000
        self.uniform = {k: traffic.uniform(self.corpus, n=n_requests, k=k, seed=1000 + k) for k in args.k}
        for k in args.growth_k:
            self.uniform.setdefault(
                k, traffic.uniform(self.corpus, n=max(200, 6000 // k), k=k, seed=1000 + k)
            )
        self.long = {
            p: traffic.long_targets(self.corpus, n=2000, k=16, seed=2000 + p, paths_per_target=p)
            for p in args.growth_paths
        }
        self.warm = traffic.uniform(self.corpus, n=2000, k=16, seed=7)
        self.probe = traffic.uniform(self.corpus, n=PROBE_N, k=PROBE_K, seed=999)
        self.zipf = traffic.zipf(self.corpus, n=20000, k=16, seed=11, s=args.zipf_s)
        self.results: dict = {
            "meta": {
                "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "checkpoint": str(self.checkpoint),
                "model": self.card.name,
                "base_model": self.card.base_model,
                "max_length": self.card.input.max_length,
                "num_labels": self.card.num_labels,
                "kind": self.card.kind,
                "encoder_runtime": args.encoder_runtime,
                "vllm_backend_options": args.vllm_backend_options,
                "seconds_per_cell": args.seconds,
                "k": args.k,
                "concurrency": args.concurrency,
                "zipf_s": args.zipf_s,
                "zipf_repeat_rate": traffic.repeat_rate(self.zipf),
                "versions": versions(),
                "loadavg_start": os.getloadavg(),
            },
            "systems": {},
        }
        self.results["meta"]["mean_tokens"] = self.mean_tokens()
        self.reference: list[float] | None = None

    def mean_tokens(self) -> dict:
        from models import PairEncoder, PairInput, Task, open_checkpoint
        from models.loading import load_tokenizer

        enc = PairEncoder(
            load_tokenizer(open_checkpoint(self.checkpoint, verify_weights=False)), self.card.input
        )

        def mean(reqs: list[traffic.Request]) -> float:
            pairs = [
                PairInput(task=Task.QC, query=r.query, target=c) for r in reqs[:100] for c in r.categories
            ]
            return sum(e.num_tokens for e in enc.encode_batch(pairs)) / len(pairs)

        out = {"uniform": mean(self.uniform[self.args.k[0]])}
        out.update({f"paths{p}": mean(reqs) for p, reqs in self.long.items()})
        return out

    def save(self) -> None:
        self.results["meta"]["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_json(self.args.out, self.results)

    # --- the ceiling, in a child process so its threads and memory do not touch the servers' runs ---

    def run_ceiling(self) -> None:
        spec = {
            "checkpoint": str(self.checkpoint),
            "threads": self.args.torch_threads,
            "torch_compile": self.args.torch_compile,
            "encoder_runtime": self.args.encoder_runtime,
            "seconds": self.args.seconds,
            "probe": [[r.query, list(r.categories)] for r in self.probe],
            "cells": [{"kind": "matrix", "k": k, "seed": 1000 + k} for k in self.args.k],
        }
        if "ceiling" in self.growth_systems:
            spec["cells"] += [{"kind": "growth_k", "k": k, "seed": 1000 + k} for k in self.args.growth_k]
            spec["cells"] += [
                {"kind": "growth_len", "paths": p, "k": 16, "seed": 2000 + p} for p in self.args.growth_paths
            ]
        print("== ceiling (in-process forward pass)", flush=True)
        proc = subprocess.run(
            [peers.PYTHON, "-m", "bench.serving_ceiling", "--data", str(self.args.data)],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ceiling worker failed:\n{proc.stderr[-3000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        self.reference = out.pop("probe_scores")
        self.results["systems"]["ceiling"] = {"label": "ceiling: in-process batched forward (no HTTP)", **out}
        for cell in out["cells"]:
            print(
                f"   {cell['kind']:<10} K={cell['k']:<4} {cell.get('paths', '')!s:<3} "
                f"{cell['pairs_per_s']:8.1f} pairs/s   "
                f"single request p50 {cell['single_request']['p50_ms']:.1f} ms",
                flush=True,
            )
        self.save()

    def target(
        self, server: peers.Server, system: peers.System, requests: list[traffic.Request]
    ) -> loadgen.Target:
        return loadgen.Target(
            server.url + system.path, [system.body(r) for r in requests], [r.k for r in requests]
        )

    def cell(self, server, system, requests, *, concurrency: int, start: int = 0, **labels) -> dict:
        stats = asyncio.run(
            loadgen.closed_loop(
                self.target(server, system, requests),
                concurrency=concurrency,
                seconds=self.args.seconds,
                start=start,
            )
        )
        row = {**labels, "k": requests[0].k, **stats.to_dict()}
        print(
            f"   {labels.get('kind', ''):<10} K={row['k']:<4} c={concurrency:<3} "
            f"{row['pairs_per_s']:8.1f} pairs/s  "
            f"p50 {row['p50_ms'] or 0:7.1f}  p95 {row['p95_ms'] or 0:7.1f}  p99 {row['p99_ms'] or 0:7.1f} ms"
            f"{'  errors ' + str(row['errors']) + ' ' + str(row['first_error']) if row['errors'] else ''}",
            flush=True,
        )
        return row

    def run_http(self, name: str) -> None:
        system = http_system(name, args=self.args, checkpoint=Path(self.checkpoint), card=self.card)
        print(f"== {name}: {system.label}", flush=True)
        record: dict = {"label": system.label, "cells": [], "loadavg_start": os.getloadavg()}
        self.results["systems"][name] = record
        with peers.Server(system, log_dir=self.args.work_dir / "logs") as server:
            record["startup_s"] = round(server.started_s, 1)
            if name in SERVICE_SYSTEMS:
                record["runtime"] = served_runtime(server.url, name, args=self.args, card=self.card)
            got = asyncio.run(
                loadgen.fetch_scores(
                    server.url + system.path, [system.body(r) for r in self.probe], system.scores
                )
            )
            flat = [s for row in got for s in row]
            if self.reference is not None:
                record["max_abs_diff_vs_ceiling"] = max(
                    abs(a - b) for a, b in zip(flat, self.reference, strict=True)
                )
                print(
                    f"   max |score - ceiling| over {len(flat)} pairs: "
                    f"{record['max_abs_diff_vs_ceiling']:.2e}"
                )
            record["probe_scores"] = flat
            if self.card.kind == "bi-encoder" and name in SERVICE_SYSTEMS:
                record["targets_warmed"] = self.warm_targets(server, system)
            asyncio.run(
                loadgen.closed_loop(
                    self.target(server, system, self.warm), concurrency=8, seconds=self.args.warmup
                )
            )
            if name == "torch-cached":
                self.zipf_cell(server, system, record)
                record["peak_rss_gib"] = server.peak_rss_gib()
                record["loadavg_end"] = os.getloadavg()
                return self.save()
            for k in self.args.k:
                for c in self.concurrencies(k):
                    record["cells"].append(
                        self.cell(server, system, self.uniform[k], concurrency=c, kind="matrix")
                    )
                    if name in self.profile and k == 16 and c == max(self.concurrencies(k)):
                        record["profile"] = self.py_spy(server, system, name)
            self.open_loop(server, system, record)
            if self.args.zipf:
                self.zipf_cell(server, system, record)
            if name in self.growth_systems:
                for k in self.args.growth_k:
                    record["cells"].append(
                        self.cell(
                            server,
                            system,
                            self.uniform[k],
                            concurrency=self.args.growth_concurrency,
                            kind="growth_k",
                        )
                    )
                for p, reqs in self.long.items():
                    record["cells"].append(
                        self.cell(
                            server,
                            system,
                            reqs,
                            concurrency=self.args.growth_concurrency,
                            kind="growth_len",
                            paths=p,
                        )
                    )
            record["peak_rss_gib"] = server.peak_rss_gib()
        record["loadavg_end"] = os.getloadavg()
        self.save()

    def warm_targets(self, server: peers.Server, system: peers.System) -> dict:
        """A bi-encoder service meets the category catalogue once before it is timed (as the ceiling
        does): each target embedded once, kept in the backend's target cache (65,536 entries)."""
        cats = self.corpus.categories
        bodies = [
            system.body(traffic.Request("warm-up", tuple(cats[i : i + 64]))) for i in range(0, len(cats), 64)
        ]
        started = time.perf_counter()
        asyncio.run(loadgen.fetch_scores(server.url + system.path, bodies, system.scores))
        warmed = {"targets": len(cats), "seconds": round(time.perf_counter() - started, 1)}
        print(f"   {warmed['targets']} targets embedded ahead in {warmed['seconds']} s", flush=True)
        return warmed

    def concurrencies(self, k: int) -> list[int]:
        fits = [c for c in self.args.concurrency if k * c <= self.args.max_inflight_pairs]
        return fits or [min(self.args.concurrency)]

    def open_loop(self, server, system, record: dict) -> None:
        """Poisson arrivals at fractions of the system's own saturated rate: latency when not overloaded."""
        k = self.args.open_loop_k
        sat = [c["pairs_per_s"] for c in record["cells"] if c["kind"] == "matrix" and c["k"] == k]
        if not k or not sat:
            return
        for load in self.args.open_loop_loads:
            rate = load * max(sat) / k
            stats = asyncio.run(
                loadgen.open_loop(
                    self.target(server, system, self.uniform[k]),
                    rate_rps=rate,
                    seconds=self.args.open_loop_seconds,
                    start=3000,
                )
            )
            row = {"kind": "open_loop", "k": k, "load": load, **stats.to_dict()}
            record["cells"].append(row)
            print(
                f"   open-loop  K={k:<4} load {load:.2f} {rate:6.2f} req/s  "
                f"p50 {row['p50_ms'] or 0:7.1f}  p99 {row['p99_ms'] or 0:7.1f} ms"
                f"  (p99/p50 {((row['p99_ms'] or 0) / (row['p50_ms'] or 1)):.2f})",
                flush=True,
            )

    def zipf_cell(self, server, system, record: dict) -> None:
        """Two windows of the trace: from its start (a cold cache), then continuing where that stopped."""
        start = 0
        for kind in ("zipf", "zipf_warm"):
            if kind == "zipf_warm" and system.name == "torch-cached" and self.args.zipf_prefix > 0:
                # Only a cache cares where in the trace it is: play more of it, unmeasured, so the warm
                # window sees a cache that has met more of the head queries (systems without a cache score
                # every window at the same cost, so they skip this).
                gap = asyncio.run(
                    loadgen.closed_loop(
                        self.target(server, system, self.zipf),
                        concurrency=self.args.zipf_concurrency,
                        seconds=self.args.zipf_prefix,
                        start=start,
                    )
                )
                start += gap.sent
            row = self.cell(
                server, system, self.zipf, concurrency=self.args.zipf_concurrency, kind=kind, start=start
            )
            row["window_repeat_rate"] = traffic.window_repeat_rate(self.zipf, start, start + row["sent"])
            record["cells"].append(row)
            start += row["sent"]

    def py_spy(self, server, system, name: str) -> dict:
        """py-spy the server process tree while a K=16 saturation run goes on; top functions by self time."""
        exe = peers.BENCH_VENV / "bin" / "py-spy"
        out = self.args.work_dir / "profiles" / f"{name}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        seconds = max(3, int(self.args.seconds))
        log = (self.args.work_dir / "profiles" / f"{name}.py-spy.log").open("w")
        spy = subprocess.Popen(
            [
                str(exe),
                "record",
                "--pid",
                str(server.pid),
                "--subprocesses",
                "--duration",
                str(seconds),
                "--rate",
                "50",
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        time.sleep(1.0)  # attaching takes a moment; sample the steady state only
        self.cell(server, system, self.uniform[16], concurrency=max(self.concurrencies(16)), kind="profiled")
        spy.wait(timeout=seconds + 60)
        return summarise_profile(out)

    def run(self) -> None:
        started = time.monotonic()
        print(
            f"checkpoint {self.checkpoint} ({self.card.name}, base {self.card.base_model}, "
            f"max_length {self.card.input.max_length}); Zipf repeat rate "
            f"{self.results['meta']['zipf_repeat_rate']:.2f}",
            flush=True,
        )
        if "ceiling" in self.systems or self.reference is None:
            self.run_ceiling()
        for name in self.systems:
            if name == "ceiling":
                continue
            try:
                self.run_http(name)
            except Exception as exc:
                print(f"!! {name} failed: {exc}", flush=True)
                self.results["systems"].setdefault(name, {})["error"] = str(exc)[:2000]
                self.save()
        print(f"done in {time.monotonic() - started:.0f}s -> {self.args.out}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        Bench(args).run()
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
