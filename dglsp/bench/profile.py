"""One denoising step under torch.profiler: where its time goes, and what torch.compile changes.

`python -m dglsp.bench.profile` (also `dglsp bench profile`) loads a model the way `dglsp
bench engine` does (`--config tiny|small|full [--random-weights] --device D`, or `--model`),
warms it up with one real infill through the engine (Pipeline -> InProcessEngine -> its
lane), then takes the prompt of that infill, encodes it and advances a canvas of the same
code (`Canvas.forward` then `Canvas.step`) a few steps, so the profiled step has its
self-conditioning input like every step but the first. Then:

- host reads of one step (`HostReads`; on CUDA also `torch.cuda.set_sync_debug_mode`'s
  warnings, which see synchronising operations that read nothing back);
- one step under torch.profiler (CPU activity, and CUDA on a GPU) after one profiled
  warm-up step: the top operators by self device time (self CPU time on the CPU), the share
  of the step in matmul/experts, attention, norms/elementwise, sampling (`Canvas.step`) and
  Python between operators; on CUDA the top kernels and the runtime's synchronisations;
  `--trace FILE.json` writes the Chrome trace (chrome://tracing, Perfetto);
- `--compile`: the forward compiled (dglsp.model.compiled) against eager in the same run:
  compile time, the largest logit difference for the same inputs, whether whole infills give
  the same tokens with the same seeds, per-step time of each, and the compiled step profiled.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dglsp.bench.stats import summary

FORWARD_REGION = "dglsp::forward"  # Canvas.forward (or the compiled forward)
STEP_REGION = "dglsp::step"  # Canvas.step: sampling, acceptance, re-noise, the host read
REGIONS = (FORWARD_REGION, STEP_REGION)
CATEGORIES = (
    "matmul / experts",
    "attention",
    "norms / elementwise / other ops",
    "compiled region (fused kernels)",
    "sampling (Canvas.step)",
    "host: Python between ops, guards",
)
_MATMUL = ("mm", "matmul", "linear", "gemm", "einsum", "grouped", "experts")
_ATTENTION = ("attention", "sdpa", "flash", "fmha", "scaled_dot_product")
_COMPILED = ("compiled", "torch-compiled", "triton", "inductor", "cpp_fused")
_RUNTIME_SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy")


@dataclass(frozen=True)
class ProfileOptions:
    model: str | None = None
    config: str = "tiny"
    random_weights: bool = False
    device: str = "auto"
    experts: str = "auto"
    canvas: int | None = None  # cells; None: the model's canvas
    prompt_tokens: int | None = None  # None: the prompt at examples/stats.py's hole
    steps: int = 48  # most steps of an infill (warm-up, text check, timed loops)
    steps_before: int = 2  # steps taken before the profiled one
    top: int = 15
    trace: Path | None = None
    compile: bool = False
    compile_mode: str = "default"
    compile_backend: str = "inductor"
    repeat: int = 3  # timed infills per side in the compile comparison
    seed: int = 0


def run_profile(options: ProfileOptions) -> dict[str, Any]:
    return asyncio.run(_run(options))


async def _run(options: ProfileOptions) -> dict[str, Any]:
    import torch

    from dglsp.bench.engines import EngineChoice, describe, model_of, opened_engine
    from dglsp.bench.runs import complete_once
    from dglsp.model.loading import experts_of

    choice = EngineChoice(
        model=options.model,
        config=None if options.model else options.config,
        random_weights=options.random_weights,
        device=options.device,
        experts=options.experts,
    )
    async with opened_engine(choice) as engine:
        model = model_of(engine)
        width = min(options.canvas or engine.canvas_length, engine.canvas_length)
        settings, snapshot, cursor = _request(engine, options, width)
        started = time.perf_counter()
        warm = await complete_once(engine, settings, snapshot, cursor)  # the engine's own path
        warm_ms = (time.perf_counter() - started) * 1000
        ids = engine.tokenizer.encode(_prompt_text(engine, settings, snapshot, cursor))
        end_ids = engine.tokenizer.end_of_middle_ids
        bench = StepBench(model, ids, end_ids, width, options)
        with torch.no_grad():
            report: dict[str, Any] = {
                "bench": "profile",
                "engine": {
                    "source": describe(choice),
                    "class": type(engine).__name__,
                    "device": str(model.device),
                    "dtype": str(model.dtype).removeprefix("torch."),
                    "experts": experts_of(model),
                    "attention": getattr(model.config, "_attn_implementation", None),
                    "weight_bytes": _weight_bytes(model),
                },
                "warm_up": {"infill_ms": round(warm_ms, 3), "steps": warm.steps, "width": warm.canvas_length},
                "prompt_tokens": len(ids),
                "canvas": width,
                "options": {
                    "steps": options.steps,
                    "steps_before": options.steps_before,
                    "seed": options.seed,
                },
                "step": bench.profile(lambda canvas: canvas.forward(model), options.trace),
            }
            if options.compile:
                report["compile"] = bench.compare_compiled()
    return report


def _request(engine, options: ProfileOptions, width: int):
    from dglsp.bench.runs import snapshot_of, with_settings
    from dglsp.bench.sources import EXAMPLE_HOLES, example_text, generate, offset_of
    from dglsp.config import Settings

    settings = Settings(
        model=engine.model_name, device=options.device, steps=options.steps, canvas_length=width
    )
    if options.prompt_tokens:
        # As `bench engine`'s prefill: a file long enough for the budget, the cursor at its end.
        text = generate("python", max(200, options.prompt_tokens // 2)).text
        settings = with_settings(settings, context_budget=options.prompt_tokens, window_lines=1_000_000)
        return settings, snapshot_of("big.py", text), len(text)
    file, line, column = EXAMPLE_HOLES[0]
    text = example_text(file)
    return settings, snapshot_of(file, text), offset_of(text, line, column)


def _prompt_text(engine, settings, snapshot, cursor: int) -> str:
    from dglsp.pipeline import Pipeline

    return Pipeline(engine, settings).context(snapshot, cursor).prompt.text


def _weight_bytes(model) -> int:
    from dglsp.bench.models import unique_bytes

    return unique_bytes(model)


class StepBench:
    """Canvases over one encoded prompt, stepped by a given forward (eager or compiled)."""

    def __init__(self, model, ids: list[int], end_ids: frozenset[int], width: int, options: ProfileOptions):
        self.model, self.ids, self.end_ids, self.width, self.options = model, ids, end_ids, width, options
        self.device = model.device

    def canvas(self, seed: int | None = None):
        from dglsp.model.denoise import Canvas, DenoiseSettings, encode_prompt

        settings = DenoiseSettings(
            canvas_length=self.width,
            max_steps=self.options.steps,
            seed=self.options.seed if seed is None else seed,
        )
        cache = encode_prompt(self.model, self.ids)
        return Canvas(self.model, cache, len(self.ids), settings, None, self.end_ids)

    def sync(self) -> None:
        from dglsp.bench.step import synchronize

        synchronize(self.device)

    # --- one step under the profiler ---
    def profile(self, forward: Callable, trace: Path | None = None) -> dict[str, Any]:
        from torch.profiler import ProfilerActivity, profile, record_function, schedule

        from dglsp.bench.step import HostReads

        # Enough steps that none of the ones below is the canvas's last (the schedule ends).
        needed = self.options.steps_before + 8
        if self.options.steps < needed:
            raise ValueError(f"profiling needs --steps {needed} or more (got {self.options.steps})")
        canvas = self.canvas()
        for _ in range(self.options.steps_before):
            canvas.step(forward(canvas))
        step_ms = []
        for _ in range(3):  # unprofiled, so the profiler's own cost is not in these
            self.sync()
            started = time.perf_counter()
            canvas.step(forward(canvas))
            self.sync()
            step_ms.append((time.perf_counter() - started) * 1000)
        # Counted on a step of its own: the function mode costs Python time per operator.
        with HostReads() as reads, _CudaSyncs(self.device) as syncs:
            canvas.step(forward(canvas))
        activities = [ProfilerActivity.CPU]
        if self.device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        on_device = self.device.type == "cuda"
        read: dict[str, Any] = {}

        def ready(profiler) -> None:  # the profiler drops its events once this returns
            averages = profiler.key_averages()
            read.update(breakdown(profiler.events(), on_device))
            read["top_operators"] = top_operators(averages, on_device, self.options.top)
            read["top_kernels"] = top_kernels(averages, self.options.top) if on_device else []
            if trace:
                profiler.export_chrome_trace(str(trace))

        step_schedule = schedule(wait=0, warmup=1, active=1, repeat=1)
        with profile(activities=activities, schedule=step_schedule, on_trace_ready=ready) as profiler:
            for _ in range(2):  # a warm-up step the profiler discards, then the profiled one
                self.sync()
                started = time.perf_counter()
                with record_function(FORWARD_REGION):
                    logits = forward(canvas)
                with record_function(STEP_REGION):
                    canvas.step(logits)
                self.sync()
                profiled_ms = (time.perf_counter() - started) * 1000
                profiler.step()
        return {
            "step_ms": summary(step_ms),
            "profiled_step_ms": round(profiled_ms, 3),
            "host_reads": len(reads.names),
            "host_read_names": sorted(set(reads.names)),
            "cuda_syncs": syncs.count,
            "time_kind": "self device time (CUDA)" if on_device else "self CPU time",
            **read,
            "trace": str(trace) if trace else None,
        }

    # --- eager against compiled, same run ---
    def compare_compiled(self) -> dict[str, Any]:
        from dglsp.model.compiled import CompiledForward, describe

        options = self.options
        compiled = CompiledForward(self.model, self.width, options.compile_mode, options.compile_backend)
        eager = self._eager

        # Compiling: the first step (no self-conditioning) and the second (with it) are two graphs.
        canvas = self.canvas()
        self.sync()
        started = time.perf_counter()
        first = compiled(canvas)
        self.sync()
        first_s = time.perf_counter() - started
        expected = eager(canvas)
        differences = [_max_difference(first, expected)]
        canvas.step(expected)
        started = time.perf_counter()
        second = compiled(canvas)
        self.sync()
        second_s = time.perf_counter() - started
        differences.append(_max_difference(second, eager(canvas)))

        runs: dict[str, list[list]] = {"eager": [], "compiled": []}
        step_ms: dict[str, list[float]] = {"eager": [], "compiled": []}
        for index in range(options.repeat):  # alternating, so a busy moment hits both alike
            seed = options.seed + index
            for name, forward in (("eager", eager), ("compiled", compiled)):
                results, times = self.infill(forward, seed)
                runs[name].append(results)
                step_ms[name] += times
        same = [a == b for a, b in zip(runs["eager"], runs["compiled"], strict=True)]
        # Where a float difference flipped a draw: the first step whose best row differs.
        diverged = [_first_difference(a, b) for a, b in zip(runs["eager"], runs["compiled"], strict=True)]
        eager_p50 = summary(step_ms["eager"])["p50"]
        compiled_p50 = summary(step_ms["compiled"])["p50"]
        return {
            "compiled": describe(compiled),
            "compile_s": {"first_step": round(first_s, 3), "self_conditioned_step": round(second_s, 3)},
            "max_logit_difference": max(differences),
            "same_tokens": all(same),
            "same_tokens_per_seed": same,
            "first_different_step": diverged,
            "steps": [len(results) for results in runs["eager"]],
            "step_ms": {name: summary(values) for name, values in step_ms.items()},
            "speedup_p50": round(eager_p50 / compiled_p50, 3) if compiled_p50 else None,
            "profile": self.profile(compiled),
        }

    def _eager(self, canvas):
        return canvas.forward(self.model)

    def infill(self, forward: Callable, seed: int) -> tuple[list, list[float]]:
        """A whole denoising loop (`dglsp.model.denoise.denoise`'s, with the forward given):
        every step's result (tokens of the best row and whether it finished) and its time."""
        canvas = self.canvas(seed)
        results, times = [], []
        while True:
            self.sync()
            started = time.perf_counter()
            result = canvas.step(forward(canvas))
            self.sync()
            times.append((time.perf_counter() - started) * 1000)
            results.append((result.middle_ids, result.finished))
            if result.finished:
                return results, times


def _first_difference(eager: list, compiled: list) -> int | None:
    """1-based step of the first differing (tokens, finished), None when the runs are equal."""
    for index, (a, b) in enumerate(zip(eager, compiled, strict=False)):
        if a != b:
            return index + 1
    return None if len(eager) == len(compiled) else min(len(eager), len(compiled)) + 1


def _max_difference(a, b) -> float:
    return float((a.float() - b.float()).abs().max())


class _CudaSyncs:
    """Counts torch's "synchronizing CUDA operation" warnings (sync debug mode) on CUDA; None
    on the CPU, where nothing waits."""

    def __init__(self, device) -> None:
        self.device = device
        self.count: int | None = None

    def __enter__(self):
        if self.device.type == "cuda":
            import torch

            self._caught = warnings.catch_warnings(record=True)
            self._records = self._caught.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.set_sync_debug_mode(0)
            self._caught.__exit__(*exc)
            self.count = sum(1 for record in self._records if "synchroniz" in str(record.message).lower())


# --- reading the profile ---


def category(name: str, region: str | None) -> str:
    """Which share of the step an operator's self time goes to, by its region and name."""
    if region == STEP_REGION:
        return "sampling (Canvas.step)"
    if name in REGIONS or "dynamo" in name.lower():
        return "host: Python between ops, guards"
    lowered = name.lower()
    if any(word in lowered for word in _ATTENTION):
        return "attention"
    if any(word in lowered for word in _COMPILED):
        return "compiled region (fused kernels)"
    if any(word in lowered.rsplit("::", 1)[-1] for word in _MATMUL):
        return "matmul / experts"
    return "norms / elementwise / other ops"


def _region(event) -> str | None:
    while event is not None:
        if event.name in REGIONS:
            return event.name
        event = event.cpu_parent
    return None


def breakdown(events, on_device: bool) -> dict[str, Any]:
    """Per category, the self time of the CPU-side operators of the profiled step (and on
    CUDA the device time of the kernels each launched), with shares of the step's total."""
    from torch.autograd import DeviceType

    cpu = {name: 0.0 for name in CATEGORIES}
    device = {name: 0.0 for name in CATEGORIES}
    syncs = 0
    for event in events:
        if event.device_type != DeviceType.CPU:
            continue
        if any(event.name.startswith(name) for name in _RUNTIME_SYNCS):
            syncs += 1
        region = _region(event)
        if region is None:
            continue
        kind = category(event.name, region)
        cpu[kind] += event.self_cpu_time_total / 1000
        device[kind] += getattr(event, "self_device_time_total", 0) / 1000
    primary = device if on_device else cpu
    total = sum(primary.values())
    shares = []
    for name in CATEGORIES:
        row = {"category": name, "ms": round(primary[name], 3), "share": _share(primary[name], total)}
        if on_device:
            row["cpu_ms"] = round(cpu[name], 3)
        shares.append(row)
    return {"total_ms": round(total, 3), "categories": shares, "runtime_syncs": syncs}


def _share(part: float, total: float) -> float:
    return round(part / total, 4) if total else 0.0


def top_operators(averages, on_device: bool, top: int) -> list[dict[str, Any]]:
    from torch.autograd import DeviceType

    rows = [
        average
        for average in averages
        if getattr(average, "device_type", DeviceType.CPU) == DeviceType.CPU
        and not average.key.startswith("ProfilerStep")
    ]
    return _ranked(rows, on_device, top)


def top_kernels(averages, top: int) -> list[dict[str, Any]]:
    from torch.autograd import DeviceType

    rows = [a for a in averages if getattr(a, "device_type", None) == DeviceType.CUDA]
    return _ranked(rows, True, top)


def _ranked(rows, on_device: bool, top: int) -> list[dict[str, Any]]:
    def self_ms(average) -> float:
        value = average.self_device_time_total if on_device else average.self_cpu_time_total
        return value / 1000

    total = sum(self_ms(a) for a in rows)
    ranked = sorted(rows, key=self_ms, reverse=True)[:top]
    return [
        {
            "name": a.key,
            "calls": a.count,
            "self_ms": round(self_ms(a), 3),
            "share": _share(self_ms(a), total),
            "self_cpu_ms": round(a.self_cpu_time_total / 1000, 3),
        }
        for a in ranked
    ]


# --- output ---


def render(report: dict[str, Any]) -> str:
    from dglsp.bench.report import header, human_bytes, p50_p95, table

    engine = report["engine"]
    parts = [
        header(report),
        "",
        f"engine: {engine['source']} ({engine['class']}) on {engine['device']}, {engine['dtype']}, "
        f"{human_bytes(engine['weight_bytes'])} of weights, experts {engine['experts']}, attention "
        f"{engine['attention']}; canvas {report['canvas']} cells, prompt {report['prompt_tokens']} tokens",
        f"warm-up infill through the engine: {report['warm_up']['infill_ms']:.1f} ms, "
        f"{report['warm_up']['steps']} steps",
        "",
        _render_step("Eager step", report["step"], p50_p95, table),
    ]
    compiled = report.get("compile")
    if compiled:
        how = compiled["compiled"]
        parts += [
            "",
            f"torch.compile (backend {how['backend']}, mode {how['mode']}, CUDA graphs "
            f"{how['cuda_graphs']}; dynamic: {how['dynamic']})",
            table(
                ["", "per step (p50 / p95 ms)", "speed-up (p50)", "compile s (1st / 2nd graph)"],
                [
                    ["eager", p50_p95(compiled["step_ms"]["eager"]), "1.00", "-"],
                    [
                        "compiled",
                        p50_p95(compiled["step_ms"]["compiled"]),
                        f"{compiled['speedup_p50']:.2f}" if compiled["speedup_p50"] else "-",
                        f"{compiled['compile_s']['first_step']:.1f} / "
                        f"{compiled['compile_s']['self_conditioned_step']:.1f}",
                    ],
                ],
            ),
            f"same tokens as eager, same seeds: {compiled['same_tokens']} ({len(compiled['steps'])} infills, "
            f"steps {compiled['steps']}, first differing step per seed {compiled['first_different_step']}); "
            f"largest logit difference, same inputs: {compiled['max_logit_difference']:.2e}",
            "",
            _render_step("Compiled step", compiled["profile"], p50_p95, table),
        ]
    return "\n".join(parts) + "\n"


def _render_step(title: str, step: dict[str, Any], p50_p95, table) -> str:
    syncs = "-" if step["cuda_syncs"] is None else step["cuda_syncs"]
    lines = [
        f"{title}: {p50_p95(step['step_ms'])} ms unprofiled (p50 / p95), {step['profiled_step_ms']:.2f} ms "
        f"profiled; host reads {step['host_reads']} {step['host_read_names']}, CUDA syncs {syncs}, "
        f"runtime sync calls {step['runtime_syncs']}",
        f"Where the step goes ({step['time_kind']}, {step['total_ms']:.2f} ms in all)",
        table(
            ["category", "ms", "share"],
            [[row["category"], row["ms"], f"{row['share']:.1%}"] for row in step["categories"]],
        ),
        "",
        f"Top operators by {step['time_kind']}",
        table(
            ["operator", "calls", "self ms", "share", "self CPU ms"],
            [
                [r["name"], r["calls"], r["self_ms"], f"{r['share']:.1%}", r["self_cpu_ms"]]
                for r in step["top_operators"]
            ],
        ),
    ]
    if step["top_kernels"]:
        lines += [
            "",
            "Top CUDA kernels",
            table(
                ["kernel", "calls", "device ms", "share"],
                [
                    [r["name"][:90], r["calls"], r["self_ms"], f"{r['share']:.1%}"]
                    for r in step["top_kernels"]
                ],
            ),
        ]
    if step.get("trace"):
        lines.append(f"Chrome trace: {step['trace']}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, shared by `python -m dglsp.bench.profile` and `dglsp bench profile`."""
    from dglsp.model.compiled import COMPILE_MODES

    source = parser.add_argument_group("model (one of)")
    # SUPPRESS: under `dglsp bench profile`, dglsp's own --model/--device (given before
    # `bench`) are not overwritten by these defaults.
    source.add_argument(
        "--model",
        metavar="M",
        default=argparse.SUPPRESS,
        help="a model directory or cached id (the server's loading path)",
    )
    source.add_argument(
        "--config",
        choices=["tiny", "small", "full"],
        help="a geometry, as `dglsp bench engine --config` (default tiny)",
    )
    parser.add_argument(
        "--random-weights", action="store_true", help="build --config small|full on the device"
    )
    parser.add_argument(
        "--device", default=argparse.SUPPRESS, metavar="D", help="auto (default), cpu, cuda, cuda:N"
    )
    parser.add_argument(
        "--experts",
        choices=["auto", "eager", "batched_mm", "grouped_mm"],
        default="auto",
        help="MoE implementation",
    )
    parser.add_argument("--canvas", type=_positive, metavar="N", help="canvas cells (default: the model's)")
    parser.add_argument(
        "--prompt-tokens",
        type=_positive,
        metavar="N",
        help="a generated prompt of about N tokens (default: a hole in examples/stats.py)",
    )
    parser.add_argument(
        "--steps", type=_positive, default=48, metavar="N", help="most steps of an infill (48)"
    )
    parser.add_argument("--top", type=_positive, default=15, metavar="N", help="operators listed (15)")
    parser.add_argument(
        "--trace", type=Path, metavar="FILE.json", help="write the profiled step's Chrome trace"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time and check the torch.compile'd forward"
    )
    parser.add_argument("--compile-mode", choices=COMPILE_MODES, default="default", help="torch.compile mode")
    parser.add_argument(
        "--compile-backend",
        default="inductor",
        metavar="B",
        help="torch.compile backend (inductor; eager or aot_eager only trace)",
    )
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=3,
        metavar="N",
        help="infills per side in the compile comparison (3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--threads", type=_positive, metavar="N", help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--output", type=Path, metavar="FILE", help="also write the JSON report to FILE")


def options_from(args: argparse.Namespace) -> ProfileOptions:
    model = getattr(args, "model", None)
    if model and args.config:
        raise SystemExit("give --model or --config, not both")
    if args.random_weights and (model or args.config in (None, "tiny")):
        raise SystemExit(
            "--random-weights builds --config small or full; --model and --config tiny have weights"
        )
    return ProfileOptions(
        model=model,
        config=args.config or "tiny",
        random_weights=args.random_weights,
        device=getattr(args, "device", None) or "auto",
        experts=args.experts,
        canvas=args.canvas,
        prompt_tokens=args.prompt_tokens,
        steps=args.steps,
        top=args.top,
        trace=args.trace,
        compile=args.compile,
        compile_mode=args.compile_mode,
        compile_backend=args.compile_backend,
        repeat=args.repeat,
        seed=args.seed,
    )


def run_args(args: argparse.Namespace, command: list[str]) -> dict[str, Any]:
    """Run, print and (with --output) write the report; returns it."""
    import torch

    from dglsp.bench.environment import environment
    from dglsp.bench.report import dumps, envelope, write_report

    if args.threads:
        torch.set_num_threads(args.threads)
    body = run_profile(options_from(args))
    env = environment(body["engine"]["device"], command)
    env["torch_threads"] = torch.get_num_threads()
    report = envelope("profile", env, body)
    if args.output:
        write_report(args.output, report)
    print(dumps(report) if args.json else render(report), end="\n" if args.json else "")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dglsp.bench.profile", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    run_args(args, ["python", "-m", "dglsp.bench.profile", *(sys.argv[1:] if argv is None else argv)])


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {raw!r}")
    return value


if __name__ == "__main__":
    main()
