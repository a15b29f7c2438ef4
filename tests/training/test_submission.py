"""The competition submission: integer ids, rows with empty fields scored and counted, per-task files and
the zip (`submit`), and the checker (`check-submission`)."""

from __future__ import annotations

import csv
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models import PairEncoder, PairInput, Task, open_checkpoint
from models.inference import score_encoded
from models.loading import load_model, load_tokenizer
from training.cli import main
from training.datafile import DataError
from training.predict import predict, submit
from training.submission import check_submission, load_rows

QC_ROWS = [
    (1, "es", "bolso de mujer", "luggage & bags,women's handbags,waist packs"),
    (2, "fr", "coque téléphone", "mobile phones,accessories,cases covers"),
    (3, "ja", "ドラクエ バッグ", "home & garden,kitchen,cookware"),
    (4, "en", "running shoes ", "sports outdoors,running,shoes"),  # trailing space, echoed as written
]
QI_ROWS = [
    (10, "en", "yoga mat", "non slip yoga mat 6mm"),
    (11, "ko", "여성 가방", ""),  # empty title
    (12, "de", "Laufschuhe", "   "),  # whitespace-only title
    (13, "pt", "", "capinha celular transparente"),  # empty query
    (14, "it", "borsa donna", "women's leather handbag"),
]


