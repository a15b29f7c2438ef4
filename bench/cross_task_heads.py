"""Cross-task pre-training and the joint QC+QI model, measured with the bi-encoder recipe on real data.

    .venv/bin/python -m bench.cross_task_heads \\
        --qc-config training/configs/head/qc_embeddinggemma.yaml \\
        --qi-config training/configs/head/qi_embeddinggemma_quarter.yaml \\
        --out docs/results/cross_task_heads.json

The paper pre-trains its cross-encoder on the other task before the main one and names one joint model as
a limit of its method; this measures both ideas on the project's best recipe, frozen EmbeddingGemma + a
trained head. Each task's examples, folds and embeddings come from its head config through
`training.head`'s own functions (the run's embeddings cache: after the two head runs nothing is embedded),
so the folds are the ones the head recipe scores. Every head reads `head_inputs(q, t, kind="mlp")` (no word
features), so a head can move from one task to the other, and every head is trained with the QC config's
MLP settings but one seed (ensemble 1): a cheap comparison on equal terms, not the published heads.

Variants, each scored on the held-out folds of every task:
  separate    fold k of task A: A's head on A's other folds;
  cross_task  fold k of task A: a head fitted on task B's rows less those sharing a query with A's fold k
              (the leak rule, `training.splits.drop_held_out_queries`), then trained on as `separate` is
              (same settings, a fresh optimiser: `fit_head(..., init=)`);
  joint       fold k: one head on both tasks' other folds less each task's rows that share a query with
              the other task's fold k, a task one-hot appended to the inputs; scored on both folds k.
Metrics from `training.evaluate`: OOF ROC-AUC and F1 at the OOF-tuned threshold, per language.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models import Task
from models.io import atomic_write_json
from training.head import HeadRunConfig, load_head_config
from training.head_fit import HeadSettings, fit_head, head_scores, pretrain_heads
from training.splits import held_out_query_mask as kept

if TYPE_CHECKING:
    import torch

    from models.embedding import SentenceEncoder
    from training.data import Example

log = logging.getLogger("bench.cross_task_heads")
TASKS = (Task.QC, Task.QI)  # also the order of the joint head's task one-hot columns
VARIANTS = {
    "separate": "each task's head on its own fold-train rows",
    "cross_task": "a head fitted on the other task's rows (leak rule applied), then trained on the task's "
    "fold-train rows with the same settings and a fresh optimiser",
    "joint": "one head on both tasks' fold-train rows (leak rule applied) with a task one-hot, scored on "
    "both tasks' held-out fold",
}


@dataclass(frozen=True)
class TaskRows:
    """One task's labelled rows: the examples, each one's fold, head inputs and labels."""

    config: HeadRunConfig
    examples: list[Example]
    folds: np.ndarray
    x: torch.Tensor
    y: torch.Tensor
    embedded: int  # texts this run had to embed: 0 when the head run's cache holds them all


@dataclass(frozen=True)
class FoldRows:
    """The rows of fold k, each a boolean mask over one task's examples."""

    held_out: dict[Task, np.ndarray]  # the task's fold k: what is scored
    train: dict[Task, np.ndarray]  # the task's other folds (`separate`, and `cross_task`'s second stage)
    pretrain: dict[Task, np.ndarray]  # for scoring task T: the OTHER task's rows T's head is pre-trained on
    joint: dict[Task, np.ndarray]  # the task's rows in the joint head's training set

    def dropped(self) -> dict[str, dict[str, dict[str, int]]]:
        """What the leak rule took out: for `cross_task` under task T the other task's rows, for `joint`
        under task T its own fold-train rows."""
        return {
            "cross_task": {
                t.value: {"dropped": int((~m).sum()), "of": int(m.size)} for t, m in self.pretrain.items()
            },
            "joint": {
                t.value: {"dropped": int(self.train[t].sum() - m.sum()), "of": int(self.train[t].sum())}
                for t, m in self.joint.items()
            },
        }


def fold_rows(
    examples: Mapping[Task, Sequence[Example]], folds: Mapping[Task, np.ndarray], k: int
) -> FoldRows:
    """Fold k's rows for two tasks, each on its own folds, the leak rule applied across tasks."""
    if len(examples) != 2 or set(examples) != set(folds):
        raise ValueError(f"two tasks with folds wanted, got {sorted(examples)} / {sorted(folds)}")
    a, b = examples
    other = {a: b, b: a}
    held = {t: np.asarray(folds[t]) == k for t in examples}
    held_rows = {t: [ex for ex, h in zip(examples[t], held[t], strict=True) if h] for t in examples}
    pretrain = {t: kept(examples[other[t]], held_rows[t]) for t in examples}
    joint = {}
    for t in examples:
        train = np.flatnonzero(~held[t])
        mask = np.zeros(len(examples[t]), dtype=bool)
        mask[train[kept([examples[t][i] for i in train], held_rows[other[t]])]] = True
        joint[t] = mask
    return FoldRows(held_out=held, train={t: ~h for t, h in held.items()}, pretrain=pretrain, joint=joint)


