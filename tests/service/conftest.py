"""Fixtures for the service tests (helpers live in `service_helpers`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import OfflineScorer, carded_checkpoint, make_settings, running

from models import Task
from service.app import create_app


@pytest.fixture(scope="session")
def second_qc_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QC checkpoint with different weights from `qc_checkpoint` (for reload tests)."""
    return carded_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny-qc-v2", tasks=(Task.QC,), name="tiny-qc-v2", seed=7
    )


@pytest.fixture(scope="session")
def joint_server(joint_checkpoint: Path) -> Iterator[str]:
    """A shared server on the joint checkpoint for read-only tests (cache off: every pair hits the model)."""
    with running(create_app(make_settings(model=str(joint_checkpoint), cache_size=0))) as url:
        yield url


@pytest.fixture(scope="session")
def joint_offline(joint_checkpoint: Path) -> OfflineScorer:
    return OfflineScorer(joint_checkpoint)
