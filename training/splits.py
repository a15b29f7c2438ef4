"""Category-aware cross-validation folds (the paper's StratifiedGroupKFold).

Groups keep near-identical pairs in one fold, so out-of-fold scores measure generalisation to unseen
categories (QC: the first three category levels) or unseen queries (QI). Strata keep each fold's
language / top-category / label mix close to the whole. Each task's group and strata keys are its
`TaskSpec`'s (`models.tasks`); a joint list of several tasks is split per task.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models import Task, registered_tasks
from models.io import atomic_write_text
from models.tasks import normalise_query
from training.data import Example, fingerprint, load_examples
from training.data_cli import add_data_arguments

log = logging.getLogger(__name__)

FOLDS_FORMAT = "relevance-folds"
FOLDS_VERSION = 1


def group_key(ex: Example) -> str:
    """The example's CV group (its task's `group_key`): QC the first three category levels, QI the
    normalised query."""
    return ex.task.spec.group_key(ex.query, ex.target)


def strata_key(ex: Example) -> str:
    """The example's stratum (its task's `strata_key`): QC language + top-level category + label, QI
    language + label."""
    return ex.task.spec.strata_key(ex.language, ex.target, ex.label)


def make_folds(examples: Sequence[Example], *, n_folds: int = 5, seed: int = 42) -> list[int]:
    """The fold (0..n_folds-1) of every example, in input order; deterministic for a given order + seed."""
    from sklearn.model_selection import StratifiedGroupKFold

    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if not examples:
        raise ValueError("no examples to split")
    folds = [-1] * len(examples)
    by_task: dict[Task, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_task[ex.task].append(i)
    for task, index in sorted(by_task.items()):
        groups = [group_key(examples[i]) for i in index]
        n_groups = len(set(groups))
        if n_groups < n_folds:
            raise ValueError(
                f"{task.value}: only {n_groups} group(s) ({task.spec.group_meaning}) for {n_folds} folds; "
                "use fewer folds or more data"
            )
        strata = [strata_key(examples[i]) for i in index]
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # Rare strata (a language with a handful of rows of one category) cannot be spread over every
            # fold; sklearn warns and still balances the rest, which is what we want.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            for fold, (_, test) in enumerate(splitter.split(index, strata, groups)):
                for j in test:
                    folds[index[j]] = fold
        sizes = Counter(folds[i] for i in index)
        empty = [f for f in range(n_folds) if not sizes[f]]
        if empty:
            raise ValueError(
                f"{task.value}: folds {empty} came out empty ({n_groups} groups); use fewer folds"
            )
    assert all(f >= 0 for f in folds)
    return folds


def check_no_leakage(examples: Sequence[Example], folds: Sequence[int]) -> None:
    """Raise ValueError if any group (per task) has examples in more than one fold."""
    if len(examples) != len(folds):
        raise ValueError(f"{len(examples)} examples but {len(folds)} fold assignments")
    seen: dict[tuple[Task, str], int] = {}
    for ex, fold in zip(examples, folds, strict=True):
        key = (ex.task, group_key(ex))
        first = seen.setdefault(key, fold)
        if first != fold:
            raise ValueError(
                f"group leakage: {ex.task.value} group {key[1]!r} is in folds {first} and {fold} "
                f"(example {ex.id!r})"
            )


def drop_held_out_queries(rows: Sequence[Example], held_out: Sequence[Example]) -> list[Example]:
    """The cross-task leak rule: `rows` less every row whose normalised query is the query of a held-out
    row of another task. A fold's cross-task pre-training rows and a joint model's fold-train rows pass
    through it, so no query a fold is scored on is learned through the other task first.

    Rows of a held-out row's own task are the folds' business (`check_no_leakage`): QI groups by query,
    while QC groups by category, so a QC query recurring across QC folds is the design, not a leak."""
    held: dict[Task, set[str]] = defaultdict(set)
    for ex in held_out:
        held[ex.task].add(normalise_query(ex.query))
    return [
        ex
        for ex in rows
        if not any(
            normalise_query(ex.query) in queries for task, queries in held.items() if task is not ex.task
        )
    ]


def held_out_query_mask(rows: Sequence[Example], held_out: Sequence[Example]) -> np.ndarray:
    """`drop_held_out_queries` as a boolean mask over `rows` (True: kept), for rows held as arrays."""
    survivors = {id(ex) for ex in drop_held_out_queries(rows, held_out)}
    return np.fromiter((id(ex) in survivors for ex in rows), dtype=bool, count=len(rows))


def save_folds(
    path: str | Path, examples: Sequence[Example], folds: Sequence[int], *, n_folds: int, seed: int
) -> None:
    """Write the assignment per id with its metadata (n_folds, seed, data fingerprint), atomically."""
    if len(examples) != len(folds):
        raise ValueError(f"{len(examples)} examples but {len(folds)} fold assignments")
    ids = [ex.id for ex in examples]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"example ids must be unique to save folds; {dup!r} repeats")
    doc = {
        "format": FOLDS_FORMAT,
        "version": FOLDS_VERSION,
        "n_folds": n_folds,
        "seed": seed,
        "n_examples": len(examples),
        "fingerprint": fingerprint(examples),
        "grouping": {task.value: task.spec.group_meaning for task in registered_tasks()},
        "folds": dict(zip(ids, (int(f) for f in folds), strict=True)),
    }
    atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


def read_folds_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"folds file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a folds file (invalid JSON: {exc.msg})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FOLDS_FORMAT:
        raise ValueError(f"{path}: not a folds file (written by `python -m training split`)")
    if doc.get("version") != FOLDS_VERSION:
        raise ValueError(
            f"{path}: folds format version {doc.get('version')}, this build reads {FOLDS_VERSION}"
        )
    return doc


def load_folds(path: str | Path, examples: Sequence[Example]) -> list[int]:
    """The saved fold of each example, refusing a file made for other data."""
    doc = read_folds_file(path)
    saved: dict[str, int] = doc["folds"]
    ids = [ex.id for ex in examples]
    missing = [i for i in ids if i not in saved]
    extra = len(set(saved) - set(ids))
    if missing or extra:
        raise ValueError(
            f"{path}: folds were made for other data: {len(missing)} of {len(ids)} example ids are not in it "
            f"(e.g. {missing[:3]}) and it has {extra} ids not in the data; re-run `split` on this data"
        )
    if doc["fingerprint"] != fingerprint(examples):
        raise ValueError(
            f"{path}: folds were made for other data: the ids match but the content or order differs "
            f"(fingerprint {doc['fingerprint'][:12]} != {fingerprint(examples)[:12]}); "
            "re-run `split` on this data"
        )
    n_folds = int(doc["n_folds"])
    folds = [int(saved[i]) for i in ids]
    bad = [f for f in folds if not 0 <= f < n_folds]
    if bad:
        raise ValueError(f"{path}: fold {bad[0]} out of range for n_folds={n_folds}")
    return folds


def fold_summary(examples: Sequence[Example], folds: Sequence[int]) -> str:
    """One line per task and fold: size, groups, positive rate, languages."""
    lines = []
    rows: dict[tuple[Task, int], list[Example]] = defaultdict(list)
    for ex, fold in zip(examples, folds, strict=True):
        rows[(ex.task, fold)].append(ex)
    for (task, fold), members in sorted(rows.items()):
        labelled = [ex.label for ex in members if ex.label is not None]
        rate = f"{sum(labelled) / len(labelled):.3f}" if labelled else "n/a"
        groups = len({group_key(ex) for ex in members})
        langs = ", ".join(f"{k} {v}" for k, v in sorted(Counter(ex.language for ex in members).items()))
        lines.append(
            f"{task.value} fold {fold}: {len(members)} rows, {groups} groups, positive rate {rate}; {langs}"
        )
    return "\n".join(lines)


def _split(args: argparse.Namespace) -> int:
    task = Task(args.task) if args.task else None
    examples, report = load_examples(args.data, task=task, on_error=args.on_error)
    log.info("%s", report.summary())
    folds = make_folds(examples, n_folds=args.folds, seed=args.seed)
    check_no_leakage(examples, folds)
    save_folds(args.out, examples, folds, n_folds=args.folds, seed=args.seed)
    print(fold_summary(examples, folds))
    print(f"wrote {args.out} ({len(examples)} examples, {args.folds} folds, seed {args.seed})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "split",
        help="make category-aware cross-validation folds",
        description="StratifiedGroupKFold per task, with each task's groups and strata (models.tasks): "
        + "; ".join(f"{t.value.upper()} groups = {t.spec.group_meaning}" for t in registered_tasks())
        + ". Writes fold per id with the data fingerprint, so training refuses folds made for other data.",
    )
    add_data_arguments(parser)
    parser.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    parser.add_argument("--seed", type=int, default=42, help="shuffle seed (default 42)")
    parser.add_argument("--out", type=Path, required=True, help="folds JSON file to write")
    parser.set_defaults(handler=_split)
