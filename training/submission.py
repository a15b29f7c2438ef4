"""The CIKM 2025 AnalytiCup submission: test files read as written, per-task files, the zip, a checker.

The format, as the first-place team's code writes, checks and zips it (github.com/nhtlongcs/
e-commerce-product-search: baseline/predict.py, utils/submission_check.py, scripts/compress_submit.sh):
`submit_QC.txt` and `submit_QI.txt`, JSON lines (UTF-8, no header), a row per test row with its integer
`id`, `language` and `origin_query` as in the test file, `category_path` | `item_title`, `prediction` 0/1

    {"id": 2, "language": "ar", "origin_query": "...", "category_path": "home & garden,...", "prediction": 1}

and both files at the root of `submit.zip`. Test files: the training columns plus an integer `id`, no
label. `python -m training submit` (in `training.predict`, which scores) writes them; `check-submission`
checks one file against its test file: every input id once, no other id, integer ids, language, query
and target equal to the input row's, prediction 0 or 1.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from models import Task, registered_tasks
from models.io import atomic_write_text
from training.data import Example, read_rows
from training.data_report import DataReport
from training.datafile import read_text, split_lines

SUBMISSION_ZIP = "submit.zip"
MAX_SHOWN = 5  # rows named per problem kind (checker) and per empty-field report
_INTEGER = re.compile(r"0|-?[1-9][0-9]*")


def submission_name(task: Task) -> str:
    """`submit_QC.txt`: the competition's file name for a task's predictions."""
    return f"submit_{Task(task).value.upper()}.txt"


# --------------------------------------------------------------------------------------------------
# Reading a file to score


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One row to score: the example the model sees and the row's fields as the file has them."""

    example: Example
    id: int | str  # an int when every id of the file is an integer, else the example's id
    language: str  # language, query and target exactly as written ("" for null)
    query: str
    target: str
    line: int
    empty: tuple[str, ...] = ()  # fields that were empty and are scored as the empty text


@dataclass
class RowsToScore:
    path: Path
    rows: list[ScoreRow]
    report: DataReport
    not_integer: ScoreRow | None = None  # the first row whose id is not an integer

    @property
    def integer_ids(self) -> bool:
        """Every id of the file is an integer (and the rows' `id`s are ints)."""
        return self.not_integer is None

    def integer_id_problem(self) -> str:
        """Why the ids are not integers, naming the first row; "" when they are."""
        row = self.not_integer
        return "" if row is None else f"{self.path} line {row.line}: id {row.example.id!r} is not an integer"

    @property
    def empty_rows(self) -> list[ScoreRow]:
        return [r for r in self.rows if r.empty]

    def empty_fields(self) -> dict[str, int]:
        """Rows with each field empty ({"item_title": 453}); a row may count under several fields."""
        return dict(Counter(name for r in self.rows for name in r.empty))

    def empty_summary(self) -> str:
        empty = self.empty_rows
        fields = ", ".join(f"{k} {v}" for k, v in sorted(self.empty_fields().items()))
        lines = ", ".join(str(r.line) for r in empty[:MAX_SHOWN]) + (" ..." if len(empty) > MAX_SHOWN else "")
        return (
            f"{self.path}: {len(empty)} rows with empty fields scored as empty text ({fields}; lines {lines})"
        )


def _as_written(value: Any) -> str:
    """The field as the file has it; null (or NaN) as ""."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _integer_id(value: Any, fmt: str) -> int | None:
    """The id as an integer: a JSON integer, or a CSV field of decimal digits (no leading zeros)."""
    if fmt == "jsonl":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if _INTEGER.fullmatch(text) else None


def load_rows(path: str | Path, *, task: Task | None = None) -> RowsToScore:
    """Every row of a file to score, in file order, labels optional; rows with empty text fields are kept.

    Reads JSON lines or CSV through `training.data.read_rows`, and also the competition's `.txt` test
    files (JSON lines; a `.txt` file whose first character is not `{` is read as CSV).

    Raises `DataError` for a file that cannot be scored as given: unreadable, missing columns, or rows
    that are malformed, of an unknown or other task, or repeat an id (every reason with its lines).
    """
    path = Path(path)
    fmt: Literal["jsonl", "csv"] | None = None
    if path.suffix.lower() == ".txt":  # the competition's own files: JSON lines named .txt
        # read_rows reads the file again; a second read of a test file is small beside scoring it.
        fmt = "jsonl" if read_text(path).lstrip().startswith("{") else "csv"
    # No de-duplication: every row, repeated or not, needs its prediction.
    read, report = read_rows(path, task=task, require_labels=False, dedupe=False, allow_empty=True, fmt=fmt)

    integer = {r.line: _integer_id(r.raw.get("id"), report.format) for r in read}
    integer_ids = None not in integer.values()
    rows = [
        ScoreRow(
            example=r.example,
            id=integer[r.line] if integer_ids else r.example.id,  # type: ignore[arg-type]
            language=_as_written(r.raw.get("language")),
            query=_as_written(r.raw.get("origin_query")),
            target=_as_written(r.raw.get(r.example.task.spec.target_field)),
            line=r.line,
            empty=r.empty,
        )
        for r in read
    ]
    not_integer = next((r for r in rows if integer[r.line] is None), None)
    return RowsToScore(path, rows, report, not_integer=not_integer)


# --------------------------------------------------------------------------------------------------
# Writing


def submission_lines(rows: Sequence[ScoreRow], predictions: Sequence[int]) -> list[dict[str, Any]]:
    """The competition's rows: id, language, origin_query, category_path | item_title, prediction."""
    return [
        {
            "id": row.id,
            "language": row.language,
            "origin_query": row.query,
            row.example.task.spec.target_field: row.target,
            "prediction": int(pred),
        }
        for row, pred in zip(rows, predictions, strict=True)
    ]


