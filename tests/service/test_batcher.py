"""Unit tests of the micro-batcher (`service.batcher.MicroBatcher`), without a server.

Most tests drive the batcher with `RecordingBackend`: it fulfils the backend contract, scores each pair
deterministically from its input ids, records every batch it is handed (by pair tag), and can hold a
batch until the test releases it or fail it on purpose — so batch compositions, dispatch order and
in-flight counts are asserted exactly. One test runs the real torch backend on a tiny checkpoint.
Every test runs its own event loop (`asyncio.run`) under a hard timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import pytest

from models import EncodedPair, PairInput, Task
from service.backends.base import Backend, BackendError, BackendLimits
from service.batcher import MicroBatcher
from service.errors import ApiError, ErrorType
from service.metrics import Metrics

BIG = 1_000_000  # "no limit" for a budget a test does not exercise


def enc(tag: int, length: int) -> EncodedPair:
    """A pair of `length` tokens whose first input id is `tag` (unique per pair within a test)."""
    return EncodedPair(input_ids=[tag] + [5] * (length - 1), token_type_ids=[0] * length, truncated=False)


def tag_of(pair: EncodedPair) -> int:
    return pair.input_ids[0]


def score_of(pair: EncodedPair) -> float:
    """The deterministic score `RecordingBackend` gives a pair: a function of its input ids."""
    return tag_of(pair) / 1000 + pair.num_tokens / 1_000_000


def limits(
    *, pairs: int = BIG, tokens: int = BIG, model_len: int = 512, cost: int | None = None
) -> BackendLimits:
    return BackendLimits(
        max_batch_pairs=pairs, max_batch_tokens=tokens, max_model_len=model_len, batch_cost_tokens=cost
    )


class RecordingBackend:
    """A backend-contract implementation for observing and gating batches (not a model).

    `batches` holds the tags of every batch handed to `score`, in call order. With `gated`, each batch
    waits until `release(i)` (or `release()` for all). Batch numbers in `fail` raise `BackendError`; in
    `short`, one score too few comes back (the batcher must treat that as a failure too).
    """

    def __init__(self, lim: BackendLimits, *, name: str = "torch", gated: bool = False, log=None) -> None:
        self.name = name
        self.checkpoint = None  # the batcher never reads it; it completes the contract
        self._limits = lim
        self.gated = gated
        self.log = log  # optional list shared by several backends: (backend name, tags) per batch
        self.batches: list[list[int]] = []
        self.started_at: list[float] = []
        self.fail: set[int] = set()
        self.short: set[int] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self._gates: list[asyncio.Event] = []

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    async def score(self, batch: Sequence[EncodedPair]) -> list[float]:
        number = len(self.batches)
        tags = [tag_of(p) for p in batch]
        self.batches.append(tags)
        self.started_at.append(time.monotonic())
        if self.log is not None:
            self.log.append((self.name, tags))
        gate = asyncio.Event()
        self._gates.append(gate)
        if not self.gated:
            gate.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await gate.wait()
        finally:
            self.in_flight -= 1
        if number in self.fail:
            raise BackendError(f"injected failure of batch {number}")
        scores = [score_of(p) for p in batch]
        return scores[:-1] if number in self.short else scores

    def release(self, number: int | None = None) -> None:
        for i, gate in enumerate(self._gates):
            if number is None or i == number:
                gate.set()

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def make_batcher(
    *,
    max_batch_pairs: int = BIG,
    max_batch_tokens: int = BIG,
    max_wait_s: float = 0.0,
    max_queue_pairs: int = BIG,
    concurrency: int = 1,
    retry_after_s: int = 3,
) -> MicroBatcher:
    return MicroBatcher(
        max_batch_pairs=max_batch_pairs,
        max_batch_tokens=max_batch_tokens,
        max_wait_s=max_wait_s,
        max_queue_pairs=max_queue_pairs,
        concurrency=concurrency,
        retry_after_s=retry_after_s,
        metrics=Metrics(),
    )


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    """Run one test's coroutine on a fresh event loop; a hang fails the test instead of the suite."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


