"""A budgeted slice of a labelled file: the rows of some of its groups, for runs that do not fit the machine.

    .venv/bin/python -m bench.subsample --task qi --parts 4 --out runs/data/qi_quarter.jsonl

Keeps fold 0 of the pipeline's own `--parts`-fold split (`training.splits.make_folds`: QI grouped by query,
QC by category family, stratified by language and label), so the slice holds whole groups, the same label
and language mix, and is the same slice every time. Every system compared on a slice runs on the same
file (`--data` of the baselines, `data:` of a run config). Write it under `runs/` (git-ignored): the shared
data's rows never enter the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.embedding_probe import DEFAULT_DATA


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(DEFAULT_DATA), default="qi")
    parser.add_argument("--data", type=Path, help="labelled file (default: the shared data of --task)")
    parser.add_argument("--parts", type=int, default=4, help="keep 1/PARTS of the groups (default 4)")
    parser.add_argument("--seed", type=int, default=42, help="split seed (the pipeline's)")
    parser.add_argument("--out", type=Path, required=True, help="JSONL to write (under runs/)")
    args = parser.parse_args(argv)

    from models import Task
    from training.data import load_examples
    from training.data_write import write_examples
    from training.splits import make_folds

    data = args.data or DEFAULT_DATA[args.task]
    if not data.is_file():
        print(f"error: data file {data} not found (pass --data)", file=sys.stderr)
        return 2
    examples, _ = load_examples(data, task=Task(args.task))
    folds = make_folds(examples, n_folds=args.parts, seed=args.seed)
    kept = [e for e, fold in zip(examples, folds, strict=True) if fold == 0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_examples(args.out, kept)
    queries = len({e.query for e in kept})
    print(f"wrote {len(kept):,} of {len(examples):,} rows ({queries:,} queries) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