def jsonl_text(rows: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_submission(out_dir: str | Path, files: Mapping[Task, Sequence[Mapping[str, Any]]]) -> list[Path]:
    """Write `submit_<TASK>.txt` per task and `submit.zip` holding them at its root (fixed timestamps,
    so equal predictions make an equal zip), each atomically; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = {submission_name(task): jsonl_text(rows) for task, rows in files.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(texts.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    for name, text in texts.items():
        atomic_write_text(out_dir / name, text)
    _atomic_write_bytes(out_dir / SUBMISSION_ZIP, buffer.getvalue())
    return [out_dir / name for name in texts] + [out_dir / SUBMISSION_ZIP]


# --------------------------------------------------------------------------------------------------
# Checking


@dataclass
class SubmissionCheck:
    """What checking a submission file against its test file found."""

    submission: Path
    input: Path
    rows: int = 0
    positives: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # problem kind -> rows
    shown: dict[str, list[str]] = field(default_factory=dict)  # problem kind -> first messages

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if len(self.shown.setdefault(kind, [])) < MAX_SHOWN:
            self.shown[kind].append(message)

    @property
    def ok(self) -> bool:
        return not self.counts

    def summary(self) -> str:
        if self.ok:
            rate = self.positives / self.rows if self.rows else 0.0
            return (
                f"{self.submission}: OK, {self.rows} rows, every id of {self.input} once; "
                f"{self.positives} predicted relevant ({rate:.3f})"
            )
        out = [f"{self.submission}: {self.counts.total()} problem(s) against {self.input}:"]
        for kind, messages in self.shown.items():
            more = " ..." if self.counts[kind] > len(messages) else ""
            out.append(f"  {kind}: {self.counts[kind]} row(s){more}")
            out.extend(f"    {m}" for m in messages)
        return "\n".join(out)


def check_submission(
    input: str | Path, submission: str | Path, *, task: Task | None = None
) -> SubmissionCheck:
    """Check a submission file (JSON lines) against the test file it answers: every input id exactly
    once and no other, integer ids, language / origin_query / target equal to the input row's,
    prediction 0 or 1. Problems are collected with their first rows, not raised."""
    loaded = load_rows(input, task=task)
    check = SubmissionCheck(Path(submission), Path(input))
    if not loaded.integer_ids:
        check.add("input_ids", loaded.integer_id_problem())
        return check
    expected = {row.id: row for row in loaded.rows}
    seen: dict[int, int] = {}
    for number, line in enumerate(split_lines(read_text(Path(submission))), start=1):
        if not line.strip():
            check.add("malformed", f"line {number}: blank line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            check.add("malformed", f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            check.add("malformed", f"line {number}: expected a JSON object, got {type(obj).__name__}")
            continue
        ident = obj.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool):
            check.add("bad_id", f"line {number}: id {ident!r} is not an integer")
            continue
        if ident in seen:
            check.add("duplicate_id", f"line {number}: id {ident} already at line {seen[ident]}")
            continue
        seen[ident] = number
        row = expected.get(ident)
        if row is None:
            check.add("unknown_id", f"line {number}: id {ident} is not in {input}")
            continue
        check.rows += 1
        target_field = row.example.task.spec.target_field
        for key, want in (
            ("language", row.language),
            ("origin_query", row.query),
            (target_field, row.target),
        ):
            if key not in obj:
                check.add("missing_field", f"line {number}: id {ident} has no {key!r}")
            elif obj[key] != want:
                check.add(
                    f"{key}_mismatch",
                    f"line {number}: id {ident}: {key} {obj[key]!r}, input line {row.line} has {want!r}",
                )
        pred = obj.get("prediction")
        if type(pred) is not int or pred not in (0, 1):
            check.add("bad_prediction", f"line {number}: id {ident}: prediction {pred!r} is not 0 or 1")
        else:
            check.positives += pred
    for row in loaded.rows:
        if row.id not in seen:
            check.add("missing_id", f"id {row.id} (input line {row.line}) has no row")
    return check


def _check_cli(args: argparse.Namespace) -> int:
    check = check_submission(args.input, args.submission, task=Task(args.task) if args.task else None)
    print(check.summary())
    return 0 if check.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-submission",
        help="check a submission file against the test file it answers",
        description="Check one competition submission file (JSON lines: id, language, origin_query, "
        "category_path | item_title, prediction) against its test file: every input id exactly once, no "
        "other id, integer ids, language, query and target equal to the input row's, prediction 0 or 1. "
        "Prints the first rows of each problem; exit code 1 when there is any.",
    )
    p.add_argument(
        "--input", required=True, type=Path, help="the test file (JSONL or CSV) the submission answers"
    )
    p.add_argument("--submission", required=True, type=Path, help="the submission file (submit_QC.txt, ...)")
    p.add_argument(
        "--task", choices=[t.value for t in registered_tasks()], help="task of an input without a task column"
    )
    p.set_defaults(handler=_check_cli)
