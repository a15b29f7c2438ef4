"""Reading, validating and writing relevance data (training.data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import Task
from training.cli import main as cli_main
from training.data import DataError, Example, fingerprint, load_examples, read_rows
from training.data_write import write_examples

SHARED_CSV = Path("/work/shared/data/qc_train_confluentia.csv")

QC_ROWS = [
    {"id": "a1", "task": "QC", "language": "ja", "origin_query": "ドラクエ バッグ",
     "category_path": "luggage & bags,women's handbags,waist packs", "label": 1},
    {"id": "a2", "task": "qc", "language": "ko", "origin_query": "무선 이어폰",
     "category_path": "consumer electronics,earphones & headphones,bluetooth earphones", "label": "1"},
    {"id": "a3", "task": "Qc", "language": "es", "origin_query": "galletas de chocolate",
     "category_path": "food,grocery,confectionery,cakes, biscuits", "label": 0.0},
    {"id": "a4", "task": "QC", "language": "fr", "origin_query": "bracelet magnétique montre",
     "category_path": "watches,watches accessories,watchbands", "label": "0"},
]  # fmt: skip


def write_jsonl(path: Path, rows: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_jsonl_with_case_insensitive_tasks_and_label_forms(tmp_path: Path) -> None:
    examples, report = load_examples(write_jsonl(tmp_path / "d.jsonl", QC_ROWS))
    assert [e.id for e in examples] == ["a1", "a2", "a3", "a4"]
    assert {e.task for e in examples} == {Task.QC}
    assert [e.label for e in examples] == [1, 1, 0, 0]
    assert examples[0].query == "ドラクエ バッグ"
    assert examples[2].target == "food,grocery,confectionery,cakes, biscuits"
    assert report.rows_read == report.rows_kept == 4
    assert report.by_language == {"ja": 1, "ko": 1, "es": 1, "fr": 1}
    assert "4 rows read, 4 kept" in report.summary()


def test_reads_csv_without_id_column_with_stable_line_ids(tmp_path: Path) -> None:
    path = tmp_path / "train_qc.csv"
    path.write_text(
        "task,language,origin_query,category_path,label\n"
        'QC,th,กระเป๋าสะพาย,"luggage & bags,women\'s handbags,shoulder bags",1\n'
        'QC,ar,حقيبة ظهر,"luggage & bags,backpacks",0\n'
        # a quoted field spanning two lines: the row's id is the line it starts on
        'QC,en,"multi\nline",sports,1\n'
        'QC,ko,한국어,"food,grocery,confectionery,cakes, biscuits",1\n',
        encoding="utf-8",
    )
    examples, report = load_examples(path)
    assert [e.id for e in examples] == ["train_qc-2", "train_qc-3", "train_qc-4", "train_qc-6"]
    assert examples[1].language == "ar" and examples[1].label == 0
    assert examples[3].target == "food,grocery,confectionery,cakes, biscuits"
    again, _ = load_examples(path)
    assert fingerprint(again) == fingerprint(examples)
    assert report.format == "csv"


def test_query_en_and_extra_columns_are_read(tmp_path: Path) -> None:
    row = {**QC_ROWS[0], "query_en": "dragon quest bag", "source": "crawl"}
    (ex,), _ = load_examples(write_jsonl(tmp_path / "d.jsonl", [row]))
    assert ex.query_en == "dragon quest bag"
    assert ex.extra == {"source": "crawl"}
    assert ex.pair().query_en == "dragon quest bag"


def test_qi_rows_and_task_inferred_from_target_column(tmp_path: Path) -> None:
    rows = [
        {"language": "th", "origin_query": "รองเท้าวิ่ง", "item_title": "Nike running shoes men", "label": 1},
        {"language": "pt", "origin_query": "capa celular", "item_title": "Capa para iPhone 15", "label": 0},
    ]
    examples, _ = load_examples(write_jsonl(tmp_path / "qi.jsonl", rows))
    assert [e.task for e in examples] == [Task.QI, Task.QI]
    assert [e.id for e in examples] == ["qi-1", "qi-2"]


def test_task_argument_rejects_or_drops_other_task(tmp_path: Path) -> None:
    rows = [*QC_ROWS[:2], {"id": "q1", "task": "QI", "language": "en", "origin_query": "shoes",
                           "item_title": "running shoes", "label": 1}]  # fmt: skip
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    mixed, _ = load_examples(path)
    assert [e.task for e in mixed] == [Task.QC, Task.QC, Task.QI]
    with pytest.raises(DataError, match=r"wrong_task.*1 rows, lines 3"):
        load_examples(path, task=Task.QC)
    kept, report = load_examples(path, task=Task.QI, on_error="drop")
    assert [e.id for e in kept] == ["q1"]
    assert report.dropped == {"wrong_task": 2}


def test_missing_columns_fail_immediately_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("task,lang,origin_query,category_path\nQC,en,x,y\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_examples(path)
    message = str(err.value)
    assert "['language', 'label']" in message
    assert "columns found: ['task', 'lang', 'origin_query', 'category_path']" in message
    # unlabelled data does not need a label column, but still needs the language
    with pytest.raises(DataError, match=r"\['language'\]"):
        load_examples(path, require_labels=False)
    with pytest.raises(DataError, match="missing required column"):
        load_examples(
            write_jsonl(tmp_path / "bad.jsonl", [{"language": "en", "origin_query": "x", "label": 1}])
        )


@pytest.mark.parametrize(
    ("bad", "reason", "fragment"),
    [
        ({"label": 2}, "bad_label", "label 2 is not 0 or 1"),
        ({"label": "yes"}, "bad_label", "'yes' is not 0 or 1"),
        ({"label": 0.5}, "bad_label", "0.5"),
        ({"label": ""}, "missing_label", "label is empty"),
        ({"origin_query": "   "}, "empty_text", "origin_query empty"),
        ({"origin_query": float("nan")}, "empty_text", "origin_query empty"),
        ({"category_path": None}, "empty_text", "category_path empty"),
        ({"task": "QX"}, "unknown_task", "unknown task 'QX'"),
    ],
)
def test_each_bad_row_is_reported_with_reason_and_line(
    tmp_path: Path, bad: dict, reason: str, fragment: str
) -> None:
    rows = [QC_ROWS[0], QC_ROWS[1], {**QC_ROWS[2], **bad}, QC_ROWS[3]]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(DataError) as err:
        load_examples(path)
    message = str(err.value)
    assert f"{reason} (" in message and "1 rows, lines 3" in message and fragment in message
    kept, report = load_examples(path, on_error="drop")
    assert [e.id for e in kept] == ["a1", "a2", "a4"]
    assert report.dropped == {reason: 1} and report.lines[reason] == [3]
    assert report.rows_read == 4 and report.rows_kept == 3


def test_malformed_json_and_many_errors_are_counted_with_first_lines(tmp_path: Path) -> None:
    bad_rows = [{**QC_ROWS[0], "id": f"b{i}", "label": 7} for i in range(15)]
    rows = [QC_ROWS[0], '{"id": "x", "task": "QC",', "[1, 2]", *bad_rows, QC_ROWS[1]]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(DataError) as err:
        load_examples(path)
    message = str(err.value)
    assert "17 invalid row(s) of 19" in message
    assert "malformed_json (line is not a JSON object): 2 rows, lines 2, 3;" in message
    # 15 bad labels: the first ten line numbers, then an ellipsis
    assert "bad_label (label is not 0/1): 15 rows, lines 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 ..." in message
    assert "--on-error drop" in message
    kept, report = load_examples(path, on_error="drop")
    assert [e.id for e in kept] == ["a1", "a2"]
    assert report.dropped == {"malformed_json": 2, "bad_label": 15}
    assert "invalid rows dropped: 17" in report.summary()


def test_csv_row_with_wrong_field_count(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "language,origin_query,category_path,label\nen,a,b,1\nen,a,b\nde,c,d,0\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"malformed_row.*lines 3"):
        load_examples(path)
    kept, _ = load_examples(path, on_error="drop")
    assert [e.language for e in kept] == ["en", "de"]


def test_duplicates_dropped_and_conflicts_reported(tmp_path: Path) -> None:
    dup = {**QC_ROWS[0], "id": "dup"}
    conflict = {**QC_ROWS[1], "id": "c", "label": 0}
    rows = [*QC_ROWS, dup, conflict, {**dup, "id": "dup2"}]
    examples, report = load_examples(write_jsonl(tmp_path / "d.jsonl", rows))
    assert [e.id for e in examples] == ["a1", "a2", "a3", "a4", "c"]
    assert report.duplicates_dropped == 2 and report.duplicate_lines == [5, 7]
    assert report.conflicts == 1
    (c,) = report.conflict_examples
    assert c.query == "무선 이어폰" and c.lines_by_label == {1: [2], 0: [6]}
    assert "conflicting labels (kept): 1" in report.summary()
    counts = json.loads(json.dumps(report.to_dict()))
    assert counts["rows_read"] == 7 and counts["rows_kept"] == 5 and counts["duplicates_dropped"] == 2


def test_duplicate_ids_with_different_content_are_errors(tmp_path: Path) -> None:
    rows = [QC_ROWS[0], {**QC_ROWS[1], "id": "a1"}]
    with pytest.raises(DataError, match=r"duplicate_id.*'a1' already used at line 1"):
        load_examples(write_jsonl(tmp_path / "d.jsonl", rows))


def test_unlabelled_data_keeps_every_row(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "label"} for r in QC_ROWS]
    rows.append({**rows[0], "id": "again"})  # same pair twice: both need a prediction
    path = write_jsonl(tmp_path / "test.jsonl", rows)
    with pytest.raises(DataError, match="label"):
        load_examples(path)
    examples, report = load_examples(path, require_labels=False)
    assert len(examples) == 5 and all(e.label is None for e in examples)
    assert report.duplicates_dropped == 0


def test_allow_empty_reads_empty_text_as_empty_string(tmp_path: Path) -> None:
    unlabelled = [{k: v for k, v in r.items() if k != "label"} for r in QC_ROWS]
    rows = [
        unlabelled[0],
        {**unlabelled[1], "category_path": ""},
        {**unlabelled[2], "origin_query": "   ", "category_path": None},
        unlabelled[3],
    ]
    path = write_jsonl(tmp_path / "test.jsonl", rows)
    with pytest.raises(DataError) as err:  # without the option an empty field is a row error
        load_examples(path, require_labels=False)
    message = str(err.value)
    assert "empty_text (" in message and "2 rows, lines 2, 3" in message
    assert "line 2: category_path empty or not text ('')" in message

    examples, report = load_examples(path, require_labels=False, allow_empty=True)
    assert [e.id for e in examples] == ["a1", "a2", "a3", "a4"] and report.rows_kept == 4
    assert (examples[1].query, examples[1].target) == ("무선 이어폰", "")
    assert (examples[2].query, examples[2].target) == ("", "")
    read, _ = read_rows(path, require_labels=False, allow_empty=True)
    assert [r.empty for r in read] == [(), ("category_path",), ("origin_query", "category_path"), ()]
    assert read[2].raw["origin_query"] == "   " and read[2].raw["category_path"] is None

    # Only empty text is let through: a value that is not text is still an error.
    not_text = write_jsonl(
        tmp_path / "list.jsonl", [unlabelled[0], {**unlabelled[1], "category_path": ["a"]}]
    )
    with pytest.raises(
        DataError, match=r"empty_text.*lines 2; e\.g\. line 2: category_path empty or not text"
    ):
        load_examples(not_text, require_labels=False, allow_empty=True)


def test_unsupported_suffix_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match=r"unsupported data format '.parquet'.*\.jsonl"):
        load_examples(path)
    with pytest.raises(FileNotFoundError, match="data file not found"):
        load_examples(tmp_path / "nope.jsonl")


def test_fingerprint_is_order_and_content_sensitive() -> None:
    a = Example("1", Task.QC, "en", "q", "a,b", 1)
    b = Example("2", Task.QI, "ja", "クエリ", "title", 0, query_en="query")
    assert fingerprint([a, b]) == fingerprint([a, b])
    assert fingerprint([a, b]) != fingerprint([b, a])
    assert fingerprint([a]) != fingerprint([Example("1", Task.QC, "en", "q", "a,b", 0)])
    assert len(fingerprint([])) == 64


def test_write_examples_round_trips(tmp_path: Path) -> None:
    examples, _ = load_examples(write_jsonl(tmp_path / "in.jsonl", QC_ROWS))
    extra = Example("q1", Task.QI, "th", "รองเท้า", "Running shoes", 1, query_en="shoes")
    out = tmp_path / "sub" / "out.jsonl"
    write_examples(out, [*examples, extra])
    again, _ = load_examples(out)
    assert fingerprint(again) == fingerprint([*examples, extra])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[-1] == {"id": "q1", "task": "QI", "language": "th", "origin_query": "รองเท้า",
                        "item_title": "Running shoes", "label": 1, "query_en": "shoes"}  # fmt: skip
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]  # no temp file left behind


def test_validate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", QC_ROWS)
    assert cli_main(["validate", str(good)]) == 0
    assert "4 rows read, 4 kept" in capsys.readouterr().out
    bad = write_jsonl(tmp_path / "bad.jsonl", [*QC_ROWS, {**QC_ROWS[0], "id": "z", "label": 3}])
    assert cli_main(["validate", str(bad)]) == 2
    assert cli_main(["validate", str(bad), "--on-error", "drop", "--task", "QC"]) == 0
    assert "bad_label" in capsys.readouterr().out


def test_shared_confluentia_csv() -> None:
    if not SHARED_CSV.is_file():
        pytest.skip(f"shared data not on this machine: {SHARED_CSV}")
    examples, report = load_examples(SHARED_CSV, task=Task.QC)
    assert report.rows_read == 21311
    assert report.rows_kept + report.duplicates_dropped == 21311
    assert report.conflicts == 0
    assert len({e.id for e in examples}) == len(examples)


def test_unicode_line_separators_inside_fields_do_not_split_rows(tmp_path: Path) -> None:
    query = "bolsa\u2028de couro\x85 ñ"  # U+2028 and NEL are legal inside JSON strings and CSV fields
    rows = [{**QC_ROWS[0], "origin_query": query}, QC_ROWS[1]]
    examples, _ = load_examples(write_jsonl(tmp_path / "d.jsonl", rows))
    assert [e.query for e in examples] == [query, "무선 이어폰"]
    csv_path = tmp_path / "d.csv"
    csv_path.write_text(
        f"language,origin_query,category_path,label\r\npt,{query},a,1\r\nko,무선,b,0\r\n", encoding="utf-8"
    )
    examples, _ = load_examples(csv_path)
    assert [(e.id, e.query) for e in examples] == [("d-2", query), ("d-3", "무선")]
    write_examples(tmp_path / "out.jsonl", examples)
    again, _ = load_examples(tmp_path / "out.jsonl")
    assert fingerprint(again) == fingerprint(examples)


def test_json_array_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(QC_ROWS), encoding="utf-8")
    with pytest.raises(DataError, match="one JSON array; expected JSON lines"):
        load_examples(path)
