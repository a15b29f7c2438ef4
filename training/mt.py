"""Machine translation to English with a local seq2seq model (`Seq2SeqTranslator`), for GPU users; the
`Translator` protocol and the rule-based `ApertiumTranslator` live in `models.translation` (the service
runs that one too).

`Seq2SeqTranslator` runs any local transformers seq2seq MT checkpoint: MADLAD-400 (a `<2en> ` source
prefix), NLLB-200 (`src_lang` codes and a forced `eng_Latn` first token) or Marian opus-mt-mul-en
(nothing extra). The flavour is detected from the tokenizer's vocabulary; options override it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.translation import ApertiumTranslator, Translator, check_languages, clean_text, is_english

__all__ = ["NLLB_CODES", "ApertiumTranslator", "Seq2SeqTranslator", "Translator", "clean_text", "is_english"]

log = logging.getLogger(__name__)

# Competition language codes -> NLLB-200 (FLORES-200) codes. "vn" is how the challenge data spells
# Vietnamese; both spellings are accepted.
NLLB_CODES: dict[str, str] = {
    "en": "eng_Latn", "es": "spa_Latn", "fr": "fra_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang",
    "pt": "por_Latn", "th": "tha_Thai", "ar": "arb_Arab", "de": "deu_Latn", "it": "ita_Latn",
    "pl": "pol_Latn", "id": "ind_Latn", "vi": "vie_Latn", "vn": "vie_Latn", "zh": "zho_Hans",
    "ru": "rus_Cyrl", "tr": "tur_Latn", "nl": "nld_Latn", "he": "heb_Hebr", "hi": "hin_Deva",
    "uk": "ukr_Cyrl", "ms": "zsm_Latn", "sv": "swe_Latn", "cs": "ces_Latn", "ro": "ron_Latn",
}  # fmt: skip


# --------------------------------------------------------------------------------------------------
# A local seq2seq MT model
# --------------------------------------------------------------------------------------------------


class Seq2SeqTranslator:
    """Translate to English with a local transformers seq2seq checkpoint (safetensors, no remote code).

    Texts are grouped by source language (NLLB needs one `src_lang` per batch), sorted by length within
    a group so batches carry little padding, and returned in input order.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        source_prefix: str | None = None,
        target_lang_token: str | None = None,
        source_lang_codes: Mapping[str, str] | None = None,
        batch_size: int = 16,
        num_beams: int = 1,
        max_new_tokens: int = 64,
        max_input_tokens: int = 256,
        device: str = "cpu",
        dtype: str | None = None,
        progress: bool = True,
    ) -> None:
        if batch_size < 1 or num_beams < 1 or max_new_tokens < 1 or max_input_tokens < 1:
            raise ValueError("batch_size, num_beams, max_new_tokens and max_input_tokens must be >= 1")
        path = Path(model_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"translation model directory not found: {path}")
        if not any(path.glob("*.safetensors")):
            raise ValueError(
                f"{path} has no *.safetensors weights; only safetensors checkpoints are loaded "
                "(convert .bin weights with `save_pretrained(..., safe_serialization=True)`)"
            )
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from models.loading import torch_dtype

        self.path = path
        self.name = path.name
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        model = AutoModelForSeq2SeqLM.from_pretrained(
            path,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            **({"dtype": torch_dtype(dtype)} if dtype else {}),
        )
        self.model = model.to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.max_input_tokens = max_input_tokens
        self.progress = progress

        vocab = self.tokenizer.get_vocab()
        # Flavour detection from the vocabulary: MADLAD-400 has `<2xx>` target tokens, NLLB has
        # FLORES-200 language tokens. An explicit option (even "") always wins.
        if source_prefix is None:
            source_prefix = "<2en> " if "<2en>" in vocab else ""
        if target_lang_token is None and "eng_Latn" in vocab:
            target_lang_token = "eng_Latn"
        if source_lang_codes is None and target_lang_token == "eng_Latn":
            source_lang_codes = NLLB_CODES
        self.source_prefix = source_prefix
        self.source_lang_codes = dict(source_lang_codes or {})
        self.forced_bos_token_id: int | None = None
        if target_lang_token:
            if target_lang_token not in vocab:
                raise ValueError(f"target language token {target_lang_token!r} is not in {path}'s vocabulary")
            self.forced_bos_token_id = vocab[target_lang_token]
        self._generate_kwargs: dict[str, Any] = (
            {"forced_bos_token_id": self.forced_bos_token_id} if self.forced_bos_token_id is not None else {}
        )
        log.info(
            "translator %s: prefix=%r target token=%r source codes=%s",
            self.name,
            self.source_prefix,
            target_lang_token,
            "yes" if self.source_lang_codes else "no",
        )

    def _src_code(self, language: str | None) -> str | None:
        if not self.source_lang_codes or language is None:
            return None
        code = self.source_lang_codes.get(language.strip().lower())
        if code is None:
            raise ValueError(
                f"no source language code for {language!r}; known: {sorted(self.source_lang_codes)} "
                "(pass a source_lang_codes mapping that covers it)"
            )
        return code

    def translate(self, texts: Sequence[str], *, source_languages: Sequence[str] | None = None) -> list[str]:
        check_languages(texts, source_languages)
        if not texts:
            return []
        import torch
        from tqdm.auto import tqdm

        groups: dict[str | None, list[int]] = {}
        for i in range(len(texts)):
            code = self._src_code(source_languages[i] if source_languages else None)
            groups.setdefault(code, []).append(i)

        out: list[str] = [""] * len(texts)
        bar = tqdm(total=len(texts), desc=f"translate ({self.name})", unit="q", disable=not self.progress)
        with torch.inference_mode():
            for code, indices in groups.items():
                if code is not None:
                    self.tokenizer.src_lang = code
                sources = [self.source_prefix + clean_text(texts[i]) for i in indices]
                order = sorted(range(len(indices)), key=lambda j: len(sources[j]))
                for start in range(0, len(order), self.batch_size):
                    chunk = order[start : start + self.batch_size]
                    batch = self.tokenizer(
                        [sources[j] for j in chunk],
                        return_tensors="pt",
                        padding=True,
                        truncation=True,
                        max_length=self.max_input_tokens,
                    ).to(self.device)
                    batch.pop("token_type_ids", None)
                    generated = self.model.generate(
                        **batch,
                        num_beams=self.num_beams,
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        **self._generate_kwargs,
                    )
                    decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
                    for j, text in zip(chunk, decoded, strict=True):
                        out[indices[j]] = clean_text(text)
                    bar.update(len(chunk))
        bar.close()
        return out
