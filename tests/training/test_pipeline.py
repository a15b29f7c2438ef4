"""`run --config`: the whole pipeline end to end on tiny BERT, resumable, with a validated checkpoint."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import yaml
from toydata import toy_examples

from models import Task, open_checkpoint
from training.config import load_run_config
from training.data import load_examples
from training.data_write import write_examples
from training.evaluate import read_predictions
from training.pipeline import run

SAMPLE = Path(__file__).resolve().parents[2] / "training" / "sample_data"


def write_config(path, **fields):
    path.write_text(yaml.safe_dump(fields, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def data_files(tmp_path):
    files = {}
    for task in (Task.QC, Task.QI):
        files[task.value] = str(tmp_path / f"{task.value}.jsonl")
        write_examples(files[task.value], toy_examples(task, n=48))
    return files


def train_fields(base, **overrides):
    return {
        "base_model": str(base),
        "max_length": 48,
        "learning_rate": 3e-3,
        "batch_size": 8,
        "max_steps": 6,
        "eval_steps": 3,
        "lora": {"r": 4, "alpha": 8},
        **overrides,
    }


@pytest.mark.slow
def test_joint_run_end_to_end_and_resume(tiny_base, tmp_path, caplog):
    """The project's sample data (both tasks, with query_en), 2-fold CV, a few steps of tiny BERT."""
    config_path = write_config(
        tmp_path / "run.yaml",
        name="joint-tiny",
        tasks=["qc", "qi"],
        data={"qc": str(SAMPLE / "qc_sample.jsonl"), "qi": str(SAMPLE / "qi_sample.jsonl")},
        translation="column",
        cv={"folds": 2, "seed": 1},
        train=train_fields(tiny_base("bert")),
        models_dir=str(tmp_path / "models"),
        work_dir=str(tmp_path / "work"),
    )
    config = load_run_config(config_path)
    assert config.train.tasks == [Task.QC, Task.QI] and config.train.input.uses_translation
    path = run(config)

    ckpt = open_checkpoint(path)
    card = ckpt.card
    assert path == tmp_path / "models" / "joint-tiny" and card.tasks == [Task.QC, Task.QI]
    assert set(card.thresholds) == {Task.QC, Task.QI} and all(0 <= t <= 1 for t in card.thresholds.values())
    assert set(card.metrics) == {Task.QC, Task.QI} and all(m.f1 is not None for m in card.metrics.values())
    assert card.input.uses_translation and card.input.task_prefix
    info = card.training
    assert (
        len(info["data_fingerprint"]) == 64
        and info["cv"]["folds"] == 2
        and info["cv"]["steps"] == [6, 6]  # each fold model trains max_steps and is scored at the last
    )
    # The final model ran the fold models' max_steps scaled to all the data (the same passes over it).
    sizes = info["cv"]["fold_sizes"]
    n_all = info["examples"]
    assert n_all == sum(len(load_examples(SAMPLE / f"{t}_sample.jsonl")[0]) for t in ("qc", "qi"))
    assert info["final_steps"] == max(1, round(6 * n_all / (sum(sizes) / 2)))
    assert "no step chosen on held-out rows" in card.threshold_protocol

    report = tmp_path / "work" / "report"
    assert (report / "report.md").is_file() and (report / "run.json").is_file()
    oof = read_predictions(report / "oof_predictions.jsonl")
    assert len(oof) == n_all and {p.task for p in oof} == {Task.QC, Task.QI}
    assert json.loads((report / "run.json").read_text())["published"] == str(path)
    assert (tmp_path / "work" / "folds.json").is_file()

    # A rerun reuses the folds and the finished folds, and republishes the same model.
    with caplog.at_level(logging.INFO, logger="training"):  # the pipeline and its stages (training.cv)
        again = run(load_run_config(config_path))
    messages = [r.getMessage() for r in caplog.records]
    assert any("reusing folds" in m for m in messages)
    assert sum("fold" in m and "already trained" in m for m in messages) == 2
    assert any("final model already trained" in m for m in messages)
    assert not list((tmp_path / "work").glob("*/checkpoint-*"))  # pruned once the run had published
    assert open_checkpoint(again).card.thresholds == card.thresholds


