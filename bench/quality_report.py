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


def ablation_table(result: dict) -> str:
    lines = [
        f"{result['rows']:,} rows, {result['folds']} folds, positive rate {result['positive_rate']:.3f}.",
        "",
        "| variant | what changes | F1 (OOF threshold) | F1 @ 0.5 | ROC-AUC | all-positive F1 "
        "| CPU-shared wall time |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    t = result.get("tfidf")
    if t:
        lines.append(
            f"| tfidf | char TF-IDF + LR (reference) | {t['f1']:.4f} | {t['f1_at_0_5']:.4f} | "
            f"{t['roc_auc']:.4f} | "
            f"{t['baseline_all_positive_f1']:.4f} | – |"
        )
    for name, v in result.get("variants", {}).items():
        lines.append(
            f"| {name} | {v['summary']} | {v['f1']:.4f} | {v['f1_at_0_5']:.4f} | {v['roc_auc']:.4f} | "
            f"{v['baseline_all_positive_f1']:.4f} | {v['seconds'] / 60:.0f} min |"
        )
    langs = sorted({lang for v in result.get("variants", {}).values() for lang in v["by_language"]})
    if langs and result.get("variants"):
        lines += ["", "Per language (F1 at each variant's OOF threshold / ROC-AUC):", ""]
        lines.append("| variant | " + " | ".join(langs) + " |")
        lines.append("|---|" + "---:|" * len(langs))
        for name, v in [("tfidf", t), *list(result["variants"].items())]:
            if not v:
                continue
            cells = [
                f"{v['by_language'].get(lang, float('nan')):.3f} / "
                f"{v['roc_auc_by_language'].get(lang) or float('nan'):.2f}"
                for lang in langs
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tfidf", type=Path, default=RESULTS / "tfidf_baseline.json")
    parser.add_argument("--ablation", type=Path, default=RESULTS / "quality_ablation.json")
    parser.add_argument("--update", type=Path, help="markdown file whose generated sections are rewritten")
    args = parser.parse_args(argv)
    sections = {}
    if args.tfidf.is_file():
        sections["tfidf"] = tfidf_table(json.loads(args.tfidf.read_text()))
    if args.ablation.is_file():
        sections["ablation"] = ablation_table(json.loads(args.ablation.read_text()))
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
