"""`python -m training head`: the bi-encoder recipe — a frozen sentence encoder, a small head trained on
its embeddings, group k-fold CV with out-of-fold metrics, then the published checkpoint.

    python -m training head --config training/configs/head/qc_embeddinggemma.yaml

Stages (each a function; the CLI composes them): `head_features` (`training.head_embed`: each distinct
query and target embedded once through the checkpoint's own `BiPairEncoder`, cached in chunks under the
work dir so an interrupted run resumes), `cross_validate` (one head per fold, each fold's out-of-fold
scores saved as it finishes), `fit_head` and `publish` (the base's files +
`relevance_head/model.safetensors` + the card). The encoding is most of the cost: ~30 texts/s for
EmbeddingGemma-300M on 2 CPU cores; a head trains in seconds.

`pretrain: {task, data}` first trains every MLP head on another task's rows (`training.head_pretrain`:
cross-task pre-training, the leak rule applied per fold).

`translation: {engine: apertium, ...}` fills every query's `query_en` first (training.translate) and embeds
queries as "<query> - <english>"; the card records it, so the service translates requests alike. The
embeddings cache keys by text, so such a run can share an untranslated run's (`embeddings_cache`) and embed
only the translated queries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models import InputSpec, Task
from models.io import atomic_write_text
from training.config import ApertiumTranslation, translation_name, translation_spec
from training.head_embed import head_features
from training.head_fit import HeadSettings, fit_head, head_scores, pretrain_heads
from training.head_pretrain import HeadPretrain, PretrainRows, load_pretrain_examples

if TYPE_CHECKING:
    import torch

    from models.head import RelevanceHead
    from training.data import Example

log = logging.getLogger(__name__)


class HeadRunConfig(BaseModel):
    """A bi-encoder run: one task, one labelled file, a sentence-encoder base, the head's settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    task: Task
    data: Path
    base_model: str = Field(description="a base name (`bases list`) or a sentence-transformers folder")
    max_length: int = Field(default=128, ge=8)
    folds: int = Field(default=5, ge=2)
    seed: int = 42  # fold seed (the pipeline's)
    only_folds: list[int] | None = None  # CV on these folds alone (a budgeted run says so in its report)
    head: HeadSettings = Field(default_factory=HeadSettings)
    threads: int | None = None
    # Where the encoder embeds (the whole cost): "cuda" on a GPU machine; bf16 there halves the time and
    # moves embeddings by ~1e-3 (the published head is then trained on bf16 embeddings of the fp32 model).
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16"] = "float32"
    # How queries get `query_en` (the pipeline's `translation` section, Apertium only: the service runs it).
    translation: Literal["none"] | ApertiumTranslation = "none"
    models_dir: Path = Path("models")
    work_dir: Path | None = None
    # The embeddings folder (default: under work_dir), e.g. another run's of the same base, max_length and
    # dtype (checked): embeddings key by text, so only texts it lacks are embedded.
    embeddings_cache: Path | None = None
    # Cross-task pre-training: every MLP head first trained on another task's rows (training.head_pretrain).
    pretrain: HeadPretrain | None = None

    @property
    def work(self) -> Path:
        return self.work_dir or Path("runs") / self.name

    @property
    def input(self) -> InputSpec:
        """How the run's pairs become text, as its card records it."""
        return InputSpec(
            max_length=self.max_length,
            uses_translation=self.translation != "none",
            translation=translation_spec(self.translation),
        )


def load_head_config(path: str | Path) -> HeadRunConfig:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"head config {path} not found")
    try:
        return HeadRunConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ValueError(f"invalid head config {path}:\n{exc}") from None


def base_folder(base_model: str) -> Path:
    if Path(base_model).is_dir():
        return Path(base_model)
    from training.bases.install import built_path

    return built_path(base_model)


def cross_validate(
    x: torch.Tensor,
    labels: torch.Tensor,
    folds: np.ndarray,
    *,
    config: HeadRunConfig,
    examples: Sequence[Example] = (),
    pretrain: PretrainRows | None = None,
) -> np.ndarray:
    """Out-of-fold scores (NaN where a fold is not run); each fold's scores saved when done (resume).
    With `pretrain`, fold k's heads start from heads trained on its rows that share no query with fold
    k's held-out `examples`."""
    oof = np.full(len(labels), np.nan)
    for k in config.only_folds if config.only_folds is not None else range(config.folds):
        saved = oof_path(config, k)
        test = folds == k
        if saved.is_file():
            oof[test] = np.load(saved)
            continue
        init = None
        if pretrain is not None:
            keep = pretrain.kept([examples[i] for i in np.flatnonzero(test)])
            init = pretrain_heads(pretrain.x[keep], pretrain.labels[keep], config.head)
        oof[test] = head_scores(fit_head(x[~test], labels[~test], config.head, init=init), x[test])
        np.save(saved, oof[test])
        log.info("fold %d: %d pairs scored", k, int(test.sum()))
    return oof


