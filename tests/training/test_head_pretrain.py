"""Cross-task pre-training in the bi-encoder recipe: the run records and cards it, fold k's pre-training
never sees a query of fold k's held-out rows, each seed of the ensemble continues its own pre-trained head,
and a spec that cannot work fails before anything is embedded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models import Task, open_checkpoint
from models.tasks import normalise_query
from training.data import DataError, Example, load_examples
from training.head import _cv_key, oof_path, run_head
from training.head_fit import HeadSettings, fit_head, pretrain_heads
from training.head_pretrain import HeadPretrain, PretrainRows
from training.splits import make_folds

SAMPLES = Path(__file__).parents[2] / "training" / "sample_data"


def _qi_rows_sharing_queries(path: Path, qc_queries: list[str]) -> Path:
    """The QI sample with the first rows' queries replaced by QC queries: rows the leak rule must drop."""
    rows = [
        json.loads(line) for line in (SAMPLES / "qi_sample.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    for row, query in zip(rows, qc_queries, strict=False):
        row["origin_query"] = query
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pretrained_run(biencoder_run, tmp_path_factory: pytest.TempPathFactory):
    """The tiny QC recipe again, its heads pre-trained on QI rows of which 40 share a QC query."""
    plain, plain_record = biencoder_run
    root = tmp_path_factory.mktemp("pretrained")
    qc, _ = load_examples(plain.data, task=Task.QC)
    qi_data = _qi_rows_sharing_queries(root / "qi.jsonl", [e.query for e in qc[:40]])
    config = plain.model_copy(
        update={
            "name": "tiny-bi-qc-pretrained",
            "pretrain": HeadPretrain(task=Task.QI, data=qi_data),
            "work_dir": root / "work",
            "models_dir": root / "models",
        }
    )
    return config, run_head(config), plain, plain_record


def test_a_pretrained_run_is_recorded_carded_and_scored_apart(pretrained_run) -> None:
    config, record, plain, plain_record = pretrained_run
    n_qi = len(load_examples(config.pretrain.data, task=Task.QI)[0])
    assert record["pretrain"] == {"task": "qi", "data": str(config.pretrain.data), "n": n_qi}
    assert record["system"].endswith("+pretrain-qi") and plain_record["pretrain"] is None
    card = open_checkpoint(record["checkpoint"], task=Task.QC).card
    assert "pre-trained on the qi rows that share no query" in card.threshold_protocol
    assert card.training["config"]["pretrain"]["task"] == "qi"
    # Its folds are its own (a changed recipe never reads the plain run's saved scores), and differ.
    assert _cv_key(config) != _cv_key(plain)
    for k in range(config.folds):
        assert oof_path(config, k).name != oof_path(plain, k).name
        assert not np.allclose(np.load(oof_path(config, k)), np.load(oof_path(plain, k)))


def test_fold_k_pretrains_only_on_rows_sharing_no_query_with_its_held_out_rows(
    pretrained_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.head as head

    config, _, _, _ = pretrained_run
    seen: list[int] = []
    kept_queries: list[set[str]] = []
    original, original_kept = head.pretrain_heads, PretrainRows.kept

    def kept(rows: PretrainRows, held_out):
        mask = original_kept(rows, held_out)
        kept_queries.append({normalise_query(e.query) for e, k in zip(rows.examples, mask, strict=True) if k})
        return mask

    monkeypatch.setattr(head, "pretrain_heads", lambda x, y, s: seen.append(len(x)) or original(x, y, s))
    monkeypatch.setattr(PretrainRows, "kept", kept)
    rerun = config.model_copy(update={"work_dir": config.work / "again", "models_dir": config.work / "m2"})
    run_head(rerun)

    qc, _ = load_examples(config.data, task=Task.QC)
    folds = np.asarray(make_folds(qc, n_folds=config.folds, seed=config.seed))
    qi, _ = load_examples(config.pretrain.data, task=Task.QI)
    n_qi, expected = len(qi), []
    for k in range(config.folds):
        held = {normalise_query(e.query) for e, f in zip(qc, folds, strict=True) if f == k}
        expected.append(sum(normalise_query(e.query) not in held for e in qi))
        assert not kept_queries[k] & held  # which rows, not only how many: no held-out query
    assert seen == [*expected, n_qi]  # one pre-training per fold, then all rows for the published head
    assert all(n < n_qi for n in expected)  # the leak rule dropped rows in every fold


def test_the_leak_rule_mask_keeps_rows_of_other_queries() -> None:
    def ex(task: Task, query: str) -> Example:
        return Example(id=query, task=task, language="en", query=query, target="t", label=1)

    rows = PretrainRows(
        examples=[ex(Task.QI, "Red Shoes"), ex(Task.QI, "blue hat"), ex(Task.QI, "red  shoes")],
        x=torch.zeros(3, 4),
        labels=torch.zeros(3),
    )
    assert rows.kept([ex(Task.QC, "red shoes")]).tolist() == [False, True, False]
    assert rows.kept([ex(Task.QI, "red shoes")]).all()  # the same task's rows are the folds' business


def test_each_seed_continues_its_own_pretrained_head() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(64, 6), (torch.rand(64) > 0.5).float()
    settings = HeadSettings(hidden=4, epochs=1, batch_size=16, ensemble=3)
    heads = pretrain_heads(x, y, settings)
    assert len(heads) == 3
    assert not torch.equal(heads[0][1].weight, heads[1][1].weight)  # seeds 0, 1, 2: three different heads
    merged = fit_head(x, y, settings, init=heads)
    assert merged[1].out_features == 3 * 4
    # Seed s continues head s: the merged head's units [4s, 4s + 4) are that one-head fit's.
    for s in range(3):
        alone = fit_head(x, y, settings.model_copy(update={"seed": s, "ensemble": 1}), init=heads[s])
        assert torch.equal(merged[1].weight[4 * s : 4 * s + 4], alone[1].weight)
    same_start = fit_head(x, y, settings, init=heads[0])  # one head every seed starts from
    assert not torch.equal(merged[1].weight, same_start[1].weight)
    with pytest.raises(ValueError, match="2 initial heads for an ensemble of 3"):
        fit_head(x, y, settings, init=heads[:2])
    with pytest.raises(ValueError, match="linear head's fit is exact"):
        pretrain_heads(x, y, HeadSettings(kind="linear"))


def test_unlabelled_pretrain_rows_are_refused_before_embedding(biencoder_run, tmp_path: Path) -> None:
    config, _ = biencoder_run
    rows = [
        json.loads(line) for line in (SAMPLES / "qi_sample.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    for row in rows[:3]:
        del row["label"]
    data = tmp_path / "qi.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    bad = config.model_copy(
        update={
            "pretrain": HeadPretrain(task=Task.QI, data=data),
            "work_dir": tmp_path / "w",
            "models_dir": tmp_path / "m",
        }
    )
    with pytest.raises(DataError, match="label"):  # the data loader's own check, named
        run_head(bad)
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    ("update", "error", "match"),
    [
        ({"pretrain": HeadPretrain(task=Task.QC, data=SAMPLES / "qc_sample.jsonl")}, ValueError, "own task"),
        (
            {"pretrain": HeadPretrain(task=Task.QI, data=SAMPLES / "missing.jsonl")},
            FileNotFoundError,
            "missing",
        ),
        (
            {
                "pretrain": HeadPretrain(task=Task.QI, data=SAMPLES / "qi_sample.jsonl"),
                "head": HeadSettings(kind="linear"),
            },
            ValueError,
            "continues MLP heads",
        ),
    ],
)
def test_a_pretrain_spec_that_cannot_work_fails_before_embedding(
    biencoder_run, tmp_path: Path, update: dict, error: type[Exception], match: str
) -> None:
    config, _ = biencoder_run
    bad = config.model_copy(update={**update, "work_dir": tmp_path / "w", "models_dir": tmp_path / "m"})
    with pytest.raises(error, match=match):
        run_head(bad)
    assert not (tmp_path / "w").exists()  # nothing embedded, nothing written
