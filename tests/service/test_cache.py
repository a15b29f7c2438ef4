"""Unit tests of the score cache (`service.cache.ScoreCache`): a bounded LRU keyed, in the service, by
(model weights hash, the exact input ids the model sees)."""

from __future__ import annotations

import pytest

from models import EncodedPair
from service.cache import ScoreCache

SHA_A = "a" * 64
SHA_B = "b" * 64


def enc(ids: list[int], *, types: list[int] | None = None, truncated: bool = False) -> EncodedPair:
    return EncodedPair(input_ids=ids, token_type_ids=types or [0] * len(ids), truncated=truncated)


def key(sha: str, pair: EncodedPair) -> tuple:
    """The key `service.relevance.serving` builds: the model's weights hash and the pair's input ids."""
    return (sha, pair.cache_key)


def test_miss_then_hit() -> None:
    cache = ScoreCache(10)
    k = key(SHA_A, enc([2, 7, 3]))
    assert cache.get(k) is None and len(cache) == 0, "a miss inserts nothing"
    cache.put(k, 0.25)
    assert cache.get(k) == 0.25
    assert cache.get(key(SHA_A, enc([2, 7, 3]))) == 0.25, "an equal key built anew hits"
    assert cache.get(key(SHA_A, enc([2, 7, 4]))) is None
    assert len(cache) == 1


def test_a_zero_score_is_a_hit_not_a_miss() -> None:
    cache = ScoreCache(2)
    cache.put("zero", 0.0)
    cache.put("b", 0.5)
    assert cache.get("zero") == 0.0 and cache.get("zero") is not None
    cache.put("c", 0.7)  # "zero" was just read: "b" is the least recently used
    assert cache.get("b") is None
    assert cache.get("zero") == 0.0


def test_least_recently_used_entries_are_evicted_first_at_capacity() -> None:
    cache = ScoreCache(3)
    for name, score in [("a", 0.1), ("b", 0.2), ("c", 0.3)]:
        cache.put(name, score)
    assert len(cache) == 3
    assert cache.get("a") == 0.1  # a read refreshes "a": order now b, c, a
    cache.put("d", 0.4)
    assert len(cache) == 3
    assert cache.get("b") is None
    assert [cache.get(n) for n in ("c", "a", "d")] == [0.3, 0.1, 0.4]  # order now c, a, d
    cache.put("e", 0.5)
    assert cache.get("c") is None
    assert [cache.get(n) for n in ("a", "d", "e")] == [0.1, 0.4, 0.5]


def test_put_of_an_existing_key_replaces_its_score_and_refreshes_it() -> None:
    cache = ScoreCache(2)
    cache.put("a", 0.1)
    cache.put("b", 0.2)
    cache.put("a", 0.9)  # order now b, a
    assert len(cache) == 2 and cache.get("a") == 0.9
    cache.put("c", 0.3)
    assert cache.get("b") is None
    assert cache.get("a") == 0.9 and cache.get("c") == 0.3


def test_a_miss_does_not_change_the_eviction_order() -> None:
    cache = ScoreCache(2)
    cache.put("a", 0.1)
    cache.put("b", 0.2)
    assert cache.get("zzz") is None
    cache.put("c", 0.3)
    assert cache.get("a") is None and cache.get("b") == 0.2 and cache.get("c") == 0.3


@pytest.mark.parametrize("size", [0, -1])
def test_size_zero_or_below_disables_the_cache(size: int) -> None:
    cache = ScoreCache(size)
    cache.put("a", 0.5)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_capacity_one_keeps_only_the_latest() -> None:
    cache = ScoreCache(1)
    cache.put("a", 0.1)
    cache.put("b", 0.2)
    assert len(cache) == 1 and cache.get("a") is None and cache.get("b") == 0.2


def test_the_same_input_under_different_model_weights_does_not_collide() -> None:
    cache = ScoreCache(10)
    pair = enc([101, 5, 6, 102])
    cache.put(key(SHA_A, pair), 0.2)
    assert cache.get(key(SHA_B, pair)) is None, "a reload with new weights must miss"
    cache.put(key(SHA_B, pair), 0.8)
    assert cache.get(key(SHA_A, pair)) == 0.2
    assert cache.get(key(SHA_B, pair)) == 0.8
    assert len(cache) == 2


def test_keys_follow_input_ids_only() -> None:
    """`EncodedPair.cache_key` is the input ids: token types follow from them for one tokenizer, and the
    truncation flag does not change what the model sees; different ids (even a prefix) never collide."""
    cache = ScoreCache(10)
    cache.put(key(SHA_A, enc([101, 5, 6, 102], types=[0, 0, 1, 1])), 0.3)
    assert cache.get(key(SHA_A, enc([101, 5, 6, 102], types=[0, 0, 1, 1], truncated=True))) == 0.3
    assert cache.get(key(SHA_A, enc([101, 5, 6]))) is None
    assert cache.get(key(SHA_A, enc([101, 6, 5, 102]))) is None
    assert cache.get(key(SHA_A, enc([101, 5, 6, 102, 0]))) is None


def test_clear_empties_the_cache_and_it_keeps_working() -> None:
    cache = ScoreCache(3)
    cache.put("a", 0.1)
    cache.put("b", 0.2)
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None and cache.get("b") is None
    cache.put("c", 0.3)
    assert cache.get("c") == 0.3 and len(cache) == 1


def test_a_full_cache_stays_bounded_under_many_puts() -> None:
    cache = ScoreCache(100)
    for i in range(1000):
        cache.put(key(SHA_A, enc([i])), i / 1000)
    assert len(cache) == 100
    assert cache.get(key(SHA_A, enc([899]))) is None
    assert [cache.get(key(SHA_A, enc([i]))) for i in (900, 999)] == [0.9, 0.999]