def load_task(config: HeadRunConfig, encoder: SentenceEncoder) -> TaskRows:
    """A task's rows as the head recipe (`training.head.run_head`) reads them: same data, same folds, the
    run's embeddings cache (only texts it lacks are embedded)."""
    import torch

    from models.biencoder import BiPairEncoder
    from models.head import head_inputs
    from training.data import load_examples
    from training.head import embeddings_folder
    from training.head_embed import embed_examples
    from training.splits import make_folds

    examples, _ = load_examples(config.data, task=config.task)
    folds = np.asarray(make_folds(examples, n_folds=config.folds, seed=config.seed))
    pairs = BiPairEncoder(encoder.text, config.input)
    q, t, embedded = embed_examples(examples, encoder=encoder, pairs=pairs, cache=embeddings_folder(config))
    labels = torch.tensor([e.label for e in examples], dtype=torch.float32)
    return TaskRows(config, examples, folds, head_inputs(q, t, None, kind="mlp"), labels, embedded)


def _check(configs: Mapping[Task, HeadRunConfig]) -> None:
    """Refuse pairs of runs this comparison cannot put on equal terms."""
    for task, config in configs.items():
        if config.task != task:
            raise ValueError(f"the {task.value} config {config.name!r} is a {config.task.value} run")
        if config.translation != "none":
            raise ValueError(f"{config.name}: translated runs are not supported here (untranslated only)")
    qc, qi = configs[Task.QC], configs[Task.QI]
    if (qc.base_model, qc.dtype) != (qi.base_model, qi.dtype):
        raise ValueError("both runs must embed with the same base model and dtype (one encoder is loaded)")
    if qc.folds != qi.folds:
        raise ValueError(f"the joint head pairs fold k of each task: {qc.folds} vs {qi.folds} folds")
    if qc.head.kind != "mlp":
        raise ValueError("the QC config's head must be an MLP: its settings train every head here")


def _with_task(x: torch.Tensor, task: Task) -> torch.Tensor:
    """`x` with the joint head's task one-hot appended."""
    import torch

    hot = torch.zeros(len(x), len(TASKS))
    hot[:, TASKS.index(task)] = 1.0
    return torch.cat([x, hot], dim=1)


