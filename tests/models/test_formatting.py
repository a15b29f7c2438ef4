"""The shared formatter: one input for training and both backends, and its truncation policy."""

from __future__ import annotations

import pytest
from tiny import bpe_tokenizer, wordpiece_tokenizer

from models import InputSpec, PairEncoder, PairInput, Task, format_query, format_target
from models.formatting import MIN_TARGET_TOKENS


@pytest.fixture(scope="module")
def bert_tok():
    return wordpiece_tokenizer()


@pytest.fixture(scope="module")
def bpe_tok():
    return bpe_tokenizer()


def test_category_path_string_and_list_are_the_same_input(bert_tok) -> None:
    enc = PairEncoder(bert_tok, InputSpec(max_length=64))
    as_str = enc.encode(PairInput(Task.QC, "bolso", "luggage & bags,women's handbags,waist packs"))
    as_list = enc.encode(PairInput(Task.QC, "bolso", ["luggage & bags", "women's handbags", "waist packs"]))
    assert as_str == as_list
    assert format_target(Task.QC, ["food", "cakes, biscuits"]) == "food,cakes, biscuits"


def test_matches_the_tokenizers_own_pair_encoding_when_it_fits(bert_tok, bpe_tok) -> None:
    for tok in (bert_tok, bpe_tok):
        enc = PairEncoder(tok, InputSpec(max_length=64))
        got = enc.encode(PairInput(Task.QI, "sac à main", "women's handbags leather"))
        want = tok("sac à main", "women's handbags leather")
        assert got.input_ids == want["input_ids"]
        assert not got.truncated


def test_translation_joins_query_side_only_when_used_and_different() -> None:
    spec = InputSpec(uses_translation=True)
    assert format_query("bolso  mujer", "women bag", spec, Task.QC) == "bolso mujer - women bag"
    assert format_query("women bag", "Women Bag", spec, Task.QC) == "women bag"
    assert format_query("bolso", "women bag", InputSpec(), Task.QC) == "bolso"
    joint = InputSpec(task_prefix={Task.QC: "[qc] ", Task.QI: "[qi] "})
    assert format_query("bolso", None, joint, Task.QI) == "[qi] bolso"


@pytest.mark.parametrize("max_length", [16, 24, 40])
def test_truncation_shortens_target_first_and_keeps_query(bert_tok, max_length: int) -> None:
    spec = InputSpec(max_length=max_length)
    enc = PairEncoder(bert_tok, spec)
    long_path = ",".join(["home & garden", "kitchen", "cookware", "pots", "pans", "knives", "storage"] * 3)
    query = "sac main femme"
    encoded = enc.encode(PairInput(Task.QC, query, long_path))
    assert encoded.truncated and encoded.num_tokens == max_length
    query_ids = bert_tok(query, add_special_tokens=False)["input_ids"]
    assert encoded.input_ids[1 : 1 + len(query_ids)] == query_ids  # the whole query survives
    # QC keeps the deepest levels: the path's last token is still there, right before the final [SEP].
    last_target_id = bert_tok(long_path, add_special_tokens=False)["input_ids"][-1]
    assert encoded.input_ids[-2] == last_target_id


def test_item_titles_are_cut_from_the_end(bert_tok) -> None:
    enc = PairEncoder(bert_tok, InputSpec(max_length=16))
    title = "damen handtasche leder " + "extra words " * 20
    encoded = enc.encode(PairInput(Task.QI, "bag", title))
    title_ids = bert_tok(title, add_special_tokens=False)["input_ids"]
    start = encoded.token_type_ids.index(1)
    assert encoded.truncated
    assert encoded.input_ids[start:-1] == title_ids[: len(encoded.input_ids) - start - 1]  # head of the title


def test_overlong_query_is_cut_but_target_keeps_a_minimum(bpe_tok) -> None:
    enc = PairEncoder(bpe_tok, InputSpec(max_length=32))
    encoded = enc.encode(PairInput(Task.QI, "running shoes " * 50, "yoga mats cycling helmets " * 5))
    assert encoded.truncated and encoded.num_tokens == 32
    assert encoded.token_type_ids.count(1) >= MIN_TARGET_TOKENS  # target (type 1) still present


def test_budget_too_small_is_rejected(bert_tok) -> None:
    with pytest.raises(ValueError, match="no room"):
        PairEncoder(bert_tok, InputSpec(max_length=10))


def test_tokenizer_settings_in_tokenizer_json_do_not_leak(bert_tok) -> None:
    bert_tok.backend_tokenizer.enable_padding(length=50)
    try:
        encoded = PairEncoder(bert_tok, InputSpec(max_length=64)).encode(PairInput(Task.QC, "a", "b"))
    finally:
        bert_tok.backend_tokenizer.no_padding()
    assert encoded.num_tokens < 50
