"""Fixtures for the deployment tests: the real external tools (promtool, prometheus, docker-compose,
shellcheck).

A missing tool FAILS the test (CI must install them: `make system-deps`), unless the environment sets
RELEVANCE_SKIP_DEPLOY_TOOLS=1, which skips with the reason instead (for laptops without the packages).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PACKAGE = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "docker-compose": "docker-compose",
    "shellcheck": "shellcheck",
}


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


@pytest.fixture(scope="session")
def shellcheck() -> str:
    return _tool("shellcheck")


@pytest.fixture()
def with_training_rates(tmp_path: Path) -> Callable[[Path, Iterable[str | None]], Path]:
    """Factory: a copy of a checkpoint whose card carries training rates for `languages` (None skipped), as
    `training.evaluate` writes them; the service exports them as `relevance_training_*_rate`."""
    from models import CARD_FILENAME, ModelCard, TaskMetrics

    def make(checkpoint: Path, languages: Iterable[str | None]) -> Path:
        dest = tmp_path / "carded" / checkpoint.name
        shutil.copytree(checkpoint, dest)
        card = ModelCard.read(dest / CARD_FILENAME)
        rates = {"n": 50, "positive_rate": 0.5, "predicted_positive_rate": 0.6}
        detail = {language: rates for language in languages if language is not None}
        metrics = {task: TaskMetrics(by_language_detail=detail) for task in card.tasks}
        card.model_copy(update={"metrics": metrics}).write(dest / CARD_FILENAME)
        return dest

    return make
