"""The micro-batcher shared by every request: pairs from concurrent requests become model batches.

A request submits its encoded pairs as one job. The batcher loop waits until a batch's worth of pairs is
queued or the oldest pair has waited `max_wait`, takes a window of the oldest queued pairs for one backend,
sorts it by length and cuts it into batches (`models.inference.pack_sorted`: under the pair and
padded-token budgets, and wherever widening a batch would pad more than a new batch costs — so little
compute goes to padding; the offline path packs the same way) — and sends the batch holding the oldest
pair (so nothing starves); the others stay queued and can still grow. The queue is bounded in pairs: a
job that does not fit is refused at once (429) instead of waiting unboundedly.
A job whose client went away or timed out is cancelled; its queued pairs are dropped, not scored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from models import EncodedPair
from models.inference import pack_sorted
from service.backends.base import Backend, BackendError
from service.errors import ApiError, ErrorType, not_ready
from service.metrics import Metrics

log = logging.getLogger(__name__)

# A window holds up to this many batches' worth of the oldest pairs. Sorting a larger window cuts more
# padding (simulated on real QC pairs at saturation: padded/real tokens 1.75 unsorted, 1.43 with 2,
# 1.22 with 4, 1.17 with 8 batches; 1.02 for a global sort), and costs no latency: the batch holding
# the oldest pair always goes first.
WINDOW_BATCHES = 8


@dataclass(eq=False)
class Job:
    backend: Backend
    pairs: Sequence[EncodedPair]
    future: asyncio.Future[list[float]]
    scores: list[float] = field(default_factory=list)
    remaining: int = 0
    cancelled: bool = False
    # Set by the batcher that queued the job: takes its queued pairs out at once, so a timed-out or
    # disconnected client's pairs stop counting against the queue bound (else, under load, new requests
    # get 429 for work that will never run).
    on_cancel: Callable[[Job], None] | None = None

    def cancel(self) -> None:
        """Drop the job: pairs still queued are removed; a batch already running finishes unheard."""
        if self.cancelled:
            return
        self.cancelled = True
        if not self.future.done():
            self.future.cancel()
        if self.on_cancel is not None:
            self.on_cancel(self)


@dataclass(eq=False, slots=True)
class _Item:
    job: Job
    index: int
    enqueued_at: float

    @property
    def pair(self) -> EncodedPair:
        return self.job.pairs[self.index]


class MicroBatcher:
    def __init__(
        self,
        *,
        max_batch_pairs: int,
        max_batch_tokens: int,
        max_wait_s: float,
        max_queue_pairs: int,
        concurrency: int,
        retry_after_s: int,
        metrics: Metrics,
    ) -> None:
        self.max_batch_pairs = max_batch_pairs
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue_pairs = max_queue_pairs
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self._queue: deque[_Item] = deque()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Finish queued and running batches (graceful shutdown), then stop the loop."""
        deadline = time.monotonic() + timeout
        while (self._queue or self._running) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for item in self._queue:
            if not item.job.future.done():
                item.job.future.set_exception(not_ready("the server is shutting down"))
        self._queue.clear()
        self.metrics.queue_depth.set(0)

    def submit(self, backend: Backend, pairs: Sequence[EncodedPair]) -> Job:
        """Queue a job's pairs, or raise `overloaded` (429) if the queue cannot take them all."""
        if len(self._queue) + len(pairs) > self.max_queue_pairs:
            raise ApiError(
                ErrorType.OVERLOADED,
                f"the scoring queue is full ({len(self._queue)} of {self.max_queue_pairs} pairs waiting); "
                f"retry after {self.retry_after_s}s",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        job = Job(backend, pairs, asyncio.get_running_loop().create_future(), on_cancel=self._drop)
        job.scores = [0.0] * len(pairs)
        job.remaining = len(pairs)
        if not pairs:
            job.future.set_result([])
            return job
        now = time.monotonic()
        self._queue.extend(_Item(job, i, now) for i in range(len(pairs)))
        self.metrics.queue_depth.set(len(self._queue))
        self._arrived.set()
        return job

    def _drop(self, job: Job) -> None:
        self._queue = deque(item for item in self._queue if item.job is not job)
        self.metrics.queue_depth.set(len(self._queue))

    # --- the loop ---

    async def _run(self) -> None:
        while True:
            await self._wait_for_work()
            # Take a free slot first: pairs arriving while every slot is busy still join the next batch,
            # and pairs not yet in a running batch stay cancellable and counted as queued.
            await self._slots.acquire()
            batch = self._next_batch()
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._dispatch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _wait_for_work(self) -> None:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        # Fill: stop waiting once a batch's worth is queued or the oldest pair's wait is over.
        deadline = self._queue[0].enqueued_at + self.max_wait_s
        while len(self._queue) < self.max_batch_pairs and (remaining := deadline - time.monotonic()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
            if not self._queue:
                return

    def _next_batch(self) -> list[_Item]:
        """The length-sorted batch holding the oldest queued pair, cut from a window of queued pairs.

        The window is the oldest pairs of the oldest pair's backend, up to WINDOW_BATCHES batches' worth;
        sorted by length it is packed into batches, and the batch with the oldest pair goes now (so no
        pair starves); the rest stay queued in arrival order.
        """
        self._queue = deque(item for item in self._queue if not item.job.cancelled)
        if not self._queue:
            self.metrics.queue_depth.set(0)
            return []
        backend = self._queue[0].job.backend
        pair_cap = WINDOW_BATCHES * self._pair_budget(backend)
        token_cap = WINDOW_BATCHES * self._token_budget(backend)
        window: list[_Item] = []
        tokens = 0
        for item in self._queue:
            if len(window) >= pair_cap or tokens >= token_cap:
                break
            if item.job.backend is backend:
                window.append(item)
                tokens += item.pair.num_tokens
        oldest = window[0]
        batch = next(b for b in self._pack(window) if any(item is oldest for item in b))
        taken = set(map(id, batch))
        self._queue = deque(item for item in self._queue if id(item) not in taken)
        self.metrics.queue_depth.set(len(self._queue))
        return batch

    def _pair_budget(self, backend: Backend) -> int:
        return max(1, min(self.max_batch_pairs, backend.limits.max_batch_pairs))

    def _token_budget(self, backend: Backend) -> int:
        # A budget below the longest possible input could never place that input; the model's own
        # length is the floor.
        return max(min(self.max_batch_tokens, backend.limits.max_batch_tokens), backend.limits.max_model_len)

    def _pack(self, window: list[_Item]) -> list[list[_Item]]:
        backend = window[0].job.backend
        ordered = (
            sorted(window, key=lambda it: it.pair.num_tokens) if backend.limits.length_sorted else window
        )
        ranges = pack_sorted(
            [item.pair.num_tokens for item in ordered],
            max_pairs=self._pair_budget(backend),
            max_tokens=self._token_budget(backend),
            batch_cost_tokens=backend.limits.batch_cost_tokens,
        )
        return [ordered[r.start : r.stop] for r in ranges]

    async def _dispatch(self, batch: list[_Item]) -> None:
        try:
            backend = batch[0].job.backend
            started = time.monotonic()
            for item in batch:
                self.metrics.queue_duration.observe(started - item.enqueued_at)
            self.metrics.batch_pairs.observe(len(batch))
            self.metrics.batch_tokens.observe(len(batch) * max(item.pair.num_tokens for item in batch))
            try:
                scores = await backend.score([item.pair for item in batch])
                if len(scores) != len(batch):
                    raise BackendError(f"backend returned {len(scores)} scores for {len(batch)} pairs")
            except Exception as exc:
                self.metrics.backend_failures.labels(backend=backend.name).inc()
                log.error("backend batch failed", extra={"backend": backend.name, "error": repr(exc)})
                err = ApiError(
                    ErrorType.BACKEND_UNAVAILABLE,
                    "the model backend failed to score this batch; retry",
                    headers={"Retry-After": str(self.retry_after_s)},
                )
                for job in {item.job for item in batch}:
                    if not job.future.done():
                        job.future.set_exception(err)
                return
            finally:
                self.metrics.inference_duration.labels(backend=backend.name).observe(
                    time.monotonic() - started
                )
            for item, score in zip(batch, scores, strict=True):
                job = item.job
                job.scores[item.index] = float(score)
                job.remaining -= 1
                if job.remaining == 0 and not job.future.done():
                    job.future.set_result(job.scores)
        finally:
            self._slots.release()