@pytest.mark.slow
def test_cross_task_pretraining_with_fold_average(tiny_base, data_files, tmp_path):
    # Toy QC asks only six queries, all in each held-out fold; QI rows of other queries are what a fold's
    # pre-training keeps once its held-out queries are dropped.
    qi = [
        dataclasses.replace(e, query=f"{e.query} model {i}") if i % 2 else e
        for i, e in enumerate(toy_examples(Task.QI, n=48))
    ]
    write_examples(tmp_path / "qi_other.jsonl", qi)
    config = load_run_config(
        write_config(
            tmp_path / "run.yaml",
            name="qc-tiny",
            tasks=["qc"],
            data={"qc": data_files["qc"]},
            pretrain_data=str(tmp_path / "qi_other.jsonl"),
            pretrain_overrides={"max_steps": 4},
            cv={"folds": 2},
            final="fold_average",
            train=train_fields(tiny_base("bert"), max_steps=3),
            models_dir=str(tmp_path / "models"),
            work_dir=str(tmp_path / "work"),
        )
    )
    path = run(config)
    assert path.name == "qc-tiny-fold0"
    for k in (0, 1):
        card = open_checkpoint(tmp_path / "models" / f"qc-tiny-fold{k}", task=Task.QC).card
        assert card.training["fold"] == k and card.training["pretrain_data"] == str(
            tmp_path / "qi_other.jsonl"
        )
        # Each fold model started from its own pre-training, blind to its held-out queries.
        assert card.training["init_from"] == str(tmp_path / "work" / f"pretrain-fold{k}" / "merged")
        assert set(card.thresholds) == {Task.QC}
    assert not (tmp_path / "models" / "qc-tiny").exists()


@pytest.mark.slow
def test_only_folds_trains_and_scores_just_those_folds(tiny_base, data_files, tmp_path):
    config = load_run_config(
        write_config(
            tmp_path / "run.yaml",
            name="qc-one-fold",
            tasks=["qc"],
            data={"qc": data_files["qc"]},
            cv={"folds": 2, "only_folds": [1]},
            final="fold_average",
            train=train_fields(tiny_base("bert"), max_steps=3),
            models_dir=str(tmp_path / "models"),
            work_dir=str(tmp_path / "work"),
        )
    )
    assert run(config).name == "qc-one-fold-fold1"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["qc-one-fold-fold1"]
    folds = json.loads((tmp_path / "work" / "folds.json").read_text())
    held = {i for i, f in folds["folds"].items() if f == 1}
    report = tmp_path / "work" / "report"
    oof = read_predictions(report / "oof_predictions.jsonl")
    assert {p.id for p in oof} == held and 0 < len(held) < 48
    run_doc = json.loads((report / "run.json").read_text())
    assert run_doc["cv"]["trained_folds"] == [1] and len(run_doc["folds"]) == 1
    assert "Only fold(s) [1] of 2" in (report / "report.md").read_text()