def embeddings_dir(config: HeadRunConfig) -> str:
    """The cache folder of a run's embeddings: what they depend on besides the text is in its name."""
    return f"embeddings-L{config.max_length}" + ("" if config.dtype == "float32" else f"-{config.dtype}")


def embeddings_folder(config: HeadRunConfig, folder: Path | None = None) -> Path:
    """The run's embeddings cache (or `folder`, another run's), marked with what its vectors depend on
    besides the text: a folder shared between runs must come from the same encoder settings."""
    folder = folder or config.embeddings_cache or config.work / embeddings_dir(config)
    identity = {"base_model": config.base_model, "max_length": config.max_length, "dtype": config.dtype}
    marker = folder / "embedding.json"
    if marker.is_file():
        found = json.loads(marker.read_text(encoding="utf-8"))
        if found != identity:
            raise ValueError(f"{folder} holds embeddings of {found}, not of this run's {identity}")
    else:  # a new folder, or one cached before folders were marked (its name says L and dtype)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, json.dumps(identity) + "\n")
    return folder


def oof_path(config: HeadRunConfig, fold: int) -> Path:
    """Where cross-validation keeps fold `fold`'s held-out scores (the resume point, also read by the
    comparisons in `bench/`): named by everything they depend on."""
    return config.work / f"oof-{_cv_key(config)}-fold{fold}.npy"


def _cv_key(config: HeadRunConfig) -> str:
    """What a fold's saved scores depend on: a changed setting never reuses them."""
    what = [config.head.model_dump(), config.folds, config.seed, config.max_length, str(config.data)]
    if config.input.translation is not None:  # appended only when set: untranslated runs keep their keys
        what.append(config.input.translation.model_dump())
    if config.pretrain is not None:  # likewise
        what.append(config.pretrain.model_dump(mode="json", exclude={"embeddings_cache"}))
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]


def publish(*, config: HeadRunConfig, base: Path, head: RelevanceHead, extra: dict) -> Path:
    """The checkpoint: the base's files (hard-linked where possible), the head and the card."""
    import os
    import shutil

    from models import ModelCard, weights_sha256
    from models.checkpoint import CARD_FILENAME
    from models.head import HEAD_FILENAME
    from models.io import atomic_directory

    dest = config.models_dir / config.name
    with atomic_directory(dest) as tmp:
        for src in base.rglob("*"):
            if src.is_dir() or src.name == "provenance.json":
                continue
            out = tmp / src.relative_to(base)
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, out)
            except OSError:
                shutil.copy2(src, out)
        head.save(tmp / HEAD_FILENAME)
        architecture = json.loads((base / "config.json").read_text())["architectures"][0]
        ModelCard(
            name=config.name,
            kind="bi-encoder",
            tasks=[config.task],
            base_model=config.base_model,
            architecture=architecture,
            num_labels=1,
            input=config.input,
            weights_sha256=weights_sha256(tmp),
            **extra,
        ).write(tmp / CARD_FILENAME)
    return dest


