"""Fine-tuning on tiny offline models: learns, keeps the last step, resumes, starts from another task."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from toydata import toy_examples

from models import Task
from training.config import TrainConfig
from training.finetune import META_FILENAME, finetune

pytestmark = pytest.mark.slow


def config(base, **overrides) -> TrainConfig:
    fields = dict(
        base_model=str(base),
        max_length=48,
        learning_rate=3e-3,
        epochs=6,
        batch_size=16,
        eval_steps=6,
        logging_steps=3,
        lora={"r": 8, "alpha": 16},
    )
    return TrainConfig(**{**fields, **overrides})


def mean_loss(history, *, last: bool) -> float:
    part = history[-3:] if last else history[:3]
    return float(np.mean([loss for _, loss in part]))


def test_lora_learns_and_keeps_the_last_step(tiny_base, tmp_path):
    from sklearn.metrics import roc_auc_score

    train, held = toy_examples(n=96), toy_examples(n=24, seed=1, prefix="e")
    # A random tiny encoder sits on a loss plateau for a thread-count-dependent number of steps before it
    # starts to learn; 10 epochs leave room for that on any machine.
    cfg = config(tiny_base("bert"), epochs=10)
    result = finetune(train=train, eval=held, config=cfg, output_dir=tmp_path)

    assert mean_loss(result.loss_history, last=True) < 0.6 * mean_loss(result.loss_history, last=False)
    steps = [s for s, _ in result.history]
    assert steps == list(range(6, 61, 6))  # every eval_steps, and the last step
    f1 = [v for _, v in result.history]
    assert max(f1) >= 0.9
    # Eval scores are the last step's (no step is picked on eval F1), in `eval` order: they rank relevant
    # pairs above irrelevant ones.
    assert result.total_steps == steps[-1]
    assert np.array_equal(result.eval_scores, result.eval_scores_by_step[steps[-1]])
    labels = np.array([e.label for e in held])
    assert result.eval_scores.shape == (len(held),)
    assert roc_auc_score(labels, result.eval_scores) >= 0.9
    files = {p.name for p in result.model_dir.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", META_FILENAME} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth"))]
    meta = json.loads((result.model_dir / META_FILENAME).read_text())
    assert meta["total_steps"] == result.total_steps and meta["full_finetune"] is False
    assert "best_step" not in meta


def test_full_finetune_of_a_decoder_learns(tiny_base, tmp_path):
    train = toy_examples(n=64)
    cfg = config(
        tiny_base("qwen3"), full_finetune=True, learning_rate=1e-3, epochs=4, batch_size=8, logging_steps=4
    )
    result = finetune(train=train, eval=None, config=cfg, output_dir=tmp_path)

    assert result.history == [] and result.eval_scores is None
    assert result.total_steps == 32
    assert mean_loss(result.loss_history, last=True) < 0.6 * mean_loss(result.loss_history, last=False)
    assert (result.model_dir / "model.safetensors").is_file()


def test_resume_continues_from_the_last_checkpoint(tiny_base, tmp_path, caplog):
    import shutil

    train, held = toy_examples(n=32), toy_examples(n=12, seed=1, prefix="e")
    cfg = config(tiny_base("bert"), max_steps=8, eval_steps=4, batch_size=8, save_total_limit=3)
    finetune(train=train, eval=held, config=cfg, output_dir=tmp_path)
    # Simulate a run killed after step 4: drop what came later.
    shutil.rmtree(tmp_path / "checkpoint-8")
    shutil.rmtree(tmp_path / "final")

    with caplog.at_level(logging.INFO, logger="training.finetune"):
        result = finetune(train=train, eval=held, config=cfg, output_dir=tmp_path, resume=True)
    assert any("resuming from" in r.message and r.message.endswith("checkpoint-4") for r in caplog.records)
    assert result.total_steps == 8
    assert [s for s, _ in result.history] == [4, 8]  # step 4's eval comes from the restored state


def test_cross_task_pretraining_initialises_the_model(tiny_base, tmp_path):
    from training.merge import export_merged, load_trained

    pre_cfg = config(tiny_base("bert"), tasks=[Task.QI], max_steps=6)
    pre = finetune(train=toy_examples(Task.QI, n=48), eval=None, config=pre_cfg, output_dir=tmp_path / "pre")
    merged = export_merged(model_dir=pre.model_dir, dest=tmp_path / "pre-merged")

    cfg = config(tiny_base("bert"), max_steps=2)
    result = finetune(
        train=toy_examples(n=32), eval=None, config=cfg, output_dir=tmp_path / "qc", init_from=merged
    )
    meta = json.loads((result.model_dir / META_FILENAME).read_text())
    assert meta["base_dir"] == str(merged.resolve()) and meta["init_from"] == str(merged)
    # The adapter sits on the pre-trained weights, not on the raw base.
    model, _, _ = load_trained(result.model_dir)
    base = model.get_base_model()
    pre_model, _, _ = load_trained(pre.model_dir)
    name = "bert.encoder.layer.0.attention.self.query.base_layer.weight"
    pre_weight = dict(pre_model.merge_and_unload().named_parameters())[name.replace(".base_layer", "")]
    assert np.allclose(dict(base.named_parameters())[name].detach().numpy(), pre_weight.detach().numpy())


def test_full_finetune_with_frozen_embeddings_trains_everything_else(tiny_base, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    base = tiny_base("bert")
    cfg = config(base, full_finetune=True, freeze_embeddings=True, learning_rate=1e-3, epochs=1, batch_size=8)
    result = finetune(train=toy_examples(n=32), eval=None, config=cfg, output_dir=tmp_path)

    before = AutoModelForSequenceClassification.from_pretrained(base).state_dict()
    after = load_file(result.model_dir / "model.safetensors")
    embedding = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(after[embedding], before[embedding])
    moved = [k for k in after if k != embedding and k in before and not torch.equal(after[k], before[k])]
    assert "bert.encoder.layer.0.attention.self.query.weight" in moved
    with pytest.raises(ValueError, match="freeze_embeddings is for full_finetune"):
        TrainConfig(base_model="x", freeze_embeddings=True)


def test_bad_inputs_fail_clearly(tiny_base, tmp_path):
    from dataclasses import replace

    cfg = config(tiny_base("bert"))
    with pytest.raises(ValueError, match=r"holds \['qi'\] examples"):
        finetune(train=toy_examples(Task.QI, n=8), eval=None, config=cfg, output_dir=tmp_path)
    unlabelled = [replace(e, label=None) for e in toy_examples(n=4)]
    with pytest.raises(ValueError, match="4 of 4 examples have no label"):
        finetune(train=unlabelled, eval=None, config=cfg, output_dir=tmp_path)
    with pytest.raises(ValueError, match="exceeds the base model's 512 positions"):
        finetune(
            train=toy_examples(n=4),
            eval=None,
            config=config(tiny_base("bert"), max_length=2048),
            output_dir=tmp_path,
        )
    with pytest.raises(ValueError, match="extra"):
        TrainConfig(base_model="x", lerning_rate=1.0)


def test_finetune_cli(tiny_base, tmp_path):
    import yaml

    from training.cli import main
    from training.data_write import write_examples

    data = tmp_path / "qc.jsonl"
    write_examples(data, toy_examples(n=16))
    run_config = {
        "name": "x",
        "tasks": ["qc"],
        "data": {"qc": str(data)},
        "train": {"base_model": str(tiny_base("bert")), "max_length": 32, "max_steps": 2, "batch_size": 4},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run_config))
    out = tmp_path / "out"
    args = [
        "finetune",
        "--config",
        str(tmp_path / "run.yaml"),
        "--train",
        str(data),
        "--output-dir",
        str(out),
    ]
    assert main(args) == 0
    assert json.loads((out / "final" / META_FILENAME).read_text())["total_steps"] == 2
    assert main([*args[:3], "--train", str(tmp_path / "missing.jsonl"), "--output-dir", str(out)]) == 2


def test_a_base_with_a_head_of_another_size_gets_a_fresh_head(tiny_base):
    from training.finetune import load_classifier

    two_label_base = tiny_base("qwen3")  # carries a 2-label score head
    model = load_classifier(two_label_base, num_labels=1, pad_token_id=0)
    assert tuple(model.score.weight.shape) == (1, model.config.hidden_size)
