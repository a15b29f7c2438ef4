"""A model trained on Apertium translations gets them online too: the service fills a pair's missing
`query_en` (`service.translation`), over real HTTP, with the real `apertium`; fake binaries only to make
it fail or hang."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import tiny
from service_helpers import OfflineScorer, make_settings, metric_value, running, scrape

from models import Task
from models.translation import ApertiumTranslator
from service.app import create_app

CATEGORY = "clothing,women's clothing,dresses"


def pair(query: str, language: str | None = None, **extra: str) -> dict:
    return {"query": query, "category_path": CATEGORY, "language": language, **extra}


def scored(url: str, pairs: list[dict]) -> tuple[list[float], int]:
    """Scores and the model input tokens of one request: more tokens is the model reading a translation."""
    response = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": pairs}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    return [r["score"] for r in body["results"]], body["usage"]["tokens"]


def without_language(pairs: list[dict]) -> list[dict]:
    """The same pairs with no route to a translation: what the model reads untranslated."""
    return [{**p, "language": None} for p in pairs]


def translations(url: str) -> dict[str, float]:
    """The translation counters now (deltas are what a test on a shared server can assert)."""
    text = scrape(url)
    out = {f"translated_{lang}": metric_value(text, "relevance_translations_total", {"language": lang})
           for lang in ("es", "fr", "pt")}  # fmt: skip
    out["hits"] = metric_value(text, "relevance_translation_cache_hits_total")
    for reason in ("error", "timeout", "unavailable"):
        out[reason] = metric_value(text, "relevance_translation_failures_total", {"reason": reason})
    out["calls"] = metric_value(text, "relevance_translation_duration_seconds_count")
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def translated_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QC checkpoint whose card says it was trained on Apertium translations of es and fr queries."""
    return tiny.apertium_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-qc-apertium")


@pytest.fixture(scope="module")
def offline(translated_checkpoint: Path) -> OfflineScorer:
    return OfflineScorer(translated_checkpoint)


@pytest.fixture(scope="module")
def server(translated_checkpoint: Path, apertium: ApertiumTranslator) -> Iterator[str]:
    """The real engine; score cache off, so equal scores come from equal input, not from the cache."""
    settings = make_settings(model=str(translated_checkpoint), cache_size=0)
    with running(create_app(settings)) as url:
        yield url


def test_a_query_without_query_en_scores_as_with_apertiums_translation(
    server: str, offline: OfflineScorer, apertium: ApertiumTranslator
) -> None:
    # "fr-FR" and "ES" route as "fr" and "es": a region tag or capitals do not cost a pair its translation.
    pairs = [pair("vestido rojo", "es"), pair("robe rouge", "fr-FR"), pair("falda larga", "ES")]
    english = apertium.translate([p["query"] for p in pairs], source_languages=["es", "fr", "es"])
    assert english[:2] == ["Red dress", "Red dress"], english
    given = [{**p, "query_en": e} for p, e in zip(pairs, english, strict=True)]

    filled = scored(server, pairs)
    assert filled == scored(server, given), "the same input ids, so exactly the same scores"
    assert filled[0] == pytest.approx(offline(Task.QC, given), abs=1e-6)
    # And not the untranslated input: the model read "<query> - <english>".
    untranslated_scores, untranslated_tokens = scored(server, without_language(pairs))
    assert filled[1] > untranslated_tokens and filled[0] != untranslated_scores


def test_the_rerank_api_translates_when_told_the_language(server: str) -> None:
    documents = [CATEGORY, "shoes,women's shoes,boots"]

    def rerank(**extra: str) -> tuple[float, int]:
        """The first document's score and the request's model input tokens."""
        body = {"query": "falda larga", "documents": documents, "task": "qc", **extra}
        response = httpx.post(f"{server}/v1/rerank", json=body, timeout=30)
        assert response.status_code == 200, response.text
        first = next(r for r in response.json()["results"] if r["index"] == 0)
        return first["relevance_score"], response.json()["meta"]["tokens"]["input_tokens"]

    relevance, _ = scored(server, [pair("falda larga", "es")])
    untranslated, _ = scored(server, [pair("falda larga")])
    (with_language, tokens), (without, plain_tokens) = rerank(language="es"), rerank()
    # The same input as the relevance API's (batch composition moves a score by ~1e-10), and more of it
    # than without a language: the model read "<query> - <english>".
    assert with_language == pytest.approx(relevance[0], abs=1e-8)
    assert without == pytest.approx(untranslated[0], abs=1e-8) and tokens > plain_tokens


