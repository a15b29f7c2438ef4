"""A small learnable relevance set: a pair is relevant when the query names the target's domain."""

from __future__ import annotations

import random

from models import Task
from training.data import Example

DOMAINS = {
    "bags": ("handbags", "luggage & bags,women's handbags,waist packs"),
    "phones": ("phone case", "mobile phones,accessories,cases covers"),
    "kitchen": ("cookware pots", "home & garden,kitchen,cookware pots pans"),
    "sports": ("running shoes", "sports outdoors,running,shoes"),
    "beauty": ("face cream", "beauty health,skincare,face cream"),
    "toys": ("puzzles dolls", "toys games,puzzles,dolls"),
}
LANGS = ("en", "es", "fr", "ja")


def toy_examples(task: Task = Task.QC, n: int = 48, *, seed: int = 0, prefix: str = "") -> list[Example]:
    rng = random.Random(seed)
    names = sorted(DOMAINS)
    out = []
    for i in range(n):
        q_dom = names[i % len(names)]
        relevant = i % 2 == 0
        t_dom = q_dom if relevant else rng.choice([d for d in names if d != q_dom])
        query = DOMAINS[q_dom][0]
        target = DOMAINS[t_dom][1] if task is Task.QC else DOMAINS[t_dom][1].replace(",", " ")
        out.append(
            Example(
                id=f"{prefix}{task.value}-{i}",
                task=task,
                language=LANGS[i % len(LANGS)],
                query=query,
                target=target,
                label=int(relevant),
                query_en=query,
            )
        )
    return out
