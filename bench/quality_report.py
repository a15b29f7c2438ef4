"""Render the quality tables of docs/quality.md from the results JSON next to it.

.venv/bin/python -m bench.quality_report            # print
.venv/bin/python -m bench.quality_report --update docs/quality.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.docs_sections import update_sections

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tfidf", type=Path, default=RESULTS / "tfidf_baseline.json")
    parser.add_argument("--ablation", type=Path, default=RESULTS / "quality_ablation.json")
    parser.add_argument("--update", type=Path, help="markdown file whose generated sections are rewritten")
    parser.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img", help="where plots go")
    args = parser.parse_args(argv)
    sections = {}
    if args.tfidf.is_file():
        sections["tfidf"] = tfidf_table(json.loads(args.tfidf.read_text()))
    if args.ablation.is_file():
        ablation = json.loads(args.ablation.read_text())
        sections["ablation"] = ablation_table(ablation)
        print(f"wrote {ablation_plot(ablation, args.img_dir / 'quality_ablation_auc.png')}")
    if not sections:
        print(
            "error: no results JSON found; run bench/tfidf_baseline.py or bench.quality_ablation",
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
