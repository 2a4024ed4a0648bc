"""`dglsp bench engine`: the engine's latency through the server's own code, against the
physical floor and an autoregressive model of the same geometry, measured in one run.

Sections (each figure p50/p95 over `repeat` runs, after one unrecorded warm-up):
- prefill: cold (empty prompt cache) vs warm (the same file while a line is typed at the
  cursor, a request per keystroke, reusing the cached prompt start) for prompts of about 512
  and 2,048 tokens, with the keystrokes that missed the cache;
- canvas policy: mid-line (16 cells), line end (64) and empty line (the whole canvas) in
  examples/stats.py: total latency, time to first draft, per-step latency, steps;
- strategy: prompt-side FIM vs the pinned suffix, at the holes of the example files;
- stopping: steps and time with and without infill-aware stopping, same prompt and seed;
- cancellation: from CancelToken.cancel() to the stream raising Cancelled, cancelling when a
  draft arrives and half a step later;
- batching: 1, 2 and 4 requests at once, one at a time vs sharing each denoising pass
  (dglsp.bench.batching);
- experts: the same requests with each MoE implementation the device can run (eager,
  batched_mm, grouped_mm), per-step latency and same tokens (dglsp.bench.experts);
- middles: 8, 32, 64 and 256 cells (capped by the canvas) next to the floor and the
  autoregressive baseline, with their ratios;
- memory: peak CUDA memory, or the process's peak RSS on a CPU.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import weakref
from dataclasses import dataclass
from typing import Any

from dglsp.bench import baseline
from dglsp.bench.engines import EngineChoice, clear_prompt_cache, describe, model_of, opened_engine
from dglsp.bench.environment import peak_rss_bytes
from dglsp.bench.runs import Run, complete_once, snapshot_of, with_settings
from dglsp.bench.sources import EXAMPLE_HOLES, example_text, generate, offset_of
from dglsp.bench.stats import summary
from dglsp.config import Settings
from dglsp.engine.base import Cancelled, CancelToken, InfillRequest

DEFAULT_PREFILL_TOKENS = (512, 2048)
DEFAULT_MIDDLES = (8, 32, 64, 256)
# Typed after the prefill prompt, one character per keystroke.
TYPED = "result = summarize_orders(orders, limit=5)"


@dataclass(frozen=True)
class EngineOptions:
    model: str | None = None
    config: str = "tiny"
    random_weights: bool = False
    device: str = "auto"
    repeat: int = 5
    steps: int = 48
    prefill_tokens: tuple[int, ...] = DEFAULT_PREFILL_TOKENS
    middles: tuple[int, ...] = DEFAULT_MIDDLES
    baseline: bool = True  # the autoregressive baseline (a second model of the same size)
    experts: str = "auto"  # the MoE implementation the engine loads with (every section but experts)
    dtype: str = "auto"  # the `dtype` setting the engine loads with (fp8: FP8 weights)

    def choice(self) -> EngineChoice:
        return EngineChoice(
            self.model,
            None if self.model else self.config,
            self.random_weights,
            self.device,
            self.experts,
            self.dtype,
        )


def run_engine(options: EngineOptions) -> dict[str, Any]:
    return asyncio.run(_run(options))


async def _run(options: EngineOptions) -> dict[str, Any]:
    report, kept, model_ref = await _diffusion(options)
    gc.collect()  # the diffusion model must be gone before the baseline takes its memory
    report["engine"]["released_before_baseline"] = model_ref() is None
    ar = baseline.measure(kept, options.repeat) if options.baseline else None
    report["autoregressive"] = ar
    report["middles"] = baseline.table(report["middles"], report["floor"], ar)
    return report


async def _diffusion(options: EngineOptions) -> tuple[dict[str, Any], baseline.Kept, weakref.ref]:
    """Every diffusion figure; returns them, what the baseline needs (not the model) and a
    weak reference that tells whether the model was really let go."""
    import torch

    from dglsp.model.fp8 import conversion_of
    from dglsp.model.loading import dtype_of, experts_of

    async with opened_engine(options.choice()) as engine:
        model = model_of(engine)
        device = model.device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        settings = Settings(model=engine.model_name, device=str(device), steps=options.steps)
        bench = _Bench(engine, settings, options)
        report: dict[str, Any] = {
            "bench": "engine",
            "engine": {
                "source": describe(options.choice()),
                "class": type(engine).__name__,
                "device": str(device),
                # fp8: FP8 layer weights, activations and the rest in compute_dtype
                "dtype": dtype_of(model),
                "compute_dtype": str(model.dtype).removeprefix("torch."),
                "fp8": conversion.to_json() if (conversion := conversion_of(model)) else None,
                "canvas_length": engine.canvas_length,
                "weight_bytes": baseline.weight_bytes(model),
                "experts": experts_of(model),
                "text_config": baseline.geometry(model.config.text_config),
            },
            "options": {"repeat": options.repeat, "steps": options.steps},
            "prefill": [await bench.prefill(tokens) for tokens in bench.prefill_sizes()],
            "canvas_policy": await bench.canvas_policies(),
            "strategy": [await bench.strategy(name) for name in ("prompt", "pinned")],
            "stopping": bench.stopping(),
        }
        full_canvas = report["canvas_policy"][-1]["step_ms"] or {"p50": 0.0}
        report["cancellation"] = await bench.cancellation(full_canvas["p50"])
        report["batching"] = await bench.batching()
        report["experts"] = await bench.experts()
        middles, prompt_ids = await bench.middles()
        report["middles"] = middles
        report["memory"] = _memory(device)
        report["floor"] = baseline.floor(model, device, [row["tokens"] for row in middles])
        kept = baseline.Kept(model.config.text_config, model.dtype, device, prompt_ids, report["middles"])
        model_ref = weakref.ref(model)
        del model, bench
    return report, kept, model_ref


def _memory(device) -> dict[str, Any]:
    import torch

    if device.type == "cuda":
        return {"kind": "torch.cuda.max_memory_allocated", "bytes": torch.cuda.max_memory_allocated(device)}
    return {"kind": "process peak RSS (VmHWM), CPU", "bytes": peak_rss_bytes()}


class _Bench:
    def __init__(self, engine, settings: Settings, options: EngineOptions) -> None:
        self.engine = engine
        self.settings = settings
        self.options = options
        self.repeat = max(1, options.repeat)
        self.canvas = engine.canvas_length

    async def _runs(self, settings: Settings, snapshot, cursor: int, count: int | None = None) -> list[Run]:
        await complete_once(self.engine, settings, snapshot, cursor)  # warm-up, not recorded
        return [
            await complete_once(self.engine, settings, snapshot, cursor) for _ in range(count or self.repeat)
        ]

    # --- prefill: cold vs warm prompt KV cache ---
    def prefill_sizes(self) -> list[int]:
        model = model_of(self.engine)
        room = model.config.text_config.max_position_embeddings - self.canvas
        return [tokens for tokens in self.options.prefill_tokens if tokens <= room]

    async def prefill(self, tokens: int) -> dict[str, Any]:
        # A file long enough for the budget, the cursor at its end (module level), a window of
        # lines wide enough that the budget, not the window, sizes the prompt.
        source = generate("python", max(200, tokens // 2))
        settings = with_settings(self.settings, steps=1, context_budget=tokens, window_lines=1_000_000)
        text = source.text
        cold: list[Run] = []
        for _ in range(self.repeat + 1):
            clear_prompt_cache(self.engine)
            cold.append(await complete_once(self.engine, settings, snapshot_of("big.py", text), len(text)))
        cold = cold[1:]  # the first pays one-off costs (allocator, kernels)
        # Type a whole line: a prompt at its budget drops a line at its start now and then,
        # which changes the start and misses the cache; a few keystrokes would hide that.
        warm: list[Run] = []
        for typed in range(1, len(TYPED) + 1):
            edited = text + TYPED[:typed]
            warm.append(
                await complete_once(self.engine, settings, snapshot_of("big.py", edited), len(edited))
            )
        cold_ms = [r.encode_ms for r in cold]
        warm_ms = [r.encode_ms for r in warm]
        return {
            "budget_tokens": tokens,
            "prompt_tokens": summary(r.prompt_tokens for r in cold),
            "cold": _prefill_figures(cold),
            "warm": _prefill_figures(warm),
            "keystrokes": len(warm),
            "cache_misses": sum(1 for r in warm if r.reused_tokens == 0),
            "saved_ms_per_keystroke": round(summary(cold_ms)["p50"] - summary(warm_ms)["p50"], 3),
            "mean_saved_ms_per_keystroke": round(statistics.fmean(cold_ms) - statistics.fmean(warm_ms), 3),
        }

    # --- canvas policies at real positions in examples/stats.py ---
    async def canvas_policies(self) -> list[dict[str, Any]]:
        text = example_text("stats.py")
        line = "    return sum(values) / len(values)"
        mid_line = text.index(line) + len("    return ")
        line_end = text.index("    centre = mean(values)") + len("    centre = mean(values)")
        with_empty = text[:line_end] + "\n    " + text[line_end:]
        cases = (
            ("mid-line", text, mid_line),
            ("line-end", text, line_end),
            ("empty line (full canvas)", with_empty, line_end + 5),
        )
        rows = []
        for policy, source, cursor in cases:
            runs = await self._runs(self.settings, snapshot_of("stats.py", source), cursor)
            rows.append({"policy": policy, **_run_figures(runs)})
        return rows

    # --- strategies at the example files' holes ---
    async def strategy(self, name: str) -> dict[str, Any]:
        settings = with_settings(self.settings, strategy=name)
        runs: list[Run] = []
        for file, line, column in EXAMPLE_HOLES:
            text = example_text(file)
            runs += await self._runs(settings, snapshot_of(file, text), offset_of(text, line, column))
        return {"strategy": name, "files": [hole[0] for hole in EXAMPLE_HOLES], **_run_figures(runs)}

    # --- infill-aware stopping on and off, same prompt and seed, the loop called directly ---
    def stopping(self) -> list[dict[str, Any]]:
        from dglsp.model.denoise import DenoiseSettings, denoise, encode_prompt
        from dglsp.pipeline import Pipeline

        text = example_text("stats.py")
        file, line, column = EXAMPLE_HOLES[0]
        context = Pipeline(self.engine, self.settings).context(
            snapshot_of(file, text), offset_of(text, line, column)
        )
        tokenizer, model = self.engine.tokenizer, model_of(self.engine)
        ids = tokenizer.encode(context.prompt.text)

        def loop(seed: int, infill_stop: bool) -> tuple[int, float]:
            settings = DenoiseSettings(
                canvas_length=self.canvas, max_steps=self.options.steps, seed=seed, infill_stop=infill_stop
            )
            cache = encode_prompt(model, ids)
            _sync(model.device)
            started = time.perf_counter()
            results = list(denoise(model, cache, len(ids), settings, None, tokenizer.end_of_middle_ids))
            _sync(model.device)
            return results[-1].step, (time.perf_counter() - started) * 1000

        loop(0, True)  # warm-up, not recorded
        measured: dict[bool, list[tuple[int, float]]] = {True: [], False: []}
        for seed in range(self.repeat):  # interleaved, so that a busy moment hits both alike
            for infill_stop in (True, False):
                measured[infill_stop].append(loop(seed, infill_stop))
        rows = []
        for infill_stop, runs in measured.items():
            rows.append(
                {
                    "infill_stop": infill_stop,
                    "steps": summary(steps for steps, _ in runs),
                    "denoise_ms": summary(ms for _, ms in runs),
                }
            )
        return rows

    # --- cancellation: CancelToken.cancel() to Cancelled ---
    async def cancellation(self, step_ms: float) -> list[dict[str, Any]]:
        """Cancel right after the first draft arrives, and half a step later (a keystroke lands
        at a random time, most often while a step runs). Two latencies: from cancel() itself,
        and from the moment the cancel was due, which adds the time the event loop waited to
        run at all while the engine thread computed."""
        from dglsp.pipeline import Pipeline

        text = example_text("stats.py")
        file, line, column = EXAMPLE_HOLES[0]
        context = Pipeline(self.engine, self.settings).context(
            snapshot_of(file, text), offset_of(text, line, column)
        )
        request = InfillRequest(
            context.prompt.text, canvas_length=self.canvas, steps=max(4, self.options.steps)
        )
        rows = []
        for label, delay_ms in (("at a draft", 0.0), ("mid-step", step_ms / 2)):
            from_cancel: list[float] = []
            from_due: list[float] = []
            finished_first = 0
            for _ in range(self.repeat):
                latency = await self._cancel_once(request, delay_ms)
                if latency is None:
                    finished_first += 1
                else:
                    from_cancel.append(latency[0])
                    from_due.append(latency[1])
            rows.append(
                {
                    "when": label,
                    "delay_after_draft_ms": round(delay_ms, 3),
                    "latency_ms": summary(from_cancel) if from_cancel else None,
                    "latency_from_due_ms": summary(from_due) if from_due else None,
                    "finished_before_cancel": finished_first,
                }
            )
        return rows

    async def _cancel_once(self, request: InfillRequest, delay_ms: float) -> tuple[float, float] | None:
        """(ms from cancel(), ms from when it was due) to Cancelled; None if the stream ended first."""
        cancel = CancelToken()
        due = cancelled_at = None
        try:
            async for draft in self.engine.infill(request, cancel):
                if draft.final:
                    return None
                if cancelled_at is None:
                    due = time.perf_counter() + delay_ms / 1000
                    await asyncio.sleep(delay_ms / 1000)
                    cancelled_at = time.perf_counter()
                    cancel.cancel("bench")
        except Cancelled:
            if cancelled_at is None or due is None:
                return None
            now = time.perf_counter()
            return (now - cancelled_at) * 1000, (now - due) * 1000
        return None

    # --- several windows at once: one at a time vs one shared pass ---
    async def batching(self) -> list[dict[str, Any]]:
        from dglsp.bench import batching

        canvas = min(batching.CANVAS, self.canvas)
        return await batching.measure(
            self.engine, self._hole_prompts(), canvas, self.options.steps, self.repeat
        )

    # --- the MoE layers' implementations, same requests ---
    async def experts(self) -> dict[str, Any]:
        from dglsp.bench import experts

        prompts = self._hole_prompts()
        return await experts.measure(self.engine, prompts, self.canvas, self.options.steps, self.repeat)

    def _hole_prompts(self) -> list[str]:
        """The prompt at each hole of the example files, as the server builds it."""
        from dglsp.pipeline import Pipeline

        pipeline = Pipeline(self.engine, self.settings)
        prompts = []
        for file, line, column in EXAMPLE_HOLES:
            text = example_text(file)
            context = pipeline.context(snapshot_of(file, text), offset_of(text, line, column))
            prompts.append(context.prompt.text)
        return prompts

    # --- middles of 8..256 cells for the floor and the baseline ---
    async def middles(self) -> tuple[list[dict[str, Any]], list[int]]:
        from dglsp.pipeline import Pipeline

        text = example_text("stats.py")
        file, line, column = EXAMPLE_HOLES[0]
        snapshot, cursor = snapshot_of(file, text), offset_of(text, line, column)
        prompt = Pipeline(self.engine, self.settings).context(snapshot, cursor).prompt.text
        rows = []
        for tokens in sorted({min(n, self.canvas) for n in self.options.middles}):
            settings = with_settings(self.settings, canvas_length=tokens)
            runs = await self._runs(settings, snapshot, cursor)
            rows.append({"tokens": tokens, **_run_figures(runs)})
        return rows, self.engine.tokenizer.encode(prompt)


def _prefill_figures(runs: list[Run]) -> dict[str, Any]:
    return {
        "encode_ms": summary(r.encode_ms for r in runs),
        "reused_tokens": summary(r.reused_tokens for r in runs),
        "first_draft_ms": summary(r.first_draft_ms or 0.0 for r in runs),
    }


def _run_figures(runs: list[Run]) -> dict[str, Any]:
    step_ms = [ms for r in runs for ms in r.step_ms]
    return {
        "canvas_length": runs[0].canvas_length,
        "prompt_tokens": runs[0].prompt_tokens,
        "total_ms": summary(r.total_ms for r in runs),
        "first_draft_ms": summary(r.first_draft_ms or 0.0 for r in runs),
        "encode_ms": summary(r.encode_ms for r in runs),
        "denoise_ms": summary(r.denoise_ms for r in runs),
        "step_ms": summary(step_ms) if step_ms else None,
        "steps": summary(r.steps for r in runs),
    }


def _sync(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