def _auc(labels: torch.Tensor, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = labels.numpy()
    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")


def run_fold(
    data: Mapping[Task, TaskRows], rows: FoldRows, settings: HeadSettings
) -> tuple[dict[str, dict[Task, np.ndarray]], dict[str, float]]:
    """Every variant's held-out scores of fold k per task, and each variant's seconds."""
    import torch

    scores: dict[str, dict[Task, np.ndarray]] = {v: {} for v in VARIANTS}
    seconds = dict.fromkeys(VARIANTS, 0.0)
    other = dict(zip(TASKS, reversed(TASKS), strict=True))
    for t, d in data.items():
        train, test = rows.train[t], rows.held_out[t]
        start = time.perf_counter()
        scores["separate"][t] = head_scores(fit_head(d.x[train], d.y[train], settings), d.x[test])
        seconds["separate"] += time.perf_counter() - start

        start = time.perf_counter()
        b, pre = data[other[t]], rows.pretrain[t]
        net = fit_head(d.x[train], d.y[train], settings, init=pretrain_heads(b.x[pre], b.y[pre], settings))
        scores["cross_task"][t] = head_scores(net, d.x[test])
        seconds["cross_task"] += time.perf_counter() - start

    start = time.perf_counter()
    x = torch.cat([_with_task(d.x[rows.joint[t]], t) for t, d in data.items()])
    y = torch.cat([d.y[rows.joint[t]] for t, d in data.items()])
    net = fit_head(x, y, settings)
    for t, d in data.items():
        scores["joint"][t] = head_scores(net, _with_task(d.x[rows.held_out[t]], t))
    seconds["joint"] += time.perf_counter() - start
    return scores, seconds


def _metrics(d: TaskRows, scores: np.ndarray) -> dict:
    """OOF metrics of one task's scores (NaN where a fold was not run), as the head recipe reports them."""
    from training.evaluate import oof_metrics

    languages = [e.language for e in d.examples]
    report = oof_metrics(labels=d.y.numpy(), scores=scores, languages=languages, folds=d.folds)
    return {
        "threshold_from_oof": report.threshold,
        "metrics": report.metrics.model_dump(),
        "per_fold": report.per_fold,
    }


def measure(configs: Mapping[Task, HeadRunConfig], only_folds: Sequence[int] | None = None) -> dict:
    """Load both tasks, run every variant on the chosen folds, return the results record."""
    import torch

    from models.embedding import SentenceEncoder
    from models.tasks import normalise_query
    from training.head import base_folder

    _check(configs)
    qc = configs[Task.QC]
    if qc.threads:
        torch.set_num_threads(qc.threads)
    # The QC recipe's MLP, one seed, embeddings alone: every variant trains the same head on its rows.
    settings = qc.head.model_copy(update={"ensemble": 1, "lexical": False})
    started = time.perf_counter()
    encoder = SentenceEncoder.load(base_folder(qc.base_model)).to(qc.device, getattr(torch, qc.dtype))
    data = {t: load_task(configs[t], encoder) for t in TASKS}
    del encoder  # the embeddings are all that is needed from here on
    load_seconds = time.perf_counter() - started
    for t, d in data.items():
        log.info("%s: %d rows, %d texts embedded (rest cached)", t.value, len(d.examples), d.embedded)

    if only_folds is None:  # the folds the head recipe scores (`only_folds` of a budgeted config)
        runs = [set(c.only_folds if c.only_folds is not None else range(c.folds)) for c in configs.values()]
        only_folds = sorted(set.intersection(*runs))
    oof = {v: {t: np.full(len(d.examples), np.nan) for t, d in data.items()} for v in VARIANTS}
    seconds = dict.fromkeys(VARIANTS, 0.0)
    leak = {}
    for k in only_folds:
        log.info("fold %d: fitting the heads (%s)", k, ", ".join(VARIANTS))
        rows = fold_rows({t: d.examples for t, d in data.items()}, {t: d.folds for t, d in data.items()}, k)
        leak[k] = rows.dropped()
        scores, spent = run_fold(data, rows, settings)
        for v, per_task in scores.items():
            seconds[v] += spent[v]
            for t, s in per_task.items():
                oof[v][t][rows.held_out[t]] = s
        aucs = "; ".join(
            f"{v} "
            + " ".join(f"{t.value} {_auc(data[t].y[rows.held_out[t]], s):.4f}" for t, s in per.items())
            for v, per in scores.items()
        )
        dropped = "; ".join(
            f"{v} " + " ".join(f"{t} {n['dropped']}/{n['of']}" for t, n in per.items())
            for v, per in leak[k].items()
        )
        log.info(
            "fold %d: held-out ROC-AUC %s (%.0f s); leak rule dropped %s",
            k,
            aucs,
            sum(spent.values()),
            dropped,
        )

    queries = [{normalise_query(e.query) for e in d.examples} for d in data.values()]
    return {
        "protocol": "each task's own folds (make_folds with its head config's folds and seed); OOF threshold "
        "and metrics from training.evaluate; heads read head_inputs(q, t, kind='mlp') of the recipe's cached "
        "embeddings",
        "head": settings.model_dump(),
        "note": "ensemble 1 for every variant (the published QC head merges 5 seeds): a cheap comparison of "
        "the variants on equal terms, not the recipe's numbers",
        "scored_folds": list(only_folds),
        "tasks": {
            t.value: {
                "config": configs[t].name,
                "data": str(d.config.data),
                "n": len(d.examples),
                "folds": d.config.folds,
                "seed": d.config.seed,
                "texts_embedded": d.embedded,
            }
            for t, d in data.items()
        },
        "shared_queries": len(set.intersection(*queries)),
        "variants": {
            v: {
                "description": VARIANTS[v],
                "seconds": round(seconds[v], 1),
                "tasks": {t.value: _metrics(d, oof[v][t]) for t, d in data.items()},
            }
            for v in VARIANTS
        },
        "leak_rule": {
            "what": "cross_task[T]: rows of the other task left out of T's pre-training because their "
            "query is in T's held-out fold; joint[T]: T's fold-train rows left out because their query is "
            "in the other task's held-out fold",
            "per_fold": leak,
        },
        "seconds": {"load": round(load_seconds, 1), "total": round(time.perf_counter() - started, 1)},
    }


def table(result: dict) -> str:
    """Variant x task: OOF ROC-AUC (and its change over `separate`), F1 at the OOF threshold, seconds."""
    lines = [f"{'variant':<11} {'task':<4} {'ROC-AUC':>8} {'vs sep':>7} {'F1':>7} {'thr':>6} {'seconds':>8}"]
    base = result["variants"]["separate"]["tasks"]
    for v, entry in result["variants"].items():
        for t, r in entry["tasks"].items():
            auc = r["metrics"]["roc_auc"]
            lines.append(
                f"{v:<11} {t:<4} {auc:>8.4f} {auc - base[t]['metrics']['roc_auc']:>+7.4f} "
                f"{r['metrics']['f1']:>7.4f} {r['threshold_from_oof']:>6.3f} {entry['seconds']:>8.1f}"
            )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cross_task_heads",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--qc-config", type=Path, required=True, help="QC head config (training.head)")
    parser.add_argument("--qi-config", type=Path, required=True, help="QI head config (training.head)")
    parser.add_argument("--out", type=Path, required=True, help="results JSON to write")
    parser.add_argument(
        "--only-folds", help="comma-separated folds to run (default: the ones the head configs score)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    configs = {Task.QC: load_head_config(args.qc_config), Task.QI: load_head_config(args.qi_config)}
    folds = [int(f) for f in args.only_folds.split(",")] if args.only_folds else None
    result = {"command": shlex.join(["python", "-m", "bench.cross_task_heads", *argv])} | measure(
        configs, folds
    )
    atomic_write_json(args.out, result)
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
