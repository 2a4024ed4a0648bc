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

log = logging.getLogger(__name__)

_DONE = object()
# Cells of suffix pinned after the middle in the pinned strategy (the rest of the suffix is
# cut: the decoder's window is the canvas).
PINNED_SUFFIX_CELLS = 32


def middle_length_ladder(longest: int) -> tuple[int, ...]:
    """Middle lengths tried side by side in the pinned strategy: a quarter, half and all of
    the canvas. Each row can still end early with an end-of-middle token."""
    return tuple(sorted({max(1, longest // 4), max(1, longest // 2), longest}))


class InProcessEngine:
    def __init__(self, model: str, device: str = "auto") -> None:
        self._model_setting = model
        self._device_setting = device
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
            choose_dtype,
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
        check_fits(path, device)
        report("Loading the tokenizer", 10)
        tokenizer = load_tokenizer(path)
        size = estimate_model_bytes(path)
        report(f"Loading {human_bytes(size)} of weights onto {device}", 20)
        model = load_model(path, device, choose_dtype(device, size))

        self._path, self._tokenizer, self._model = path, tokenizer, model
        self._prompt_cache = PromptCache(model)
        report("Model ready", 100)
        log.info("engine: loaded %s on %s in %.1f s", path, device, time.perf_counter() - started)

    # --- infill ---
    async def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        if self._state is not EngineState.READY:
            raise EngineError(self._error or f"The model is not loaded (engine {self._state.value}).")
        # The worker stops on the caller's cancel, or on ours when the consumer leaves early.
        # The caller's token is never set here: it must say whether *the caller* cancelled.
        abandoned = CancelToken()

        def should_stop() -> bool:
            return abandoned.cancelled or (cancel is not None and cancel.cancelled)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def emit(item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        future = loop.run_in_executor(self._executor, self._run, request, should_stop, emit)
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
        finally:
            if not finished:  # superseded or disconnected: stop the loop at the next step
                abandoned.cancel("consumer stopped")
            await asyncio.shield(future)

    def _run(self, request: InfillRequest, should_stop, emit) -> None:
        import torch

        try:
            for draft in self._denoise(request, should_stop):
                emit(draft)
        except Cancelled as error:
            emit(error)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            emit(EngineError("The GPU ran out of memory for this completion; try a smaller contextBudget."))
        except Exception as error:
            log.exception("engine: infill failed")
            emit(EngineError(f"The engine failed: {type(error).__name__}: {error}"))
        finally:
            emit(_DONE)

    def _denoise(self, request: InfillRequest, should_stop):
        """Encode (reusing a cached prompt start), then denoise, one Draft per step."""
        from dglsp.model.denoise import DenoiseSettings, Layout, denoise

        tokenizer = self._tokenizer
        middle = max(1, min(request.canvas_length or self.canvas_length, self.canvas_length))
        layout = None
        width = middle
        if request.strategy == "pinned":
            suffix_ids = tokenizer.encode(request.pinned_suffix)
            width = min(self.canvas_length, middle + min(len(suffix_ids), PINNED_SUFFIX_CELLS))
            lengths = request.middle_lengths or middle_length_ladder(middle)
            lengths = tuple(sorted({max(1, min(n, width)) for n in lengths}))
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
        self.last_stats = {
            "prompt_tokens": encoded.prompt_length,
            "reused_tokens": encoded.reused_tokens,
            "encode_ms": (time.perf_counter() - started) * 1000,
        }
        steps = denoise(
            self._model,
            encoded.cache,
            encoded.prompt_length,
            settings,
            layout,
            tokenizer.end_of_middle_ids,
            should_stop=should_stop,
        )
        for result in steps:
            ids = tokenizer.cut_at_end(result.middle_ids)
            text = tokenizer.decode_middle(ids)
            yield Draft(result.step, settings.max_steps, text, result.finished, tuple(ids))
        self.last_stats["steps"] = result.step

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        # The prompt cache holds the model and its KV checkpoints: drop both, so the memory
        # is free for whatever loads next (another model, a benchmark's baseline).
        self._model = self._prompt_cache = None
        self._state = EngineState.STOPPED


def _resolve(name: str) -> Path:
    from dglsp.model.loading import resolve_model

    return resolve_model(name)
