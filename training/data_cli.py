"""`python -m training validate DATA`: read a data file, check every row, print its report; and the
DATA / --task / --on-error arguments every stage that reads a data file shares."""

from __future__ import annotations

import argparse
from pathlib import Path

from models import Task, registered_tasks
from training.data import load_examples


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """DATA, --task and --on-error, shared by stages that read a data file."""
    parser.add_argument(
        "data", type=Path, metavar="DATA", help="data file (.jsonl or .csv, official columns)"
    )
    parser.add_argument(
        "--task",
        type=str.lower,
        choices=[t.value for t in registered_tasks()],
        help="keep only this task (rows of other tasks fail)",
    )
    parser.add_argument(
        "--on-error",
        choices=["fail", "drop"],
        default="fail",
        help="invalid rows: fail listing them all (default) or drop them and report counts",
    )


def _validate(args: argparse.Namespace) -> int:
    task = Task(args.task) if args.task else None
    _, report = load_examples(
        args.data, task=task, on_error=args.on_error, require_labels=not args.unlabelled
    )
    print(report.summary())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a data file and print its report",
        description="Read a data file, validate every row and print counts: rows kept, invalid rows by "
        "reason with line numbers, exact duplicates, conflicting labels, languages and labels.",
    )
    add_data_arguments(parser)
    parser.add_argument("--unlabelled", action="store_true", help="the file has no labels (data to predict)")
    parser.set_defaults(handler=_validate)
