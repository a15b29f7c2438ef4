"""The bi-encoder's head: its inputs, its self-describing file, the word-overlap features."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models import open_checkpoint
from models.biencoder import split_pair
from models.embedding import SentenceTokenizer
from models.head import HEAD_FILENAME, RelevanceHead, build_net, head_inputs, input_width
from models.lexical import WIDTH, Lexicon, normalise, overlap


@pytest.fixture(scope="module")
def text(biencoder_run) -> SentenceTokenizer:
    _, record = biencoder_run
    return SentenceTokenizer.load(open_checkpoint(record["checkpoint"]).path)


def test_linear_inputs_leave_out_the_sides_alone() -> None:
    q, t = torch.randn(3, 16), torch.randn(3, 16)
    assert head_inputs(q, t, kind="mlp").shape[1] == input_width(16, kind="mlp", lexical_features=False) == 65
    linear = head_inputs(q, t, torch.zeros(3, WIDTH), kind="linear")
    assert linear.shape[1] == input_width(16, kind="linear", lexical_features=True) == 33 + WIDTH
    cos = torch.nn.functional.cosine_similarity(q, t)
    assert torch.allclose(linear[:, 32], cos, atol=1e-6)  # the cosine sits after q*t and |q-t|


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_a_head_round_trips_with_its_kind(tmp_path: Path, kind: str, text: SentenceTokenizer) -> None:
    torch.manual_seed(0)
    for lexicon in (None, Lexicon(text)):
        width = input_width(16, kind=kind, lexical_features=lexicon is not None)
        head = RelevanceHead(net=build_net(width, kind=kind, hidden=8).eval(), kind=kind, lexicon=lexicon)
        head.save(tmp_path / HEAD_FILENAME)
        loaded = RelevanceHead.load(tmp_path, text=text)
        assert loaded.kind == kind and (loaded.lexicon is None) == (lexicon is None)
        x = torch.randn(4, width)
        assert torch.equal(head.net(x), loaded.net(x))


def test_a_head_file_from_an_unknown_version_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    (tmp_path / HEAD_FILENAME).parent.mkdir(parents=True)
    save_file(
        {"0.weight": torch.zeros(1, 4), "0.bias": torch.zeros(1)},
        str(tmp_path / HEAD_FILENAME),
        {"kind": "x"},
    )
    with pytest.raises(ValueError, match="unknown head"):
        RelevanceHead.load(tmp_path)


def test_word_overlap() -> None:
    assert normalise("Drills") == "drill" and normalise("gas") == "gas" and normalise("glass") == "glass"
    found, covered, jaccard, _, _, any_found = overlap(
        frozenset({"cordless", "drill"}), frozenset({"drill", "kit"})
    )
    assert (found, covered, jaccard, any_found) == (0.5, 0.5, pytest.approx(1 / 3), 1.0)
    assert overlap(frozenset(), frozenset({"kit"}))[0] == 0.0  # an empty side is no match, not an error


def test_the_lexicon_reads_words_from_the_pair_ids_without_the_prompts(text: SentenceTokenizer) -> None:
    from models import InputSpec, PairInput, Task
    from models.biencoder import BiPairEncoder

    pair = BiPairEncoder(text, InputSpec(max_length=48)).encode(
        PairInput(task=Task.QI, query="Cordless DRILLS", target="20V cordless drill kit")
    )
    lexicon = Lexicon(text)
    q, t = split_pair(pair)
    assert lexicon.words(q) == {"cordless", "drill"}
    assert lexicon.words(t) == {"20v", "cordless", "drill", "kit"}
    features = lexicon.features([(q, t)])
    assert features.shape == (1, WIDTH) and features[0, 0] == 1.0  # every query word is in the title
