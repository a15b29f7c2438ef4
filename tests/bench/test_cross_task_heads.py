"""Cross-task pre-training and the joint head (bench.cross_task_heads): the leak rule on each fold's rows,
`fit_head(init=)` continuing from given weights, and the CLI end to end on tiny data with a tiny encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tiny
import yaml

from bench import cross_task_heads
from models import Task
from models.tasks import normalise_query
from training.data import Example, load_examples
from training.head import HeadRunConfig
from training.head_fit import HeadSettings, fit_head
from training.splits import make_folds

SAMPLE = Path(__file__).resolve().parents[2] / "training" / "sample_data"
ROWS = 200  # of each sample file: the first 200 QC and QI rows share ~20 queries (QC) / ~40 (QI)


def _example(i: int, task: Task, query: str) -> Example:
    return Example(id=f"{task.value}-{i}", task=task, language="en", query=query, target="a,b,c", label=i % 2)


def _queries(rows: list[Example], mask: np.ndarray) -> set[str]:
    return {normalise_query(e.query) for e, m in zip(rows, mask, strict=True) if m}


def _check_fold(examples: dict[Task, list[Example]], folds: dict[Task, np.ndarray], k: int) -> dict:
    """Fold k's rows, asserted to be what the leak rule says: a row is dropped exactly when its query is a
    held-out query of the other task."""
    rows = cross_task_heads.fold_rows(examples, folds, k)
    held = {t: _queries(examples[t], rows.held_out[t]) for t in examples}
    for t, other in ((Task.QC, Task.QI), (Task.QI, Task.QC)):
        assert np.array_equal(rows.held_out[t], folds[t] == k) and np.array_equal(
            rows.train[t], folds[t] != k
        )
        # T's pre-training rows are all of the other task's rows but those sharing a query with T's fold k.
        other_in_held = np.array([normalise_query(e.query) in held[t] for e in examples[other]])
        assert np.array_equal(rows.pretrain[t], ~other_in_held)
        # T's joint rows: its fold-train rows but those sharing a query with the other task's fold k.
        in_held_other = np.array([normalise_query(e.query) in held[other] for e in examples[t]])
        assert np.array_equal(rows.joint[t], rows.train[t] & ~in_held_other)
        assert not _queries(examples[other], rows.pretrain[t]) & held[t]
        assert not _queries(examples[t], rows.joint[t]) & held[other]
    return rows.dropped()


def test_the_leak_rule_drops_exactly_the_rows_sharing_a_held_out_query() -> None:
    qc = [
        _example(i, Task.QC, q)
        for i, q in enumerate(["Red Shoes", "lamp", "red  shoes ", "phone case", "tv"])
    ]
    qi = [_example(i, Task.QI, q) for i, q in enumerate(["red shoes", "tv", "desk", "lamp"])]
    examples = {Task.QC: qc, Task.QI: qi}
    folds = {Task.QC: np.array([0, 1, 1, 0, 1]), Task.QI: np.array([1, 0, 1, 0])}
    dropped = _check_fold(examples, folds, 0)
    # QC's fold 0 holds "red shoes" and "phone case": QI's "red shoes" is left out of QC's pre-training.
    # QI's fold 0 holds "tv" and "lamp": its pre-training loses QC's "lamp" and "tv".
    assert dropped["cross_task"] == {"qc": {"dropped": 1, "of": 4}, "qi": {"dropped": 2, "of": 5}}
    # Joint: QC's train rows (lamp, red shoes, tv) lose lamp and tv; QI's (red shoes, desk) lose red shoes.
    assert dropped["joint"] == {"qc": {"dropped": 2, "of": 3}, "qi": {"dropped": 1, "of": 2}}


def test_no_held_out_query_reaches_the_other_tasks_training_rows_on_sample_data() -> None:
    examples = {
        t: load_examples(SAMPLE / f"{t.value}_sample.jsonl", task=t)[0][:ROWS] for t in (Task.QC, Task.QI)
    }
    folds = {t: np.asarray(make_folds(rows, n_folds=3, seed=42)) for t, rows in examples.items()}
    dropped = [_check_fold(examples, folds, k) for k in range(3)]
    assert sum(d["cross_task"]["qc"]["dropped"] + d["joint"]["qi"]["dropped"] for d in dropped) > 0


def test_init_starts_from_the_given_weights_and_leaves_them_alone() -> None:
    import torch

    from models.head import head_inputs

    torch.manual_seed(0)
    x = head_inputs(torch.randn(96, 8), torch.randn(96, 8), kind="mlp")
    y = (torch.rand(96) > 0.5).float()
    settings = HeadSettings(hidden=8, epochs=2, batch_size=32, weight_decay=0.0)
    init = fit_head(x, y, settings.model_copy(update={"seed": 7}))
    before = {k: v.clone() for k, v in init.state_dict().items()}
    # A step far too small to move a weight: what comes back is where training started.
    still = fit_head(x, y, settings.model_copy(update={"learning_rate": 1e-10}), init=init)
    scratch = fit_head(x, y, settings.model_copy(update={"learning_rate": 1e-10}))
    for key, value in still.state_dict().items():
        assert torch.allclose(value, before[key], atol=1e-6)
        assert torch.equal(init.state_dict()[key], before[key])  # trained a copy
    assert not torch.allclose(scratch[1].weight, before["1.weight"], atol=1e-2)
    moved = fit_head(x, y, settings, init=init)  # a real continuation moves away from it
    assert not torch.allclose(moved[1].weight, before["1.weight"], atol=1e-4)
    assert fit_head(x, y, settings.model_copy(update={"ensemble": 2}), init=init)[1].out_features == 16
    with pytest.raises(ValueError, match="linear"):
        fit_head(x, y, HeadSettings(kind="linear"), init=init)
    with pytest.raises(ValueError, match="features"):
        fit_head(x[:, :-1], y, settings, init=init)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The CLI on the first rows of both sample files (which share queries), a tiny sentence encoder."""
    root = tmp_path_factory.mktemp("cross_task")
    base = tiny.tiny_sentence_encoder(root / "base")
    paths = {}
    for task in (Task.QC, Task.QI):
        data = root / f"{task.value}.jsonl"
        data.write_text("".join((SAMPLE / f"{task.value}_sample.jsonl").read_text().splitlines(True)[:ROWS]))
        # QC: the recipe's MLP (its settings train every head; ensemble 3 is brought down to 1); QI: the
        # linear + words head its real config has, which the comparison does not use.
        head = (
            HeadSettings(hidden=8, epochs=2, batch_size=32, ensemble=3)
            if task == Task.QC
            else HeadSettings(kind="linear", lexical=True)
        )
        config = HeadRunConfig(
            name=f"tiny-{task.value}", task=task, data=data, base_model=str(base), max_length=48, folds=2,
            head=head, work_dir=root / f"work-{task.value}",
        )  # fmt: skip
        paths[task] = root / f"{task.value}.yaml"
        paths[task].write_text(yaml.safe_dump(config.model_dump(mode="json")))
    argv = ["--qc-config", str(paths[Task.QC]), "--qi-config", str(paths[Task.QI])]
    assert cross_task_heads.main([*argv, "--out", str(root / "out.json")]) == 0
    return root, json.loads((root / "out.json").read_text())


