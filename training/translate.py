"""Translation augmentation: give every query an English translation (`Example.query_en`).

The method translates every query (train, dev and test) to English with an MT model and feeds the model
`"<query> - <translation>"`; the joining is `models.formatting`'s job (`InputSpec.uses_translation`), this
stage only fills `query_en`.

- `ApertiumTranslator` (in `models.translation`, which the service runs too) is the rule-based Apertium
  engine: es, and fr/pt/it through Spanish, on CPU in seconds; `engine_translator` builds it (or the seq2seq
  model) from a run's `translation` section.
- `Seq2SeqTranslator` (in `training.mt`) runs any local transformers seq2seq MT checkpoint: MADLAD-400
  (a `<2en> ` source prefix), NLLB-200 (`src_lang` codes and a forced `eng_Latn` first token) or Marian
  opus-mt-mul-en (nothing extra). The flavour is detected from the tokenizer's vocabulary.
- `CachedTranslator` translates each distinct (query, language) once, ever: results go to an append-only
  JSONL cache reused across runs, and English queries pass through untranslated.
- `PreTranslated` uses translations already in the data (the `query_en` column).

    python -m training translate train.jsonl --model models/mt/madlad400-3b-mt --out train.en.jsonl \\
        --cache cache/translations.jsonl --batch-size 32 --num-beams 4 --device cuda:0
    python -m training translate test.jsonl --model models/mt/nllb-200-distilled-600M --out test.en.jsonl \\
        --cache cache/translations.jsonl      # NLLB: src_lang codes and eng_Latn forced, detected

The cache is keyed by the model directory's name, so switching MT models never reuses another model's
translations, and train, dev and test files share one cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from models import Task
from models.io import atomic_write_text
from models.translation import APERTIUM_ROUTES, ApertiumTranslator, apertium_name
from training.config import ApertiumTranslation, ModelTranslation
from training.data import Example, load_examples
from training.data_cli import add_data_arguments
from training.data_write import write_examples
from training.mt import Seq2SeqTranslator, Translator, check_languages, clean_text, is_english

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# Disk cache: each distinct (query, language) is translated once, across runs
# --------------------------------------------------------------------------------------------------


class CachedTranslator:
    """Wrap a translator with an append-only JSONL cache keyed by (model, language, query).

    English queries are returned as they are. Misses are translated in chunks and appended after each
    chunk, so an interrupted run keeps what it already paid for. A torn last line (a crash mid-write) is
    ignored; damage anywhere else is an error, since silently re-translating would hide it.
    """

    def __init__(
        self,
        inner: Translator,
        cache_path: str | os.PathLike[str],
        *,
        model_name: str | None = None,
        chunk_size: int = 256,
    ) -> None:
        self.inner = inner
        self.cache_path = Path(cache_path)
        self.model_name = model_name or getattr(inner, "name", None) or type(inner).__name__
        self.chunk_size = chunk_size
        self.hits = 0
        self.misses = 0
        self._table: dict[tuple[str, str], str] = self._load()

    def _load(self) -> dict[tuple[str, str], str]:
        table: dict[tuple[str, str], str] = {}
        if not self.cache_path.exists():
            return table
        lines = self.cache_path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = (row["model"], row["lang"], row["text"])
                value = row["en"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                if number == len(lines):
                    # Drop the torn line now, or the next append would glue onto it.
                    log.warning("%s: dropping a torn last line (interrupted write)", self.cache_path)
                    atomic_write_text(self.cache_path, "".join(f"{kept}\n" for kept in lines[:-1]))
                    continue
                raise ValueError(
                    f"{self.cache_path}:{number}: not a translation cache line ({exc}); "
                    "fix or delete the cache file"
                ) from exc
            if key[0] == self.model_name:
                table[key[1:]] = value
        log.info(
            "translation cache %s: %d entries for model %s", self.cache_path, len(table), self.model_name
        )
        return table

    def __len__(self) -> int:
        return len(self._table)

    def _append(self, rows: Iterable[dict[str, str]]) -> None:
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with self.cache_path.open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def translate(self, texts: Sequence[str], *, source_languages: Sequence[str] | None = None) -> list[str]:
        check_languages(texts, source_languages)
        langs = (
            [(lang or "").strip().lower() for lang in source_languages]
            if source_languages
            else [""] * len(texts)
        )
        keys = [(lang, clean_text(text)) for lang, text in zip(langs, texts, strict=True)]

        missing: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for key in keys:
            if is_english(key[0]) or key in self._table or key in seen:
                continue
            seen.add(key)
            missing.append(key)
        self.misses += len(missing)
        self.hits += sum(1 for k in set(keys) if not is_english(k[0])) - len(missing)

        for start in range(0, len(missing), self.chunk_size):
            chunk = missing[start : start + self.chunk_size]
            translated = self.inner.translate(
                [text for _, text in chunk],
                source_languages=[lang for lang, _ in chunk] if source_languages else None,
            )
            if len(translated) != len(chunk):
                raise RuntimeError(f"translator returned {len(translated)} results for {len(chunk)} texts")
            rows = []
            for (lang, text), english in zip(chunk, translated, strict=True):
                self._table[(lang, text)] = clean_text(english)
                rows.append({"model": self.model_name, "lang": lang, "text": text, "en": clean_text(english)})
            self._append(rows)
        return [text if is_english(lang) else self._table[(lang, text)] for lang, text in keys]


# --------------------------------------------------------------------------------------------------
# Translations already in the data
# --------------------------------------------------------------------------------------------------


class PreTranslated:
    """Translations taken from the data's own `query_en` column (no model)."""

    name = "pre-translated"

    def __init__(self, table: Mapping[tuple[str, str], str]) -> None:
        self._table = {((lang or "").lower(), clean_text(text)): en for (lang, text), en in table.items()}

    @classmethod
    def from_examples(cls, examples: Sequence[Example]) -> PreTranslated:
        """Build from examples; every non-English query must have a translation in some row."""
        table: dict[tuple[str, str], str] = {}
        for ex in examples:
            if ex.query_en and ex.query_en.strip():
                table[(ex.language.lower(), clean_text(ex.query))] = clean_text(ex.query_en)
        missing = [
            ex
            for ex in examples
            if not is_english(ex.language) and (ex.language.lower(), clean_text(ex.query)) not in table
        ]
        if missing:
            shown = ", ".join(f"{ex.id} ({ex.language}: {ex.query!r})" for ex in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise ValueError(
                f"{len(missing)} non-English rows have no query_en translation: {shown}{more}. "
                "Fill the query_en column, or translate with an MT model (`python -m training translate`)."
            )
        return cls(table)

    def translate(self, texts: Sequence[str], *, source_languages: Sequence[str] | None = None) -> list[str]:
        check_languages(texts, source_languages)
        langs = [(lang or "").lower() for lang in source_languages] if source_languages else [""] * len(texts)
        out: list[str] = []
        missing: list[str] = []
        for lang, text in zip(langs, texts, strict=True):
            if is_english(lang):
                out.append(text)
                continue
            english = self._table.get((lang, clean_text(text)))
            if english is None:
                missing.append(f"{lang}: {text!r}")
            out.append(english or "")
        if missing:
            raise ValueError(f"no query_en translation for {len(missing)} queries: {', '.join(missing[:20])}")
        return out


# --------------------------------------------------------------------------------------------------
# A run's engine
# --------------------------------------------------------------------------------------------------


def engine_name(spec: ModelTranslation | ApertiumTranslation) -> str:
    """The name a run's engine caches its translations under (known without loading the engine)."""
    if isinstance(spec, ApertiumTranslation):
        return apertium_name(spec.languages or APERTIUM_ROUTES)
    return spec.model.name


def engine_translator(spec: ModelTranslation | ApertiumTranslation, *, cached: bool = True) -> Translator:
    """A run's MT engine, behind its cache when it has one (and `cached`)."""
    translator: Translator
    if isinstance(spec, ApertiumTranslation):
        translator = ApertiumTranslator(languages=spec.languages)
    else:
        translator = Seq2SeqTranslator(spec.model, batch_size=spec.batch_size, device=spec.device)
    if spec.cache is None or not cached:
        return translator
    return CachedTranslator(translator, spec.cache, model_name=engine_name(spec))


def overwrites(spec: ModelTranslation | ApertiumTranslation) -> bool:
    """Whether the engine replaces translations the data already has. Apertium does: the service fills a
    request's missing `query_en` with it, so the model must have seen its output on every row, not a
    column's (a routeless language gets none, as it does online). A seq2seq engine only fills gaps: the
    service cannot run it, so callers bring their own translations anyway."""
    return isinstance(spec, ApertiumTranslation)


# --------------------------------------------------------------------------------------------------
# Applying translations to examples
# --------------------------------------------------------------------------------------------------


def add_translations(
    examples: Sequence[Example], translator: Translator, *, overwrite: bool = False
) -> list[Example]:
    """Examples with `query_en` filled; each distinct (query, language) goes to the translator once.

    English queries get `query_en = query`. Rows that already carry a translation keep it unless
    `overwrite`. An empty translation (the MT model produced nothing) leaves `query_en` unset, so the
    formatter falls back to the query alone rather than appending `" - "`.
    """
    todo: dict[tuple[str, str], None] = {}
    for ex in examples:
        if is_english(ex.language) or (ex.query_en and not overwrite):
            continue
        todo.setdefault((ex.language.lower(), ex.query), None)
    keys = list(todo)
    translations: dict[tuple[str, str], str] = {}
    if keys:
        results = translator.translate([q for _, q in keys], source_languages=[lang for lang, _ in keys])
        if len(results) != len(keys):
            raise RuntimeError(f"translator returned {len(results)} results for {len(keys)} queries")
        translations = dict(zip(keys, (clean_text(r) for r in results), strict=True))
    empty = sum(1 for v in translations.values() if not v)
    if empty:
        log.warning("%d of %d queries got an empty translation; they keep the query alone", empty, len(keys))

    out: list[Example] = []
    for ex in examples:
        if is_english(ex.language):
            english: str | None = ex.query_en if (ex.query_en and not overwrite) else ex.query
        elif ex.query_en and not overwrite:
            english = ex.query_en
        else:
            english = translations[(ex.language.lower(), ex.query)] or None
        out.append(dataclasses.replace(ex, query_en=english))
    return out


# --------------------------------------------------------------------------------------------------
# CLI: python -m training translate DATA --model DIR --out FILE
# --------------------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "translate",
        help="add an English translation (query_en) to every query with a local MT model",
        description=(
            "Translate every non-English query to English with a local seq2seq MT checkpoint (MADLAD-400, "
            "NLLB-200, Marian opus-mt-mul-en, ...) and write the data back as JSONL with a query_en column. "
            "Each distinct (query, language) is translated once; --cache makes that true across runs."
        ),
    )
    add_data_arguments(p)
    p.add_argument("--model", type=Path, required=True, help="local seq2seq MT checkpoint directory")
    p.add_argument("--out", type=Path, required=True, help="output JSONL (written atomically)")
    p.add_argument("--cache", type=Path, default=None, help="JSONL translation cache reused across runs")
    p.add_argument("--batch-size", type=int, default=16, help="queries per generate() call (default 16)")
    p.add_argument("--num-beams", type=int, default=1, help="beam size (default 1: greedy)")
    p.add_argument(
        "--max-new-tokens", type=int, default=64, help="longest translation in tokens (default 64)"
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default cpu)")
    p.add_argument(
        "--dtype", default=None, help="model dtype (float32, bfloat16, float16); default: as saved"
    )
    p.add_argument(
        "--source-prefix",
        default=None,
        help="text put before every query, e.g. '<2en> ' for MADLAD-400 (default: detected)",
    )
    p.add_argument(
        "--target-lang-token",
        default=None,
        help="token forced as the first output token, e.g. eng_Latn for NLLB (default: detected)",
    )
    p.add_argument("--overwrite", action="store_true", help="re-translate rows that already have query_en")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    # Labels are optional: test data gets translated too, and every row is kept (no de-duplication).
    examples, report = load_examples(
        args.data, task=Task(args.task) if args.task else None, on_error=args.on_error, require_labels=False
    )
    log.info("%s", report.summary())
    translator: Translator = Seq2SeqTranslator(
        args.model,
        source_prefix=args.source_prefix,
        target_lang_token=args.target_lang_token,
        batch_size=args.batch_size,
        num_beams=args.num_beams,
        max_new_tokens=args.max_new_tokens,
        device=args.device,
        dtype=args.dtype,
        progress=not args.no_progress,
    )
    if args.cache is not None:
        translator = CachedTranslator(translator, args.cache)
    translated = add_translations(examples, translator, overwrite=args.overwrite)
    write_examples(args.out, translated)
    done = sum(1 for ex in translated if ex.query_en)
    log.info("wrote %d examples (%d with query_en) to %s", len(translated), done, args.out)
    return 0