async def settle() -> None:
    """Give the batcher loop ample chances to act (to assert that something does NOT happen)."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


async def drain(backend: RecordingBackend, batches: int) -> None:
    """Release every batch as it comes until `batches` batches have been handed to the backend."""
    await until(lambda: (backend.release(), len(backend.batches) >= batches)[1])
    backend.release()


def gauge(batcher: MicroBatcher, name: str, labels: dict[str, str] | None = None) -> float | None:
    return batcher.metrics.registry.get_sample_value(name, labels or {})


def test_recording_backend_fulfils_the_backend_contract() -> None:
    assert isinstance(RecordingBackend(limits()), Backend)


# --- budgets and packing ---


@pytest.mark.parametrize(
    ("batcher_tokens", "backend_tokens"),
    [(40, BIG), (BIG, 40)],
    ids=["batcher-budget-below-model-len", "backend-budget-below-model-len"],
)
def test_batches_respect_pair_and_padded_token_budgets(batcher_tokens: int, backend_tokens: int) -> None:
    """Pairs: the smaller of the batcher's and the backend's cap. Padded tokens (pairs x longest): the
    smaller budget, but never below the model's max length (64), so a 64-token pair is still scored."""

    async def main() -> None:
        backend = RecordingBackend(limits(pairs=4, tokens=backend_tokens, model_len=64))
        batcher = make_batcher(max_batch_pairs=8, max_batch_tokens=batcher_tokens)
        lengths = [10] * 9 + [30] * 3 + [64] * 2
        pairs = [enc(tag, n) for tag, n in enumerate(lengths, start=1)]
        job = batcher.submit(backend, pairs)
        batcher.start()
        assert await job.future == [score_of(p) for p in pairs]
        await batcher.stop()

        # 4 pairs a batch at most; 64 padded tokens a batch at most (floor: max_model_len 64)
        assert backend.batches == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10], [11, 12], [13], [14]]
        by_tag = {tag_of(p): p.num_tokens for p in pairs}
        for batch in backend.batches:
            assert len(batch) <= 4
            assert len(batch) * max(by_tag[t] for t in batch) <= 64
        assert gauge(batcher, "relevance_batch_pairs_count") == 6

    run(main())


@pytest.mark.parametrize(
    ("cost", "expected"),
    [(16, [[1, 2, 3, 4], [11, 12]]), (None, [[1, 2, 3, 4, 11, 12]])],
    ids=["cut-for-padding", "never-cut-without-batch-cost"],
)
def test_concurrent_short_and_long_pairs_are_packed_by_length(cost: int | None, expected) -> None:
    """Pairs of concurrent jobs are length-sorted within a window: the short ones of jobs A and C go
    together and the long ones of B apart when padding the shorts to 100 tokens would cost more than
    `batch_cost_tokens`; with None (a runtime that does not pad) nothing is cut for padding."""

    async def main() -> None:
        backend = RecordingBackend(limits(pairs=16, tokens=10_000, model_len=128, cost=cost))
        batcher = make_batcher()
        a = batcher.submit(backend, [enc(1, 8), enc(2, 9), enc(3, 8)])
        b = batcher.submit(backend, [enc(11, 100), enc(12, 90)])
        c = batcher.submit(backend, [enc(4, 10)])
        batcher.start()
        results = await asyncio.gather(a.future, b.future, c.future)
        await batcher.stop()
        assert [sorted(batch) for batch in backend.batches] == expected
        assert results == [[score_of(p) for p in job.pairs] for job in (a, b, c)], (
            "each job gets its own scores, in its own order"
        )

    run(main())


def test_window_is_sorted_by_length_inside_a_batch() -> None:
    """Within one batch pairs are handed to the backend shortest first, whatever the arrival order."""

    async def main() -> None:
        backend = RecordingBackend(limits(model_len=64))
        batcher = make_batcher()
        job = batcher.submit(backend, [enc(1, 30), enc(2, 5), enc(3, 20), enc(4, 5)])
        batcher.start()
        await job.future
        await batcher.stop()
        assert backend.batches == [[2, 4, 3, 1]]

    run(main())


