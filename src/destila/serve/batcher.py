"""Micro-batching: questions from concurrent requests share model batches.

Requests put their items on an asyncio queue; one collector task takes up to `max_batch` items, waiting at
most `max_wait_ms` after the first for more, and hands the batch to a single worker thread that runs the
model (so the event loop keeps accepting and rejecting requests while the model computes). Items carry the
options they are answered with (top_k, ...): a batch runs as one model call per distinct options, so questions
asked the usual way share one call. Admission is bounded: when `max_in_flight` items are already queued or
running, a request is refused at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("destila.serve")


class Overloaded(Exception):
    """Too many questions in flight: the caller should answer 503 and the client retry later."""


@dataclass
class _Item:
    question: str
    context: str
    options: Hashable
    future: asyncio.Future = field(repr=False)


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest_batch: int = 0
    rejected: int = 0
    failed_batches: int = 0
    model_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "batches": self.batches,
            "items": self.items,
            "mean_batch": round(self.items / self.batches, 2) if self.batches else 0.0,
            "largest_batch": self.largest_batch,
            "rejected": self.rejected,
            "failed_batches": self.failed_batches,
            "model_seconds": round(self.model_seconds, 3),
        }


class MicroBatcher:
    """`await batcher.submit([(question, context, options), ...])` -> one result per question, in order.

    `predict_batch(questions, contexts, options)` runs in the worker thread and returns one result per question;
    `options` (any hashable value) are the same for all the questions of one call.
    """

    def __init__(
        self,
        predict_batch: Callable[[list[str], list[str], Hashable], list[Any]],
        *,
        max_batch: int = 16,
        max_wait_ms: float = 5.0,
        max_in_flight: int = 256,
    ):
        if max_batch < 1 or max_in_flight < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_in_flight must be positive, max_wait_ms not negative")
        self.predict_batch = predict_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def queued(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="destila-model"
        )
        self._task = asyncio.create_task(self._collect(), name="destila-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(Overloaded("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, questions: list[tuple[str, str, Hashable]]) -> list[Any]:
        if not self.running:
            raise Overloaded("the model worker is not running")
        if self.in_flight + len(questions) > self.max_in_flight:
            self.stats.rejected += 1
            raise Overloaded(
                f"too many questions in flight ({self.in_flight} of {self.max_in_flight}); retry shortly"
            )
        loop = asyncio.get_running_loop()
        items = [_Item(q, c, options, loop.create_future()) for q, c, options in questions]
        self.in_flight += len(items)
        try:
            for item in items:
                self._queue.put_nowait(item)
            return list(await asyncio.gather(*(item.future for item in items)))
        finally:
            self.in_flight -= len(items)

    async def _collect(self) -> None:
        while True:
            live = [item for item in await self._next_batch() if not item.future.done()]  # a client may be gone
            if not live:
                continue
            groups: dict[Hashable, list[_Item]] = {}
            for item in live:
                groups.setdefault(item.options, []).append(item)
            started = time.perf_counter()
            for options, group in groups.items():
                await self._run(group, options)
            self.stats.model_seconds += time.perf_counter() - started
            self.stats.batches += 1
            self.stats.items += len(live)
            self.stats.largest_batch = max(self.stats.largest_batch, len(live))

    async def _next_batch(self) -> list[_Item]:
        """The next item, and those that arrive within `max_wait_ms` of it, up to `max_batch`."""
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self, items: list[_Item], options: Hashable) -> None:
        """One model call for questions that share their options; a failure fails only these questions."""
        loop = asyncio.get_running_loop()
        questions, contexts = [i.question for i in items], [i.context for i in items]
        try:
            results = await loop.run_in_executor(self._executor, self.predict_batch, questions, contexts, options)
            if len(results) != len(items):
                raise RuntimeError(f"the model returned {len(results)} results for {len(items)} questions")
        except Exception as exc:  # one bad batch must not stop the server
            log.exception("batch of %d questions failed", len(items))
            self.stats.failed_batches += 1
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item, result in zip(items, results):
            if not item.future.done():
                item.future.set_result(result)
