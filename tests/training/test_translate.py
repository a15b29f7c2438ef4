"""Translation augmentation over a real (tiny, random) Marian seq2seq model built offline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import tiny

from models import Task
from training.cli import main as cli_main
from training.data import Example, load_examples
from training.translate import (
    CachedTranslator,
    PreTranslated,
    Seq2SeqTranslator,
    Translator,
    add_translations,
)

QUERIES = [
    ("bolso de mujer", "es"),
    ("ドラクエ バッグ スマホケース", "ja"),
    ("sac à main femme", "fr"),
    ("여성 가방 운동화", "ko"),
    ("tênis corrida", "pt"),
    ("Damen Handtasche Laufschuhe", "de"),
]


@pytest.fixture(scope="module")
def mt_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.tiny_marian(tmp_path_factory.mktemp("tiny-mt"))


@pytest.fixture(scope="module")
def translator(mt_model: Path) -> Seq2SeqTranslator:
    return Seq2SeqTranslator(mt_model, batch_size=4, max_new_tokens=6, progress=False)


class Counting:
    """Wraps a real translator and records every text it is asked to translate."""

    def __init__(self, inner: Translator) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "inner")
        self.seen: list[str] = []
        self.calls = 0

    def translate(self, texts: Sequence[str], *, source_languages: Sequence[str] | None = None) -> list[str]:
        self.calls += 1
        self.seen.extend(texts)
        return self.inner.translate(texts, source_languages=source_languages)


def _examples(pairs: Sequence[tuple[str, str]], *, repeat: int = 1) -> list[Example]:
    out = []
    for r in range(repeat):
        for i, (query, lang) in enumerate(pairs):
            out.append(
                Example(
                    id=f"q{r}-{i}",
                    task=Task.QC,
                    language=lang,
                    query=query,
                    target=f"cat,level,{r}",
                    label=r % 2,
                )
            )
    return out


def test_generate_batch_matches_single_and_keeps_order(translator: Seq2SeqTranslator) -> None:
    texts = [q for q, _ in QUERIES]
    batched = translator.translate(texts, source_languages=[lang for _, lang in QUERIES])
    assert len(batched) == len(texts)
    assert all(isinstance(t, str) and t == " ".join(t.split()) for t in batched)
    # The random model answers differently for different inputs, so a length-sorted batch that came
    # back in the wrong order would not match one-at-a-time translation.
    assert len(set(batched)) >= 3
    singles = [translator.translate([t])[0] for t in texts]
    assert batched == singles
    assert translator.translate([]) == []


def test_generate_options_and_validation(mt_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beams = Seq2SeqTranslator(mt_model, num_beams=2, max_new_tokens=3, progress=False)
    assert beams.source_prefix == ""  # Marian: nothing detected
    assert beams.forced_bos_token_id is None
    real_generate, seen = beams.model.generate, []

    def generate(**kwargs):
        out = real_generate(**kwargs)
        seen.append(
            (kwargs["num_beams"], kwargs["max_new_tokens"], kwargs["input_ids"].shape[1], out.shape[1])
        )
        return out

    monkeypatch.setattr(beams.model, "generate", generate)
    assert len(beams.translate(["bolso de mujer", "sac"])) == 2
    [(num_beams, max_new, _, out_len)] = seen
    assert (num_beams, max_new) == (2, 3)
    assert out_len <= 1 + 3  # decoder start token + at most max_new_tokens
    with pytest.raises(ValueError, match="source_languages has 1 entries for 2 texts"):
        beams.translate(["a", "b"], source_languages=["es"])
    with pytest.raises(ValueError, match=r"not in .* vocabulary"):
        Seq2SeqTranslator(mt_model, target_lang_token="eng_Latn", progress=False)


class TokenizerSpy:
    """Delegates to the real tokenizer and records what it was asked to encode, with `src_lang`."""

    def __init__(self, inner) -> None:
        self.__dict__["inner"] = inner
        self.__dict__["calls"] = []

    def __call__(self, texts, **kwargs):
        self.calls.append((list(texts), getattr(self.inner, "src_lang", None)))
        return self.inner(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __setattr__(self, name, value) -> None:
        setattr(self.inner, name, value)


def test_source_prefix_and_language_codes_reach_the_tokenizer(mt_model: Path) -> None:
    prefixed = Seq2SeqTranslator(mt_model, source_prefix="<2en> ", progress=False, max_new_tokens=2)
    prefixed.tokenizer = spy = TokenizerSpy(prefixed.tokenizer)
    assert len(prefixed.translate(["bolso", "  sac   à main "])) == 2
    assert spy.calls == [(["<2en> bolso", "<2en> sac à main"], None)]

    nllb_like = Seq2SeqTranslator(
        mt_model, source_lang_codes={"es": "spa_Latn", "fr": "fra_Latn"}, progress=False, max_new_tokens=2
    )
    nllb_like.tokenizer = spy = TokenizerSpy(nllb_like.tokenizer)
    out = nllb_like.translate(["bolso", "sac", "mochila"], source_languages=["es", "fr", "ES"])
    assert len(out) == 3
    # One batch per source language, each encoded under its own src_lang.
    assert sorted(spy.calls) == [(["bolso", "mochila"], "spa_Latn"), (["sac"], "fra_Latn")]
    with pytest.raises(ValueError, match="no source language code for 'ko'"):
        nllb_like.translate(["여성 가방"], source_languages=["ko"])


def test_refuses_missing_dir_and_non_safetensors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Seq2SeqTranslator(tmp_path / "nope")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0")
    with pytest.raises(ValueError, match="safetensors"):
        Seq2SeqTranslator(tmp_path)


def test_each_distinct_query_translated_once(translator: Seq2SeqTranslator, tmp_path: Path) -> None:
    counting = Counting(translator)
    examples = _examples([*QUERIES, ("waist bag", "en")], repeat=3)
    out = add_translations(examples, CachedTranslator(counting, tmp_path / "cache.jsonl"))
    non_english = [q for q, lang in QUERIES]
    assert sorted(counting.seen) == sorted(non_english)  # each once, English never
    assert len(out) == len(examples)
    assert [e.id for e in out] == [e.id for e in examples]
    direct = dict(zip(non_english, translator.translate(non_english), strict=True))
    for ex in out:
        if ex.language == "en":
            assert ex.query_en == ex.query
        else:
            assert ex.query_en == (direct[ex.query] or None)
    # Fields other than query_en are untouched.
    assert [(e.query, e.target, e.label) for e in out] == [(e.query, e.target, e.label) for e in examples]


def test_add_translations_dedupes_even_without_cache(translator: Seq2SeqTranslator) -> None:
    counting = Counting(translator)
    add_translations(_examples(QUERIES, repeat=4), counting)
    assert counting.calls == 1
    assert len(counting.seen) == len(QUERIES)


def test_same_text_in_two_languages_is_two_entries(translator: Seq2SeqTranslator, tmp_path: Path) -> None:
    counting = Counting(translator)
    cached = CachedTranslator(counting, tmp_path / "c.jsonl")
    cached.translate(["mini", "mini"], source_languages=["es", "it"])
    assert counting.seen == ["mini", "mini"]
    assert len(cached) == 2


def test_disk_cache_reused_across_runs(translator: Seq2SeqTranslator, tmp_path: Path) -> None:
    cache = tmp_path / "translations.jsonl"
    examples = _examples(QUERIES, repeat=2)
    first = add_translations(examples, CachedTranslator(Counting(translator), cache))
    lines = cache.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(QUERIES)
    assert {json.loads(line)["text"] for line in lines} == {q for q, _ in QUERIES}

    second_inner = Counting(translator)
    second = CachedTranslator(second_inner, cache)
    again = add_translations(examples, second)
    assert second_inner.calls == 0 and second_inner.seen == []  # no model call at all
    assert second.hits == len(QUERIES) and second.misses == 0
    assert [e.query_en for e in again] == [e.query_en for e in first]
    assert cache.read_text(encoding="utf-8").splitlines() == lines  # nothing re-appended

    # A new query only costs its own translation, appended to the same file.
    third_inner = Counting(translator)
    add_translations(
        [*examples, *_examples([("zapatillas running", "es")])], CachedTranslator(third_inner, cache)
    )
    assert third_inner.seen == ["zapatillas running"]
    assert len(cache.read_text(encoding="utf-8").splitlines()) == len(QUERIES) + 1


def test_cache_is_per_model_and_tolerates_torn_tail(translator: Seq2SeqTranslator, tmp_path: Path) -> None:
    cache = tmp_path / "c.jsonl"
    CachedTranslator(translator, cache).translate(["bolso"], source_languages=["es"])
    other = Counting(translator)
    CachedTranslator(other, cache, model_name="another-mt").translate(["bolso"], source_languages=["es"])
    assert other.seen == ["bolso"]  # another model's translation is not reused

    with cache.open("a", encoding="utf-8") as fh:
        fh.write('{"model": "x", "lang": "es", "te')  # interrupted write
    resumed = CachedTranslator(translator, cache)
    assert len(resumed) == 1
    resumed.translate(["mochila"], source_languages=["es"])  # appends after the dropped torn line
    assert len(CachedTranslator(translator, cache)) == 2
    assert all(json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines())

    cache.write_text('not json\n{"model": "m", "lang": "es", "text": "a", "en": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"c\.jsonl:1: not a translation cache line"):
        CachedTranslator(translator, cache)


def test_english_passthrough(translator: Seq2SeqTranslator, tmp_path: Path) -> None:
    counting = Counting(translator)
    cached = CachedTranslator(counting, tmp_path / "c.jsonl")
    assert cached.translate(["iphone 13 case", "Running Shoes"], source_languages=["en", "EN"]) == [
        "iphone 13 case",
        "Running Shoes",
    ]
    assert counting.calls == 0
    out = add_translations(_examples([("waist bag", "en")]), counting)
    assert out[0].query_en == "waist bag" and counting.calls == 0


def test_existing_translations_kept_unless_overwrite(translator: Seq2SeqTranslator) -> None:
    import dataclasses

    base = _examples([("bolso de mujer", "es"), ("tênis corrida", "pt")])
    given = [dataclasses.replace(base[0], query_en="women's bag"), base[1]]
    counting = Counting(translator)
    out = add_translations(given, counting)
    assert out[0].query_en == "women's bag"
    assert counting.seen == ["tênis corrida"]
    redone = add_translations(given, counting, overwrite=True)
    assert redone[0].query_en != "women's bag"


def test_pretranslated_uses_column_and_lists_missing_rows() -> None:
    import dataclasses

    rows = _examples([("bolso de mujer", "es"), ("waist bag", "en"), ("tênis corrida", "pt")])
    rows[0] = dataclasses.replace(rows[0], query_en="women's bag")
    with pytest.raises(
        ValueError, match=r"1 non-English rows have no query_en.*q0-2 \(pt: 'tênis corrida'\)"
    ):
        PreTranslated.from_examples(rows)

    rows[2] = dataclasses.replace(rows[2], query_en="running sneakers")
    # A second row with the same query but no column value reuses the first row's translation.
    rows.append(dataclasses.replace(rows[0], id="dup", query_en=None))
    pre = PreTranslated.from_examples(rows)
    out = add_translations(rows, pre)
    assert [e.query_en for e in out] == ["women's bag", "waist bag", "running sneakers", "women's bag"]
    with pytest.raises(ValueError, match="no query_en translation for 1 queries: ko"):
        pre.translate(["가방"], source_languages=["ko"])


def test_cli_round_trip(mt_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "qc.jsonl"
    rows = [
        {"id": "a", "task": "QC", "language": "es", "origin_query": "bolso de mujer",
         "category_path": "luggage & bags,women's handbags,shoulder bags", "label": 1},
        {"id": "b", "task": "QC", "language": "es", "origin_query": "bolso de mujer",
         "category_path": "shoes,women's shoes,pumps", "label": 0},
        {"id": "c", "task": "QC", "language": "en", "origin_query": "waist bag",
         "category_path": "luggage & bags,waist packs", "label": 1},
        {"id": "d", "task": "QC", "language": "ja", "origin_query": "ドラクエ バッグ",
         "category_path": "luggage & bags,backpacks", "label": 1},
    ]  # fmt: skip
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out, cache = tmp_path / "out" / "qc.translated.jsonl", tmp_path / "cache.jsonl"
    argv = ["translate", str(data), "--model", str(mt_model), "--out", str(out), "--cache", str(cache),
            "--batch-size", "2", "--max-new-tokens", "4", "--no-progress"]  # fmt: skip
    assert cli_main(argv) == 0
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == ["a", "b", "c", "d"]
    assert all("query_en" in r for r in written)
    assert written[2]["query_en"] == "waist bag"
    assert written[0]["query_en"] == written[1]["query_en"]
    assert len(cache.read_text(encoding="utf-8").splitlines()) == 2  # two distinct non-English queries
    examples, report = load_examples(out)
    assert report.rows_kept == 4 and all(e.query_en for e in examples)

    # Second run: the output is identical and comes from the cache.
    out2 = tmp_path / "again.jsonl"
    assert cli_main([*argv[:5], str(out2), *argv[6:]]) == 0
    assert out2.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")

    assert (
        cli_main(["translate", str(tmp_path / "missing.jsonl"), "--model", str(mt_model), "--out", str(out2)])
        == 2
    )


def test_madlad_and_nllb_conventions_detected_from_vocabulary(tmp_path: Path) -> None:
    # MADLAD-400 vocabularies carry "<2xx>" target tokens, NLLB ones FLORES-200 language tokens.
    path = tiny.tiny_marian(tmp_path / "mt", extra_tokens=["<2en>", "eng_Latn", "spa_Latn", "kor_Hang"])
    mt = Seq2SeqTranslator(path, progress=False, max_new_tokens=3)
    assert mt.source_prefix == "<2en> "
    eng = mt.tokenizer.convert_tokens_to_ids("eng_Latn")
    assert mt.forced_bos_token_id == eng
    assert mt.source_lang_codes["ko"] == "kor_Hang"

    real_generate, firsts = mt.model.generate, []

    def generate(**kwargs):
        out = real_generate(**kwargs)
        firsts.extend(out[:, 1].tolist())  # the token after the decoder start
        return out

    mt.model.generate = generate
    out = mt.translate(["bolso de mujer", "여성 가방"], source_languages=["es", "ko"])
    assert len(out) == 2 and firsts == [eng, eng]  # English forced as the first generated token
    assert all("eng_Latn" not in text for text in out)  # special tokens are not part of the translation

    explicit = Seq2SeqTranslator(path, source_prefix="", target_lang_token="", progress=False)
    assert explicit.source_prefix == "" and explicit.forced_bos_token_id is None
