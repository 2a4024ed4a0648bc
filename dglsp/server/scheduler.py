"""Who gets the engine next: supersession, debounce and cancel tokens (pure asyncio, no LSP).

The engine is one model, so one job runs at a time. Jobs have a key (the document URI):
- a newer job with the same key supersedes the older one wherever it is (debouncing,
  waiting for the engine to load, queued, or running); a running job's CancelToken is
  triggered, so the engine stops between two denoising steps;
- jobs with different keys run in arrival order (FIFO), so one busy document cannot starve
  another;
- the caller being cancelled (pygls cancels the handler's task on `$/cancelRequest`)
  triggers the job's CancelToken too, and the CancelledError propagates to the caller.

A superseded job raises `Superseded` in its caller straight away; its engine work, if it
had started, keeps the engine until the engine notices the token, so the next job never
overlaps with it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dglsp.engine.base import Cancelled, CancelToken

T = TypeVar("T")

CLIENT_CANCELLED = "cancelled by the client"


class Superseded(Cancelled):
    """The job was replaced by a newer one for the same key, or cancelled by `cancel()`."""


class Job:
    """One request's place in the scheduler."""

    _ids = itertools.count(1)

    def __init__(self, key: str) -> None:
        self.id = next(Job._ids)
        self.key = key
        self.token = CancelToken()
        self.started = False  # True once the work got the engine
        self.reason = ""
        self._cancelled = asyncio.Event()

    def cancel(self, reason: str) -> None:
        if self._cancelled.is_set():
            return
        self.reason = reason
        self.token.cancel(reason)
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        # Only our own cancel() counts: the work holds the token too, and an engine may trip
        # it while cleaning up after a finished request; that must not discard the result.
        return self._cancelled.is_set()

    async def wait_cancelled(self) -> None:
        await self._cancelled.wait()

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.key!r}, started={self.started}, cancelled={self.cancelled})"


class Scheduler:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()  # FIFO: asyncio wakes waiters in arrival order
        self._latest: dict[str, Job] = {}
        self._running: set[asyncio.Task[object]] = set()

    async def run(
        self,
        key: str,
        work: Callable[[CancelToken], Awaitable[T]],
        *,
        debounce: float = 0.0,
        ready: Callable[[], Awaitable[object]] | None = None,
    ) -> T:
        """Run `work(token)` when it is this job's turn; return its result.

        `debounce` (seconds) is waited first; a job superseded meanwhile never reaches the
        engine. `ready` (e.g. "the model has loaded") is awaited next, still outside the
        queue. Raises Superseded when replaced, whatever `work` raises (engine.Cancelled when
        the engine stopped on the token), and CancelledError when the caller is cancelled.
        """
        job = self._register(key)
        try:
            if debounce > 0:
                await self._unless_cancelled(job, asyncio.sleep(debounce))
            if ready is not None:
                await self._unless_cancelled(job, ready())
            task = asyncio.ensure_future(self._exclusive(job, work))
            self._running.add(task)
            task.add_done_callback(self._finished)
            return await self._unless_cancelled(job, asyncio.shield(task), keep=task)
        except asyncio.CancelledError:
            job.cancel(CLIENT_CANCELLED)
            raise
        finally:
            if self._latest.get(key) is job:
                del self._latest[key]

    def cancel(self, key: str, reason: str) -> bool:
        """Cancel the live job for `key` (its document changed or closed). True if there was one."""
        job = self._latest.pop(key, None)
        if job is None:
            return False
        job.cancel(reason)
        return True

    def cancel_all(self, reason: str) -> None:
        for key in list(self._latest):
            self.cancel(key, reason)

    def job(self, key: str) -> Job | None:
        """The live job for `key`, if any (for tests and logs)."""
        return self._latest.get(key)

    async def wait_idle(self) -> None:
        """Until no engine work runs (cancelled work included)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    # --- internals ---
    def _register(self, key: str) -> Job:
        job = Job(key)
        older = self._latest.get(key)
        if older is not None:
            older.cancel(f"superseded by a newer request (job {job.id})")
        self._latest[key] = job
        return job

    async def _exclusive(self, job: Job, work: Callable[[CancelToken], Awaitable[T]]) -> T:
        async with self._lock:
            if job.cancelled:
                raise Superseded(job.reason)
            job.started = True
            return await work(job.token)

    async def _unless_cancelled(
        self, job: Job, awaitable: Awaitable[T], keep: asyncio.Task[T] | None = None
    ) -> T:
        """Await `awaitable`, or raise Superseded as soon as the job is cancelled.

        `keep` is the engine work: once started it must run until the engine stops on the
        token (the lock is what keeps engine requests apart), so it is only abandoned, never
        cancelled; before it started it is cancelled, which just leaves the queue.
        """
        inner = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(job.wait_cancelled())
        try:
            await asyncio.wait({inner, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not inner.done():
                inner.cancel()
                if keep is not None and not job.started:
                    keep.cancel()
            elif not inner.cancelled() and job.cancelled:
                inner.exception()  # finished as it was superseded: its outcome is dropped
        if job.cancelled:
            raise Superseded(job.reason)
        return inner.result()

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned job's error is not "never retrieved"