def test_a_backend_that_does_not_sort_gets_each_request_s_pairs_together() -> None:
    """`length_sorted=False` (a bi-encoder: it embeds each query once per batch): batches keep arrival
    order, so a request's pairs are not scattered over batches by their lengths."""

    async def main() -> None:
        unsorted = BackendLimits(
            max_batch_pairs=3, max_batch_tokens=BIG, max_model_len=64, length_sorted=False
        )
        backend = RecordingBackend(unsorted)
        batcher = make_batcher()
        a = batcher.submit(backend, [enc(1, 30), enc(2, 5), enc(3, 20)])
        b = batcher.submit(backend, [enc(11, 4), enc(12, 40), enc(13, 2)])
        batcher.start()
        await asyncio.gather(a.future, b.future)
        await batcher.stop()
        assert backend.batches == [[1, 2, 3], [11, 12, 13]]

    run(main())


def test_scores_return_to_each_job_in_its_own_order_across_batches() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=2, model_len=64))
        batcher = make_batcher()
        batcher.start()
        a_pairs = [enc(1, 40), enc(2, 3), enc(3, 25), enc(4, 3), enc(5, 12)]
        b_pairs = [enc(11, 7), enc(12, 50), enc(13, 2)]
        a = batcher.submit(backend, a_pairs)
        b = batcher.submit(backend, b_pairs)
        assert await a.future == [score_of(p) for p in a_pairs]
        assert await b.future == [score_of(p) for p in b_pairs]
        await batcher.stop()
        # sorted window: 13(2) 2(3) 4(3) 11(7) 5(12) 3(25) 1(40) 12(50), two a batch; oldest first
        assert backend.batches == [[1, 12], [13, 2], [5, 3], [4, 11]]

    run(main())


def test_real_torch_backend_scores_each_job_in_order(qc_checkpoint) -> None:
    """The real backend contract implementation: two concurrent jobs spanning several batches get the
    scores the same backend gives each pair alone, in their own order."""
    from models import open_checkpoint
    from service.backends import load_backend
    from service.encoding import load_encoder
    from service.settings import Settings

    settings = Settings(_env_file=None, torch_compile=False, batch_max_pairs=3, batch_cost_tokens=10_000)

    async def main() -> None:
        checkpoint = open_checkpoint(qc_checkpoint)
        backend = await load_backend(checkpoint, settings)
        try:
            queries = ["running shoes", "phone case", "women's handbags", "yoga mats", "laptop", "perfume"]
            targets = ["sports outdoors,running shoes", "mobile phones,cases covers", "luggage & bags"]
            inputs = [PairInput(task=Task.QC, query=q, target=t) for q in queries for t in targets[:2]]
            encoded = load_encoder(checkpoint).encode_batch(inputs)
            alone = [(await backend.score([p]))[0] for p in encoded]

            batcher = make_batcher(max_batch_pairs=settings.batch_max_pairs)
            batcher.start()
            a = batcher.submit(backend, encoded[:7])
            b = batcher.submit(backend, encoded[7:])
            a_scores, b_scores = await asyncio.gather(a.future, b.future)
            await batcher.stop()
        finally:
            await backend.close()
        assert a_scores + b_scores == pytest.approx(alone, abs=1e-5)
        assert gauge(batcher, "relevance_batch_pairs_count") == 4  # 12 pairs, 3 a batch
        assert gauge(batcher, "relevance_backend_failures_total", {"backend": "torch"}) in (None, 0.0)

    run(main(), timeout=60)


# --- ordering, starvation, fill wait ---


def test_the_batch_holding_the_oldest_pair_goes_first_so_long_pairs_do_not_starve() -> None:
    """A long pair queued behind a busy model is not overtaken by short pairs that keep arriving (which
    would pack into full, cheap batches): the next batch is the one holding the oldest pair."""

    async def main() -> None:
        backend = RecordingBackend(limits(pairs=4, model_len=128, cost=16), gated=True)
        batcher = make_batcher()
        batcher.start()
        first = batcher.submit(backend, [enc(1, 8)])
        await until(lambda: len(backend.batches) == 1)
        long_job = batcher.submit(backend, [enc(500, 100)])
        shorts = [batcher.submit(backend, [enc(tag, 8)]) for tag in range(10, 18)]
        await settle()
        assert len(backend.batches) == 1, "concurrency 1: nothing else starts while batch 0 runs"
        backend.release(0)
        await until(lambda: len(backend.batches) == 2)
        assert backend.batches[1] == [500]
        # Short pairs keep coming while the long batch runs; the oldest shorts still go first.
        late = [batcher.submit(backend, [enc(tag, 8)]) for tag in range(20, 24)]
        backend.release(1)
        await until(lambda: len(backend.batches) == 3)
        assert backend.batches[2] == [10, 11, 12, 13]
        await drain(backend, 5)
        assert backend.batches[3:] == [[14, 15, 16, 17], [20, 21, 22, 23]]
        for job in [first, long_job, *shorts, *late]:
            assert await job.future == [score_of(job.pairs[0])]
        await batcher.stop()

    run(main())