def write_csv(path: Path, task: Task, rows, *, header_id: str = "id") -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([header_id, "language", "origin_query", task.spec.target_field])
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, task: Task, rows) -> Path:
    keys = ("id", "language", "origin_query", task.spec.target_field)
    text = "".join(json.dumps(dict(zip(keys, r, strict=True)), ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def reference_scores(checkpoint: Path, task: Task, rows) -> np.ndarray:
    ckpt = open_checkpoint(checkpoint)
    pairs = [PairInput(task=task, query=q.strip(), target=t.strip()) for _, _, q, t in rows]
    encoded = PairEncoder(load_tokenizer(ckpt), ckpt.card.input).encode_batch(pairs)
    model = load_model(ckpt)
    return score_encoded(model, encoded, pad_id=model.config.pad_token_id)


@pytest.fixture
def qc_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "test_qc.csv", Task.QC, QC_ROWS)


@pytest.fixture
def qi_jsonl(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "test_qi.jsonl", Task.QI, QI_ROWS)


def test_integer_ids_round_trip(joint_checkpoint, qc_csv, tmp_path):
    out = tmp_path / "qc.jsonl"
    predict(checkpoint=joint_checkpoint, data=qc_csv, out=out)
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == [1, 2, 3, 4] and all(type(r["id"]) is int for r in rows)
    assert rows[3]["origin_query"] == "running shoes " and rows[1]["category_path"] == QC_ROWS[1][3]

    for name in ("qc_int.jsonl", "test_QC.txt"):  # the competition's files are JSON lines named .txt
        jsonl = write_jsonl(tmp_path / name, Task.QC, QC_ROWS)
        predict(checkpoint=joint_checkpoint, data=jsonl, out=out)
        assert [r["id"] for r in read_jsonl(out)] == [1, 2, 3, 4]

    # Ids the file writes as strings stay strings, even when they look like numbers.
    as_text = write_jsonl(tmp_path / "qc_str.jsonl", Task.QC, [(str(i), *r) for i, *r in QC_ROWS])
    predict(checkpoint=joint_checkpoint, data=as_text, out=out)
    assert [r["id"] for r in read_jsonl(out)] == ["1", "2", "3", "4"]
    mixed = write_csv(tmp_path / "qc_mixed.csv", Task.QC, [QC_ROWS[0], ("007", *QC_ROWS[1][1:])])
    predict(checkpoint=joint_checkpoint, data=mixed, out=out)
    assert [r["id"] for r in read_jsonl(out)] == ["1", "007"]


def test_empty_fields_are_scored_and_counted(joint_checkpoint, qi_jsonl, tmp_path, caplog):
    loaded = load_rows(qi_jsonl)
    assert [r.line for r in loaded.empty_rows] == [2, 3, 4]
    assert loaded.empty_fields() == {"item_title": 2, "origin_query": 1}
    assert [r.example.target for r in loaded.rows[1:3]] == ["", ""]

    out, scores_out = tmp_path / "qi.jsonl", tmp_path / "scores.jsonl"
    with caplog.at_level(logging.INFO, logger="training.predict"):
        scores = predict(checkpoint=joint_checkpoint, data=qi_jsonl, out=out, scores_out=scores_out)
    assert np.allclose(scores, reference_scores(joint_checkpoint, Task.QI, QI_ROWS), atol=1e-6)
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == [10, 11, 12, 13, 14]
    assert [r["item_title"] for r in rows[1:3]] == ["", "   "]  # as the file has them
    assert all(r["prediction"] in (0, 1) for r in rows)
    assert "3 rows with empty fields scored as empty text (item_title 2, origin_query 1; lines 2, 3, 4)" in (
        caplog.text
    )
    assert "3 rows with empty fields scored as empty text" in caplog.text.splitlines()[-1]

    # null fields count as empty too; the output writes them as "".
    nulls = tmp_path / "nulls.jsonl"
    nulls.write_text(
        json.dumps({"id": 1, "language": "en", "origin_query": "bag", "item_title": None}) + "\n", "utf-8"
    )
    predict(checkpoint=joint_checkpoint, data=nulls, out=out)
    assert read_jsonl(out)[0]["item_title"] == ""


def test_broken_files_are_still_errors(joint_checkpoint, tmp_path):
    out = tmp_path / "x.jsonl"
    no_title = tmp_path / "no_title.csv"
    no_title.write_text("id,language,origin_query\n1,en,bag\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"missing required column\(s\) \['item_title'\]"):
        predict(checkpoint=joint_checkpoint, data=no_title, out=out, task=Task.QI)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        '{"id": 1, "language": "en", "origin_query": "bag", "item_title": "tote"}\n'
        "{not json\n"
        '{"id": 1, "language": "en", "origin_query": "mat", "item_title": "yoga mat"}\n'
        '{"id": 3, "language": "en", "origin_query": "mat", "item_title": ["not", "text"]}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError) as err:
        predict(checkpoint=joint_checkpoint, data=broken, out=out)
    message = str(err.value)
    assert "3 invalid row(s) of 4" in message
    assert "malformed_json" in message and "duplicate_id" in message and "empty_text" in message
    assert not out.exists()


def test_submit_writes_task_files_and_zip(joint_checkpoint, qc_checkpoint, qc_csv, qi_jsonl, tmp_path):
    out = tmp_path / "submission"
    summary = submit(
        checkpoint=[joint_checkpoint, qc_checkpoint],
        inputs={Task.QC: qc_csv, Task.QI: qi_jsonl},
        out=out,
        batch_size=2,
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "submit.zip",
        "submit_QC.txt",
        "submit_QI.txt",
        "submit_summary.json",
    ]
    qc, qi = read_jsonl(out / "submit_QC.txt"), read_jsonl(out / "submit_QI.txt")
    assert [set(r) for r in qc] == [{"id", "language", "origin_query", "category_path", "prediction"}] * 4
    assert [set(r) for r in qi] == [{"id", "language", "origin_query", "item_title", "prediction"}] * 5
    assert [r["id"] for r in qc] == [1, 2, 3, 4] and [r["id"] for r in qi] == [10, 11, 12, 13, 14]

    # QC is the average of both checkpoints (both serve it); QI only the joint one.
    qc_scores = (
        reference_scores(joint_checkpoint, Task.QC, QC_ROWS)
        + reference_scores(qc_checkpoint, Task.QC, QC_ROWS)
    ) / 2
    assert [r["prediction"] for r in qc] == [int(s >= 0.5) for s in qc_scores]
    qi_scores = reference_scores(joint_checkpoint, Task.QI, QI_ROWS)
    assert [r["prediction"] for r in qi] == [int(s >= 0.5) for s in qi_scores]

    with zipfile.ZipFile(out / "submit.zip") as archive:
        assert sorted(archive.namelist()) == ["submit_QC.txt", "submit_QI.txt"]
        for name in archive.namelist():
            assert archive.read(name) == (out / name).read_bytes()
    saved = json.loads((out / "submit_summary.json").read_text(encoding="utf-8"))
    assert saved == summary
    assert saved["tasks"]["qi"]["empty_rows"] == 3 and saved["tasks"]["qc"]["empty_rows"] == 0
    assert saved["tasks"]["qi"]["empty_fields"] == {"item_title": 2, "origin_query": 1}
    assert saved["tasks"]["qc"]["checkpoints"] == ["tiny-joint", "tiny-qc"]
    assert saved["tasks"]["qi"]["checkpoints"] == ["tiny-joint"]
    assert saved["tasks"]["qi"]["rows"] == 5 and saved["tasks"]["qi"]["relevant"] == sum(
        r["prediction"] for r in qi
    )

    first = (out / "submit.zip").read_bytes()  # equal predictions, equal zip
    submit(checkpoint=[joint_checkpoint, qc_checkpoint], inputs={Task.QC: qc_csv, Task.QI: qi_jsonl}, out=out)
    assert (out / "submit.zip").read_bytes() == first


def test_submit_refusals(joint_checkpoint, qc_checkpoint, qi_jsonl, tmp_path):
    out = tmp_path / "submission"
    with pytest.raises(ValueError, match="no checkpoint given serves qi"):
        submit(checkpoint=qc_checkpoint, inputs={Task.QI: qi_jsonl}, out=out)
    no_ids = tmp_path / "no_ids.csv"
    no_ids.write_text('language,origin_query,category_path\nen,bag,"bags,handbags"\n', encoding="utf-8")
    with pytest.raises(DataError, match="needs integer ids"):
        submit(checkpoint=joint_checkpoint, inputs={Task.QC: no_ids}, out=out)
    with pytest.raises(ValueError, match="no test file given"):
        submit(checkpoint=joint_checkpoint, inputs={}, out=out)
    assert not out.exists()


def test_submit_and_check_cli(joint_checkpoint, qc_csv, qi_jsonl, tmp_path, capsys):
    out = tmp_path / "submission"
    argv = ["submit", "--model", str(joint_checkpoint), "--qc", str(qc_csv), "--qi", str(qi_jsonl)]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "submit_QI.txt: 5 rows" in printed and "3 rows with empty fields" in printed
    assert "submit.zip" in printed

    check = ["check-submission", "--input", str(qi_jsonl), "--submission", str(out / "submit_QI.txt")]
    assert main(check) == 0
    assert "OK, 5 rows, every id of" in capsys.readouterr().out

    bad = out / "submit_QI.txt"
    rows = read_jsonl(bad)
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]), encoding="utf-8")
    assert main(check) == 1
    assert "missing_id: 1 row(s)" in capsys.readouterr().out


