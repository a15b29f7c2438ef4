"""Render the quality tables of docs/quality.md from the results JSON next to it.

.venv/bin/python -m bench.quality_report            # print
.venv/bin/python -m bench.quality_report --update docs/quality.md

The pipeline section reads what `bench.pipeline_export` kept of a `python -m training run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.docs_sections import update_sections
from bench.pipeline_export import PLOTS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def tfidf_table(result: dict) -> str:
    m = result["metrics"]
    lines = [
        f"{result['folds']}-fold group CV, n = {result['n']:,}, threshold tuned on OOF scores: "
        f"{result['threshold_from_oof']:.3f}.",
        "",
        "| language | n | F1 | all-positive F1 | F1 − baseline | ROC-AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [*list(m["by_language_detail"].items()), ("**all**", {**m, "n": m["n"]})]
    for lang, d in rows:
        base = d["baseline_all_positive_f1"]
        lines.append(
            f"| {lang} | {d['n']:,} | {d['f1']:.4f} | {base:.4f} | {d['f1'] - base:+.4f} | "
            f"{d['roc_auc']:.4f} |"
        )
    return "\n".join(lines)


# The cheap baselines a trained model must beat, and the models beside them, per task:
# (results file stem, what it is).
BASELINES = {
    "qc": [
        ("tfidf_baseline", "char TF-IDF + LR"),
        ("probe_use_qc", "frozen multilingual USE v3 + LR"),
        ("probe_embeddinggemma_qc", "frozen EmbeddingGemma-300M + LR"),
        ("head_embeddinggemma_qc", "bi-encoder: frozen EmbeddingGemma-300M + {head}"),
        (
            "head_embeddinggemma_qc_pretrain_qi",
            "**bi-encoder: frozen EmbeddingGemma-300M + {head}, pre-trained on QI** (`training head`)",
        ),
    ],
    "qi": [
        ("tfidf_baseline_qi", "char TF-IDF + LR"),
        ("probe_use_qi", "frozen multilingual USE v3 + LR"),
        ("probe_embeddinggemma_qi", "frozen EmbeddingGemma-300M + LR"),
    ],
    # A quarter of the QI queries (`bench.subsample --task qi --parts 4`): every system on the same rows.
    "qi_quarter": [
        ("tfidf_baseline_qi_quarter", "char TF-IDF + LR"),
        ("probe_use_qi_quarter", "frozen multilingual USE v3 + LR"),
        ("probe_embeddinggemma_qi_quarter", "frozen EmbeddingGemma-300M + LR"),
        ("head_embeddinggemma_qi_mlp", "bi-encoder: frozen EmbeddingGemma-300M + {head}"),
        ("head_embeddinggemma_qi", "**bi-encoder: frozen EmbeddingGemma-300M + {head}** (`training head`)"),
    ],
}


# The run of each task's published model (its per-language table in quality.md).
PUBLISHED = {"qc": "head_embeddinggemma_qc_pretrain_qi", "qi": "head_embeddinggemma_qi"}


def head_label(params: dict) -> str:
    """What a bi-encoder run's head is, from its settings (`training.head.HeadSettings`)."""
    if params.get("kind", "mlp") == "linear":
        label = f"linear head (C {params['C']:g})"
    else:
        ensemble = params.get("ensemble", 1)
        label = "MLP head" + (f" ({ensemble} merged)" if ensemble > 1 else "")
    return label + (" + word overlap" if params.get("lexical") else "")


def _encode_cost(cpu: float | None, texts: int | None) -> str:
    if cpu is None:
        return "–"
    if texts == 0:
        return "cached"
    return f"{cpu / 60:.1f} min" + (f" ({texts:,} texts)" if texts else "")


