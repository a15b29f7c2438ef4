"""The raw rows of a data file: JSON lines or CSV, decoded as UTF-8, each row with its line number.

Rows are dicts with lower-cased keys and are not validated here (`training.data` does that); a line that
cannot be parsed at all becomes a `RawRow` without a row and with its problem.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
CSV_SUFFIXES = (".csv",)


class DataError(ValueError):
    """The data file cannot be used as given; the message says what to fix and where."""


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    row: dict[str, Any] | None  # None: the line could not be parsed
    problem: tuple[str, str] | None = None  # (reason, message) when row is None


def data_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise DataError(
        f"{path}: unsupported data format {suffix or '(no suffix)'!r}; "
        f"use JSON lines ({', '.join(JSONL_SUFFIXES)}) or CSV ({', '.join(CSV_SUFFIXES)})"
    )


def read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}: not UTF-8 text (invalid byte at line {line}, offset {exc.start})") from exc


def split_lines(text: str) -> list[str]:
    """Lines split on \\n only: str.splitlines() would also split on U+2028, NEL and friends, which
    JSON allows raw inside strings (json.dumps(ensure_ascii=False) writes them)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def iter_jsonl(text: str) -> Iterator[RawRow]:
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(number, None, ("malformed_json", f"invalid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(row, dict):
            yield RawRow(
                number, None, ("malformed_json", f"expected a JSON object, got {type(row).__name__}")
            )
            continue
        yield RawRow(number, {str(k).strip().lower(): v for k, v in row.items()})


def iter_csv(text: str) -> tuple[list[str], Iterator[RawRow]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], iter(())

    def rows() -> Iterator[RawRow]:
        last = reader.line_num
        for values in reader:
            start, last = last + 1, reader.line_num  # a quoted field may span lines: report the first
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield RawRow(
                    start, None, ("malformed_row", f"{len(values)} fields, the header has {len(header)}")
                )
                continue
            yield RawRow(start, dict(zip(header, values, strict=True)))

    return header, rows()
