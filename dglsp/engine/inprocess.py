"""The engine that runs DiffusionGemma inside this process with transformers.

One worker thread owns the model: loading and every denoising loop run there, one request at
a time, so the asyncio loop (the language server) never blocks on torch. Drafts cross to
asyncio through a queue; cancellation is a flag the loop checks between two steps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dglsp.engine.base import (
    Cancelled,
    CancelToken,
    Draft,
    EngineError,
    EngineState,
    InfillRequest,
    ModelUnavailable,
    Progress,
    ProgressCallback,
)
from dglsp.engine.batching import Lane, LaneJob

log = logging.getLogger(__name__)

_DONE = object()
# Cells of suffix pinned after the middle in the pinned strategy (the rest of the suffix is
# cut: the decoder's window is the canvas).
PINNED_SUFFIX_CELLS = 32


def default_max_batch(device) -> int:
    """A GPU step is bound by reading the weights, so concurrent canvases share it nearly
    for free; on a CPU the pass is compute-bound and batching buys little (docs/benchmarks.md)."""
    return 4 if getattr(device, "type", str(device)) == "cuda" else 1


def middle_length_ladder(longest: int) -> tuple[int, ...]:
    """Middle lengths tried side by side in the pinned strategy: a quarter, half and all of
    the canvas. Each row can still end early with an end-of-middle token."""
    return tuple(sorted({max(1, longest // 4), max(1, longest // 2), longest}))


class InProcessEngine:
    def __init__(
        self,
        model: str,
        device: str = "auto",
        max_batch: int | None = None,
        experts: str = "auto",
        dtype: str = "auto",
    ) -> None:
        """`max_batch`: requests sharing one forward pass at most; None picks by device.
        `experts`: the MoE layers' implementation (dglsp.model.loading.choose_experts).
        `dtype`: the `dtype` setting, e.g. fp8 (dglsp.model.loading.choose_precision)."""
        self._model_setting = model
        self._device_setting = device
        self._experts_setting = experts
        self._dtype_setting = dtype
        self._state = EngineState.STOPPED
        self._error: str | None = None
        self._model = None
        self._tokenizer = None
        self._path: Path | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dglsp-engine")
        self._prompt_cache = None
        # Figures of the last infill (prompt tokens, tokens reused from the prompt cache,
        # encode time, steps), for benchmarks and logs.
        self.last_stats: dict[str, float] = {}
        self._start_lock = asyncio.Lock()
        self._max_batch_setting = max_batch
        self._lane = Lane(lambda: self._model, self._on_worker, _DONE, Cancelled, EngineError, max_batch or 1)

    # --- Engine protocol: status ---
    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def model_name(self) -> str:
        return self._path.name if self._path else self._model_setting

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def canvas_length(self) -> int:
        return int(self._model.config.canvas_length) if self._model is not None else 0

    # --- loading ---
    async def start(self, progress: ProgressCallback | None = None) -> None:
        async with self._start_lock:
            if self._state in (EngineState.READY, EngineState.ERROR):
                return
            self._state = EngineState.LOADING
            loop = asyncio.get_running_loop()

            def report(message: str, percentage: int | None) -> None:
                if progress is not None:
                    loop.call_soon_threadsafe(progress, Progress(message, percentage))

            try:
                await loop.run_in_executor(self._executor, self._load, report)
            except ModelUnavailable as error:
                self._state, self._error = EngineState.ERROR, str(error)
                log.error("engine: %s", error)
                return
            except Exception as error:  # a broken install must still become a message, not a crash
                self._state = EngineState.ERROR
                self._error = f"Loading the model failed unexpectedly: {type(error).__name__}: {error}"
                log.exception("engine: unexpected load failure")
                return
            self._state = EngineState.READY

    def _load(self, report) -> None:
        from dglsp.model.loading import (
            check_fits,
            choose_device,
            choose_precision,
            estimate_model_bytes,
            human_bytes,
            load_model,
        )
        from dglsp.model.prompt_cache import PromptCache
        from dglsp.model.tokenizer import load_tokenizer

        started = time.perf_counter()
        report(f"Finding {self._model_setting}", 0)
        path = _resolve(self._model_setting)
        device = choose_device(self._device_setting)
        size = estimate_model_bytes(path)
        precision = choose_precision(device, size, self._dtype_setting)  # a bad dtype stops here
        check_fits(path, device, self._dtype_setting)
        report("Loading the tokenizer", 10)
        tokenizer = load_tokenizer(path)
        report(f"Loading {human_bytes(size)} of weights onto {device} as {precision.name}", 20)
        model = load_model(path, device, precision.compute, self._experts_setting, fp8=precision.fp8)

        self._path, self._tokenizer, self._model = path, tokenizer, model
        self._lane.max_batch = self._max_batch_setting or default_max_batch(device)
        self._prompt_cache = PromptCache(model)
        report("Model ready", 100)
        elapsed = time.perf_counter() - started
        log.info("engine: loaded %s on %s as %s in %.1f s", path, device, precision.name, elapsed)

    # --- infill ---
    async def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        if self._state is not EngineState.READY:
            raise EngineError(self._error or f"The model is not loaded (engine {self._state.value}).")
        # The lane stops on the caller's cancel, or on ours when the consumer leaves early.
        # The caller's token is never set here: it must say whether *the caller* cancelled.
        abandoned = CancelToken()

        def should_stop() -> bool:
            return abandoned.cancelled or (cancel is not None and cancel.cancelled)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def emit(item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        self._lane.submit(LaneJob(lambda: self._prepare(request), should_stop, emit))
        ended = False  # the lane let the request go (its stream ended with _DONE)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    ended = True
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not ended:
                # Superseded, disconnected or failed: wait until the lane has let it go (within
                # one step), so the next request of this caller never overlaps with it.
                abandoned.cancel("consumer stopped")
                while await queue.get() is not _DONE:
                    pass

    def _prepare(self, request: InfillRequest) -> _Running:
        """Encode the prompt (reusing a cached start) and lay out its canvas; on the lane's thread."""
        from dglsp.model.denoise import Canvas, DenoiseSettings, Layout

        tokenizer = self._tokenizer
        middle = max(1, min(request.canvas_length or self.canvas_length, self.canvas_length))
        layout = None
        width = middle
        if request.strategy == "pinned":
            suffix_ids = tokenizer.encode(request.pinned_suffix)
            pinned_cells = min(len(suffix_ids), PINNED_SUFFIX_CELLS, self.canvas_length - 1)
            # The suffix needs room in the canvas: a middle that would fill it is shortened,
            # or its longest row would see no suffix at all (prefix-only infill).
            middle = max(1, min(middle, self.canvas_length - pinned_cells))
            width = middle + pinned_cells
            lengths = request.middle_lengths or middle_length_ladder(middle)
            lengths = tuple(sorted({max(1, min(n, middle)) for n in lengths}))
            layout = Layout.pinned_suffix(lengths, suffix_ids, width, tokenizer.pad_id or 0)
        settings = DenoiseSettings(
            canvas_length=width,
            max_steps=request.steps,
            entropy_bound=request.entropy_bound,
            seed=request.seed,
        )
        started = time.perf_counter()
        ids = list(request.prompt_ids) if request.prompt_ids else tokenizer.encode(request.prompt)
        encoded = self._prompt_cache.encode(ids)
        stats = {
            "prompt_tokens": encoded.prompt_length,
            "reused_tokens": encoded.reused_tokens,
            "encode_ms": (time.perf_counter() - started) * 1000,
        }
        canvas = Canvas(
            self._model, encoded.cache, encoded.prompt_length, settings, layout, tokenizer.end_of_middle_ids
        )
        return _Running(self, canvas, stats)

    @property
    def max_batch(self) -> int:
        """Requests that share one forward pass at most (1: one at a time)."""
        return self._lane.max_batch

    @max_batch.setter
    def max_batch(self, value: int) -> None:
        self._lane.max_batch = max(1, value)

    @property
    def largest_batch(self) -> int:
        """The most requests one forward pass has carried so far."""
        return self._lane.largest_batch

    def _on_worker(self, work) -> None:
        self._executor.submit(work)

    async def close(self) -> None:
        self._lane.closed = True  # running requests end as cancelled at the next step
        self._executor.shutdown(wait=False, cancel_futures=True)
        # The prompt cache holds the model and its KV checkpoints: drop both, so the memory
        # is free for whatever loads next (another model, a benchmark's baseline).
        self._model = self._prompt_cache = None
        self._state = EngineState.STOPPED


class _Running:
    """An admitted request: its canvas, and how its steps become Drafts."""

    def __init__(self, engine: InProcessEngine, canvas, stats: dict[str, float]) -> None:
        self.engine, self.canvas, self.stats = engine, canvas, stats
        self.steps = 0

    def draft(self, result) -> Draft:
        tokenizer = self.engine.tokenizer
        ids = tokenizer.cut_at_end(result.middle_ids)
        self.steps = result.step
        total = self.canvas.settings.max_steps
        return Draft(result.step, total, tokenizer.decode_middle(ids), result.finished, tuple(ids))

    def finish(self) -> None:
        self.engine.last_stats = {**self.stats, "steps": self.steps}


def _resolve(name: str) -> Path:
    from dglsp.model.loading import resolve_model

    return resolve_model(name)