def run_head(config: HeadRunConfig) -> dict:
    """Embed, cross-validate, fit the final head on all rows and publish; returns the run's record."""
    import resource

    import torch

    from models.biencoder import BiPairEncoder
    from models.embedding import SentenceEncoder
    from models.head import RelevanceHead
    from models.lexical import Lexicon
    from training.data import load_examples
    from training.evaluate import oof_metrics
    from training.splits import make_folds
    from training.translate import add_translations, engine_translator, overwrites

    if config.threads:
        torch.set_num_threads(config.threads)
    started, cpu = time.perf_counter(), time.process_time()
    other = None
    if config.pretrain is not None:  # before any embedding: a wrong spec fails in a second, not an hour
        other = load_pretrain_examples(config.pretrain, task=config.task, kind=config.head.kind)
    config.work.mkdir(parents=True, exist_ok=True)
    examples, _ = load_examples(config.data, task=config.task)
    folds = np.asarray(make_folds(examples, n_folds=config.folds, seed=config.seed))
    if config.translation != "none":
        spec = config.translation
        examples = add_translations(examples, engine_translator(spec), overwrite=overwrites(spec))
    base = base_folder(config.base_model)
    encoder = SentenceEncoder.load(base).to(config.device, getattr(torch, config.dtype))
    pairs = BiPairEncoder(encoder.text, config.input)
    lexicon = Lexicon(encoder.text) if config.head.lexical else None
    x, labels, embedded = head_features(
        examples,
        encoder=encoder,
        pairs=pairs,
        cache=embeddings_folder(config),
        lexicon=lexicon,
        kind=config.head.kind,
    )
    pretrain = None
    if other is not None:
        cache = embeddings_folder(config, config.pretrain.embeddings_cache)
        px, plabels, pembedded = head_features(
            other, encoder=encoder, pairs=pairs, cache=cache, lexicon=lexicon, kind=config.head.kind
        )
        pretrain, embedded = PretrainRows(other, px, plabels), embedded + pembedded
    # What this run embedded (texts found in the cache cost nothing): the encoder's cost.
    encode = {
        "wall": round(time.perf_counter() - started, 1),
        "cpu": round(time.process_time() - cpu, 1),
        "texts": embedded,
    }

    oof = cross_validate(x, labels, folds, config=config, examples=examples, pretrain=pretrain)
    report = oof_metrics(
        labels=labels.numpy(), scores=oof, languages=[e.language for e in examples], folds=folds
    )
    threshold, metrics, per_fold = report.threshold, report.metrics, report.per_fold
    init = pretrain_heads(pretrain.x, pretrain.labels, config.head) if pretrain is not None else None
    head = RelevanceHead(
        net=fit_head(x, labels, config.head, init=init), kind=config.head.kind, lexicon=lexicon
    )
    record = {
        "system": f"bi-encoder-{config.base_model}-{config.head.kind}"
        + ("+words" if lexicon else "")
        + ("" if config.translation == "none" else f"+{translation_name(config.translation)}")
        + ("" if pretrain is None else f"+pretrain-{config.pretrain.task.value}"),
        "task": config.task.value,
        "translation": translation_name(config.translation),
        "data": str(config.data),
        "n": len(examples),
        "folds": config.folds,
        "scored_folds": sorted(per_fold),
        "seed": config.seed,
        "params": config.head.model_dump(),
        "pretrain": None
        if pretrain is None
        else {
            "task": config.pretrain.task.value,
            "data": str(config.pretrain.data),
            "n": len(pretrain.examples),
        },
        "threshold_from_oof": threshold,
        "per_fold": per_fold,
        "metrics": metrics.model_dump(),
        "encode_seconds": encode,
        "seconds": {"total_wall": round(time.perf_counter() - started, 1)},
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    dest = publish(
        config=config,
        base=base,
        head=head,
        extra={
            "thresholds": {config.task: threshold},
            "threshold_protocol": (
                f"F1-max on the pooled out-of-fold scores of {len(per_fold)} fold head(s) (folds "
                f"{sorted(per_fold)} of {config.folds}), each trained on its fold's training rows with the "
                "published head's settings and fixed epochs (nothing chosen on held-out rows); the published "
                "head is trained the same way on all rows"
                + (
                    ""
                    if pretrain is None
                    else f"; every head first pre-trained on the {config.pretrain.task.value} rows that "
                    "share no query with the fold's held-out rows (all of them for the published head)"
                )
            ),
            "metrics": {config.task: metrics},
            "training": {"recipe": "training.head", "config": config.model_dump(mode="json"), "oof": record},
        },
    )
    record["checkpoint"] = str(dest)
    return record


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "head",
        help="bi-encoder recipe: frozen sentence encoder + trained head, CV, publish",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True, help="YAML (training.head.HeadRunConfig)")
    parser.add_argument("--report", type=Path, help="also write the run's record (JSON) here")
    parser.set_defaults(handler=_cli)


def _cli(args: argparse.Namespace) -> int:
    record = run_head(load_head_config(args.config))
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    if args.report:
        atomic_write_text(args.report, text)
    print(json.dumps({k: record[k] for k in ("checkpoint", "per_fold")} | {"metrics": record["metrics"]}))
    return 0
