"""Tiny random-weight models and tokenizers trained on the spot: offline stand-ins for real bases.

Each builder writes a plain Hugging Face folder (config, safetensors, tokenizer) that the training
pipeline accepts as a base model, exactly like a downloaded one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

from models import InputSpec, Task, TaskSpec, TranslationSpec, card_model_dir

# Enough multilingual text that the tiny vocabularies cover the scripts the tests use.
CORPUS = [
    "women's handbags luggage & bags waist packs backpacks wallets",
    "mobile phones accessories cases covers chargers cables headphones",
    "home & garden kitchen cookware pots pans knives storage",
    "sports outdoors running shoes yoga mats cycling helmets",
    "beauty health skincare face cream lipstick perfume shampoo",
    "toys games puzzles dolls building blocks remote control cars",
    "computer office laptop keyboard mouse monitor printer",
    "bolso de mujer zapatillas running funda movil camiseta",
    "sac à main femme chaussures de sport coque téléphone robe",
    "bolsa feminina tênis corrida capinha celular vestido",
    "ドラクエ バッグ スマホケース ランニングシューズ 財布 イヤホン",
    "여성 가방 운동화 휴대폰 케이스 이어폰 지갑 원피스",
    "حقيبة نسائية حذاء رياضي غطاء هاتف",
    "damska torebka buty do biegania etui na telefon",
    "borsa donna scarpe da corsa cover telefono",
    "Damen Handtasche Laufschuhe Handyhülle Kopfhörer",
    "กระเป๋าผู้หญิง รองเท้าวิ่ง เคสโทรศัพท์",
] * 4


def wordpiece_tokenizer(vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A BERT-style tokenizer: [CLS] A [SEP] B [SEP] with token types."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def bpe_tokenizer(vocab_size: int = 800) -> PreTrainedTokenizerFast:
    """A decoder-style byte-level BPE tokenizer: <bos> A B <eos>, right padding with <pad>."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    bos, eos = tok.token_to_id("<bos>"), tok.token_to_id("<eos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>",
        pair="<bos> $A <eos> $B:1 <eos>:1",
        special_tokens=[("<bos>", bos), ("<eos>", eos)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=512,
    )


def _save(model, tokenizer, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def tiny_bert(path: Path, *, num_labels: int = 2, seed: int = 0, head_dim: int = 8) -> Path:
    """head_dim 8 keeps tests fast; vLLM's CPU attention needs head_dim >= 32."""
    import torch
    from transformers import BertConfig

    tokenizer = wordpiece_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=4 * head_dim,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=8 * head_dim,
        max_position_embeddings=512,
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return _save(AutoModelForSequenceClassification.from_config(config), tokenizer, path)


def _tiny_decoder(path: Path, config_class: type, *, num_labels: int, seed: int, **arch: Any) -> Path:
    """A 2-layer decoder classifier; head_dim 32 is the smallest vLLM's CPU attention accepts (the vLLM
    tests serve these)."""
    import torch

    tokenizer = bpe_tokenizer()
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        head_dim=32,
        max_position_embeddings=512,
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **arch,
    )
    torch.manual_seed(seed)
    return _save(AutoModelForSequenceClassification.from_config(config), tokenizer, path)


def tiny_qwen3(path: Path, *, num_labels: int = 2, seed: int = 0) -> Path:
    from transformers import Qwen3Config

    return _tiny_decoder(
        path, Qwen3Config, num_labels=num_labels, seed=seed, num_key_value_heads=2, tie_word_embeddings=False
    )


def tiny_gemma3(path: Path, *, num_labels: int = 2, seed: int = 0) -> Path:
    from transformers import Gemma3TextConfig

    return _tiny_decoder(
        path, Gemma3TextConfig, num_labels=num_labels, seed=seed, num_key_value_heads=1, sliding_window=64
    )


BUILDERS = {"bert": tiny_bert, "qwen3": tiny_qwen3, "gemma3": tiny_gemma3}