def test_a_lone_pair_waits_at_most_max_wait_for_company() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=4, model_len=64))
        batcher = make_batcher(max_batch_pairs=4, max_wait_s=0.3)
        batcher.start()
        submitted = time.monotonic()
        first = batcher.submit(backend, [enc(1, 5)])
        await asyncio.sleep(0.1)
        second = batcher.submit(backend, [enc(2, 5)])  # arrives during the fill wait: joins the batch
        await asyncio.gather(first.future, second.future)
        waited = backend.started_at[0] - submitted
        assert backend.batches == [[1, 2]]
        assert 0.29 <= waited < 0.3 + 0.5, waited  # the deadline is the oldest pair's, not the newest's

        # A batch's worth queued does not wait at all.
        submitted = time.monotonic()
        full = batcher.submit(backend, [enc(t, 5) for t in (3, 4, 5, 6)])
        await full.future
        assert backend.batches[1] == [3, 4, 5, 6]
        assert backend.started_at[1] - submitted < 0.2
        await batcher.stop()

    run(main())


def test_max_wait_zero_dispatches_a_lone_pair_at_once() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=64, model_len=64))
        batcher = make_batcher(max_batch_pairs=64, max_wait_s=0.0)
        batcher.start()
        submitted = time.monotonic()
        job = batcher.submit(backend, [enc(1, 5)])
        assert await job.future == [score_of(enc(1, 5))]
        assert backend.batches == [[1]]
        assert backend.started_at[0] - submitted < 0.1
        await batcher.stop()

    run(main())


# --- cancellation ---


def test_cancelled_jobs_pairs_are_never_scored_and_others_are_unaffected() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=8, model_len=64), gated=True)
        batcher = make_batcher()
        batcher.start()
        running = batcher.submit(backend, [enc(1, 5), enc(2, 6)])
        bystander = batcher.submit(backend, [enc(3, 5)])
        await until(lambda: len(backend.batches) == 1)
        assert backend.batches[0] == [1, 3, 2]
        queued = batcher.submit(backend, [enc(10, 5), enc(11, 5)])
        other = batcher.submit(backend, [enc(20, 7)])
        assert batcher.depth == 3

        queued.cancel()  # still queued: its pairs must be dropped
        running.cancel()  # already in the running batch: that batch finishes, the job stays cancelled
        assert queued.future.cancelled() and running.future.cancelled()
        backend.release(0)
        await until(lambda: len(backend.batches) == 2)
        backend.release(1)
        assert await bystander.future == [score_of(enc(3, 5))]
        assert await other.future == [score_of(enc(20, 7))]
        assert backend.batches == [[1, 3, 2], [20]]
        assert batcher.depth == 0
        assert gauge(batcher, "relevance_queue_depth") == 0
        await batcher.stop()
        assert queued.future.cancelled() and running.future.cancelled()

    run(main())


def test_a_job_cancelled_before_the_loop_runs_is_dropped_entirely() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(model_len=64))
        batcher = make_batcher()
        gone = batcher.submit(backend, [enc(1, 5), enc(2, 5)])
        kept = batcher.submit(backend, [enc(3, 5)])
        gone.cancel()
        batcher.start()
        assert await kept.future == [score_of(enc(3, 5))]
        await batcher.stop()
        assert backend.batches == [[3]]
        assert gone.future.cancelled()

    run(main())