def test_the_cli_writes_every_variant_for_both_tasks(measured) -> None:
    root, result = measured
    assert result["command"].startswith("python -m bench.cross_task_heads --qc-config ")
    assert (
        result["head"]["ensemble"] == 1 and result["head"]["kind"] == "mlp" and "ensemble 1" in result["note"]
    )
    assert result["scored_folds"] == [0, 1] and result["shared_queries"] > 0
    assert {t: r["n"] for t, r in result["tasks"].items()} == {"qc": ROWS, "qi": ROWS}
    assert set(result["variants"]) == {"separate", "cross_task", "joint"}
    for variant in result["variants"].values():
        assert variant["seconds"] >= 0 and set(variant["tasks"]) == {"qc", "qi"}  # rounded: 0.0 on tiny data
        for task in variant["tasks"].values():
            assert 0.0 <= task["metrics"]["roc_auc"] <= 1.0 and task["metrics"]["by_language"]
            assert set(task["per_fold"]) == {"0", "1"}
    aucs = {v: r["tasks"]["qc"]["metrics"]["roc_auc"] for v, r in result["variants"].items()}
    assert len(set(aucs.values())) == 3  # three different heads, not one scored thrice
    leak = result["leak_rule"]["per_fold"]
    assert set(leak) == {"0", "1"}
    assert sum(f["cross_task"]["qi"]["dropped"] + f["joint"]["qc"]["dropped"] for f in leak.values()) > 0
    # Embedded into each run's own cache, as `training head` would have.
    assert all(r["texts_embedded"] > 0 for r in result["tasks"].values())
    assert list((root / "work-qc" / "embeddings-L48").glob("query-*.npz"))


def test_a_second_run_reads_the_cached_embeddings(measured) -> None:
    root, _ = measured
    argv = ["--qc-config", str(root / "qc.yaml"), "--qi-config", str(root / "qi.yaml"), "--only-folds", "1"]
    assert cross_task_heads.main([*argv, "--out", str(root / "again.json")]) == 0
    again = json.loads((root / "again.json").read_text())
    assert again["scored_folds"] == [1] and set(again["leak_rule"]["per_fold"]) == {"1"}
    assert all(r["texts_embedded"] == 0 for r in again["tasks"].values())