def write_submission_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def good(qc_csv, tmp_path) -> list[dict]:
    rows = [
        {"id": i, "language": lang, "origin_query": q, "category_path": c, "prediction": i % 2}
        for i, lang, q, c in QC_ROWS
    ]
    assert check_submission(qc_csv, write_submission_rows(tmp_path / "good.txt", rows)).ok
    return rows


@pytest.mark.parametrize(
    ("change", "kind", "message"),
    [
        (lambda rows: rows[:2] + rows[3:], "missing_id", "id 3 (input line 4) has no row"),
        (lambda rows: [*rows, rows[1]], "duplicate_id", "line 5: id 2 already at line 2"),
        (
            lambda rows: [rows[0], {**rows[1], "origin_query": "coque"}, *rows[2:]],
            "origin_query_mismatch",
            "line 2: id 2: origin_query 'coque', input line 3 has 'coque téléphone'",
        ),
        (
            lambda rows: [{**rows[0], "language": "pt"}, *rows[1:]],
            "language_mismatch",
            "line 1: id 1: language 'pt', input line 2 has 'es'",
        ),
        (
            lambda rows: [*rows[:3], {**rows[3], "origin_query": "running shoes"}],
            "origin_query_mismatch",
            "input line 5 has 'running shoes '",
        ),
        (
            lambda rows: [{**rows[0], "prediction": 2}, *rows[1:]],
            "bad_prediction",
            "prediction 2 is not 0 or 1",
        ),
        (lambda rows: [{**rows[0], "prediction": 0.9}, *rows[1:]], "bad_prediction", "prediction 0.9"),
        (lambda rows: [{**rows[0], "prediction": True}, *rows[1:]], "bad_prediction", "prediction True"),
        (  # a string id answers no input row
            lambda rows: [{**rows[0], "id": "1"}, *rows[1:]],
            "bad_id,missing_id",
            "line 1: id '1' is not an integer",
        ),
        (lambda rows: [*rows, {**rows[0], "id": 99}], "unknown_id", "line 5: id 99 is not in"),
        (
            lambda rows: [{k: v for k, v in rows[0].items() if k != "category_path"}, *rows[1:]],
            "missing_field",
            "line 1: id 1 has no 'category_path'",
        ),
    ],
)
def test_checker_names_the_bad_rows(qc_csv, good, tmp_path, change, kind, message):
    submission = write_submission_rows(tmp_path / "submit_QC.txt", change(good))
    check = check_submission(qc_csv, submission)
    summary = check.summary()
    assert not check.ok and list(check.counts) == kind.split(","), summary
    assert all(f"{k}: 1 row(s)" in summary for k in kind.split(",")) and message in summary


def test_checker_malformed_lines_and_string_id_inputs(qc_csv, good, tmp_path):
    submission = tmp_path / "submit_QC.txt"
    submission.write_text("".join(json.dumps(r) + "\n" for r in good) + "{oops\n[1, 2]\n", encoding="utf-8")
    check = check_submission(qc_csv, submission)
    assert check.counts == {"malformed": 2}
    assert "line 5: invalid JSON" in check.summary() and "line 6: expected a JSON object" in check.summary()

    no_ids = tmp_path / "no_ids.csv"
    no_ids.write_text('language,origin_query,category_path\nen,bag,"bags,handbags"\n', encoding="utf-8")
    check = check_submission(no_ids, write_submission_rows(tmp_path / "s.txt", good))
    assert (
        list(check.counts) == ["input_ids"] and "line 2: id 'no_ids-2' is not an integer" in check.summary()
    )
    half = write_csv(tmp_path / "half.csv", Task.QC, [QC_ROWS[0], ("x7", *QC_ROWS[1][1:])])
    assert (
        "half.csv line 3: id 'x7' is not an integer" in check_submission(half, tmp_path / "s.txt").summary()
    )
