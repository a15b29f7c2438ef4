"""Base models by name: a path, or a named base built from a registry package (see `bases list`).

`python -m training bases list` shows the named bases and whether they are built;
`python -m training bases install NAME` builds one into the base store (`models/bases/<name>/`, or
`--root` / `RELEVANCE_BASES_DIR`) as a plain Hugging Face folder with a `provenance.json`;
`python -m training bases extract-text --src DIR --dest DIR` writes the text-only model of a
multimodal Gemma 3 download (the Hub's 4B/12B/27B) as a base.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def resolve_base(ref: str | Path, *, root: Path | None = None) -> Path:
    """A base model directory for `ref`: an existing HF folder path, or a known base name.

    A named base resolves to its built folder under the base store; when it is not built yet the
    error says which `bases install` command builds it.
    """
    from training.bases.install import built_path
    from training.bases.registry import BASES, find_base

    path = Path(ref)
    if path.is_dir():
        return path
    spec = find_base(str(ref))
    if spec is None:
        names = ", ".join(s.name for s in BASES)
        raise ValueError(
            f"unknown base model {str(ref)!r}: give a Hugging Face model directory or a base name ({names})"
        )
    try:
        return built_path(spec.name, root=root)
    except FileNotFoundError:
        if spec.name != "minilm":
            raise
        # minilm's package already ships a plain HF folder (the build only copies it and records
        # provenance), so configs written before the store existed keep working without an install.
        from training.bases.minilm import package_dir

        log.info("minilm is not built in the base store; using the package folder %s", package_dir())
        return package_dir()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bases",
        help="list and build the named base models (offline, from registry packages)",
        description="Build named base models as plain Hugging Face folders with a provenance record.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="base store directory (default: $RELEVANCE_BASES_DIR or models/bases)",
    )
    # `--root` is also accepted after the action; SUPPRESS keeps an absent one from clearing the first.
    root_after = argparse.ArgumentParser(add_help=False)
    root_after.add_argument("--root", type=Path, default=argparse.SUPPRESS, help="base store directory")
    actions = parser.add_subparsers(dest="bases_action", required=True, metavar="ACTION")
    actions.add_parser(
        "list",
        parents=[root_after],
        help="show every named base, its licence and whether it is built and intact",
    )
    install = actions.add_parser(
        "install", parents=[root_after], help="build a base (a no-op that re-verifies when up to date)"
    )
    install.add_argument("name", help="base name, e.g. minilm, e5-small, gemma-3-270m, embeddinggemma-300m")
    install.add_argument("--force", action="store_true", help="rebuild even when an intact build exists")
    extract = actions.add_parser(
        "extract-text",
        help="write the text-only model of a multimodal Gemma 3 checkpoint (the Hub's 4B/12B/27B)",
        description="Convert a multimodal Gemma 3 checkpoint (Gemma3ForConditionalGeneration: vision tower "
        "+ language model) into a text-only Gemma3ForCausalLM checkpoint that training takes as "
        "train.base_model: the language-model tensors copied unchanged, the tokenizer copied, the vision "
        "tower and projector dropped. Streams tensor by tensor into shards (memory holds one shard) and "
        "renames the folder into place only once it is complete and checked.",
    )
    extract.add_argument("--src", required=True, type=Path, help="the multimodal checkpoint's folder")
    extract.add_argument("--dest", required=True, type=Path, help="the text-only checkpoint's folder")
    extract.add_argument(
        "--max-shard-size", default="5GB", help="largest weight file to write (default 5GB; e.g. 2GB, 500MB)"
    )
    extract.add_argument("--force", action="store_true", help="replace --dest when it exists")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from training.bases.install import default_root, install, status_all

    if args.bases_action == "extract-text":
        from training.bases.extract import extract_text, parse_size

        dest = extract_text(
            args.src, args.dest, max_shard_bytes=parse_size(args.max_shard_size), force=args.force
        )
        print(f"text-only checkpoint: {dest}")
        return 0
    root = args.root if args.root is not None else default_root()
    if args.bases_action == "list":
        rows = status_all(root)
        width = max(len(r.spec.name) for r in rows)
        print(f"base store: {root}")
        for row in rows:
            print(f"{row.spec.name:<{width}}  {row.status:<9}  {row.spec.summary}")
            print(f"{'':<{width}}  {'':<9}  licence: {row.spec.licence}; {row.detail}")
        return 0
    result = install(args.name, root=root, force=args.force)
    print(f"{'built' if result.built else 'up to date (verified)'}: {result.path}")
    return 0
