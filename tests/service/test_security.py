"""Secure defaults: admin routes take their own keys or a loopback client, reload only names checkpoints in
the model store, keys never reach a log line or an error body, and listening beyond loopback with no keys
warns at start-up."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from service_helpers import assert_error, make_settings, metric_value, running, scrape

from service.app import create_app
from service.logs import JsonFormatter
from service.settings import Settings, is_loopback, security_warnings

REPO = Path(__file__).resolve().parents[2]
PAIR = {"query": "running shoes", "category_path": "sports,running shoes"}
REMOTE = {"X-Forwarded-For": "203.0.113.7"}  # uvicorn trusts it from 127.0.0.1: the client looks remote


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def store(tmp_path: Path, joint_checkpoint: Path, qc_checkpoint: Path, second_qc_checkpoint: Path) -> Path:
    """A model store with two checkpoints, a symlink inside it, a symlink out of it, and a checkpoint
    next to it (outside)."""
    root = tmp_path / "store"
    shutil.copytree(joint_checkpoint, root / "tiny-joint")
    shutil.copytree(second_qc_checkpoint, root / "tiny-qc-v2")
    (root / "alias").symlink_to(root / "tiny-qc-v2", target_is_directory=True)
    shutil.copytree(qc_checkpoint, tmp_path / "outside")
    (root / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    return root


def test_reload_takes_checkpoint_names_in_the_store_only(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory of the same name in the working directory must not be picked up instead of the store.
    cwd = tmp_path / "cwd"
    shutil.copytree(tmp_path / "outside", cwd / "only-in-cwd")
    monkeypatch.chdir(cwd)
    with running(create_app(make_settings(model="tiny-joint", models_dir=store))) as url:

        def reload(body: dict) -> httpx.Response:
            return httpx.post(f"{url}/admin/reload", json=body, timeout=60)

        refused = {
            "absolute path outside": (
                {"model": str(tmp_path / "outside")},
                "model",
                "outside the model store",
            ),
            "dot-dot": ({"model": "../outside"}, "model", "`..`"),
            "dot-dot inside": ({"qc_model": "tiny-qc-v2/../tiny-qc-v2"}, "qc_model", "`..`"),
            "symlink out": ({"qc_model": "escape"}, "qc_model", "outside the model store"),
            "the store itself": ({"model": str(store)}, "model", "is the model store itself"),
            "working directory": ({"model": "only-in-cwd"}, "model", "no checkpoint 'only-in-cwd'"),
            "unknown": ({"task_models": {"qc": "nope"}}, "task_models.qc", "known: alias, tiny-joint"),
            "NUL": ({"model": "tiny\x00joint"}, "model", "NUL"),
        }
        for case, (body, param, says) in refused.items():
            error = assert_error(reload(body), 404, "not_found")
            assert error["param"] == param, case
            assert says in error["message"] and "RELEVANCE_MODELS_DIR" in error["message"], (case, error)
        assert_error(reload({"model": ""}), 422, "validation_error")
        served = httpx.get(f"{url}/v1/models").json()["models"]
        assert [m["name"] for m in served] == ["tiny-joint"], "a refused name must not change the model"

        for body in (
            {"qc_model": "tiny-qc-v2"},
            {"qc_model": str(store / "tiny-qc-v2")},  # an absolute path inside the store
            {"task_models": {"qc": "alias"}},  # a symlink that stays inside the store
            {"model": "tiny-joint"},
        ):
            r = reload(body)
            assert r.status_code == 200, (body, r.text)
        assert {m["name"] for m in r.json()["models"]} == {"tiny-joint"}
        metrics = scrape(url)
    # Names refused before loading are 404s, not failed reloads (the alert counts real refusals).
    assert metric_value(metrics, "relevance_model_reloads_total", {"result": "failure"}) == 0
    assert metric_value(metrics, "relevance_model_reloads_total", {"result": "success"}) == 4


def test_admin_without_admin_keys_answers_loopback_clients_only(joint_checkpoint: Path) -> None:
    settings = make_settings(model=str(joint_checkpoint), api_keys="score-key")
    with running(create_app(settings)) as url:
        remote = httpx.post(f"{url}/admin/reload", headers={**REMOTE, **_bearer("score-key")}, timeout=60)
        message = assert_error(remote, 401, "unauthorized")["message"]
        assert "loopback" in message and "RELEVANCE_ADMIN_KEYS" in message and "203.0.113.7" in message
        # Scoring from a remote client is a matter of API keys only.
        scored = httpx.post(
            f"{url}/v1/relevance/qc", json={"pairs": [PAIR]}, headers={**REMOTE, **_bearer("score-key")}
        )
        assert scored.status_code == 200, scored.text
        local = httpx.post(f"{url}/admin/reload", timeout=60)  # 127.0.0.1, no key: allowed
        assert local.status_code == 200 and local.json()["generation"] == 2, local.text


def test_admin_keys_are_their_own(joint_checkpoint: Path) -> None:
    settings = make_settings(model=str(joint_checkpoint), api_keys="score-key", admin_keys="admin-a, admin-b")
    with running(create_app(settings)) as url:
        post = f"{url}/admin/reload"
        assert "missing admin key" in assert_error(httpx.post(post), 401, "unauthorized")["message"]
        scoring_key = httpx.post(post, headers=_bearer("score-key"))
        assert assert_error(scoring_key, 401, "unauthorized")["message"] == "invalid admin key"
        ok = httpx.post(post, headers={**REMOTE, **_bearer("admin-b")}, timeout=60)  # keys, not addresses
        assert ok.status_code == 200, ok.text
        admin_on_scoring = httpx.post(
            f"{url}/v1/relevance/qc", json={"pairs": [PAIR]}, headers=_bearer("admin-a")
        )
        assert assert_error(admin_on_scoring, 401, "unauthorized")["message"] == "invalid API key"


def test_keys_never_reach_the_logs_or_an_error_body(
    joint_checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = {
        "score": "sk-score-4f1c9e-SECRET",
        "admin": "sk-admin-77ab02-SECRET",
        "wrong": "sk-wrong-0d0d0d-SECRET",
    }
    settings = make_settings(
        model=str(joint_checkpoint), api_keys=secrets["score"], admin_keys=secrets["admin"]
    )
    formatter = JsonFormatter()
    caplog.set_level(logging.DEBUG)
    responses: list[httpx.Response] = []
    with running(create_app(settings)) as url:
        for key in secrets.values():
            for method, path, body in (
                ("POST", "/v1/relevance/qc", {"pairs": [PAIR]}),
                ("POST", "/v1/relevance/qc", {"pairs": [{"query": " "}]}),  # 422
                ("POST", "/v1/relevance/xx", {}),  # 404
                ("GET", "/v1/models", None),
                ("POST", "/admin/reload", {"model": "nope"}),
                ("POST", "/admin/reload", None),
            ):
                for headers in (_bearer(key), {"Authorization": key}, {**_bearer(key), **REMOTE}):
                    responses.append(
                        httpx.request(method, f"{url}{path}", json=body, headers=headers, timeout=60)
                    )
    statuses = {r.status_code for r in responses}
    assert {200, 401, 404, 422} <= statuses, statuses
    records = caplog.records
    assert any(r.getMessage() == "request" and getattr(r, "status", None) == 401 for r in records)
    logged = [formatter.format(record) + repr(vars(record)) for record in records]
    for name, key in secrets.items():
        for r in responses:
            assert key not in r.text and key not in str(r.headers), (name, r.request.url, r.text)
        assert not [line for line in logged if key in line], name


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.5.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", None, "10.0.0.1", "::ffff:10.0.0.1", "example.com", "testclient"):
        assert not is_loopback(host), host


def test_listening_beyond_loopback_without_keys_warns_and_names_no_key() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        assert security_warnings(Settings(_env_file=None, host=host)) == []
    assert security_warnings(Settings(_env_file=None, host="0.0.0.0", api_keys="k-1")) == []
    (warning,) = security_warnings(Settings(_env_file=None, host="0.0.0.0", admin_keys="admin-secret"))
    assert "0.0.0.0:8000" in warning and "RELEVANCE_API_KEYS" in warning and "admin-secret" not in warning
    (warning,) = security_warnings(Settings(_env_file=None, host="::"))
    assert "loopback clients only" in warning


def test_the_cli_logs_the_warning_at_start_up(joint_checkpoint: Path) -> None:
    """`python -m service --host <not loopback>` with no API keys logs the warning before it binds (here a
    TEST-NET address it cannot bind, so nothing listens); the admin key's value is not in the output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEVANCE_")}
    env["RELEVANCE_ADMIN_KEYS"] = "sk-admin-cli-SECRET"
    args = [
        "--host",
        "192.0.2.1",
        "--port",
        "0",
        "--model",
        str(joint_checkpoint),
        "--torch-compile",
        "false",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", *args], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "RELEVANCE_API_KEYS" in line or time.monotonic() > deadline:
                break
    finally:
        proc.kill()
        proc.wait(30)
    output = "".join(lines)
    warning = next((line for line in lines if "RELEVANCE_API_KEYS" in line), None)
    assert warning is not None, output
    assert '"level": "warning"' in warning and "192.0.2.1" in warning, warning
    assert "sk-admin-cli-SECRET" not in output