def tiny_gemma3_multimodal(path: Path, *, seed: int = 0) -> Path:
    """A random Gemma 3 vision-language checkpoint laid out like the Hub's 4B/12B/27B releases
    (`Gemma3ForConditionalGeneration`: SigLIP tower, projector, language model; one config with
    `text_config` and `vision_config`). Its text side carries what the real ones have and the default
    tiny decoder lacks: sliding and full attention layers, linear RoPE scaling on the full ones, a
    query scale other than head_dim. head_dim 32: vLLM's CPU attention serves nothing smaller."""
    import torch
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    tokenizer = bpe_tokenizer()
    vocab = len(tokenizer)
    text = Gemma3TextConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, max_position_embeddings=512, sliding_window=16,
        layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=64,
        rope_parameters={
            "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    vision = SiglipVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
        patch_size=14,
    )  # fmt: skip
    # The image tokens are ids the test text never produces (the last three of the vocabulary).
    config = Gemma3Config(
        text_config=text, vision_config=vision, mm_tokens_per_image=1, image_token_index=vocab - 1,
        boi_token_index=vocab - 2, eoi_token_index=vocab - 3,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    # Gemma's norm weights start at zero (scale 1 + w); random ones make every layer matter.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.normal_(0.0, 0.3)
    return _save(model, tokenizer, path)


def tiny_marian(path: Path, *, extra_tokens: tuple[str, ...] | list[str] = ()) -> Path:
    """A tiny random Marian MT checkpoint with the BPE test tokenizer, saved as safetensors: a stand-in
    for MADLAD-400 / NLLB / opus-mt (`extra_tokens` give it their language tokens)."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    tokenizer = bpe_tokenizer()
    if extra_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": list(extra_tokens)})
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
        # A wide init makes the random model's output depend on its input, so order bugs would show.
        init_std=1.0, scale_embedding=False, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


SENTENCE_PROMPTS = {"query": "task: search result | query: ", "document": "title: none | text: "}


def tiny_sentence_encoder(path: Path, *, seed: int = 0, dim: int = 16) -> Path:
    """A random bidirectional Gemma3 encoder exported like EmbeddingGemma (a sentence-transformers folder:
    mean pooling, two Dense layers, normalise, query/document prompts): a bi-encoder base. head_dim 32:
    vLLM's CPU attention has no kernel for smaller heads."""
    import json

    import torch
    from safetensors.torch import save_file
    from transformers import Gemma3TextConfig, Gemma3TextModel

    tokenizer = bpe_tokenizer()
    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=dim, intermediate_size=2 * dim, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, sliding_window=512,
        use_bidirectional_attention=True, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    _save(Gemma3TextModel(config), tokenizer, path)
    identity = {"activation_function": "torch.nn.modules.linear.Identity", "bias": False}
    kinds = {"": "Transformer", "1_Pooling": "Pooling", "2_Dense": "Dense", "3_Dense": "Dense"}
    kinds["4_Normalize"] = "Normalize"
    files = {
        "modules.json": [
            {"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{t}"}
            for i, (p, t) in enumerate(kinds.items())
        ],
        "1_Pooling/config.json": {"word_embedding_dimension": dim, "pooling_mode_mean_tokens": True},
        "2_Dense/config.json": {"in_features": dim, "out_features": 2 * dim, **identity},
        "3_Dense/config.json": {"in_features": 2 * dim, "out_features": dim, **identity},
        "sentence_bert_config.json": {"max_seq_length": 64},
        "config_sentence_transformers.json": {"prompts": SENTENCE_PROMPTS},
    }
    for name, content in files.items():
        (path / name).parent.mkdir(exist_ok=True)
        (path / name).write_text(json.dumps(content))
    for name, (n_in, n_out) in {"2_Dense": (dim, 2 * dim), "3_Dense": (2 * dim, dim)}.items():
        save_file({"linear.weight": torch.randn(n_out, n_in)}, str(path / name / "model.safetensors"))
    return path


def card_checkpoint(
    path: Path,
    *,
    tasks: tuple[Task, ...] = (Task.QC,),
    name: str = "tiny",
    max_length: int = 64,
    thresholds: dict[Task, float] | None = None,
    arch: str = "bert",
    **model_kwargs: Any,
) -> Path:
    """A servable checkpoint straight from a random tiny model (no training): for service tests."""
    BUILDERS[arch](path, **model_kwargs)
    prefixes = {Task.QC: "[qc] ", Task.QI: "[qi] "} if len(tasks) > 1 else {}
    card_model_dir(
        path,
        name=name,
        tasks=tasks,
        base_model=f"tiny-{arch}",
        input_spec=InputSpec(max_length=max_length, task_prefix=prefixes),
        thresholds=thresholds or dict.fromkeys(tasks, 0.5),
    )
    return path


def apertium_checkpoint(
    path: Path, *, name: str = "tiny-qc-apertium", languages: tuple[str, ...] = ("es", "fr"), seed: int = 3
) -> Path:
    """A QC checkpoint whose card says it was trained on Apertium translations of `languages` queries
    (random tiny BERT, not trained): the service fills a missing `query_en` for it."""
    tiny_bert(path, seed=seed)
    spec = InputSpec(
        max_length=64,
        uses_translation=True,
        translation=TranslationSpec(engine="apertium", languages=list(languages)),
    )
    card_model_dir(
        path, name=name, tasks=[Task.QC], base_model="tiny-bert", input_spec=spec, thresholds={Task.QC: 0.5}
    )
    return path


# A toy third task (query -> query), registered only by the tests that show a new task is one registry
# entry (tests/test_new_task.py, tests/service/test_service_tasks.py); no package file knows it.
TOY_TASK = TaskSpec(
    name="qq",
    target_field="other_query",
    target_label="other query",
    summary="Score query-query pairs",
    target_description="the query to compare with",
    task_prefix="query-query: ",
    warmup=("running shoes", "trail running shoes"),
    check_pairs=(("running shoes", "trail runners"), ("garden hose", "tea cup")),
)


def fake_apertium(folder: Path, body: str) -> str:
    """An `apertium` that lists the real modes and runs `body` for a translation: a fake engine
    only to make translation fail or hang."""
    folder.mkdir(exist_ok=True)
    path = folder / "apertium"
    modes = r"spa-eng\nfr-es\npt-es\nita-spa\n"
    path.write_text(f'#!/bin/sh\nif [ "$1" = -l ]; then printf "{modes}"; exit 0; fi\n{body}\n')
    path.chmod(0o755)
    return str(path)