def test_cancelled_pairs_free_queue_room_while_the_backend_is_busy() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(model_len=64), gated=True)
        batcher = make_batcher(max_queue_pairs=4)
        batcher.start()
        busy = batcher.submit(backend, [enc(1, 5)])
        await until(lambda: len(backend.batches) == 1)
        abandoned = batcher.submit(backend, [enc(t, 5) for t in (2, 3, 4, 5)])
        abandoned.cancel()  # e.g. its client timed out
        await settle()
        try:
            retry = batcher.submit(backend, [enc(6, 5)])  # the cancelled pairs no longer hold queue room
            assert batcher.depth == 1
        finally:
            backend.gated = False  # the retry's batch runs ungated
            backend.release()
            await busy.future
            await batcher.stop()
        assert await retry.future == [score_of(enc(6, 5))]

    run(main())


# --- queue bound ---


def test_a_job_that_does_not_fit_the_queue_is_refused_with_429_and_nothing_is_queued() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(model_len=64))
        batcher = make_batcher(max_queue_pairs=5, retry_after_s=7)
        first = batcher.submit(backend, [enc(1, 5), enc(2, 5), enc(3, 5)])
        assert batcher.depth == 3 and gauge(batcher, "relevance_queue_depth") == 3
        with pytest.raises(ApiError) as refused:
            batcher.submit(backend, [enc(10, 5), enc(11, 5), enc(12, 5)])
        err = refused.value
        assert err.type is ErrorType.OVERLOADED and err.status == 429
        assert err.headers == {"Retry-After": "7"}
        assert batcher.depth == 3 and gauge(batcher, "relevance_queue_depth") == 3
        exact = batcher.submit(backend, [enc(4, 5), enc(5, 5)])  # fills the queue exactly
        empty = batcher.submit(backend, [])  # no pairs: answered at once, even with the queue full
        assert empty.future.done() and empty.future.result() == []
        with pytest.raises(ApiError):
            batcher.submit(backend, [enc(13, 5)])
        batcher.start()
        assert await first.future == [score_of(p) for p in first.pairs]
        assert await exact.future == [score_of(p) for p in exact.pairs]
        await batcher.stop()
        assert sorted(t for tags in backend.batches for t in tags) == [1, 2, 3, 4, 5]

    run(main())


# --- backend failures ---


@pytest.mark.parametrize("failure", ["raises", "wrong-count"])
def test_a_failed_batch_fails_its_jobs_with_503_and_later_batches_still_work(failure: str) -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=2, model_len=64), name="vllm")
        (backend.fail if failure == "raises" else backend.short).add(0)
        batcher = make_batcher(retry_after_s=4)
        spanning = batcher.submit(backend, [enc(1, 5), enc(2, 5), enc(3, 5)])  # in batch 0 (fails) and 1
        later = batcher.submit(backend, [enc(4, 5)])
        last = batcher.submit(backend, [enc(5, 5)])
        batcher.start()
        results = await asyncio.gather(spanning.future, later.future, last.future, return_exceptions=True)
        await batcher.stop()

        assert backend.batches[0] == [1, 2]
        # (Whether the failed job's pair 3 is still scored later is left open: only waste either way.)
        assert [t for tags in backend.batches[1:] for t in tags if t != 3] == [4, 5]
        err = results[0]
        assert isinstance(err, ApiError)
        assert err.type is ErrorType.BACKEND_UNAVAILABLE and err.status == 503
        assert err.headers == {"Retry-After": "4"}
        assert "injected" not in err.message, "engine details stay in the log"
        assert results[1:] == [[score_of(enc(4, 5))], [score_of(enc(5, 5))]]
        assert gauge(batcher, "relevance_backend_failures_total", {"backend": "vllm"}) == 1
        assert gauge(batcher, "relevance_inference_duration_seconds_count", {"backend": "vllm"}) == len(
            backend.batches
        )

    run(main())


def test_a_failed_batch_fails_every_job_in_it() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(model_len=64))
        backend.fail.add(0)
        batcher = make_batcher()
        jobs = [batcher.submit(backend, [enc(t, 5)]) for t in (1, 2, 3)]
        batcher.start()
        results = await asyncio.gather(*(j.future for j in jobs), return_exceptions=True)
        after = batcher.submit(backend, [enc(4, 5)])
        assert await after.future == [score_of(enc(4, 5))]
        await batcher.stop()
        assert backend.batches == [[1, 2, 3], [4]]
        assert all(isinstance(r, ApiError) and r.type is ErrorType.BACKEND_UNAVAILABLE for r in results)
        assert gauge(batcher, "relevance_backend_failures_total", {"backend": "torch"}) == 1

    run(main())


