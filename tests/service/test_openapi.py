"""The OpenAPI document tells the truth: a key is declared exactly where the server asks for one, and the
schemas say what the server checks. Schemathesis (its CLI, every check) against a real service on
loopback finds nothing, with keys and without."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from service_helpers import make_settings, running

from service.app import create_app

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SCORE_KEY, ADMIN_KEY = "st-score-key", "st-admin-key"
KEYED = {"/v1/relevance/qc", "/v1/relevance/qi", "/v1/models"}  # at least these take the API key
OPEN = {"/health/live", "/health/ready", "/metrics"}


def _security(schema: dict) -> dict[str, list]:
    return {
        path: op.get("security", [])
        for path, item in schema["paths"].items()
        for op in item.values()
        if isinstance(op, dict)
    }


def test_no_keys_configured_no_key_declared(joint_checkpoint: Path) -> None:
    schema = create_app(make_settings(model=str(joint_checkpoint))).openapi()
    assert not any(_security(schema).values()), _security(schema)
    assert "securitySchemes" not in schema.get("components", {})
    reload = schema["paths"]["/admin/reload"]["post"]["description"]
    assert "RELEVANCE_ADMIN_KEYS" in reload and "loopback" in reload


@pytest.mark.parametrize("admin", [False, True], ids=["api-keys", "api-and-admin-keys"])
def test_configured_keys_are_declared_where_they_are_checked(joint_checkpoint: Path, admin: bool) -> None:
    keys = {"api_keys": SCORE_KEY, **({"admin_keys": ADMIN_KEY} if admin else {})}
    schema = create_app(make_settings(model=str(joint_checkpoint), **keys)).openapi()
    security = _security(schema)
    assert all(security[path] == [{"ApiKey": []}] for path in KEYED), security
    assert not any(security[path] for path in OPEN), security
    assert security["/admin/reload"] == ([{"AdminKey": []}] if admin else [])
    schemes = schema["components"]["securitySchemes"]
    assert set(schemes) == ({"ApiKey", "AdminKey"} if admin else {"ApiKey"})
    assert all(s == {**s, "type": "http", "scheme": "bearer"} for s in schemes.values())


def test_schemas_say_what_the_server_checks(joint_checkpoint: Path) -> None:
    schemas = create_app(make_settings(model=str(joint_checkpoint))).openapi()["components"]["schemas"]
    qc = schemas["QCPair"]["properties"]
    text, levels = qc["category_path"]["anyOf"]
    assert text == {**text, "minLength": 1, "pattern": r"\S"}  # "" and " " are refused
    assert levels["minItems"] == 1 and levels["contains"]["pattern"] == r"\S"  # one non-blank level
    assert qc["query"]["pattern"] == r"\S"
    assert schemas["QIPair"]["properties"]["item_title"]["pattern"] == r"\S"
    assert {"type": "integer"} in qc["id"]["anyOf"]
    reload = schemas["ReloadRequest"]["properties"]
    assert reload["model"]["anyOf"][0]["minLength"] == 1
    rerank = schemas["RerankRequest"]["properties"]
    assert rerank["task"]["anyOf"][0]["enum"] == ["qc", "qi"]  # the app's tasks: "" and "xx" are refused
    assert rerank["query"]["pattern"] == r"\S" and rerank["top_n"]["anyOf"][0]["type"] == "integer"


def _schemathesis(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "20",
        "--seed",
        "20251",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        *args,
    ]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def _assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0 and " passed" in proc.stdout, proc.stdout[-6000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_schemathesis_finds_nothing_without_keys(joint_checkpoint: Path, tmp_path: Path) -> None:
    # The store is the checkpoint's own folder, so generated reload bodies name (missing) checkpoints in it.
    settings = make_settings(model=joint_checkpoint.name, models_dir=joint_checkpoint.parent)
    with running(create_app(settings)) as url:
        _assert_clean(_schemathesis(url, tmp_path))


@pytest.mark.slow
def test_schemathesis_finds_nothing_with_keys(joint_checkpoint: Path, tmp_path: Path) -> None:
    settings = make_settings(
        model=joint_checkpoint.name,
        models_dir=joint_checkpoint.parent,
        api_keys=SCORE_KEY,
        admin_keys=ADMIN_KEY,
    )
    # One key per run (schemathesis sends one Authorization header); each run also checks that a request
    # without it, or with a bad one, is refused.
    with running(create_app(settings)) as url:
        _assert_clean(
            _schemathesis(url, tmp_path, "--exclude-tag", "admin", "-H", f"Authorization: Bearer {SCORE_KEY}")
        )
        _assert_clean(
            _schemathesis(url, tmp_path, "--include-tag", "admin", "-H", f"Authorization: Bearer {ADMIN_KEY}")
        )