def test_bad_configs_fail_with_clear_messages(tmp_path, data_files):
    from training.cli import main

    good = {"name": "x", "tasks": ["qc"], "data": {"qc": data_files["qc"]}, "train": {"base_model": "minilm"}}
    ok = load_run_config(write_config(tmp_path / "ok.yaml", **good))
    assert ok.work_dir == Path("runs/x") and ok.report_dir == Path("runs/x/report") and ok.final == "retrain"
    cases = {
        "typo": (
            {**good, "train": {"base_model": "minilm", "lerning_rate": 1}},
            r"train\.lerning_rate: unknown key",
        ),
        "top-level typo": ({**good, "fianl": "retrain"}, r"fianl: unknown key"),
        "missing data": ({**good, "tasks": ["qc", "qi"]}, r"no file for task\(s\) \['qi'\]"),
        "contradiction": (
            {**good, "train": {"base_model": "m", "tasks": ["qi"]}},
            r"train\.tasks .* contradicts",
        ),
        "bad only_folds": (
            {**good, "cv": {"folds": 3, "only_folds": [3]}},
            r"distinct fold numbers in 0\.\.2",
        ),
        "bad final": ({**good, "final": "fold_average", "cv": {"enabled": False}}, "fold_average needs cv"),
    }
    for label, (fields, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            load_run_config(write_config(tmp_path / f"{label}.yaml", **fields))
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_run_config(tmp_path / "list.yaml")
    assert main(["run", "--config", str(tmp_path / "typo.yaml")]) == 2
    assert main(["run", "--config", str(tmp_path / "absent.yaml")]) == 2


def test_shipped_configs_are_valid():
    configs = Path(__file__).resolve().parents[2] / "training" / "configs"
    runs = {p.stem: load_run_config(p) for p in configs.glob("*.yaml") if not p.stem.startswith("accelerate")}
    assert {"demo", "shared_qc_cpu", "gemma3_12b_qc", "gemma3_12b_qi"} <= set(runs)
    demo = runs["demo"]
    assert (
        demo.name == "demo-joint-minilm"
        and demo.tasks == [Task.QC, Task.QI]
        and demo.train.base_model == "minilm"
    )
    for name, task, other in (("gemma3_12b_qc", Task.QC, "qi"), ("gemma3_12b_qi", Task.QI, "qc")):
        paper = runs[name]
        t = paper.train
        assert paper.tasks == [task] and paper.pretrain_data.name == f"{other}_train.jsonl"
        assert (t.lora.r, t.lora.alpha, t.lora.dropout, t.lora.target_modules) == (16, 32, 0.01, "all-linear")
        assert (t.learning_rate, t.lr_scheduler, t.epochs, t.input.max_length, t.bf16) == (
            1e-5,
            "constant",
            2,
            2048,
            True,
        )
        assert t.input.uses_translation and "madlad" in str(paper.translation.model)
        # What the paper leaves out, as the authors' code has it (the config comments say where from).
        assert (t.weight_decay, t.batch_size * t.grad_accum, t.warmup_ratio) == (1e-4, 32, 0.0)
        assert paper.pretrain_overrides == {}  # cross-task stage: the main stage's settings, 2 epochs
        assert t.base_model.endswith("-text")  # the text model `bases extract-text` writes
    # The bases comparison: same data, same folds, fold 0 only, the same number of training pairs.
    compare = [load_run_config(p) for p in sorted((configs / "compare").glob("*.yaml"))]
    assert {c.train.base_model for c in compare} == {"minilm", "e5-small", "gemma-3-270m"}
    assert {(str(c.data[Task.QC]), c.cv.folds, c.cv.seed, tuple(c.cv.only_folds)) for c in compare} == {
        ("../shared/data/qc_train_confluentia.csv", 5, 42, (0,))
    }
    assert {c.train.max_steps * c.train.batch_size for c in compare} == {8000}
    assert all(c.train.eval_steps == c.train.max_steps for c in compare)  # no step picked on fold 0
    ds = json.loads((configs / "ds_zero2.json").read_text())
    assert ds["zero_optimization"]["stage"] == 2
    accelerate = yaml.safe_load((configs / "accelerate_zero2.yaml").read_text())
    assert accelerate["deepspeed_config"]["deepspeed_config_file"] == "training/configs/ds_zero2.json"


def test_work_dirs_are_resumed_only_for_the_same_training(tmp_path):
    from training.workdir import prepare_dir

    work = tmp_path / "fold-0"
    prepare_dir(work, {"train": {"learning_rate": 1e-5}})
    (work / "checkpoint-10").mkdir()
    prepare_dir(work, {"train": {"learning_rate": 1e-5}})
    assert (work / "checkpoint-10").is_dir()  # same training: resumable state kept
    prepare_dir(work, {"train": {"learning_rate": 2e-5}})
    assert not (work / "checkpoint-10").exists()  # other settings: never resumed from
    assert json.loads((work / "identity.json").read_text()) == {"train": {"learning_rate": 2e-5}}


SPANISH = {
    "handbags": "bolso de mujer",
    "phone case": "funda de movil",
    "cookware pots": "ollas de cocina",
    "running shoes": "zapatillas de correr",
    "face cream": "crema facial",
    "puzzles dolls": "puzles y muñecas",
}


def spanish_toy(path: Path, n: int = 48) -> Path:
    """Toy QC rows whose Spanish rows ask in Spanish; every row carries a query_en column (its query)."""
    rows = [
        dataclasses.replace(e, query=SPANISH[e.query]) if e.language == "es" else e
        for e in toy_examples(Task.QC, n=n)
    ]
    write_examples(path, rows)
    return path


def test_apertium_fills_query_en_with_or_without_a_cache(apertium, tmp_path, monkeypatch):
    from models.translation import ApertiumTranslator
    from training.pipeline import translate

    calls = []
    real_translate = ApertiumTranslator.translate

    def counted(self, texts, **kwargs):
        calls.append(len(texts))
        return real_translate(self, texts, **kwargs)

    monkeypatch.setattr(ApertiumTranslator, "translate", counted)

    data = spanish_toy(tmp_path / "qc.jsonl")
    examples = load_examples(data)[0]
    spanish = [e for e in examples if e.language == "es"]
    queries = list(SPANISH.values())
    english = dict(zip(queries, apertium.translate(queries, source_languages=["es"] * 6), strict=True))
    fields = {"name": "x", "tasks": ["qc"], "data": {"qc": str(data)}, "train": {"base_model": "minilm"}}
    for cache in (None, tmp_path / "cache" / "apertium.jsonl"):
        translation = {"engine": "apertium"} | ({"cache": str(cache)} if cache else {})
        config = load_run_config(write_config(tmp_path / "run.yaml", **fields, translation=translation))
        for attempt in range(2):  # with a cache, the second pass reads it alone
            calls.clear()
            out = {e.id: e for e in translate(config, examples)}
            # Apertium runs unless the cache already holds every query (the second pass with one).
            assert bool(calls) is not bool(cache and attempt), calls
            # Apertium's English replaces the column's on Spanish rows; English rows keep their query.
            assert all(out[e.id].query_en == english[e.query] != e.query for e in spanish)
            assert all(out[e.id].query_en == e.query for e in examples if e.language == "en")
    lines = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines()]
    assert {row["model"] for row in lines} == {"apertium:es+fr+it+pt"}
    assert {row["text"]: row["en"] for row in lines if row["lang"] == "es"} == {
        e.query: english[e.query] for e in spanish
    }


@pytest.mark.slow
def test_an_apertium_run_records_the_engine_in_its_card(tiny_base, apertium, tmp_path):
    from models import TranslationSpec

    config = load_run_config(
        write_config(
            tmp_path / "run.yaml",
            name="qc-apertium",
            tasks=["qc"],
            data={"qc": str(spanish_toy(tmp_path / "qc.jsonl", n=24))},
            translation={"engine": "apertium", "languages": ["es"]},
            cv={"enabled": False},
            train=train_fields(tiny_base("bert"), max_steps=2),
            models_dir=str(tmp_path / "models"),
            work_dir=str(tmp_path / "work"),
        )
    )
    card = open_checkpoint(run(config)).card
    assert card.input.uses_translation
    assert card.input.translation == TranslationSpec(engine="apertium", languages=["es"])
    assert card.training["translation"] == "apertium"
