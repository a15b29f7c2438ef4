"""`ApertiumTranslator` with the real `apertium` (Debian packages, `make system-deps`); fake binaries only
inject failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import tiny

from models.translation import SEPARATOR, ApertiumTranslator, TranslationError, clean_text

# Spanish queries whose translation depends on the line before when apertium reads them as one text.
CONTEXT_SENSITIVE = [
    "cartera hombre piel",
    "celular xiaomi redmi note 12",
    "plancha de pelo",
    "protector de pantalla cristal templado",
    "soporte movil mesa",
    "jeans tiro alto mujer",
    "funda airpods pro",
]


def test_spanish_and_french_portuguese_italian_through_spanish(apertium: ApertiumTranslator) -> None:
    texts = ["vestido rojo", "robe rouge", "vestido vermelho", "vestito rosso"]
    assert apertium.translate(texts, source_languages=["es", "fr", "pt", "it"]) == ["Red dress"] * 4
    # French goes through Spanish: its English is the Spanish step's, translated.
    spanish = apertium._run("fr-es", ["chaussures de sport"])
    assert spanish == ["zapatos de deporte"]
    assert apertium.translate(["chaussures de sport"], source_languages=["FR "]) == apertium.translate(
        spanish, source_languages=["es"]
    )


def test_english_unknown_and_unrouted_languages_pass_through(apertium: ApertiumTranslator) -> None:
    texts = ["vestido  rojo", "vestido rojo", "vestido rojo", "ドラクエ バッグ", ""]
    out = apertium.translate(texts, source_languages=["en", "de", "", "ja", "es"])
    assert out == ["vestido rojo", "vestido rojo", "vestido rojo", "ドラクエ バッグ", ""]
    assert apertium.translate(["vestido rojo"]) == ["vestido rojo"]  # no language, no route
    only_spanish = ApertiumTranslator(languages=["es"])
    assert only_spanish.name == "apertium:es" and apertium.name == "apertium:es+fr+it+pt"
    assert only_spanish.translate(["robe rouge"], source_languages=["fr"]) == ["robe rouge"]
    with pytest.raises(ValueError, match="no route to English for \\['de'\\]"):
        ApertiumTranslator(languages=["es", "de"])
    with pytest.raises(ValueError, match="one per text"):
        apertium.translate(["a", "b"], source_languages=["es"])


def test_a_batch_translates_each_text_exactly_as_alone(apertium: ApertiumTranslator) -> None:
    texts = [*CONTEXT_SENSITIVE, "sac à main femme", "bolsa feminina", "borsa da donna", "Vestidos"]
    languages = ["es"] * len(CONTEXT_SENSITIVE) + ["fr", "pt", "it", "es"]
    pairs = zip(texts, languages, strict=True)
    alone = [apertium.translate([text], source_languages=[lang])[0] for text, lang in pairs]
    assert apertium.translate(texts, source_languages=languages) == alone
    assert apertium.translate(texts[::-1], source_languages=languages[::-1]) == alone[::-1]
    # What the blank line prevents: one line after another, apertium's tagger reads across them.
    lines = apertium._call("spa-eng", "\n".join(CONTEXT_SENSITIVE) + "\n").splitlines()
    assert [clean_text(line) for line in lines] != alone[: len(CONTEXT_SENSITIVE)]
    assert SEPARATOR == "\n\n"


def test_a_missing_binary_says_what_to_install() -> None:
    with pytest.raises(FileNotFoundError, match=r"no-such-apertium.*apertium-eng-spa"):
        ApertiumTranslator(binary="no-such-apertium")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie is dead, waiting for whoever adopted it to reap it


def test_a_timeout_kills_the_pipeline_and_raises(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # The script waits on a child, as apertium's pipeline stages are: the timeout must end both.
    binary = tiny.fake_apertium(tmp_path / "a", f"sleep 30 & echo $! > {pid_file}; wait")
    slow = ApertiumTranslator(binary=binary, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(TranslationError, match=r"spa-eng took longer than 0\.5s"):
        slow.translate(["vestido rojo"], source_languages=["es"])
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)  # killed with the script's session, not left to sleep on


def test_a_failing_or_silent_engine_raises(tmp_path: Path) -> None:
    failing = ApertiumTranslator(binary=tiny.fake_apertium(tmp_path / "a", "echo broken >&2; exit 3"))
    with pytest.raises(TranslationError, match=r"status 3.*broken"):
        failing.translate(["vestido rojo"], source_languages=["es"])
    # A pipeline stage missing (cg-proc) leaves the status 0 and no output.
    silent = ApertiumTranslator(binary=tiny.fake_apertium(tmp_path / "b", "cat > /dev/null"))
    with pytest.raises(TranslationError, match="failed"):
        silent.translate(["vestido rojo"], source_languages=["es"])
