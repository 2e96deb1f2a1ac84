"""Micro-batching: questions from concurrent requests share model batches.

Requests put their items on an asyncio queue; one collector task takes up to `max_batch` items, waiting at
most `max_wait_ms` after the first for more, and hands the batch to a single worker thread that runs the
model (so the event loop keeps accepting and rejecting requests while the model computes). Admission is
bounded: when `max_in_flight` items are already queued or running, a request is refused at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("destila.serve")


class Overloaded(Exception):
    """Too many questions in flight: the caller should answer 503 and the client retry later."""


@dataclass
class _Item:
    question: str
    context: str
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
    """`await batcher.submit([(question, context), ...])` -> one result per pair, in order.

    `predict_batch(questions, contexts)` runs in the worker thread and returns one result per question.
    """

    def __init__(
        self,
        predict_batch: Callable[[list[str], list[str]], list[Any]],
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

    async def submit(self, pairs: list[tuple[str, str]]) -> list[Any]:
        if not self.running:
            raise Overloaded("the model worker is not running")
        if self.in_flight + len(pairs) > self.max_in_flight:
            self.stats.rejected += 1
            raise Overloaded(
                f"too many questions in flight ({self.in_flight} of {self.max_in_flight}); retry shortly"
            )
        loop = asyncio.get_running_loop()
        items = [_Item(q, c, loop.create_future()) for q, c in pairs]
        self.in_flight += len(items)
        try:
            for item in items:
                self._queue.put_nowait(item)
            return list(await asyncio.gather(*(item.future for item in items)))
        finally:
            self.in_flight -= len(items)

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
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
            live = [item for item in batch if not item.future.done()]  # a client may have gone away
            if not live:
                continue
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self._executor, self.predict_batch, [i.question for i in live], [i.context for i in live]
                )
                if len(results) != len(live):
                    raise RuntimeError(f"the model returned {len(results)} results for {len(live)} questions")
            except Exception as exc:  # one bad batch must not stop the server
                log.exception("batch of %d questions failed", len(live))
                self.stats.failed_batches += 1
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            self.stats.model_seconds += time.perf_counter() - started
            self.stats.batches += 1
            self.stats.items += len(live)
            self.stats.largest_batch = max(self.stats.largest_batch, len(live))
            for item, result in zip(live, results):
                if not item.future.done():
                    item.future.set_result(result)
