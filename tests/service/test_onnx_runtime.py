"""`RELEVANCE_ENCODER_RUNTIME=onnxruntime`: the tiny bi-encoder's transformer exported at load and run by
ONNX Runtime scores as torch and offline predict do over real HTTP, says so in /v1/models, keeps its export
in a temporary folder removed on close, and falls back to torch (with a warning) whenever it cannot run."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from service_helpers import make_settings, predicted_qc_scores, running
from test_service_biencoder import PAIRS

from models import PairInput, Task, onnx_export, open_checkpoint
from models.onnx_export import OrtTransformer
from service.app import create_app
from service.backends.torch import load_backend
from service.encoding import load_encoder

pytest.importorskip("onnx", reason="the serving-onnx extra (make setup installs it)")
pytest.importorskip("onnxruntime", reason="the serving-onnx extra (make setup installs it)")

LOGGER = "service.backends.torch"


def served_scores(url: str, pairs: list[dict]) -> list[float]:
    r = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": pairs}, timeout=30)
    assert r.status_code == 200, r.text
    return [res["score"] for res in r.json()["results"]]


def test_onnxruntime_serves_the_same_scores_reports_itself_and_cleans_up(
    biencoder_run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, record = biencoder_run
    checkpoint = record["checkpoint"]
    pairs = PAIRS * 3  # a batch of several queries and targets: padding on both sides
    with running(create_app(make_settings(model=checkpoint, cache_size=0))) as url:
        torch_scores = served_scores(url, pairs)

    settings = make_settings(model=checkpoint, cache_size=0, encoder_runtime="onnxruntime")
    app = create_app(settings)
    with caplog.at_level(logging.INFO, logger=LOGGER), running(app) as url:
        onnx_scores = served_scores(url, pairs)
        (model,) = httpx.get(f"{url}/v1/models", timeout=10).json()["models"]
        assert model["backend"] == "torch" and model["runtime"] == "onnxruntime"
        backend = app.state.services.manager.current.model_for(Task.QC).backend
        transformer = backend.model.encoder.model
        assert isinstance(transformer, OrtTransformer)
        folder = transformer.path
        assert (folder / onnx_export.ONNX_FILE).is_file()
    assert any("served by ONNX Runtime" in r.getMessage() for r in caplog.records)
    assert not folder.exists()  # closing the model removed its export

    assert onnx_scores == pytest.approx(torch_scores, abs=1e-5)
    assert onnx_scores == pytest.approx(predicted_qc_scores(checkpoint, pairs, tmp_path), abs=1e-5)


def _load(checkpoint: Path):
    settings = make_settings(model=str(checkpoint), encoder_runtime="onnxruntime")
    return asyncio.run(load_backend(open_checkpoint(checkpoint), settings=settings))


def _scores(backend, checkpoint: Path) -> list[float]:
    encoder = load_encoder(open_checkpoint(checkpoint))
    pairs = [PairInput(task=Task.QC, query="zapatillas", target="sports,running shoes")]
    return asyncio.run(backend.score(encoder.encode_batch(pairs)))


def test_a_failed_export_serves_with_torch(
    biencoder_run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, record = biencoder_run
    folders: list[Path] = []

    def failing_export(model, path: Path, **_) -> Path:  # a fake only to inject the failure
        folders.append(Path(path).parent)
        raise RuntimeError("injected export failure")

    monkeypatch.setattr(onnx_export, "export", failing_export)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        backend = _load(record["checkpoint"])
    try:
        (warning,) = [r for r in caplog.records if "serving it with torch" in r.getMessage()]
        assert "injected export failure" in warning.error
        assert backend.runtime == "torch" and not isinstance(backend.model.encoder.model, OrtTransformer)
        assert folders and not folders[0].exists()  # the temporary folder went with the failure
        assert 0.0 <= _scores(backend, record["checkpoint"])[0] <= 1.0
    finally:
        asyncio.run(backend.close())


def test_a_failed_check_serves_with_torch(
    biencoder_run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, record = biencoder_run
    folders: list[Path] = []
    export = onnx_export.export

    def recorded_export(model, path: Path, **kwargs) -> Path:  # the real export, its folder noted
        folders.append(Path(path).parent)
        return export(model, path, **kwargs)

    monkeypatch.setattr(onnx_export, "export", recorded_export)
    monkeypatch.setattr(onnx_export, "CHECK_TOLERANCE", -1.0)  # no difference passes
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        backend = _load(record["checkpoint"])
    try:
        (warning,) = [r for r in caplog.records if "serving it with torch" in r.getMessage()]
        assert "OnnxCheckFailed" in warning.error
        assert backend.runtime == "torch" and not isinstance(backend.model.encoder.model, OrtTransformer)
        assert folders and not folders[0].exists()
    finally:
        asyncio.run(backend.close())


def test_a_cross_encoder_ignores_the_setting(qc_checkpoint: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        backend = _load(qc_checkpoint)
    try:
        assert any("bi-encoders only" in r.getMessage() for r in caplog.records)
        assert backend.runtime == "torch"
    finally:
        asyncio.run(backend.close())
