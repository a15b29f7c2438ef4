"""`python -m training <stage> ...`: one subcommand per stage, each registered by its own module.

A stage module exposes `register(subparsers)`, which adds its subcommand with every option documented
and sets `handler` to a function taking the parsed namespace and returning an exit code. Modules keep
heavy imports (torch, transformers, peft) inside functions so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Order is the order `--help` lists them in.
STAGE_MODULES = (
    "training.data_cli",
    "training.splits",
    "training.translate",
    "training.finetune",
    "training.report",
    "training.merge",
    "training.predict",
    "training.submission",
    "training.pipeline",
    "training.head",
    "training.bases",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train, evaluate, merge and publish relevance classifiers (QC / QI).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name in STAGE_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Under a launcher (accelerate launch, torchrun, deepspeed) every process logs; say which one.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = f" [rank {os.environ.get('RANK', '0')}/{world}]" if world > 1 else ""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=f"%(asctime)s{rank} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        # Validation errors (bad data, bad config, bad checkpoint) carry messages meant for the user.
        logging.getLogger("training").error("%s", exc)
        return 2
