"""The project's own sample data: loads cleanly, keeps its shape, and is what the generator makes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from models import Task
from training.data import Example, load_examples

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "training" / "sample_data"
FILES = {Task.QC: SAMPLE_DIR / "qc_sample.jsonl", Task.QI: SAMPLE_DIR / "qi_sample.jsonl"}
LANGUAGES = {
    Task.QC: ({"en", "es", "fr", "ja", "ko", "pt"}, {"de", "it", "ar", "pl"}),
    Task.QI: ({"en", "es", "fr", "ja", "ko", "pt", "th"}, {"id", "vi", "de"}),
}
NON_LATIN = {"ja", "ko", "ar", "th"}
LEVEL_SPLIT = re.compile(r",(?! )")  # a level name may itself contain ", "


@pytest.fixture(scope="module", params=[Task.QC, Task.QI], ids=["qc", "qi"])
def sample(request: pytest.FixtureRequest) -> tuple[Task, list[Example], list[dict]]:
    task: Task = request.param
    path = FILES[task]
    examples, report = load_examples(path, task=task)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert report.rows_read == report.rows_kept == len(rows) == len(examples)
    assert not report.errors and not report.dropped
    assert report.duplicates_dropped == 0
    assert report.conflicts == 0
    return task, examples, rows


def by_query(examples: list[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.query].append(ex)
    return groups


def test_official_fields_and_unique_ids(sample) -> None:
    task, examples, rows = sample
    target = "category_path" if task is Task.QC else "item_title"
    assert len(rows) >= 300
    for row in rows:
        assert set(row) == {"id", "task", "language", "origin_query", target, "label", "query_en"}
        assert row["task"] == task.value.upper() and row["label"] in (0, 1)
    ids = [ex.id for ex in examples]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(rf"{task.value}-\d{{4}}", i) for i in ids)


def test_languages_and_positive_rate(sample) -> None:
    task, examples, _ = sample
    main, extra = LANGUAGES[task]
    counts = Counter(ex.language for ex in examples)
    assert set(counts) == main | extra
    assert min(counts[lang] for lang in main) > max(counts[lang] for lang in extra) / 2
    assert all(counts[lang] >= 20 for lang in extra)
    assert (
        sum(counts[lang] for lang in NON_LATIN) / len(examples) >= 0.25
    )  # non-Latin scripts well represented
    rate = sum(ex.label for ex in examples) / len(examples)
    assert 0.62 <= rate <= 0.72
    for lang in counts:
        labels = [ex.label for ex in examples if ex.language == lang]
        assert 0.5 <= sum(labels) / len(labels) <= 0.8, lang


def test_queries_repeat_across_candidates(sample) -> None:
    _, examples, _ = sample
    groups = by_query(examples)
    assert sum(len(g) >= 2 for g in groups.values()) / len(groups) >= 0.95
    mixed = sum(len({ex.label for ex in g}) == 2 for g in groups.values()) / len(groups)
    assert mixed >= 0.6  # most queries show relevant and irrelevant candidates together
    for g in groups.values():  # one query string is one intent: one language, one translation
        assert len({(ex.language, ex.query_en) for ex in g}) == 1


def test_translations(sample) -> None:
    _, examples, _ = sample
    for ex in examples:
        assert ex.query_en and ex.query_en == " ".join(ex.query_en.split())
        if ex.language == "en":
            assert ex.query_en == ex.query
        if ex.language in NON_LATIN:
            assert ex.query_en != ex.query
            assert re.fullmatch(r"[\x20-\x7e]+", ex.query_en), ex.query_en  # English, not the source script


def test_category_paths() -> None:
    examples, _ = load_examples(FILES[Task.QC], task=Task.QC)
    tops = Counter()
    for ex in examples:
        levels = LEVEL_SPLIT.split(ex.target)
        assert 3 <= len(levels) <= 5, ex.target
        assert ex.target == ex.target.lower() and all(level == level.strip() and level for level in levels)
        tops[levels[0]] += 1
    assert len(tops) >= 15


def test_negatives_are_mostly_hard() -> None:
    """QC: most negatives share the top level of a relevant category for the same query."""
    examples, _ = load_examples(FILES[Task.QC], task=Task.QC)
    same_top = total = 0
    for g in by_query(examples).values():
        tops = {LEVEL_SPLIT.split(ex.target)[0] for ex in g if ex.label == 1}
        for ex in g:
            if ex.label == 0:
                total += 1
                same_top += LEVEL_SPLIT.split(ex.target)[0] in tops
    assert total and 0.5 <= same_top / total < 1.0  # mostly hard, some easy


def test_qi_hard_negatives_are_near_misses() -> None:
    """QI: most negative titles share a word with a relevant title of the same query."""
    examples, _ = load_examples(FILES[Task.QI], task=Task.QI)

    def words(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3}

    near = total = 0
    for g in by_query(examples).values():
        relevant = set().union(*(words(ex.target) for ex in g if ex.label == 1))
        for ex in g:
            if ex.label == 0:
                total += 1
                near += bool(words(ex.target) & relevant)
    assert total and near / total >= 0.6


def test_readme_examples_are_real_rows() -> None:
    rows = {
        json.loads(line)["id"]: json.loads(line)
        for path in FILES.values()
        for line in path.read_text(encoding="utf-8").splitlines()
    }
    shown = [
        json.loads(line)
        for line in (SAMPLE_DIR / "README.md").read_text().splitlines()
        if line.startswith('{"id"')
    ]
    assert shown and all(rows[row["id"]] == row for row in shown)


def test_committed_files_match_the_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(SAMPLE_DIR / "build_samples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
