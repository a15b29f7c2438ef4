"""Generated sections of a markdown document: the text between `<!-- TAG:start -->` and `<!-- TAG:end -->`
is replaced, the rest of the document kept, so a doc's numbers always come from the results JSON."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def replace_section(doc: str, tag: str, text: str) -> str:
    start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    if start not in doc or end not in doc:
        raise ValueError(f"no {start} ... {end} section")
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{head}{start}\n{body}{end}{tail}"


def update_sections(path: Path, sections: Mapping[str, str]) -> None:
    """Rewrite each tagged section of `path` (atomically: a missing marker leaves the file untouched)."""
    from models.io import atomic_write_text

    doc = path.read_text(encoding="utf-8")
    for tag, text in sections.items():
        doc = replace_section(doc, tag, text)
    atomic_write_text(path, doc)
