"""predict: the competition submission and evaluate's scores file, scored like the service scores."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pytest
from toydata import toy_examples

from models import PairEncoder, Task, open_checkpoint
from models.inference import score_encoded
from models.loading import load_model, load_tokenizer
from training.data_write import write_examples
from training.evaluate import read_predictions
from training.predict import predict


def reference_scores(path, examples):
    ckpt = open_checkpoint(path)
    encoded = PairEncoder(load_tokenizer(ckpt), ckpt.card.input).encode_batch([e.pair() for e in examples])
    model = load_model(ckpt)
    return score_encoded(model, encoded, pad_id=model.config.pad_token_id)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def qi_file(tmp_path):
    examples = [replace(e, label=None) for e in toy_examples(Task.QI, n=10)]
    path = tmp_path / "qi_test.jsonl"
    write_examples(path, examples)
    return path, examples


def test_submission_and_scores(joint_checkpoint, qi_file, tmp_path):
    path, examples = qi_file
    out, scores_out = tmp_path / "sub.jsonl", tmp_path / "scores.jsonl"
    scores = predict(checkpoint=joint_checkpoint, data=path, out=out, scores_out=scores_out, batch_size=4)

    expected = reference_scores(joint_checkpoint, examples)
    assert np.allclose(scores, expected, atol=1e-6)
    rows = read_jsonl(out)
    threshold = open_checkpoint(joint_checkpoint).card.threshold(Task.QI)
    assert [r["id"] for r in rows] == [e.id for e in examples]
    for row, ex, score in zip(rows, examples, expected, strict=True):
        assert set(row) == {"id", "language", "origin_query", "item_title", "prediction"}
        assert (row["origin_query"], row["item_title"], row["language"]) == (ex.query, ex.target, ex.language)
        assert row["prediction"] == int(score >= threshold)
    preds = read_predictions(scores_out)
    assert [p.id for p in preds] == [e.id for e in examples] and all(p.task is Task.QI for p in preds)
    assert np.allclose([p.score for p in preds], expected, atol=1e-6)


def test_threshold_override_and_fold_average(joint_checkpoint, qc_checkpoint, tmp_path):
    examples = toy_examples(Task.QC, n=8)
    data = tmp_path / "qc.jsonl"
    write_examples(data, examples)
    out = tmp_path / "sub.jsonl"
    predict(checkpoint=joint_checkpoint, data=data, out=out, threshold=0.0)
    assert all(r["prediction"] == 1 and "category_path" in r for r in read_jsonl(out))

    averaged = predict(checkpoint=[joint_checkpoint, qc_checkpoint], data=data, out=out)
    single = [reference_scores(p, examples) for p in (joint_checkpoint, qc_checkpoint)]
    assert np.allclose(averaged, (single[0] + single[1]) / 2, atol=1e-6)


def test_clear_errors(qc_checkpoint, joint_checkpoint, qi_file, tmp_path, monkeypatch):
    path, _ = qi_file
    out = tmp_path / "x.jsonl"
    with pytest.raises(ValueError, match=r"does not serve \['qi'\]"):
        predict(checkpoint=qc_checkpoint, data=path, out=out)
    monkeypatch.setitem(sys.modules, "training.predict_vllm", None)  # the vLLM scorer cannot be imported
    with pytest.raises(ValueError, match="--backend vllm needs the vLLM engine"):
        predict(checkpoint=joint_checkpoint, data=path, out=out, backend="vllm")
    assert not out.exists()


def test_cli(joint_checkpoint, qi_file, tmp_path):
    from training.cli import main

    path, examples = qi_file
    out = tmp_path / "sub.jsonl"
    assert (
        main(["predict", "--checkpoint", str(joint_checkpoint), "--data", str(path), "--out", str(out)]) == 0
    )
    assert len(read_jsonl(out)) == len(examples)
    assert main(["predict", "--checkpoint", "nope", "--data", str(path), "--out", str(out)]) == 2
