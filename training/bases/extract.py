"""`bases extract-text`: the text-only Gemma 3 decoder out of a multimodal Gemma 3 release.

Gemma-3-4B/12B/27B are published as `Gemma3ForConditionalGeneration`: a SigLIP vision tower, a
projector and the language model in one checkpoint (`config.json` with `text_config` and
`vision_config`). The classifier trains and serves only the language model, as
`Gemma3TextForSequenceClassification` (vLLM: `Gemma3ForCausalLM` converted to classify), so the
conversion writes that model on its own: `text_config` as a `gemma3_text` config, the language-model
tensors renamed to the `Gemma3ForCausalLM` layout, the tokenizer files copied, the vision tower and
projector left out.

Tensors are copied unchanged (same dtype, same bytes), read one at a time with `safe_open` and written
in shards of at most `max_shard_bytes`, so memory holds one shard, never the model. The folder is
written into a temporary sibling and renamed into place only after the check that it holds exactly the
tensors `Gemma3ForCausalLM` expects, with their shapes (`models.io.atomic_directory`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from models.io import atomic_directory, atomic_write_text

log = logging.getLogger(__name__)

SOURCE_ARCHITECTURE = "Gemma3ForConditionalGeneration"
TEXT_ARCHITECTURE = "Gemma3ForCausalLM"
# The language model's prefix in each layout transformers has saved: `language_model.model.` (the Hub
# files, and what transformers 5 still writes) and `model.language_model.` (its in-memory names, which
# some re-uploads carry).
TEXT_PREFIXES = ("language_model.model.", "model.language_model.")
LM_HEAD_NAMES = ("language_model.lm_head.weight", "lm_head.weight")
DROPPED_PREFIXES = {
    "vision_tower": ("vision_tower.", "model.vision_tower."),
    "multi_modal_projector": ("multi_modal_projector.", "model.multi_modal_projector."),
}
# The tokenizer and what a causal LM reads besides its weights; the image processor's files are left.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json")
OPTIONAL_FILES = ("added_tokens.json", "chat_template.json", "chat_template.jinja", "generation_config.json")
DEFAULT_MAX_SHARD_BYTES = 5 * 1000**3  # the Hub's usual shard size
INDEX_NAME = "model.safetensors.index.json"
PROVENANCE_NAME = "provenance.json"


class ExtractError(ValueError):
    """The source is not something this conversion takes, or the result failed its check."""


@dataclass(frozen=True, slots=True)
class Tensor:
    source_file: Path
    source_name: str
    name: str  # in the text-only checkpoint
    shape: tuple[int, ...]
    dtype: str  # safetensors' dtype name (BF16, F32, ...)
    nbytes: int


@dataclass
class Plan:
    tensors: list[Tensor] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2}


def _read_config(src: Path) -> dict:
    path = src / "config.json"
    if not path.is_file():
        raise ExtractError(f"{src} has no config.json: give the folder of a multimodal Gemma 3 checkpoint")
    config = json.loads(path.read_text(encoding="utf-8"))
    architectures = config.get("architectures") or []
    if config.get("model_type") != "gemma3" or "text_config" not in config:
        kind = config.get("model_type")
        hint = (
            " (it is already a text-only Gemma 3: use it as the base model directly)"
            if kind == "gemma3_text"
            else ""
        )
        raise ExtractError(
            f"{src} is not a multimodal Gemma 3 checkpoint: config.json has model_type {kind!r} and "
            f"architectures {architectures}, expected model_type 'gemma3' with a text_config{hint}"
        )
    if architectures and SOURCE_ARCHITECTURE not in architectures:
        raise ExtractError(f"{src}: architectures {architectures}, expected {SOURCE_ARCHITECTURE}")
    return config


def _weight_files(src: Path) -> list[Path]:
    index = src / INDEX_NAME
    if index.is_file():
        names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        missing = [n for n in names if not (src / n).is_file()]
        if missing:
            raise ExtractError(f"{src}: {INDEX_NAME} names missing shards: {', '.join(missing)}")
        return [src / n for n in names]
    files = sorted(src.glob("*.safetensors"))
    if not files:
        other = sorted(p.name for p in src.glob("*.bin")) + sorted(p.name for p in src.glob("*.pth"))
        found = f" (found {', '.join(other)}: pickled weights are not read)" if other else ""
        raise ExtractError(f"{src} has no safetensors weights{found}")
    return files


def _target_name(name: str, *, tied: bool) -> str | None:
    """The tensor's name in `Gemma3ForCausalLM`, None to drop it; ExtractError for a name neither layout
    has (better refused than silently lost)."""
    for prefix in TEXT_PREFIXES:
        if name.startswith(prefix):
            return "model." + name[len(prefix) :]
    if name in LM_HEAD_NAMES:
        # Tied: the loader takes the head from the embedding, a stored copy is redundant.
        return None if tied else "lm_head.weight"
    for prefixes in DROPPED_PREFIXES.values():
        if name.startswith(prefixes):
            return None
    raise ExtractError(
        f"tensor {name!r} is neither the language model, the vision tower nor the projector of a "
        "multimodal Gemma 3 checkpoint"
    )


def plan_extraction(src: Path, *, tied: bool) -> Plan:
    """Which tensors to keep and under which names, from the headers only (no tensor is read)."""
    from safetensors import safe_open

    plan = Plan()
    seen: dict[str, str] = {}
    for file in _weight_files(src):
        with safe_open(str(file), framework="pt") as reader:
            for source_name in reader.keys():  # noqa: SIM118 (safe_open is not a mapping)
                name = _target_name(source_name, tied=tied)
                if name is None:
                    part = next(
                        (k for k, p in DROPPED_PREFIXES.items() if source_name.startswith(p)), "lm_head"
                    )
                    plan.dropped[part] = plan.dropped.get(part, 0) + 1
                    continue
                if name in seen:
                    raise ExtractError(f"{src}: both {seen[name]!r} and {source_name!r} map to {name!r}")
                seen[name] = source_name
                tensor_slice = reader.get_slice(source_name)
                shape = tuple(tensor_slice.get_shape())
                dtype = tensor_slice.get_dtype()
                count = 1
                for dim in shape:
                    count *= dim
                plan.tensors.append(
                    Tensor(file, source_name, name, shape, dtype, count * _DTYPE_BYTES.get(dtype, 1))
                )
    if not any(t.name.startswith("model.layers.") for t in plan.tensors):
        raise ExtractError(f"{src}: no language-model layers found under {' or '.join(TEXT_PREFIXES)}")
    plan.tensors.sort(key=lambda t: t.name)
    return plan


def _shards(tensors: list[Tensor], max_bytes: int) -> list[list[Tensor]]:
    shards: list[list[Tensor]] = [[]]
    size = 0
    for tensor in tensors:
        if shards[-1] and size + tensor.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(tensor)
        size += tensor.nbytes
    return shards


def _write_weights(plan: Plan, dest: Path, max_shard_bytes: int) -> dict[str, str]:
    """Write the shards (and the index when there are several); return the weight map."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    shards = _shards(plan.tensors, max_shard_bytes)
    names = (
        ["model.safetensors"]
        if len(shards) == 1
        else [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    )
    weight_map: dict[str, str] = {}
    with ExitStack() as stack:
        readers: dict[Path, object] = {}
        for file_name, shard in zip(names, shards, strict=True):
            tensors = {}
            for t in shard:
                if t.source_file not in readers:
                    readers[t.source_file] = stack.enter_context(
                        safe_open(str(t.source_file), framework="pt")
                    )
                tensors[t.name] = readers[t.source_file].get_tensor(t.source_name)
                weight_map[t.name] = file_name
            save_file(tensors, str(dest / file_name), metadata={"format": "pt"})
            log.info(
                "wrote %s (%d tensors, %.2f GB)", file_name, len(shard), sum(t.nbytes for t in shard) / 1e9
            )
            del tensors
    if len(shards) > 1:
        index = {"metadata": {"total_size": plan.total_bytes}, "weight_map": dict(sorted(weight_map.items()))}
        atomic_write_text(dest / INDEX_NAME, json.dumps(index, indent=2) + "\n")
    return weight_map


def text_config(src: Path):
    """The language model's config as transformers reads it (defaults filled in, older RoPE fields
    converted), as a `gemma3_text` config for `Gemma3ForCausalLM`, in the checkpoint's dtype."""
    from transformers import Gemma3Config

    config = Gemma3Config.from_pretrained(src)
    text = config.text_config
    text.architectures = [TEXT_ARCHITECTURE]
    if getattr(text, "dtype", None) is None and getattr(config, "dtype", None) is not None:
        text.dtype = config.dtype
    return text


def check_text_checkpoint(folder: Path, weight_map: dict[str, str]) -> None:
    """Raise unless `folder` holds exactly the tensors (names and shapes) `Gemma3ForCausalLM` built from
    its config expects: the model is built on the meta device, so this costs no memory at any size."""
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    if config.model_type != "gemma3_text":
        raise ExtractError(f"{folder}: config model_type {config.model_type!r}, expected 'gemma3_text'")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    if type(model).__name__ != TEXT_ARCHITECTURE:
        raise ExtractError(f"{folder} builds {type(model).__name__}, expected {TEXT_ARCHITECTURE}")
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        expected.pop("lm_head.weight", None)
    written: dict[str, tuple[int, ...]] = {}
    for file_name in sorted(set(weight_map.values())):
        with safe_open(str(folder / file_name), framework="pt") as reader:
            for name in reader.keys():  # noqa: SIM118
                written[name] = tuple(reader.get_slice(name).get_shape())
    missing = sorted(set(expected) - set(written))
    extra = sorted(set(written) - set(expected))
    wrong = sorted(k for k in set(expected) & set(written) if expected[k] != written[k])
    if missing or extra or wrong:
        raise ExtractError(
            f"the text checkpoint does not match {TEXT_ARCHITECTURE}: missing {missing[:5]}, unexpected "
            f"{extra[:5]}, wrong shapes {[(k, written[k], expected[k]) for k in wrong[:5]]}"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _copy_tokenizer(src: Path, dest: Path) -> list[str]:
    if not any((src / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        raise ExtractError(f"{src} has no tokenizer (tokenizer.json or tokenizer.model)")
    copied = []
    for name in TOKENIZER_FILES + OPTIONAL_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)
            copied.append(name)
    return copied


def _iter_refusals(src: Path, dest: Path, force: bool) -> Iterator[str]:
    if not src.is_dir():
        yield f"--src {src} is not a directory"
    if src.resolve() == dest.resolve() or src.resolve() in dest.resolve().parents:
        yield f"--dest {dest} must lie outside --src {src}"
    if dest.exists() and not force:
        yield f"{dest} exists; pass --force to replace it"


def extract_text(
    src: str | Path, dest: str | Path, *, max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES, force: bool = False
) -> Path:
    """Write the text-only `Gemma3ForCausalLM` checkpoint of the multimodal Gemma 3 folder `src` to
    `dest` (atomically: complete, or not there at all). Returns `dest`."""
    src, dest = Path(src), Path(dest)
    refusals = list(_iter_refusals(src, dest, force))
    if refusals:
        raise ExtractError("; ".join(refusals))
    if max_shard_bytes < 1:
        raise ExtractError(f"max shard size must be positive, got {max_shard_bytes}")
    source_config = _read_config(src)
    config = text_config(src)
    plan = plan_extraction(src, tied=bool(config.tie_word_embeddings))
    log.info(
        "%s: %d language-model tensors (%.2f GB) kept; dropped %s",
        src,
        len(plan.tensors),
        plan.total_bytes / 1e9,
        ", ".join(f"{n} {k}" for k, n in sorted(plan.dropped.items())) or "nothing",
    )
    with atomic_directory(dest) as tmp:
        config.save_pretrained(tmp)
        weight_map = _write_weights(plan, tmp, max_shard_bytes)
        copied = _copy_tokenizer(src, tmp)
        check_text_checkpoint(tmp, weight_map)
        provenance = {
            "format_version": 1,
            "builder": __name__,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {
                "path": str(src.resolve()),
                "architectures": source_config.get("architectures"),
                "config_sha256": _sha256(src / "config.json"),
                "weights": sorted(p.name for p in _weight_files(src)),
            },
            "kept_tensors": len(plan.tensors),
            "dropped_tensors": dict(sorted(plan.dropped.items())),
            "copied_files": copied,
        }
        atomic_write_text(tmp / PROVENANCE_NAME, json.dumps(provenance, indent=2) + "\n")
    log.info("wrote the text-only checkpoint %s", dest)
    return dest


def parse_size(text: str) -> int:
    """'5GB', '500MB', '2GiB', '1000000' -> bytes."""
    import re

    units = {
        "": 1,
        "b": 1,
        "kb": 1000,
        "mb": 1000**2,
        "gb": 1000**3,
        "kib": 1024,
        "mib": 1024**2,
        "gib": 1024**3,
    }
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", text.lower())
    if match is None or match.group(2) not in units:
        raise ExtractError(f"not a size: {text!r} (e.g. 5GB, 500MB)")
    size = int(float(match.group(1)) * units[match.group(2)])
    if size < 1:
        raise ExtractError(f"not a positive size: {text!r}")
    return size
