"""Wheels for `bench/gpu_check.sh`: what the GPU tests import beyond PyTorch, transformers, peft and
accelerate, so a GPU machine without network can install them with `pip --no-index`.

    python -m bench.gpu_bundle                       # -> runs/gpu_bundle/ (git-ignored), prints the size
    python -m bench.gpu_bundle --python 3.12 --with-sklearn

The set is the dependency closure of ROOTS as installed in this environment (the versions the tests pass
with here), less the binary packages the four given packages already pull in (numpy, tokenizers,
safetensors, PyYAML, ...). Pure-Python wheels are downloaded once; binary ones (pydantic-core, and with
--with-sklearn scikit-learn and SciPy) once per --python version for manylinux x86_64. `requirements.txt`
holds the roots with the project's version ranges: pip keeps what the machine has when it fits and takes
the rest from the folder.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.requirements import Requirement

# What the GPU tests import that a PyTorch + transformers + peft + accelerate machine may lack, with the
# project's ranges (pyproject.toml).
ROOTS = {
    "pytest": ">=8",
    "pydantic": ">=2.7",
    "pydantic-settings": ">=2.3",
    "fastapi": ">=0.115,<0.137",
    "uvicorn": ">=0.30",
    "httpx": ">=0.27",
    "prometheus-client": ">=0.20",
}
SKLEARN_ROOTS = {"scikit-learn": ">=1.5"}  # the bi-encoder recipe's CV (the `biencoder_run` fixture)
GIVEN = ("torch", "transformers", "peft", "accelerate")
ALWAYS = {"pydantic-core"}  # pinned exactly by pydantic: bundled even where the given packages pull one in
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
LIMIT_MB = 60.0


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: Iterable[str]) -> set[str]:
    """Installed distributions reachable from `roots` through their unconditional requirements."""
    seen: set[str] = set()
    stack = [canonical(r) for r in roots]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add(name)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(canonical(req.name))
    return seen


def is_pure(name: str) -> bool:
    wheel = md.distribution(name).read_text("WHEEL") or ""
    return "Root-Is-Purelib: true" in wheel


def plan(*, with_sklearn: bool) -> tuple[dict[str, str], dict[str, str]]:
    """(pure, binary) distributions to bundle, name -> installed version."""
    roots = dict(ROOTS) | (SKLEARN_ROOTS if with_sklearn else {})
    given = closure(GIVEN)
    pure, binary = {}, {}
    for name in sorted(closure(roots)):
        version = md.version(name)
        if is_pure(name):
            pure[name] = version
        elif name not in given or name in ALWAYS:
            binary[name] = version
    return pure, binary


def download(args: Sequence[str], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    subprocess.run([*cmd, "-d", str(dest), *args], check=True)


def build(dest: Path, *, pythons: Sequence[str], with_sklearn: bool) -> dict:
    pure, binary = plan(with_sklearn=with_sklearn)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    download([f"{n}=={v}" for n, v in pure.items()], dest)
    for python in pythons:
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        spec = [f"{n}=={v}" for n, v in binary.items()]
        download(["--only-binary=:all:", "--python-version", python, *platforms, *spec], dest)
    roots = dict(ROOTS) | (SKLEARN_ROOTS if with_sklearn else {})
    (dest / "requirements.txt").write_text("".join(f"{n}{r}\n" for n, r in roots.items()), encoding="utf-8")
    wheels = {p.name: p.stat().st_size for p in sorted(dest.glob("*.whl"))}
    total = sum(wheels.values()) / 2**20
    manifest = {
        "pythons": list(pythons),
        "with_sklearn": with_sklearn,
        "pure": pure,
        "binary": binary,
        "wheels": wheels,
        "total_mb": round(total, 2),
        "limit_mb": LIMIT_MB,
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_bundle"), help="wheel folder")
    parser.add_argument(
        "--python",
        action="append",
        help="target Python version(s) for binary wheels (default 3.11 and 3.12, the project's range)",
    )
    parser.add_argument(
        "--with-sklearn",
        action="store_true",
        help="also scikit-learn + SciPy (~45 MB per Python version): runs the bi-encoder test on the "
        "checkpoint `training.head` publishes, not only on its base",
    )
    args = parser.parse_args(argv)
    manifest = build(args.out, pythons=args.python or ["3.11", "3.12"], with_sklearn=args.with_sklearn)
    for name, size in manifest["wheels"].items():
        print(f"{size / 2**20:8.2f} MB  {name}")
    total, limit = manifest["total_mb"], manifest["limit_mb"]
    print(f"{len(manifest['wheels'])} wheels, {total:.2f} MB in {args.out} (limit {limit:.0f} MB)")
    if total > limit:
        print(f"over {limit:.0f} MB: fewer --python versions, or no --with-sklearn", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
