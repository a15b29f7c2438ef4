"""Benchmark traffic drawn from the shared QC data: one query with K candidate categories per request.

Every system gets the same requests (same seed -> same list). Three shapes:
  - `uniform`: a query drawn uniformly from the distinct queries, K categories drawn uniformly from the
    distinct category paths (what an uncached search backend sees: almost no pair repeats);
  - `zipf`: query popularity follows a Zipf law (rank r drawn with probability ~ 1/r^s, as in search
    logs), and a query always comes with the same K candidates (search sends the same candidate set
    for the same query), so repeats are exact repeats that a score cache can answer;
  - `long`: uniform, with each category side made longer (several category paths joined) to show the
    cost of text length.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "qc_train_confluentia.csv"


@dataclass(frozen=True, slots=True)
class Request:
    query: str
    categories: tuple[str, ...]

    @property
    def k(self) -> int:
        return len(self.categories)


@dataclass(frozen=True, slots=True)
class Corpus:
    queries: list[str]  # distinct, in file order
    categories: list[str]  # distinct, in file order


def load_corpus(path: Path = DEFAULT_DATA) -> Corpus:
    """Distinct queries and category paths of the QC file (reads only the two text columns)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"QC data file {path} not found (pass --data)")
    queries: dict[str, None] = {}
    categories: dict[str, None] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            query = (row.get("origin_query") or row.get("query") or "").strip()
            category = (row.get("category_path") or "").strip()
            if query and category:
                queries[query] = None
                categories[category] = None
    if not queries or not categories:
        raise ValueError(f"{path}: no origin_query/category_path rows")
    return Corpus(list(queries), list(categories))


def uniform(corpus: Corpus, *, n: int, k: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    return [Request(rng.choice(corpus.queries), tuple(rng.sample(corpus.categories, k))) for _ in range(n)]


def zipf(corpus: Corpus, *, n: int, k: int, seed: int, s: float = 1.0) -> list[Request]:
    """Zipf(s) query popularity over a shuffled query list; a query's K candidates are fixed."""
    rng = random.Random(seed)
    ranked = corpus.queries[:]
    rng.shuffle(ranked)
    weights = [1.0 / (rank + 1) ** s for rank in range(len(ranked))]
    candidates: dict[str, tuple[str, ...]] = {}
    out = []
    for query in rng.choices(ranked, weights=weights, k=n):
        if query not in candidates:
            candidates[query] = tuple(random.Random(f"{seed}:{query}").sample(corpus.categories, k))
        out.append(Request(query, candidates[query]))
    return out


def long_targets(corpus: Corpus, *, n: int, k: int, seed: int, paths_per_target: int) -> list[Request]:
    """Uniform traffic whose targets are `paths_per_target` category paths joined (longer text)."""
    rng = random.Random(seed)
    return [
        Request(
            rng.choice(corpus.queries),
            tuple(",".join(rng.sample(corpus.categories, paths_per_target)) for _ in range(k)),
        )
        for _ in range(n)
    ]


def window_repeat_rate(requests: Sequence[Request], start: int, end: int) -> float:
    """Share of the pairs of requests[start:end] that appeared earlier in the trace (from its start)."""
    seen = {(r.query, c) for r in requests[:start] for c in r.categories}
    repeats = total = 0
    for req in requests[start:end]:
        for cat in req.categories:
            repeats += (req.query, cat) in seen
            seen.add((req.query, cat))
            total += 1
    return repeats / total if total else 0.0


def repeat_rate(requests: Sequence[Request]) -> float:
    """Share of pairs that already appeared earlier in the trace (the best a cache can do)."""
    seen: set[tuple[str, str]] = set()
    repeats = total = 0
    for req in requests:
        for cat in req.categories:
            key = (req.query, cat)
            repeats += key in seen
            seen.add(key)
            total += 1
    return repeats / total if total else 0.0
