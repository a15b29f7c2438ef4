"""Build the project's own QC and QI sample sets from the curated vocabularies (deterministic).

    python training/sample_data/build_samples.py            # rewrite qc_sample.jsonl, qi_sample.jsonl
    python training/sample_data/build_samples.py --check    # fail if the committed files are stale

Every search query is shown with several candidates, as in search traffic: all the categories (or item
titles) relevant to it, and negatives that are mostly hard (same top level, wrong leaf; the wrong model,
size or gender) and sometimes easy (another department). Negatives are spread over the queries so the
positive rate lands near the real data's (about two thirds).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import qc_vocab  # noqa: E402
import qi_vocab  # noqa: E402

SEED = 20251124
POSITIVE_RATE = 0.67
HARD_SHARE = 0.8  # share of negatives drawn from the hard list while it lasts
QC_FILE = HERE / "qc_sample.jsonl"
QI_FILE = HERE / "qi_sample.jsonl"

# A level name may itself contain ", " ("kitchen, dining & bar"); levels are split on "," alone.
_LEVEL_SPLIT = re.compile(r",(?! )")


def levels(path: str) -> list[str]:
    return _LEVEL_SPLIT.split(path)


def parent(path: str) -> str | None:
    """The path one level up, when that is still a 3+ level category (the sample's minimum depth)."""
    parts = levels(path)
    return ",".join(parts[:-1]) if len(parts) >= 4 else None


def related(a: str, b: str) -> bool:
    """True when one category path contains the other (same branch)."""
    return a == b or a.startswith(b + ",") or b.startswith(a + ",")


@dataclass
class Query:
    language: str
    text: str
    english: str
    positives: list[str]
    hard: list[str]
    easy: list[str]
    negatives: list[str] = field(default_factory=list)


def _split_query(value: qc_vocab.Query, gloss: str, language: str) -> tuple[str, str]:
    if isinstance(value, tuple):
        return value
    return value, (value if language == "en" else gloss)


def _assign_negatives(queries: Sequence[Query], rng: random.Random) -> None:
    """Spread a negative budget so the positive rate is ~POSITIVE_RATE and most queries get one.

    Queries with a single positive get a negative first (so they show several candidates), then the
    others, then extra negatives at random; each negative is hard with probability HARD_SHARE.
    """
    total_pos = sum(len(q.positives) for q in queries)
    budget = round(total_pos * (1 - POSITIVE_RATE) / POSITIVE_RATE)
    order = list(queries)
    rng.shuffle(order)
    order.sort(key=lambda q: len(q.positives))  # stable: single-positive queries first, shuffled

    def draw(q: Query) -> bool:
        hard = [c for c in q.hard if c not in q.negatives]
        easy = [c for c in q.easy if c not in q.negatives]
        pool = hard if hard and (rng.random() < HARD_SHARE or not easy) else easy
        if not pool:
            return False
        q.negatives.append(rng.choice(pool))
        return True

    for q in order:
        if budget <= 0:
            break
        budget -= draw(q)
    while budget > 0:
        q = rng.choice(order)
        if draw(q):
            budget -= 1
        elif not any(set(c.hard + c.easy) - set(c.negatives) for c in order):
            break


def _rows(queries: Sequence[Query], *, task: str, target_field: str, rng: random.Random) -> list[dict]:
    rows = []
    for q in queries:
        for target, label in [*((t, 1) for t in q.positives), *((t, 0) for t in q.negatives)]:
            rows.append(
                {"task": task, "language": q.language, "origin_query": q.text, target_field: target,
                 "label": label, "query_en": q.english}
            )  # fmt: skip
    rng.shuffle(rows)
    prefix = task.lower()
    return [{"id": f"{prefix}-{i:04d}", **row} for i, row in enumerate(rows, start=1)]


def _check_queries(queries: Sequence[Query], *, category: bool) -> None:
    seen: set[str] = set()
    for q in queries:
        # By text alone: one string in two languages must not carry two intents' labels.
        if q.text.casefold() in seen:
            raise AssertionError(f"query {q.text!r} appears twice")
        seen.add(q.text.casefold())
        for neg in q.negatives:
            bad = [p for p in q.positives if (related(p, neg) if category else p == neg)]
            if bad:
                raise AssertionError(f"{q.text!r}: negative {neg!r} overlaps positive {bad}")
        if len(set(q.positives)) != len(q.positives) or len(set(q.negatives)) != len(q.negatives):
            raise AssertionError(f"{q.text!r}: repeated candidate")


def build_qc(rng: random.Random) -> list[dict]:
    tax = qc_vocab.TAXONOMY
    top = {key: levels(path)[0] for key, path in tax.items()}
    queries: list[Query] = []
    for gloss, rel, hard, by_lang in qc_vocab.INTENTS:
        unknown = [k for k in (*rel, *hard) if k not in tax]
        if unknown:
            raise AssertionError(f"{gloss}: unknown taxonomy keys {unknown}")
        positives = [tax[k] for k in rel]
        # The parent of a deep leaf is relevant too (a lipstick query fits "makeup,lips").
        for key in rel:
            up = parent(tax[key])
            if up and up not in positives:
                positives.append(up)
        hard_paths = [tax[k] for k in hard if not any(related(tax[k], p) for p in positives)]
        near_tops = {top[k] for k in (*rel, *hard)}
        easy = [
            path for key, path in tax.items()
            if top[key] not in near_tops and key not in qc_vocab.AMBIGUOUS_LEAVES
        ]  # fmt: skip
        for language, value in by_lang.items():
            text, english = _split_query(value, gloss, language)
            queries.append(Query(language, text, english, list(positives), hard_paths, easy))
    _assign_negatives(queries, rng)
    _check_queries(queries, category=True)
    return _rows(queries, task="QC", target_field="category_path", rng=rng)


def build_qi(rng: random.Random) -> list[dict]:
    queries: list[Query] = []
    for intent in qi_vocab.INTENTS:
        easy = [t for other in qi_vocab.INTENTS if other.group != intent.group for t in other.pos]
        for language, value in intent.queries.items():
            text, english = _split_query(value, intent.gloss, language)
            local = intent.local.get(language, [])
            local_pos = [t for t, label in local if label == 1]
            local_neg = [t for t, label in local if label == 0]
            # Two or three relevant listings per query; titles in the query's language come first.
            shown = rng.sample(intent.pos, k=min(len(intent.pos), rng.choice([2, 2, 3])))
            positives = (local_pos + shown)[: max(2, len(local_pos) + 1)]
            queries.append(Query(language, text, english, positives, local_neg + list(intent.hard), easy))
    _assign_negatives(queries, rng)
    _check_queries(queries, category=False)
    return _rows(queries, task="QI", target_field="item_title", rng=rng)


def render(rows: Sequence[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed files differ from a rebuild"
    )
    args = parser.parse_args(argv)
    outputs = {
        QC_FILE: render(build_qc(random.Random(SEED))),
        QI_FILE: render(build_qi(random.Random(SEED + 1))),
    }
    stale = [p.name for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            print(f"stale: {', '.join(stale)} (run {Path(__file__).name} to rebuild)", file=sys.stderr)
            return 1
        return 0
    for path, text in outputs.items():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        rows = [json.loads(line) for line in text.splitlines()]
        pos = sum(r["label"] for r in rows)
        print(f"{path.name}: {len(rows)} rows, positive rate {pos / len(rows):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
