"""The bi-encoder recipe end to end: CV record, resume, published checkpoint, offline predict, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from models import Task, open_checkpoint
from training.head import embeddings_dir, load_head_config, run_head


def test_run_cross_validates_and_publishes_a_checkpoint(biencoder_run) -> None:
    _, record = biencoder_run
    assert (
        record["scored_folds"] == [0, 1] and sum(f["n"] for f in record["per_fold"].values()) == record["n"]
    )
    metrics = record["metrics"]
    assert 0.0 <= metrics["roc_auc"] <= 1.0 and metrics["baseline_all_positive_f1"] > 0
    assert set(metrics["by_language"]) >= {"es", "ja"}
    ckpt = open_checkpoint(record["checkpoint"], task=Task.QC)  # sha256 of base + head verified
    card = ckpt.card
    assert card.kind == "bi-encoder" and card.num_labels == 1 and card.architecture == "Gemma3TextModel"
    assert card.thresholds[Task.QC] == pytest.approx(record["threshold_from_oof"])
    assert card.threshold_protocol.startswith("F1-max on the pooled out-of-fold scores of 2 fold head(s)")
    assert card.metrics[Task.QC].roc_auc == pytest.approx(metrics["roc_auc"])
    assert card.training["recipe"] == "training.head"
    assert (ckpt.path / "relevance_head" / "model.safetensors").is_file() and (ckpt.path / "2_Dense").is_dir()


def test_a_second_run_resumes_from_the_cached_embeddings_and_folds(biencoder_run) -> None:
    config, record = biencoder_run
    cached = sorted(p.name for p in (config.work / embeddings_dir(config)).iterdir())
    again = run_head(config)
    assert (
        sorted(p.name for p in (config.work / embeddings_dir(config)).iterdir()) == cached
    )  # nothing re-embedded
    assert again["metrics"]["roc_auc"] == record["metrics"]["roc_auc"]  # the saved OOF scores were read


def test_only_folds_runs_the_named_folds(biencoder_run, tmp_path: Path) -> None:
    config, _ = biencoder_run
    budget = config.model_copy(
        update={"only_folds": [1], "work_dir": tmp_path / "w", "models_dir": tmp_path / "m"}
    )
    record = run_head(budget)
    assert record["scored_folds"] == [1]
    assert record["per_fold"][1]["n"] < record["n"]


def test_offline_predict_scores_with_the_bi_encoder(biencoder_run, tmp_path: Path) -> None:
    from models.loading import load_model, load_pair_encoder
    from training.data import load_examples
    from training.predict import predict

    config, record = biencoder_run
    scores = predict(checkpoint=record["checkpoint"], data=config.data, out=tmp_path / "sub.jsonl")
    ckpt = open_checkpoint(record["checkpoint"])
    examples, _ = load_examples(config.data, task=Task.QC)
    direct = load_model(ckpt).score_pairs(load_pair_encoder(ckpt).encode_batch([e.pair() for e in examples]))
    assert np.allclose(scores, direct, atol=1e-6)
    rows = [json.loads(line) for line in (tmp_path / "sub.jsonl").read_text().splitlines()]
    assert len(rows) == len(examples)


def test_cli_writes_the_report(biencoder_run, tmp_path: Path) -> None:
    from training.cli import main

    config, _ = biencoder_run
    path = tmp_path / "head.yaml"
    raw = config.model_dump(mode="json") | {"models_dir": str(tmp_path / "m")}
    path.write_text(yaml.safe_dump(raw))
    assert load_head_config(path) == config.model_copy(update={"models_dir": tmp_path / "m"})
    assert main(["head", "--config", str(path), "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert Path(report["checkpoint"]).parent == tmp_path / "m"


def test_a_bad_config_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "head.yaml"
    path.write_text("name: x\ntask: qc\ndata: d.csv\nbase_model: b\nhead: {hiden: 3}\n")
    with pytest.raises(ValueError, match="hiden"):
        load_head_config(path)


def test_an_ensemble_is_one_head_whose_logit_is_the_mean() -> None:
    import torch

    from models.head import build_net, head_inputs
    from training.head_fit import merge_heads

    torch.manual_seed(0)
    heads = [build_net(65, kind="mlp", hidden=8).eval() for _ in range(3)]
    merged = merge_heads(heads)
    x = head_inputs(torch.randn(5, 16), torch.randn(5, 16), kind="mlp")
    mean = torch.stack([h(x) for h in heads]).mean(0)
    assert merged[1].out_features == 24
    assert torch.allclose(merged(x), mean, atol=1e-6)


def test_changed_head_settings_do_not_reuse_saved_folds(biencoder_run, tmp_path: Path) -> None:
    config, record = biencoder_run
    changed = config.model_copy(
        update={"head": config.head.model_copy(update={"epochs": 1}), "models_dir": tmp_path}
    )
    again = run_head(changed)
    assert again["metrics"]["roc_auc"] != record["metrics"]["roc_auc"]
    assert len(list(config.work.glob("oof-*-fold0.npy"))) == 2


def test_shipped_head_configs_are_valid() -> None:
    configs = Path(__file__).resolve().parents[2] / "training" / "configs" / "head"
    runs = {p.stem: load_head_config(p) for p in configs.glob("*.yaml")}
    assert {
        "qc_embeddinggemma",
        "qi_embeddinggemma",
        "qi_embeddinggemma_quarter",
        "qc_embeddinggemma_gpu",
        "qc_embeddinggemma_apertium",
    } <= set(runs)
    qc, gpu = runs["qc_embeddinggemma"], runs["qc_embeddinggemma_gpu"]
    assert qc.task == Task.QC and qc.base_model == "embeddinggemma-300m" and qc.head.ensemble == 5
    assert gpu.device == "cuda" and gpu.head == qc.head  # the same recipe, embedding elsewhere
    # The base QC recipe plus Apertium, embedding only what the base run's cache lacks.
    apertium = runs["qc_embeddinggemma_apertium"]
    same = {"name", "translation", "embeddings_cache"}
    assert apertium.model_dump(exclude=same) == qc.model_dump(exclude=same) and qc.translation == "none"
    assert apertium.input.translation.languages == ["es", "fr", "it", "pt"]
    assert apertium.embeddings_cache == qc.work / embeddings_dir(qc)
    assert runs["qi_embeddinggemma"].task == Task.QI
    # The base QC recipe plus cross-task pre-training on the QI quarter, with that run's embeddings.
    pretrained, quarter = runs["qc_embeddinggemma_pretrain_qi"], runs["qi_embeddinggemma_quarter"]
    same = {"name", "pretrain", "embeddings_cache"}
    assert pretrained.model_dump(exclude=same) == qc.model_dump(exclude=same)
    assert pretrained.embeddings_cache == qc.work / embeddings_dir(qc)
    assert pretrained.pretrain.task == quarter.task and pretrained.pretrain.data == quarter.data
    assert pretrained.pretrain.embeddings_cache == quarter.work / embeddings_dir(quarter)


def test_a_linear_head_reading_word_overlap_is_published_and_served_alike(
    biencoder_run, tmp_path: Path
) -> None:
    from models.head import RelevanceHead
    from models.loading import load_model, load_pair_encoder
    from training.data import load_examples
    from training.head_fit import HeadSettings
    from training.predict import predict

    config, _ = biencoder_run
    linear = config.model_copy(
        update={"head": HeadSettings(kind="linear", C=1.0, lexical=True), "models_dir": tmp_path / "m"}
    )
    record = run_head(linear)
    assert record["system"].endswith("-linear+words") and 0.0 <= record["metrics"]["roc_auc"] <= 1.0
    ckpt = open_checkpoint(record["checkpoint"])
    head = RelevanceHead.load(ckpt.path)
    assert head.kind == "linear" and head.lexicon is not None
    examples, _ = load_examples(config.data, task=Task.QC)
    direct = load_model(ckpt).score_pairs(load_pair_encoder(ckpt).encode_batch([e.pair() for e in examples]))
    offline = predict(checkpoint=ckpt.path, data=config.data, out=tmp_path / "sub.jsonl")
    assert np.allclose(offline, direct, atol=1e-6)


def test_a_linear_head_is_not_an_ensemble() -> None:
    from training.head_fit import HeadSettings

    with pytest.raises(ValueError, match="ensemble must be 1"):
        HeadSettings(kind="linear", ensemble=3)


def test_a_translated_run_embeds_english_queries_and_records_the_engine(
    biencoder_run, apertium, tmp_path: Path
) -> None:
    import shutil

    from models import TranslationSpec
    from models.biencoder import QUERY_PROMPT
    from models.formatting import format_query
    from training.config import ApertiumTranslation
    from training.data import load_examples
    from training.head import _cv_key, embeddings_folder
    from training.head_embed import _key

    config, _ = biencoder_run
    shared = tmp_path / "embeddings"  # a copy: the session's run stays as it was
    shutil.copytree(embeddings_folder(config), shared)
    translated = config.model_copy(
        update={
            "name": "tiny-bi-qc-apertium",
            "translation": ApertiumTranslation(engine="apertium", languages=["es", "fr"]),
            "embeddings_cache": shared,
            "work_dir": tmp_path / "w",
            "models_dir": tmp_path / "m",
        }
    )
    assert _cv_key(translated) != _cv_key(config)  # folds scored without translation are not reused
    record = run_head(translated)

    card = open_checkpoint(record["checkpoint"]).card
    assert card.input.uses_translation
    assert card.input.translation == TranslationSpec(engine="apertium", languages=["es", "fr"])
    assert record["translation"] == "apertium" and record["system"].endswith("+apertium")
    # Queries were embedded as the service formats them: "<query> - <Apertium's English>", Apertium's
    # even where the data has its own query_en column; only those were new to the base run's cache.
    examples, _ = load_examples(config.data, task=Task.QC)
    routed = [e for e in examples if e.language in ("es", "fr")]
    english = apertium.translate([e.query for e in routed], source_languages=[e.language for e in routed])
    pairs = zip(routed, english, strict=True)
    formatted = {format_query(e.query, en, card.input, Task.QC) for e, en in pairs}
    new = formatted - {" ".join(e.query.split()) for e in routed}  # the rest is the untranslated run's
    assert new and record["encode_seconds"]["texts"] == len(new)
    cached = set()
    for part in shared.glob(f"{QUERY_PROMPT}-*.npz"):
        with np.load(part) as saved:
            cached.update(saved["keys"].tolist())
    assert {_key(QUERY_PROMPT, text) for text in new} <= cached
    column = {format_query(e.query, e.query_en, card.input, Task.QC) for e in routed} - formatted
    assert column and not {_key(QUERY_PROMPT, text) for text in column} & cached
    # A shared folder must hold embeddings of the same encoder settings.
    with pytest.raises(ValueError, match="holds embeddings of"):
        embeddings_folder(translated.model_copy(update={"max_length": 64}))
    # Offline predict gives the model the input it was trained on: Apertium's English, not the column's.
    from models.loading import load_model, load_pair_encoder
    from models.translation import ApertiumTranslator
    from training.predict import predict
    from training.translate import add_translations

    ckpt = open_checkpoint(record["checkpoint"])
    scores = predict(checkpoint=ckpt.path, data=config.data, out=tmp_path / "sub.jsonl")
    as_trained = add_translations(examples, ApertiumTranslator(languages=["es", "fr"]), overwrite=True)
    pairs = load_pair_encoder(ckpt).encode_batch([e.pair() for e in as_trained])
    assert np.allclose(scores, load_model(ckpt).score_pairs(pairs), atol=1e-6)
    column = load_model(ckpt).score_pairs(load_pair_encoder(ckpt).encode_batch([e.pair() for e in examples]))
    assert not np.allclose(scores, column, atol=1e-6)