# --- concurrency ---


def test_concurrency_limits_batches_in_flight_and_waiting_pairs_stay_queued() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=1, model_len=64), gated=True)
        batcher = make_batcher(concurrency=2)
        batcher.start()
        jobs = [batcher.submit(backend, [enc(t, 5)]) for t in (1, 2, 3, 4, 5)]
        await until(lambda: len(backend.batches) == 2)
        await settle()
        assert backend.batches == [[1], [2]] and backend.in_flight == 2
        assert batcher.depth == 3 and gauge(batcher, "relevance_queue_depth") == 3
        backend.release(1)
        await until(lambda: len(backend.batches) == 3)
        await settle()
        assert backend.batches[2] == [3] and backend.in_flight == 2
        await drain(backend, 5)
        for job in jobs:
            assert await job.future == [score_of(job.pairs[0])]
        await batcher.stop()
        assert backend.max_in_flight == 2

    run(main())


def test_pairs_arriving_while_every_slot_is_busy_join_the_next_batch() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=8, model_len=64), gated=True)
        batcher = make_batcher(concurrency=1)
        batcher.start()
        first = batcher.submit(backend, [enc(1, 5)])
        await until(lambda: len(backend.batches) == 1)
        waiting = [batcher.submit(backend, [enc(t, 5)]) for t in (2, 3, 4)]
        await settle()
        backend.release(0)
        await until(lambda: len(backend.batches) == 2)
        backend.release()
        await asyncio.gather(first.future, *(j.future for j in waiting))
        await batcher.stop()
        assert backend.batches == [[1], [2, 3, 4]]

    run(main())


# --- backends sharing the queue ---


def test_two_backends_in_one_queue_are_never_mixed_in_a_batch() -> None:
    async def main() -> None:
        log: list[tuple[str, list[int]]] = []
        x = RecordingBackend(limits(model_len=64), name="x", log=log)
        y = RecordingBackend(limits(model_len=64), name="y", log=log)
        batcher = make_batcher()
        jobs = [
            batcher.submit(x, [enc(1, 5), enc(2, 9)]),
            batcher.submit(y, [enc(11, 5)]),
            batcher.submit(x, [enc(3, 7)]),
            batcher.submit(y, [enc(12, 6), enc(13, 5)]),
        ]
        batcher.start()
        results = await asyncio.gather(*(j.future for j in jobs))
        await batcher.stop()
        # The oldest pair is x's: x's window (all of x's pairs) goes first, then y's.
        assert log == [("x", [1, 3, 2]), ("y", [11, 13, 12])]
        assert results == [[score_of(p) for p in j.pairs] for j in jobs]

    run(main())


# --- shutdown ---


def test_stop_finishes_queued_work_first() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=2, model_len=64))
        batcher = make_batcher()
        batcher.start()
        jobs = [batcher.submit(backend, [enc(t, 5), enc(t + 100, 5)]) for t in (1, 2, 3)]
        await batcher.stop(timeout=5)
        assert all(j.future.done() and not j.future.cancelled() for j in jobs)
        assert [j.future.result() for j in jobs] == [[score_of(p) for p in j.pairs] for j in jobs]
        assert len(backend.batches) == 3
        assert batcher.depth == 0 and gauge(batcher, "relevance_queue_depth") == 0

    run(main())


def test_stop_past_its_timeout_fails_what_is_still_queued_with_not_ready() -> None:
    async def main() -> None:
        backend = RecordingBackend(limits(pairs=1, model_len=64), gated=True)
        batcher = make_batcher()
        batcher.start()
        running = batcher.submit(backend, [enc(1, 5)])
        queued = batcher.submit(backend, [enc(2, 5)])
        await until(lambda: len(backend.batches) == 1)
        await batcher.stop(timeout=0.1)
        err = queued.future.exception()
        assert isinstance(err, ApiError) and err.type is ErrorType.NOT_READY and err.status == 503
        assert batcher.depth == 0 and gauge(batcher, "relevance_queue_depth") == 0
        backend.release()  # the batch already running still completes its job
        assert await running.future == [score_of(enc(1, 5))]
        assert backend.batches == [[1]]

    run(main())
