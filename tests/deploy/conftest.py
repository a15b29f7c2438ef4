"""Fixtures for the deployment tests: the real external tools (promtool, prometheus, docker-compose).

A missing tool FAILS the test (CI must install them: `make system-deps`), unless the environment sets
RELEVANCE_SKIP_DEPLOY_TOOLS=1, which skips with the reason instead (for laptops without the packages).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PACKAGE = {"promtool": "prometheus", "prometheus": "prometheus", "docker-compose": "docker-compose"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    reason = (
        f"`{name}` is not installed: `apt-get install --no-install-recommends {DEBIAN_PACKAGE[name]}` "
        "(or `make system-deps`)"
    )
    if os.environ.get("RELEVANCE_SKIP_DEPLOY_TOOLS") == "1":
        pytest.skip(f"{reason}; skipped because RELEVANCE_SKIP_DEPLOY_TOOLS=1")
    pytest.fail(f"{reason}; set RELEVANCE_SKIP_DEPLOY_TOOLS=1 to skip these tests instead", pytrace=False)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _tool("prometheus")


@pytest.fixture(scope="session")
def docker_compose() -> str:
    return _tool("docker-compose")
