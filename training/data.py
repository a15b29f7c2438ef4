"""Labelled relevance data: read the competition's JSONL / CSV, validate, de-duplicate.

The official format has one row per (query, target) pair with the fields
`id, task, language, origin_query, category_path | item_title, label` (QC rows carry `category_path`,
QI rows `item_title`); an optional `query_en` holds a pre-computed English translation of the query.
CSV files use the same column names (the `id` column may be absent: ids then are `<file stem>-<line>`).

Every problem is reported with its reason, count and line numbers, so a bad file is fixed in one pass
instead of one error at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from models import PairInput, Task, registered_tasks
from training.data_report import MAX_CONFLICT_EXAMPLES, MAX_LINES_PER_REASON, Conflict, DataReport
from training.datafile import DataError, data_format, iter_csv, iter_jsonl, read_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    task: Task
    language: str
    query: str
    target: str  # the task's target field: category path "a,b,c" (QC), item title (QI), ...
    label: int | None = None  # None for unlabelled (test / predict) data
    query_en: str | None = None  # English translation of the query, when known
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def pair(self) -> PairInput:
        return PairInput(task=self.task, query=self.query, target=self.target, query_en=self.query_en)


# --------------------------------------------------------------------------------------------------
# Reading


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str | None:
    """The stripped text of a field, or None when it is empty, NaN, whitespace or not text."""
    if _is_missing(value) or isinstance(value, bool | list | dict):
        return None
    if isinstance(value, int | float):
        value = str(value)
    text = str(value).strip()
    return text or None


def parse_label(value: Any) -> int | None:
    """0 / 1 from ints, floats 0.0 / 1.0, or their string forms; None when empty; ValueError otherwise."""
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"label {value!r} is a boolean; use 0 or 1")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"label {value!r} is not 0 or 1") from None
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    raise ValueError(f"label {value!r} is not 0 or 1")


def parse_task(value: Any) -> Task:
    """A registered task from its name in any case ("QC", "qc"); ValueError naming the registered ones."""
    text = _text(value)
    try:
        return Task(text.lower() if text else "")
    except ValueError:
        raise ValueError(
            f"unknown task {value!r}; expected one of {[t.value for t in registered_tasks()]} (any case)"
        ) from None


def _target_fields() -> dict[Task, str]:
    return {task: task.spec.target_field for task in registered_tasks()}


def _required_columns(
    columns: Iterable[str], *, task: Task | None, require_labels: bool, path: Path
) -> Task | None:
    """Fail at once when a column the file needs is absent; returns the task implied by the columns."""
    found = list(columns)
    have = set(found)
    fields = _target_fields()
    missing = [c for c in ("language", "origin_query") if c not in have]
    if require_labels and "label" not in have:
        missing.append("label")
    implied = task
    if "task" in have:
        # Rows say their task (a joint file mixes tasks), so any target column will do here.
        if not any(col in have for col in fields.values()):
            missing.append(" or ".join(fields.values()))
    else:
        if implied is None:
            targets = [t for t, col in fields.items() if col in have]
            if len(targets) == 1:
                implied = targets[0]  # a file with only category_path (or item_title) is single-task
        if implied is None:
            missing.append("task")
        elif implied.spec.target_field not in have:
            missing.append(implied.spec.target_field)
    if missing:
        targets = " | ".join(f"{col} ({t.value.upper()})" for t, col in fields.items())
        raise DataError(
            f"{path}: missing required column(s) {missing}; columns found: {found}. "
            f"Expected id?, task, language, origin_query, {targets}, label"
            + ("" if require_labels else " (label optional)")
        )
    return implied


_COMMON_FIELDS = {"id", "task", "language", "origin_query", "label", "query_en"}
_INVALID_ROWS_HINT = "Fix the rows, or pass on_error='drop' (--on-error drop) to drop them and continue."


@dataclass(frozen=True, slots=True)
class DataRow:
    """One valid row of a file: its example, its fields as the file has them, and where it is."""

    line: int
    example: Example
    raw: dict[str, Any]  # the row's fields as parsed, before stripping (keys lower-cased)
    empty: tuple[str, ...] = ()  # text fields that were empty and read as "" (only with allow_empty)


def _row(
    raw: dict[str, Any],
    *,
    line: int,
    stem: str,
    task: Task | None,
    default_task: Task | None,
    require_labels: bool,
    allow_empty: bool,
) -> DataRow | tuple[str, str]:
    """The validated row, or (reason, message)."""
    if "task" in raw and not _is_missing(raw["task"]) and str(raw["task"]).strip():
        try:
            row_task = parse_task(raw["task"])
        except ValueError as exc:
            return "unknown_task", str(exc)
        if task is not None and row_task != task:
            return "wrong_task", f"task {row_task.value!r} but --task {task.value} was asked for"
    elif default_task is not None:
        row_task = default_task
    else:
        return "unknown_task", "task is empty"
    target_field = row_task.spec.target_field
    text_fields = ("language", "origin_query", target_field)
    for name in text_fields:
        if name not in raw:
            return "missing_field", f"field {name!r} is absent (row has {sorted(raw)})"
    blank: tuple[str, ...] = ()
    if allow_empty:
        # Only truly empty values are let through: a list, dict or boolean is still not text.
        blank = tuple(
            name
            for name in text_fields
            if _is_missing(raw[name]) or (isinstance(raw[name], str) and not raw[name].strip())
        )
    text = {name: "" if name in blank else _text(raw[name]) for name in text_fields}
    empty = [name for name in text_fields if text[name] is None]
    if empty:
        return (
            "empty_text",
            f"{', '.join(empty)} empty or not text ({', '.join(repr(raw[n]) for n in empty)})",
        )
    if require_labels and "label" not in raw:
        return "missing_field", f"field 'label' is absent (row has {sorted(raw)})"
    try:
        label = parse_label(raw.get("label"))
    except ValueError as exc:
        return "bad_label", str(exc)
    if label is None and require_labels:
        return "missing_label", f"label is empty ({raw.get('label')!r})"
    ident = _text(raw.get("id")) or f"{stem}-{line}"
    known = _COMMON_FIELDS | set(_target_fields().values())
    extra = {k: str(v) for k, v in raw.items() if k not in known and not _is_missing(v)}
    example = Example(
        id=ident,
        task=row_task,
        language=text["language"].lower(),  # type: ignore[union-attr]
        query=text["origin_query"],  # type: ignore[arg-type]
        target=text[target_field],  # type: ignore[arg-type]
        label=label,
        query_en=_text(raw.get("query_en")),
        extra=extra,
    )
    return DataRow(line=line, example=example, raw=raw, empty=blank)


def _invalid_rows_error(report: DataReport, hint: str = "") -> DataError:
    return DataError(
        f"{report.path}: {report.error_rows} invalid row(s) of {report.rows_read}:\n{report.error_summary()}"
        + (f"\n{hint}" if hint else "")
    )


def read_rows(
    path: str | Path,
    *,
    task: Task | None = None,
    on_error: Literal["fail", "drop"] = "fail",
    require_labels: bool = True,
    dedupe: bool | None = None,
    allow_empty: bool = False,
    fmt: Literal["jsonl", "csv"] | None = None,
) -> tuple[list[DataRow], DataReport]:
    """Read and validate a data file: its valid rows in file order, with their fields as written.

    The checks of `load_examples` (which reads through this): columns, tasks, labels, ids, duplicates.
    `allow_empty` reads an empty, NaN or whitespace-only language, query or target as "" (each row's
    `empty` names them) instead of an error: every row of a test file needs a prediction. `fmt` overrides
    the format the suffix implies. Invalid rows raise one `DataError` listing every reason
    (`on_error="fail"`), or are left out and counted in the report (`"drop"`).
    """
    if on_error not in ("fail", "drop"):
        raise ValueError(f"on_error must be 'fail' or 'drop', got {on_error!r}")
    task = parse_task(task) if task is not None and not isinstance(task, Task) else task
    dedupe = require_labels if dedupe is None else dedupe
    path = Path(path)
    file_format = fmt or data_format(path)
    text = read_text(path)
    report = DataReport(path=str(path), format=file_format)

    if file_format == "csv":
        header, raws = iter_csv(text)
        if not header:
            raise DataError(f"{path}: empty file (no header row)")
        default_task = _required_columns(header, task=task, require_labels=require_labels, path=path)
        raws_list = list(raws)
    else:
        if text.lstrip().startswith("["):
            raise DataError(f"{path}: the file is one JSON array; expected JSON lines (one object per line)")
        raws_list = list(iter_jsonl(text))
        first = next((r.row for r in raws_list if r.row is not None), None)
        default_task = task
        if first is not None:
            # The first object stands for the file's columns: a wrong schema fails at once, while a
            # later row missing a field is a per-row error.
            default_task = _required_columns(first, task=task, require_labels=require_labels, path=path)
    if not raws_list:
        raise DataError(f"{path}: no data rows")

    kept: list[DataRow] = []
    seen_rows: dict[tuple, int] = {}
    seen_ids: dict[str, int] = {}
    stem = path.stem
    for raw in raws_list:
        report.rows_read += 1
        if raw.row is None:
            assert raw.problem is not None
            report.record_error(raw.problem[0], raw.line, raw.problem[1])
            continue
        result = _row(
            raw.row,
            line=raw.line,
            stem=stem,
            task=task,
            default_task=default_task,
            require_labels=require_labels,
            allow_empty=allow_empty,
        )
        if isinstance(result, tuple):
            report.record_error(result[0], raw.line, result[1])
            continue
        ex = result.example
        key = (ex.task, ex.language, ex.query, ex.target, ex.label)
        if dedupe and key in seen_rows:
            report.duplicates_dropped += 1
            if len(report.duplicate_lines) < MAX_LINES_PER_REASON:
                report.duplicate_lines.append(raw.line)
            continue
        if ex.id in seen_ids:
            report.record_error(
                "duplicate_id", raw.line, f"id {ex.id!r} already used at line {seen_ids[ex.id]}"
            )
            continue
        seen_rows[key] = raw.line
        seen_ids[ex.id] = raw.line
        kept.append(result)

    if report.errors:
        if on_error == "fail":
            raise _invalid_rows_error(report)
        report.dropped = dict(report.errors)
    examples = [r.example for r in kept]
    report.rows_kept = len(examples)
    report.by_task = dict(Counter(ex.task.value for ex in examples))
    report.by_language = dict(Counter(ex.language for ex in examples))
    report.by_label = dict(Counter(str(ex.label) for ex in examples))
    return kept, report


def load_examples(
    path: str | Path,
    *,
    task: Task | None = None,
    on_error: Literal["fail", "drop"] = "fail",
    require_labels: bool = True,
    dedupe: bool | None = None,
    allow_empty: bool = False,
) -> tuple[list[Example], DataReport]:
    """Read, validate and de-duplicate a data file.

    `task` restricts the file to one task (rows of other tasks are errors, or dropped) and is the task of
    a file without a task column. Invalid rows raise one `DataError` listing every reason with counts and
    line numbers (`on_error="fail"`) or are dropped and counted (`"drop"`). Exact duplicates are dropped
    (`dedupe`, default: only for labelled data, since every unlabelled row needs its prediction);
    conflicting labels are reported and kept. `allow_empty`: empty text fields are read as "" instead
    of being errors (see `read_rows`).
    """
    if on_error not in ("fail", "drop"):
        raise ValueError(f"on_error must be 'fail' or 'drop', got {on_error!r}")
    path = Path(path)
    # Read with "drop" so that a failure here can name --on-error, which only this entry point offers.
    rows, report = read_rows(
        path,
        task=task,
        on_error="drop",
        require_labels=require_labels,
        dedupe=dedupe,
        allow_empty=allow_empty,
    )
    if report.errors:
        if on_error == "fail":
            raise _invalid_rows_error(report, _INVALID_ROWS_HINT)
        log.warning("%s: dropped %d invalid rows:\n%s", path, report.error_rows, report.error_summary())

    _find_conflicts([(r.line, r.example) for r in rows], report)
    if not rows:
        raise DataError(f"{path}: no valid rows left ({report.rows_read} read)\n{report.error_summary()}")
    return [r.example for r in rows], report


def _find_conflicts(kept: Sequence[tuple[int, Example]], report: DataReport) -> None:
    by_pair: dict[tuple[Task, str, str], dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for line, ex in kept:
        if ex.label is not None:
            by_pair[(ex.task, ex.query, ex.target)][ex.label].append(line)
    for (task, query, target), labels in by_pair.items():
        if len(labels) > 1:
            report.conflicts += 1
            if len(report.conflict_examples) < MAX_CONFLICT_EXAMPLES:
                report.conflict_examples.append(
                    Conflict(task, query, target, {k: list(v) for k, v in labels.items()})
                )


# --------------------------------------------------------------------------------------------------
# Fingerprint and writing


def _canonical(ex: Example) -> list[Any]:
    return [ex.id, ex.task.value, ex.language, ex.query, ex.target, ex.label, ex.query_en]


def fingerprint(examples: Iterable[Example]) -> str:
    """sha256 of the examples' content in order (ids included; `extra` is not part of it)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps(_canonical(ex), ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
