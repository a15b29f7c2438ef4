"""What reading a data file found: rows kept, invalid rows by reason with line numbers, duplicates,
conflicting labels, and the counts per task, language and label (`training.data.load_examples` fills it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models import Task

MAX_LINES_PER_REASON = 10
MAX_CONFLICT_EXAMPLES = 10

# Why a row was rejected; the keys appear in reports and error messages.
REASONS: dict[str, str] = {
    "malformed_json": "line is not a JSON object",
    "malformed_row": "CSV row has the wrong number of fields",
    "missing_field": "a required field is absent",
    "unknown_task": "task is not a registered task (models.tasks)",
    "wrong_task": "row belongs to another task than the one asked for",
    "empty_text": "empty, NaN or whitespace-only text",
    "bad_label": "label is not 0/1",
    "missing_label": "label is empty",
    "duplicate_id": "id repeats an earlier row with different content",
}


@dataclass(frozen=True, slots=True)
class Conflict:
    """One (task, query, target) that carries both labels; every row is kept."""

    task: Task
    query: str
    target: str
    lines_by_label: dict[int, list[int]]


@dataclass
class DataReport:
    path: str
    format: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    lines: dict[str, list[int]] = field(default_factory=dict)  # reason -> first line numbers
    messages: dict[str, list[str]] = field(default_factory=dict)  # reason -> first detailed messages
    errors: dict[str, int] = field(default_factory=dict)  # reason -> rows with that problem
    duplicates_dropped: int = 0
    duplicate_lines: list[int] = field(default_factory=list)
    conflicts: int = 0
    conflict_examples: list[Conflict] = field(default_factory=list)
    by_task: dict[str, int] = field(default_factory=dict)
    by_language: dict[str, int] = field(default_factory=dict)
    by_label: dict[str, int] = field(default_factory=dict)

    def record_error(self, reason: str, line: int, message: str) -> None:
        """Count one invalid row; the first few keep their line number and message."""
        self.errors[reason] = self.errors.get(reason, 0) + 1
        if len(self.lines.setdefault(reason, [])) < MAX_LINES_PER_REASON:
            self.lines[reason].append(line)
            self.messages.setdefault(reason, []).append(f"line {line}: {message}")

    @property
    def error_rows(self) -> int:
        return sum(self.errors.values())

    def error_summary(self) -> str:
        parts = []
        for reason, count in sorted(self.errors.items(), key=lambda kv: -kv[1]):
            shown = ", ".join(map(str, self.lines.get(reason, [])))
            more = " ..." if count > len(self.lines.get(reason, [])) else ""
            first = self.messages.get(reason, [""])[0]
            parts.append(
                f"  {reason} ({REASONS.get(reason, reason)}): {count} rows, lines {shown}{more}; e.g. {first}"
            )
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The counts as plain JSON (for run records and model cards)."""
        return {
            "path": self.path,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "duplicates_dropped": self.duplicates_dropped,
            "conflicts": self.conflicts,
            "by_task": dict(self.by_task),
            "by_language": dict(self.by_language),
            "by_label": dict(self.by_label),
        }

    def summary(self) -> str:
        out = [
            f"{self.path} ({self.format}): {self.rows_read} rows read, {self.rows_kept} kept",
        ]
        if self.errors:
            verb = "dropped" if self.dropped else "found"
            out.append(f"invalid rows {verb}: {self.error_rows}")
            out.append(self.error_summary())
        if self.duplicates_dropped:
            lines = ", ".join(map(str, self.duplicate_lines))
            more = " ..." if self.duplicates_dropped > len(self.duplicate_lines) else ""
            out.append(f"exact duplicates dropped: {self.duplicates_dropped} (lines {lines}{more})")
        if self.conflicts:
            out.append(f"conflicting labels (kept): {self.conflicts} query/target pairs carry both labels")
            for c in self.conflict_examples[:5]:
                where = "; ".join(
                    f"label {lab} at lines {ls[:5]}" for lab, ls in sorted(c.lines_by_label.items())
                )
                out.append(f"  {c.task.value} {c.query!r} / {c.target!r}: {where}")
        if self.by_task:
            out.append("tasks: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_task.items())))
        if self.by_language:
            out.append(
                "languages: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.by_language.items(), key=lambda kv: -kv[1]))
            )
        if self.by_label:
            total = sum(self.by_label.values())
            pos = self.by_label.get("1", 0)
            rate = f" (positive rate {pos / total:.3f})" if total and "None" not in self.by_label else ""
            out.append("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_label.items())) + rate)
        return "\n".join(out)