def baselines_table(results: dict[str, dict], task: str) -> str:
    """Every cheap baseline of `task` in `results` (stem -> JSON): overall, per fold, per language."""
    found = [(stem, what, results[stem]) for stem, what in BASELINES[task] if stem in results]
    if not found:
        return f"(no {task} baseline results yet)"
    languages = sorted({lang for _, _, r in found for lang in r["metrics"]["by_language_detail"]})
    per_language = len(languages) > 1
    head = "| system | n | F1 (OOF threshold) | all-positive F1 | ROC-AUC | fold AUC range | encode CPU |"
    if per_language:
        head += "".join(f" {lang} |" for lang in languages)
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(languages) * per_language)]
    for _, what, r in found:
        what = what.format(head=head_label(r.get("params", {})))
        m = r["metrics"]
        folds = [f["roc_auc"] for f in r.get("per_fold", {}).values()]
        spread = f"{min(folds):.3f}–{max(folds):.3f}" if folds else "–"
        cost = r.get("encode_seconds") or {}
        cpu, texts = cost.get("cpu"), cost.get("texts")
        row = (
            f"| {what} | {m['n']:,} | {m['f1']:.4f} | {m['baseline_all_positive_f1']:.4f} | "
            f"{m['roc_auc']:.4f} | {spread} | {_encode_cost(cpu, texts)} |"
        )
        if per_language:
            detail = m["by_language_detail"]
            row += "".join(
                f" {detail[lang]['roc_auc']:.3f} |" if lang in detail else " – |" for lang in languages
            )
        lines.append(row)
    note = "Language columns: ROC-AUC per query language." if per_language else ""
    return "\n".join([*lines, "", note] if note else lines)


def ablation_rows(result: dict) -> list[tuple[str, str, dict]]:
    """(name, what changes, metrics) for TF-IDF and every variant, a multi-epoch variant once per epoch."""
    rows = [("tfidf", "char TF-IDF + LR (reference)", result["tfidf"])] if result.get("tfidf") else []
    for name, v in result.get("variants", {}).items():
        epochs = v.get("by_epoch") or [v]
        for i, m in enumerate(epochs, start=1):
            # CPU time, not wall: a run paused to free the machine for a benchmark keeps its cost honest.
            cpu = v.get("cpu_seconds")
            if len(epochs) > 1:  # epochs cost alike: epoch i of the run has used about i / n of it
                label = f"{name} @ epoch {i}"
                summary = f"{i} epoch{'s' * (i > 1)} (one run, scored each epoch)"
                cpu = cpu * i / len(epochs) if cpu is not None else None
            else:
                label, summary = name, v["summary"]
            rows.append((label, summary, {**m, "cpu": cpu}))
    return rows


