"""Merging adapters into checkpoints: merged == adapter scores, refusal when they differ, a valid card."""

from __future__ import annotations

import numpy as np
import pytest
from toydata import toy_examples

from models import ModelStore, Task, open_checkpoint
from models.inference import score_encoded
from models.loading import load_model, load_tokenizer
from training.config import TrainConfig
from training.finetune import finetune
from training.merge import MergeError, merge_to_checkpoint

pytestmark = pytest.mark.slow


def served_scores(path, examples):
    """Scores the way the torch backend computes them: open_checkpoint -> PairEncoder -> score_encoded."""
    from models import PairEncoder

    ckpt = open_checkpoint(path)
    model = load_model(ckpt)
    encoded = PairEncoder(load_tokenizer(ckpt), ckpt.card.input).encode_batch([e.pair() for e in examples])
    return score_encoded(model, encoded, pad_id=model.config.pad_token_id)


@pytest.fixture(scope="module")
def joint_run(tiny_base, tmp_path_factory):
    """A joint QC+QI LoRA model on a decoder base (tiny Qwen3), trained with held-out eval."""
    out = tmp_path_factory.mktemp("joint")
    cfg = TrainConfig(
        base_model=str(tiny_base("qwen3")),
        tasks=[Task.QC, Task.QI],
        max_length=48,
        learning_rate=3e-3,
        epochs=4,
        batch_size=16,
        eval_steps=8,
        lora={"r": 8, "alpha": 16},
    )
    train = toy_examples(Task.QC, n=64) + toy_examples(Task.QI, n=64)
    held = toy_examples(Task.QC, n=24, seed=1, prefix="e") + toy_examples(Task.QI, n=24, seed=1, prefix="e")
    return cfg, finetune(train=train, eval=held, config=cfg, output_dir=out), held


def test_merged_checkpoint_serves_the_adapter_scores(joint_run, tmp_path):
    cfg, result, held = joint_run
    store = ModelStore(tmp_path / "models")
    path = merge_to_checkpoint(
        model_dir=result.model_dir,
        config=cfg,
        name="joint-tiny",
        store=store,
        thresholds={Task.QC: 0.4, Task.QI: 0.6},
        threshold_protocol="F1-max on pooled out-of-fold scores",
        metrics={Task.QC: {"f1": 0.9}},
        training_info={"data_fingerprint": "abc"},
        check_examples=held[:8],
    )
    assert path == tmp_path / "models" / "joint-tiny"
    ckpt = open_checkpoint(path, task=Task.QI)  # validates files, card and weights hash
    card = ckpt.card
    assert card.tasks == [Task.QC, Task.QI] and card.is_joint
    assert card.architecture == "Qwen3ForSequenceClassification" and card.num_labels == 2
    assert card.thresholds == {Task.QC: 0.4, Task.QI: 0.6} and card.metrics[Task.QC].f1 == 0.9
    assert card.threshold_protocol == "F1-max on pooled out-of-fold scores"
    assert card.input.task_prefix == cfg.input.task_prefix and card.input.max_length == 48
    assert card.training["data_fingerprint"] == "abc" and card.training["total_steps"] == result.total_steps
    assert not [p for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth")]
    # The served scores are the scores the trained model gave the held-out pairs during fine-tuning.
    served = served_scores(path, held)
    assert np.max(np.abs(served - result.eval_scores)) < 1e-4
    # ...and the joint model learnt both tasks.
    labels = np.array([e.label for e in held])
    for task in (Task.QC, Task.QI):
        mask = np.array([e.task is task for e in held])
        assert served[mask & (labels == 1)].mean() > served[mask & (labels == 0)].mean() + 0.2
    assert len({(s, f) for s, f in result.history}) == len(result.history) > 0


def test_a_merge_that_changes_scores_publishes_nothing(joint_run, tmp_path, monkeypatch):
    import safetensors.torch as st

    import training.merge as merge

    cfg, result, held = joint_run
    original = merge.save_merged

    def tampered(model, tokenizer, dest, *, dtype):
        original(model, tokenizer, dest, dtype=dtype)
        weights = st.load_file(dest / "model.safetensors")
        weights["score.weight"][1] += 0.5  # the positive-class row of the head did not survive intact
        st.save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})

    monkeypatch.setattr(merge, "save_merged", tampered)
    store = ModelStore(tmp_path / "models")
    with pytest.raises(
        MergeError, match=r"merged model disagrees with the trained model.*nothing was published"
    ):
        merge_to_checkpoint(
            model_dir=result.model_dir, config=cfg, name="bad", store=store, check_examples=held[:8]
        )
    assert list((tmp_path / "models").iterdir()) == []  # no checkpoint, no temp dir left behind


def test_full_finetuned_model_merges_as_is(tiny_base, tmp_path):
    cfg = TrainConfig(
        base_model=str(tiny_base("bert")), max_length=32, full_finetune=True, max_steps=3, batch_size=8
    )
    result = finetune(train=toy_examples(n=16), eval=None, config=cfg, output_dir=tmp_path / "run")
    path = merge_to_checkpoint(
        model_dir=result.model_dir,
        config=cfg,
        name="full",
        store=ModelStore(tmp_path / "models"),
        check_examples=toy_examples(n=6),
    )
    assert open_checkpoint(path).card.architecture == "BertForSequenceClassification"


def test_merge_cli(joint_run, tmp_path):
    from training.cli import main

    _, result, _ = joint_run
    code = main(
        [
            "merge",
            "--model-dir",
            str(result.model_dir),
            "--name",
            "cli-joint",
            "--models-dir",
            str(tmp_path),
            "--threshold",
            "qc=0.3",
        ]
    )
    assert code == 0
    card = open_checkpoint(tmp_path / "cli-joint").card
    assert card.thresholds == {Task.QC: 0.3} and card.tasks == [Task.QC, Task.QI]
    assert (
        main(
            [
                "merge",
                "--model-dir",
                str(result.model_dir),
                "--name",
                "x",
                "--models-dir",
                str(tmp_path),
                "--threshold",
                "qc",
            ]
        )
        == 2
    )
