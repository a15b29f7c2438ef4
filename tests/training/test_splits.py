"""Category-aware cross-validation folds (training.splits)."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from models import Task
from models.tasks import category_levels
from training.cli import main as cli_main
from training.data import Example, load_examples
from training.data_write import write_examples
from training.splits import (
    check_no_leakage,
    group_key,
    load_folds,
    make_folds,
    save_folds,
    strata_key,
)

SHARED_CSV = Path("/work/shared/data/qc_train_confluentia.csv")
LANGS = ["en", "ja", "ko", "th", "ar", "es"]
QUERIES = {
    "en": "running shoes", "ja": "ランニングシューズ", "ko": "러닝화", "th": "รองเท้าวิ่ง",
    "ar": "حذاء جري", "es": "zapatillas",
}  # fmt: skip
TOPS = ["sports", "food", "luggage & bags", "home & garden"]


def synthetic(n: int = 600, seed: int = 0) -> list[Example]:
    """QC + QI examples with many small groups; some levels contain ', '."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lang = rng.choice(LANGS)
        label = int(rng.random() < 0.65)
        if i % 3:
            top = rng.choice(TOPS)
            path = f"{top},sub {rng.randrange(4)},leaf{rng.randrange(5)}, misc,deep{rng.randrange(3)}"
            out.append(Example(f"c{i}", Task.QC, lang, f"{QUERIES[lang]} {i}", path, label))
        else:
            query = f"{QUERIES[lang]}  {rng.randrange(60)}"
            out.append(Example(f"i{i}", Task.QI, lang, query, f"title {i}", label))
    return out


def test_category_levels_respect_comma_space_inside_names() -> None:
    assert category_levels("food,grocery,confectionery,cakes, biscuits") == [
        "food", "grocery", "confectionery", "cakes, biscuits"
    ]  # fmt: skip
    ex = Example("1", Task.QC, "es", "galletas", "food,snacks, nuts & seeds,peanuts,salted", 1)
    assert group_key(ex) == "food,snacks, nuts & seeds,peanuts"
    assert strata_key(ex) == "es|food|1"


def test_qi_group_is_normalised_query() -> None:
    a = Example("1", Task.QI, "en", "  Running   SHOES ", "Nike", 1)
    b = Example("2", Task.QI, "en", "running shoes", "Adidas", 0)
    assert group_key(a) == group_key(b) == "running shoes"
    assert strata_key(a) == "en|1"


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 1234])
def test_no_group_crosses_folds(seed: int) -> None:
    examples = synthetic(seed=seed)
    rng = random.Random(seed)
    rng.shuffle(examples)
    folds = make_folds(examples, n_folds=5, seed=seed)
    check_no_leakage(examples, folds)
    # and independently of check_no_leakage:
    by_group: dict[tuple, set[int]] = {}
    for ex, fold in zip(examples, folds, strict=True):
        by_group.setdefault((ex.task, group_key(ex)), set()).add(fold)
    assert all(len(f) == 1 for f in by_group.values())
    assert set(folds) == set(range(5))
    for task in (Task.QC, Task.QI):
        assert {f for ex, f in zip(examples, folds, strict=True) if ex.task == task} == set(range(5))


def test_check_no_leakage_names_the_group() -> None:
    examples = synthetic(400)
    folds = make_folds(examples, n_folds=3, seed=0)
    victim = next(i for i, ex in enumerate(examples) if ex.task == Task.QC)
    sibling = next(
        i for i, ex in enumerate(examples) if i != victim and group_key(ex) == group_key(examples[victim])
    )
    folds[sibling] = (folds[victim] + 1) % 3
    with pytest.raises(ValueError, match=f"group leakage: qc group '{group_key(examples[victim])}'"):
        check_no_leakage(examples, folds)


def test_stratification_roughly_preserved() -> None:
    examples = [ex for ex in synthetic(1500, seed=3) if ex.task == Task.QC]
    folds = make_folds(examples, n_folds=5, seed=3)
    overall = sum(ex.label for ex in examples) / len(examples)
    lang_share = Counter(ex.language for ex in examples)
    for fold in range(5):
        members = [ex for ex, f in zip(examples, folds, strict=True) if f == fold]
        assert abs(len(members) / len(examples) - 0.2) < 0.08
        assert abs(sum(ex.label for ex in members) / len(members) - overall) < 0.08
        counts = Counter(ex.language for ex in members)
        for lang, n in lang_share.items():
            assert abs(counts[lang] / len(members) - n / len(examples)) < 0.06


def test_deterministic_per_seed() -> None:
    examples = synthetic(400)
    assert make_folds(examples, seed=5) == make_folds(examples, seed=5)
    assert make_folds(examples, seed=5) != make_folds(examples, seed=6)


def test_too_few_groups_fails_clearly() -> None:
    examples = [Example(str(i), Task.QI, "en", f"q{i % 3}", f"t{i}", i % 2) for i in range(30)]
    with pytest.raises(ValueError, match=r"qi: only 3 group\(s\).*for 5 folds"):
        make_folds(examples, n_folds=5)
    assert len(set(make_folds(examples, n_folds=3))) == 3
    with pytest.raises(ValueError, match="at least 2"):
        make_folds(examples, n_folds=1)


def test_save_load_round_trip_and_refusal(tmp_path: Path) -> None:
    examples = synthetic(200)
    folds = make_folds(examples, n_folds=4, seed=9)
    path = tmp_path / "folds.json"
    save_folds(path, examples, folds, n_folds=4, seed=9)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["n_folds"] == 4 and doc["seed"] == 9 and len(doc["folds"]) == 200
    assert load_folds(path, examples) == folds
    # a permutation of the same data gets the same folds back per id, then the fingerprint refuses
    with pytest.raises(ValueError, match="content or order differs"):
        load_folds(path, examples[::-1])
    changed = [replace(examples[0], label=1 - examples[0].label), *examples[1:]]
    with pytest.raises(ValueError, match="content or order differs"):
        load_folds(path, changed)
    with pytest.raises(ValueError, match=r"1 of 201 example ids are not in it"):
        load_folds(path, [*examples, Example("new", Task.QC, "en", "q", "a,b", 1)])
    with pytest.raises(ValueError, match="200 of 200 example ids"):
        load_folds(path, [replace(ex, id=ex.id + "x") for ex in examples])
    not_folds = tmp_path / "other.json"
    not_folds.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="not a folds file"):
        load_folds(not_folds, examples)


def test_split_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    write_examples(data, synthetic(300))
    out = tmp_path / "folds.json"
    assert cli_main(["split", str(data), "--folds", "3", "--seed", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "qc fold 0:" in printed and "qi fold 2:" in printed and "positive rate" in printed
    examples, _ = load_examples(data)
    folds = load_folds(out, examples)
    check_no_leakage(examples, folds)
    assert cli_main(["split", str(data), "--task", "qc", "--out", str(out)]) == 2  # QI rows are errors


def test_shared_confluentia_csv_folds() -> None:
    if not SHARED_CSV.is_file():
        pytest.skip(f"shared data not on this machine: {SHARED_CSV}")
    examples, report = load_examples(SHARED_CSV, task=Task.QC)
    assert report.rows_read == 21311
    folds = make_folds(examples, n_folds=5, seed=42)
    check_no_leakage(examples, folds)
    sizes = Counter(folds)
    assert len(sizes) == 5 and min(sizes.values()) > 0.15 * len(examples)
