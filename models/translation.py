"""Query translation to English: the `Translator` protocol and the rule-based Apertium engine.

It lives in `models` because both sides run it: training fills `query_en` with it (translation
augmentation) and the service fills `query_en` of requests that lack one, so a served model sees the
translations it was trained on (the card's `input.translation` names the engine).

Apertium (Debian packages `apertium apertium-eng-spa apertium-fr-es apertium-es-pt apertium-spa-ita
cg3`; cg3 because Debian's apertium-spa-ita needs `cg-proc` without depending on it) translates Spanish to
English; French, Portuguese and Italian reach English through Spanish. Other languages pass through
untranslated, which the formatter treats as no translation.

Apertium's tagger reads context across lines, so one text's translation would depend on its neighbours in
a batch (measured: 30 of 200 Spanish queries changed, "Vestidos" -> "Dresses" alone, "Dressed" after
another line). A blank line between texts ends that context: every text then translates exactly as it
would alone, whatever the batch, which keeps training, caches and the service consistent.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

ENGLISH = "en"
# Source language -> the Apertium modes (`apertium -l`) that take it to English, in order.
APERTIUM_ROUTES: dict[str, tuple[str, ...]] = {
    "es": ("spa-eng",),
    "fr": ("fr-es", "spa-eng"),
    "pt": ("pt-es", "spa-eng"),
    "it": ("ita-spa", "spa-eng"),
}
APERTIUM_PACKAGES = "apertium apertium-eng-spa apertium-fr-es apertium-es-pt apertium-spa-ita cg3"
SEPARATOR = "\n\n"  # between texts in one apertium call: a blank line ends the tagger's context


@runtime_checkable
class Translator(Protocol):
    def translate(self, texts: Sequence[str], *, source_languages: Sequence[str] | None = None) -> list[str]:
        """English translations of `texts`, in order; `source_languages` (ISO codes) when known."""
        ...


class TranslationError(RuntimeError):
    """The engine failed or timed out (the service then scores the pair untranslated)."""


def clean_text(text: str) -> str:
    return " ".join(text.replace("\0", " ").split())


def normalize_language(language: str | None) -> str:
    """A language code as a route key: "es-MX", "ES" and "es_ES" all route as "es", in training and in
    the service alike."""
    return (language or "").strip().lower().replace("_", "-").split("-")[0]


def is_english(language: str | None) -> bool:
    return normalize_language(language) == ENGLISH


def check_languages(texts: Sequence[str], source_languages: Sequence[str] | None) -> None:
    if source_languages is not None and len(source_languages) != len(texts):
        raise ValueError(
            f"source_languages has {len(source_languages)} entries for {len(texts)} texts; give one per text"
        )


def apertium_name(languages: Iterable[str]) -> str:
    """The name of an Apertium translator over `languages`, which caches key translations by: a translator
    with other routes must not reuse them."""
    return "apertium:" + "+".join(sorted({normalize_language(lang) for lang in languages}))


@functools.cache
def installed_modes(binary: str) -> frozenset[str]:
    """The translation directions the apertium at `binary` has (`apertium -l`)."""
    listed = subprocess.run([binary, "-l"], capture_output=True, text=True, check=True, timeout=30)
    return frozenset(listed.stdout.split())


class ApertiumTranslator:
    """English translations from the `apertium` command line, one process per mode per call.

    A call groups texts by the next mode of their route and runs the modes of one step side by side
    (first fr-es, pt-es, ita-spa; then one spa-eng for every text), so a batch costs at most five short
    processes whatever its size. English and languages without a route come back as they are.
    """

    def __init__(
        self, *, languages: Iterable[str] | None = None, binary: str = "apertium", timeout_s: float = 60.0
    ) -> None:
        wanted = sorted(
            {normalize_language(lang) for lang in languages} if languages is not None else APERTIUM_ROUTES
        )
        unknown = [lang for lang in wanted if lang not in APERTIUM_ROUTES]
        if unknown:
            raise ValueError(
                f"apertium has no route to English for {unknown}; routes: {sorted(APERTIUM_ROUTES)}"
            )
        found = shutil.which(binary)
        if found is None:
            raise FileNotFoundError(f"{binary!r} not found; install the Debian packages: {APERTIUM_PACKAGES}")
        self.binary = found
        self.timeout_s = timeout_s
        self.routes = {lang: APERTIUM_ROUTES[lang] for lang in wanted}
        missing = sorted({m for route in self.routes.values() for m in route} - installed_modes(found))
        if missing:
            raise FileNotFoundError(f"apertium lacks the modes {missing}; install: {APERTIUM_PACKAGES}")
        self.name = apertium_name(wanted)

    @property
    def languages(self) -> list[str]:
        return list(self.routes)

    def translate(self, texts: Sequence[str], *, source_languages: Sequence[str] | None = None) -> list[str]:
        check_languages(texts, source_languages)
        out = [clean_text(text) for text in texts]
        if source_languages is None:
            return out  # no source language, no route
        # index -> the modes still to run on out[index]
        todo = {
            i: list(self.routes[lang])
            for i, lang in enumerate(map(normalize_language, source_languages))
            if lang in self.routes and out[i]
        }
        while todo:
            # Longest remaining route first, so every text meets spa-eng in the same (last) step.
            steps = max(len(modes) for modes in todo.values())
            groups: dict[str, list[int]] = {}
            for i, modes in todo.items():
                if len(modes) == steps:
                    groups.setdefault(modes.pop(0), []).append(i)
            with ThreadPoolExecutor(max_workers=len(groups)) as pool:
                done = pool.map(lambda item: self._run(item[0], [out[i] for i in item[1]]), groups.items())
                for indices, results in zip(groups.values(), done, strict=True):
                    for i, text in zip(indices, results, strict=True):
                        out[i] = text
            todo = {i: modes for i, modes in todo.items() if modes}
        return out

    def _run(self, mode: str, texts: list[str]) -> list[str]:
        """`texts` (clean, non-empty) through one apertium mode: one process, texts a blank line apart."""
        output = self._call(mode, SEPARATOR.join(texts) + "\n")
        parts = output.removesuffix("\n").split(SEPARATOR)
        if len(parts) == len(texts):
            return [clean_text(part) for part in parts]
        # Never seen on real queries; kept correct (if slow) rather than misaligned.
        log.warning(
            "apertium %s returned %d texts for %d; translating one by one", mode, len(parts), len(texts)
        )
        return [clean_text(self._call(mode, text + "\n")) for text in texts]

    def _call(self, mode: str, text: str) -> str:
        # `apertium` is a shell script running a pipeline: its own session lets a timeout kill them all.
        proc = subprocess.Popen(
            [self.binary, "-u", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(text, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TranslationError(f"apertium {mode} took longer than {self.timeout_s:g}s") from None
        # A pipeline stage that is missing (cg-proc) leaves the script's status 0 and the output empty.
        if proc.returncode != 0 or (text.strip() and not stdout.strip()):
            raise TranslationError(
                f"apertium {mode} failed (status {proc.returncode}): {stderr.strip()[-500:]}"
            )
        return stdout