def test_english_unknown_and_untrained_languages_pass_through(server: str) -> None:
    pairs = [
        pair("red dress", "en"),
        pair("vestido rojo"),  # no language: no route
        pair("vestido rojo", "xx"),
        pair("vestido vermelho", "pt"),  # apertium has a route, but the model was not trained with it
        pair("ドレス", "ja"),
        pair("vestido rojo", "es", query_en="crimson gown"),  # the client's own translation stands
    ]
    before = translations(server)
    assert scored(server, pairs) == scored(server, without_language(pairs))
    assert delta(before, translations(server)) == {}, "nothing was translated, hit or failed"


def test_metrics_count_translations_and_cache_hits(server: str) -> None:
    pairs = [pair("zapatos negros", "es"), pair("zapatos negros", "es"), pair("chaussures noires", "fr")]
    before = translations(server)
    first = scored(server, pairs)
    changed = delta(before, translations(server))
    calls = changed.pop("calls")
    assert changed == {"translated_es": 1, "translated_fr": 1} and calls == 1, changed

    before = translations(server)
    assert scored(server, pairs) == first
    assert delta(before, translations(server)) == {"hits": 3}, "a repeat is translated from the cache"


def test_concurrent_requests_translate_a_query_once(server: str) -> None:
    async def burst() -> list[list[float]]:
        async with httpx.AsyncClient(base_url=server, timeout=30) as client:
            body = {"pairs": [pair("bolso de cuero marrón", "es")]}
            responses = await asyncio.gather(*(client.post("/v1/relevance/qc", json=body) for _ in range(8)))
        return [[r["score"] for r in response.json()["results"]] for response in responses]

    before = translations(server)
    scores = asyncio.run(burst())
    changed = delta(before, translations(server))
    assert len({tuple(s) for s in scores}) == 1
    # Requests that came while the query was being translated waited for that call; later ones hit.
    assert changed.pop("translated_es") == 1 and changed.pop("calls") == 1, changed
    assert set(changed) <= {"hits"}, changed


@pytest.mark.parametrize(
    ("reason", "body"),
    [("error", "echo broken >&2; exit 3"), ("timeout", "exec sleep 30"), ("unavailable", None)],
)
def test_a_failing_translator_leaves_pairs_untranslated_and_counted(
    reason: str,
    body: str | None,
    translated_checkpoint: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    binary = tiny.fake_apertium(tmp_path, body) if body else str(tmp_path / "no-such-apertium")
    settings = make_settings(
        model=str(translated_checkpoint), apertium_binary=binary, translation_timeout_s=0.5, cache_size=0
    )
    pairs = [pair("vestido azul", "es"), pair("robe bleue", "fr"), pair("blue dress", "en")]
    with caplog.at_level(logging.WARNING, logger="service.translation"), running(create_app(settings)) as url:
        before = translations(url)
        assert scored(url, pairs) == scored(url, without_language(pairs))
        if body:  # the failed call has ended (a timed-out one ends at the engine's own timeout)
            wait_for(lambda: translations(url)["calls"] > before["calls"])
        # Failures are not cached: the next request tries again, and counts again.
        scored(url, pairs[:1])
        changed = delta(before, translations(url))
    changed.pop("calls", None)
    assert changed == {reason: 3}, changed
    if reason == "unavailable":
        assert any("apertium cannot run here" in r.getMessage() for r in caplog.records)


def test_the_setting_off_scores_untranslated(translated_checkpoint: Path) -> None:
    settings = make_settings(model=str(translated_checkpoint), translate_queries=False, cache_size=0)
    pairs = [pair("vestido rojo", "es"), pair("robe rouge", "fr")]
    with running(create_app(settings)) as url:
        before = translations(url)
        assert scored(url, pairs) == scored(url, without_language(pairs))
        assert delta(before, translations(url)) == {}


def test_a_reload_builds_the_translation_from_the_new_card(
    qc_checkpoint: Path, translated_checkpoint: Path, apertium: ApertiumTranslator
) -> None:
    # Started on a model trained without translations (a path), reloaded to one trained with them.
    settings = make_settings(model=str(qc_checkpoint), models_dir=translated_checkpoint.parent, cache_size=0)
    pairs = [pair("vestido rojo", "es")]
    with running(create_app(settings)) as url:
        before = translations(url)
        scored(url, pairs)
        assert delta(before, translations(url)) == {}, "its card asks for no translation"
        response = httpx.post(f"{url}/admin/reload", json={"model": "tiny-qc-apertium"}, timeout=60)
        assert response.status_code == 200, response.text
        assert scored(url, pairs) == scored(url, [{**pairs[0], "query_en": "Red dress"}])
        assert delta(before, translations(url)).get("translated_es") == 1
