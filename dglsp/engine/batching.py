"""The in-process engine's denoising lane: every running request advances one step per pass.

Requests are admitted in arrival order, up to `max_batch` at a time, at the boundary between
two steps: a request that arrives while others are mid-way joins at their next step instead
of waiting for them to finish. Each pass runs the admitted canvases through the model
together (dglsp.model.batch) and then gives each its own step: drafts, stopping and random
draws stay per request, so a request's text does not depend on who shared its passes. The
steps stay on the device until every canvas has taken its own; their results (stop flag, best
row, its tokens) then come back in one copy, the pass's only wait for the device.

The lane runs on the engine's single worker thread while there is work and returns when
there is none, so loading (the same thread) never races it. Cancellation is checked for
every request before every pass: a cancelled request leaves within one step.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

OUT_OF_MEMORY = "The GPU ran out of memory for this completion; try a smaller contextBudget."


@dataclass
class LaneJob:
    """One request in the lane. `emit` receives Drafts, then an exception or `done`."""

    prepare: Callable[[], Any]  # -> a Running (encodes the prompt: runs on the lane's thread)
    should_stop: Callable[[], bool]
    emit: Callable[[object], None]
    running: Running | None = field(default=None)  # set once admitted


class Running(Protocol):
    """What the lane needs from an admitted request."""

    canvas: Any  # dglsp.model.denoise.Canvas

    def draft(self, result: Any) -> object: ...  # a StepResult -> the Draft to emit

    def finish(self) -> None: ...  # the request left the lane (finished, cancelled or failed)


class Lane:
    def __init__(
        self,
        model_of: Callable[[], Any],
        run_on_worker: Callable[[Callable[[], None]], None],
        done: object,
        cancelled: Callable[[], BaseException],
        failed: Callable[[str], BaseException],
        max_batch: int = 1,
    ) -> None:
        """`run_on_worker(fn)` runs fn on the engine's worker thread; `done` ends every job's
        stream; `cancelled()` and `failed(message)` make the exceptions a job's stream ends with."""
        self._model_of = model_of
        self._run_on_worker = run_on_worker
        self._done = done
        self._cancelled = cancelled
        self._failed = failed
        self.max_batch = max(1, max_batch)
        self._lock = threading.Lock()
        self._pending: deque[LaneJob] = deque()
        self._looping = False
        self.closed = False
        self.largest_batch = 0  # the most requests one pass has carried (for benchmarks, status)

    def submit(self, job: LaneJob) -> None:
        with self._lock:
            self._pending.append(job)
            if self._looping:
                return
            self._looping = True
        try:
            self._run_on_worker(self._loop)
        except RuntimeError:  # the worker is gone (the engine closed): nothing will run it
            with self._lock:
                self._looping = False
                waiting, self._pending = list(self._pending), deque()
            for waiting_job in waiting:
                self._end(waiting_job, self._failed("The engine has stopped."))

    # --- the worker thread ---
    def _loop(self) -> None:
        active: list[LaneJob] = []
        try:
            self._serve(active)
        except BaseException as error:  # a bug here must not leave callers waiting forever
            log.exception("engine: the denoising lane failed")
            with self._lock:
                self._looping = False
                waiting, self._pending = list(self._pending), deque()
            for job in [*active, *waiting]:
                self._end(job, self._failed(f"The engine failed: {type(error).__name__}: {error}"))

    def _serve(self, active: list[LaneJob]) -> None:
        import torch

        packed = None
        with torch.no_grad():
            while True:
                admitted = self._admit(active)
                if admitted is None:
                    return
                for job in admitted:
                    if self._start(job):
                        active.append(job)
                        packed = None
                if self._drop_stopped(active):
                    packed = None
                if not active:
                    continue
                packed = self._pass(active, packed)

    def _admit(self, active: list[LaneJob]) -> list[LaneJob] | None:
        """Take waiting jobs while there is room; None when the lane has nothing left to do."""
        with self._lock:
            if self.closed:
                waiting, self._pending = list(self._pending), deque()
                for job in [*active, *waiting]:
                    self._end(job, self._cancelled())
                active.clear()
                self._looping = False
                return None
            taken = []
            while self._pending and len(active) + len(taken) < self.max_batch:
                taken.append(self._pending.popleft())
            if not active and not taken:
                self._looping = False
                return None
            return taken

    def _start(self, job: LaneJob) -> bool:
        import torch

        if job.should_stop():
            self._end(job, self._cancelled())
            return False
        try:
            job.running = job.prepare()
            return True
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            self._end(job, self._failed(OUT_OF_MEMORY))
        except Exception as error:
            log.exception("engine: preparing a request failed")
            self._end(job, self._failed(f"The engine failed: {type(error).__name__}: {error}"))
        return False

    def _drop_stopped(self, active: list[LaneJob]) -> bool:
        stopped = [job for job in active if job.should_stop()]
        for job in stopped:
            active.remove(job)
            self._end(job, self._cancelled())
        return bool(stopped)

    def _pass(self, active: list[LaneJob], packed):
        """One forward pass for every active job, then one step each. Returns the packed
        batch to reuse next pass (None when membership changed or there is nothing to pack)."""
        import torch

        from dglsp.model.batch import PackedBatch, can_pack
        from dglsp.model.denoise import read_host

        model = self._model_of()
        self.largest_batch = max(self.largest_batch, len(active))
        try:
            if len(active) == 1:
                packed = None
                logits = [active[0].running.canvas.forward(model)]
            elif can_pack(model):
                packed = packed or PackedBatch(model, [job.running.canvas for job in active])
                logits = packed.forward(model)
            else:
                logits = [job.running.canvas.forward(model) for job in active]
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if len(active) == 1:
                self._end(active.pop(), self._failed(OUT_OF_MEMORY))
                return None
            # Too many canvases at once: this pass goes one by one (each may fail alone).
            log.warning("engine: out of memory with %d canvases in one pass; one by one", len(active))
            logits = [self._solo(model, job) for job in active]
            packed = None
        except Exception as error:
            log.exception("engine: a denoising pass failed")
            for job in active:
                self._end(job, self._failed(f"The engine failed: {type(error).__name__}: {error}"))
            active.clear()
            return None
        # Every job's step stays on the device; their results come back in one copy.
        stepped, summaries = [], []
        for job, job_logits in zip(list(active), logits, strict=True):
            if job_logits is None:  # its solo pass ran out of memory
                active.remove(job)
                self._end(job, self._failed(OUT_OF_MEMORY))
                packed = None
                continue
            try:
                summaries.append(job.running.canvas.advance(job_logits))
                stepped.append(job)
            except Exception as error:
                packed = self._fail_step(active, job, error)
        try:
            read = read_host(summaries)
        except Exception as error:
            for job in stepped:
                packed = self._fail_step(active, job, error)
            return None
        for job, summary in zip(stepped, read, strict=True):
            try:
                result = job.running.canvas.result(summary)
                job.emit(job.running.draft(result))
            except Exception as error:
                packed = self._fail_step(active, job, error)
                continue
            if result.finished:
                active.remove(job)
                self._end(job, None)
                packed = None
        return packed

    def _fail_step(self, active: list[LaneJob], job: LaneJob, error: Exception) -> None:
        """A job's step failed: it alone leaves the lane. Returns the packed batch to keep (none)."""
        log.exception("engine: a denoising step failed", exc_info=error)
        active.remove(job)
        self._end(job, self._failed(f"The engine failed: {type(error).__name__}: {error}"))
        return None

    def _solo(self, model, job: LaneJob):
        import torch

        try:
            return job.running.canvas.forward(model)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            return None

    def _end(self, job: LaneJob, error: BaseException | None) -> None:
        if job.running is not None:
            try:
                job.running.finish()
            except Exception:
                log.exception("engine: finishing a request failed")
            job.running = None
        try:
            if error is not None:
                job.emit(error)
            job.emit(self._done)
        except RuntimeError:  # the caller's event loop is closed: nobody is listening
            log.debug("engine: a request's caller went away before its end")