def ablation_table(result: dict) -> str:
    def minutes(x: float | None) -> str:
        return "–" if x is None else f"{x / 60:.1f} min"

    lines = [
        f"{result['rows']:,} rows, {result['folds']} group folds (seed {result['seed']}); held out: fold(s) "
        f"{', '.join(map(str, result['held_out_folds']))} ({result['held_out_rows']:,} pairs, positive rate "
        f"{result['positive_rate']:.3f}); {result.get('torch_threads', '?')} torch threads.",
        "",
        "| variant | what changes | F1 (tuned threshold) | F1 @ 0.5 | ROC-AUC | all-positive F1 | CPU time |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, summary, m in ablation_rows(result):
        lines.append(
            f"| {label} | {summary} | {m['f1']:.4f} | {m['f1_at_0_5']:.4f} | {m['roc_auc']:.4f} | "
            f"{m['baseline_all_positive_f1']:.4f} | {minutes(m.get('cpu'))} |"
        )
    rows = ablation_rows(result)
    langs = sorted({lang for _, _, m in rows for lang in m["by_language"]})
    if langs:
        lines += ["", "Per language (F1 at the tuned threshold / ROC-AUC):", ""]
        lines.append("| variant | " + " | ".join(langs) + " |")
        lines.append("|---|" + "---:|" * len(langs))
        for label, _, m in rows:
            cells = [
                f"{m['by_language'].get(lang, float('nan')):.3f} / "
                f"{m['roc_auc_by_language'].get(lang) or float('nan'):.2f}"
                for lang in langs
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pipeline_table(run: dict, *, name: str, tfidf: dict | None = None) -> str:
    """A pipeline run's out-of-fold results (from `bench.pipeline_export`) beside the baselines."""
    lines: list[str] = []
    for task, m in run["metrics"].items():
        steps = {f["total_steps"] for f in run["fold_runs"]}
        train_sizes = [f["train_size"] for f in run["fold_runs"]]
        pairs = max(steps) * run["train"]["batch_size"]
        cost = run.get("cost", {})
        units = {
            "wall_minutes": "{:.0f} min wall",
            "cpu_minutes": "{:.0f} min CPU",
            "peak_rss_gib": "{:.2f} GiB peak RSS",
        }
        cost_text = ", ".join(units[key].format(cost[key]) for key in units if key in cost)
        lines += [
            f"Run `{run['run']}` ({task.upper()}): base `{run['base_model']}`, {run['method']}, lr "
            f"{run['train']['learning_rate']:g}; {run['folds']} category-aware folds (seed {run['seed']}), "
            f"each model trained {'/'.join(map(str, sorted(steps)))} steps of {run['train']['batch_size']} "
            f"pairs ({pairs:,} of its {min(train_sizes):,}–{max(train_sizes):,} training pairs) and scored "
            f"once on its held-out fold; one threshold, {run['thresholds'][task]:.3f}, tuned on the "
            f"out-of-fold scores of all {m['n']:,} pairs." + (f" Cost: {cost_text}." if cost_text else ""),
            "",
            "| system | F1 (OOF threshold) | F1 @ 0.5 | precision | recall | ROC-AUC | PR-AUC |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| all-positive | {m['baseline_all_positive_f1']:.4f} | – | {m['positive_rate']:.4f} | 1.0000 | "
            "0.5000 | – |",
        ]
        systems = [("TF-IDF + LR (same folds)", tfidf["metrics"])] if tfidf else []
        systems.append((f"{run['base_model']}, {run['method']}", m))
        for label, s in systems:
            lines.append(
                f"| {label} | {s['f1']:.4f} | {s['f1_at_0_5']:.4f} | {s['precision']:.4f} | "
                f"{s['recall']:.4f} | {s['roc_auc']:.4f} | {s['pr_auc']:.4f} |"
            )
        ours = m["by_language_detail"]
        theirs = tfidf["metrics"]["by_language_detail"] if tfidf else {}
        lines += [
            "",
            f"| language | n | all-positive F1 | TF-IDF + LR F1 / ROC-AUC | {run['base_model']} F1 / ROC-AUC "
            "| F1 − all-positive |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for lang, d in ours.items():
            t = theirs.get(lang)
            tf = f"{t['f1']:.4f} / {t['roc_auc']:.4f}" if t else "–"
            base = d["baseline_all_positive_f1"]
            lines.append(
                f"| {lang} | {d['n']:,} | {base:.4f} | {tf} | {d['f1']:.4f} / {d['roc_auc']:.4f} | "
                f"{d['f1'] - base:+.4f} |"
            )
        seen = {f["fold"]: f["total_steps"] * run["train"]["batch_size"] for f in run["fold_runs"]}
        lines += [
            "",
            "| held-out fold | n | positive rate | pairs trained on | F1 (OOF threshold) | all-positive F1 "
            "| ROC-AUC |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for f in run.get("by_fold", {}).get(task, []):
            lines.append(
                f"| {f['fold']} | {f['n']:,} | {f['positive_rate']:.3f} | {seen.get(f['fold'], 0):,} | "
                f"{f['f1']:.4f} | {f['baseline_all_positive_f1']:.4f} | {f['roc_auc']:.4f} |"
            )
        lines += [""] + [
            f"![{task} {plot.replace('_', ' ')}](img/{name}_{plot}_{task}.png)" for plot in PLOTS
        ]
    return "\n".join(lines)


def ablation_plot(result: dict, path: Path) -> Path:
    """Grouped bars: ROC-AUC per language for TF-IDF and each variant's final model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("tfidf", result["tfidf"])] if result.get("tfidf") else []
    rows += [(name, v) for name, v in result.get("variants", {}).items()]
    langs = sorted({lang for _, m in rows for lang in m["roc_auc_by_language"]})
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(1, len(rows))
    for i, (name, m) in enumerate(rows):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(langs) + 1)]
        vals = [m["roc_auc_by_language"].get(lang) or 0.0 for lang in langs] + [m["roc_auc"]]
        ax.bar(xs, vals, width, label=name)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(langs) + 1), [*langs, "all"])
    ax.set_ylim(0.3, 0.85)
    ax.set_ylabel("ROC-AUC on held-out folds")
    ax.set_title("QC ablations: ROC-AUC per language (0.5 = chance)")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def systems_plot(results: dict[str, dict], task: str, path: Path) -> Path:
    """OOF ROC-AUC of every system of `task` (bars) with its per-fold range (whiskers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = [
        (what.replace("**", "").split(" (`")[0], results[stem])
        for stem, what in BASELINES[task]
        if stem in results
    ]
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.55 * len(found)))
    for i, (what, r) in enumerate(found):
        auc = r["metrics"]["roc_auc"]
        folds = [f["roc_auc"] for f in r.get("per_fold", {}).values()]
        ax.barh(i, auc, color="tab:green" if what.startswith("bi-encoder") else "tab:gray")
        if folds:
            ax.plot([min(folds), max(folds)], [i, i], color="black", lw=1.5)
        ax.text(max([auc, *folds]) + 0.004, i, f"{auc:.3f}", va="center", fontsize=9)
    ax.set_yticks(range(len(found)), [w for w, _ in found], fontsize=9)
    ax.set_xlim(0.5, 0.85)
    ax.set_xlabel("out-of-fold ROC-AUC (line: per-fold range)")
    ax.set_title(f"{task.upper().replace('_', ' ')}: the pipeline's 5 folds")
    ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tfidf", type=Path, default=RESULTS / "tfidf_baseline.json")
    parser.add_argument("--ablation", type=Path, default=RESULTS / "quality_ablation.json")
    parser.add_argument(
        "--pipeline",
        type=Path,
        default=RESULTS / "pipeline_gemma270m.json",
        help="bench.pipeline_export's JSON",
    )
    parser.add_argument("--update", type=Path, help="markdown file whose generated sections are rewritten")
    parser.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img", help="where plots go")
    args = parser.parse_args(argv)
    sections = {}
    found = {
        stem: json.loads((args.tfidf.parent / f"{stem}.json").read_text())
        for stem, _ in [row for rows in BASELINES.values() for row in rows]
        if (args.tfidf.parent / f"{stem}.json").is_file()
    }
    for task in BASELINES:
        if any(stem in found for stem, _ in BASELINES[task]):
            sections[f"baselines_{task}"] = baselines_table(found, task)
            print(f"wrote {systems_plot(found, task, args.img_dir / f'quality_systems_{task}.png')}")
    for task, stem in PUBLISHED.items():
        if stem in found:
            sections[f"head_{task}"] = tfidf_table(found[stem])
    tfidf = json.loads(args.tfidf.read_text()) if args.tfidf.is_file() else None
    if tfidf is not None:
        sections["tfidf"] = tfidf_table(tfidf)
    if args.pipeline.is_file():
        run = json.loads(args.pipeline.read_text())
        sections["pipeline"] = pipeline_table(run, name=args.pipeline.stem, tfidf=tfidf)
    if args.ablation.is_file():
        ablation = json.loads(args.ablation.read_text())
        sections["ablation"] = ablation_table(ablation)
        print(f"wrote {ablation_plot(ablation, args.img_dir / 'quality_ablation_auc.png')}")
    if not sections:
        print(
            "error: no results JSON found; run bench.tfidf_baseline or bench.quality_ablation",
            file=sys.stderr,
        )
        return 2
    for tag, text in sections.items():
        print(f"== {tag}\n{text}\n")
    if args.update:
        try:
            update_sections(args.update, sections)
        except ValueError as exc:
            print(f"error: {args.update}: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
