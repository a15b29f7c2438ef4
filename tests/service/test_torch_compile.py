"""The torch backend's default compiled path: same scores as eager, every shape warmed before ready, and a
failing compiler falls back to the eager model instead of failing the load."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from service_helpers import OfflineScorer, make_settings, running
from test_service_scoring import QC_PAIRS, QI_PAIRS

from models import Task, open_checkpoint
from models.inference import CompiledModel
from service.app import create_app
from service.backends.torch import load_backend

pytestmark = pytest.mark.slow  # each compile takes ~15-30 s of CPU


def test_compiled_service_scores_equal_eager_offline_scores(joint_checkpoint, joint_offline: OfflineScorer):
    settings = make_settings(model=str(joint_checkpoint), cache_size=0, torch_compile=True)
    with running(create_app(settings), timeout=300) as url:
        for task, pairs in ((Task.QC, QC_PAIRS), (Task.QI, QI_PAIRS)):
            for batch in (pairs, pairs[:1], pairs * 5):  # batch size 1 and >= 2 compile apart
                r = httpx.post(f"{url}/v1/relevance/{task.value}", json={"pairs": batch}, timeout=60)
                assert r.status_code == 200, r.text
                served = [res["score"] for res in r.json()["results"]]
                assert served == pytest.approx(joint_offline(task, batch), abs=1e-5)


def test_compile_failure_serves_the_eager_model(qc_checkpoint, monkeypatch, caplog) -> None:
    import torch

    def broken_compiler(gm, example_inputs):
        raise RuntimeError("no C++ compiler on this host")

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **_: real_compile(fn, backend=broken_compiler))
    settings = make_settings(qc_model=str(qc_checkpoint), torch_compile=True)
    with caplog.at_level(logging.WARNING, logger="service.backends.torch"):
        backend = asyncio.run(load_backend(open_checkpoint(qc_checkpoint), settings=settings))
    assert any("torch.compile failed" in rec.getMessage() for rec in caplog.records)
    assert not isinstance(backend.model, CompiledModel)
    asyncio.run(backend.close())
