"""`dglsp bench engine|overhead|quality`: the benchmarks behind docs/benchmarks.md.

A readable report by default; `--json` prints the machine-readable one and `--output FILE`
also writes it to a file. Every report records the device, date, commit, versions and the
command line, so a figure keeps its provenance wherever it is copied.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dglsp.cli.common import EXIT_OK, CliError
from dglsp.config import Dtype, Strategy


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure the engine, the server's own overhead or infill quality",
        description="Benchmarks. Results and how to read them: docs/benchmarks.md.",
    )
    benches = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    _add_engine(benches)
    _add_overhead(benches)
    _add_quality(benches)
    _add_profile(benches)


def _add_engine(benches: Any) -> None:
    parser = benches.add_parser(
        "engine",
        help="latency of the engine through the server's code, vs the floor and autoregressive decoding",
        description=(
            "Prefill cold vs warm, time to first draft, per-step latency, total latency by canvas "
            "policy and strategy, stopping, cancellation and peak memory, with the physical floor and "
            "an autoregressive model of the same geometry measured in the same run."
        ),
    )
    source = parser.add_argument_group("model (one of)")
    source.add_argument(
        "--model",
        metavar="M",
        default=argparse.SUPPRESS,
        help="a model directory or cached Hugging Face id, loaded the way the server loads it",
    )
    source.add_argument(
        "--config",
        choices=["tiny", "small", "full"],
        help="a geometry: tiny (the test model, written to a temporary directory), small (the "
        "bundled model's size) or full (the released DiffusionGemma); default tiny",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="build --config small|full with random weights directly on the device",
    )
    parser.add_argument(
        "--device", metavar="D", default=argparse.SUPPRESS, help="auto (default), cpu, cuda, cuda:1, ..."
    )
    parser.add_argument(
        "--repeat", type=_positive, default=5, metavar="N", help="runs per figure (default 5)"
    )
    parser.add_argument(
        "--steps", type=_positive, default=48, metavar="N", help="most denoising steps (default 48)"
    )
    parser.add_argument(
        "--prefill-tokens",
        type=_sizes,
        default=(512, 2048),
        metavar="N,N",
        help="prompt sizes for cold vs warm prefill (default 512,2048)",
    )
    parser.add_argument(
        "--middles",
        type=_sizes,
        default=(8, 32, 64, 256),
        metavar="N,N",
        help="middle lengths for the floor and baseline table, capped by the canvas (default 8,32,64,256)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the autoregressive baseline (it builds a second model)",
    )
    parser.add_argument(
        "--experts",
        choices=["auto", "eager", "batched_mm", "grouped_mm"],
        default="auto",
        help="the mixture-of-experts implementation the engine loads with (default auto: grouped_mm); "
        "the experts section measures every one the device can run either way",
    )
    parser.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float32", "fp8"],
        default="auto",
        help="the `dtype` setting the engine loads with (default auto: bfloat16 on CUDA, float32 "
        "for small models on the CPU); fp8: the layers' weights in FP8, the floor counts their bytes",
    )
    _add_common(parser)


def _add_overhead(benches: Any) -> None:
    parser = benches.add_parser(
        "overhead",
        help="the server's own time per keystroke (engine excluded) on generated files",
        description=(
            "Type a line into generated Python and JavaScript files and time every stage the "
            "server runs per keystroke: JSON-RPC, document update and incremental parse, position "
            "conversion, carving, prompt building and post-processing."
        ),
    )
    parser.add_argument(
        "--lines",
        type=_sizes,
        default=(100, 1000, 10_000),
        metavar="N,N",
        help="file sizes (default 100,1000,10000)",
    )
    parser.add_argument(
        "--repeat", type=_positive, default=3, metavar="N", help="times the line is typed (default 3)"
    )
    parser.add_argument(
        "--languages",
        type=_languages,
        default=("python", "javascript"),
        metavar="L,L",
        help="python,javascript",
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the cProfile pass on the largest file"
    )
    _add_common(parser)


def _add_quality(benches: Any) -> None:
    from dglsp.training.data import HELDOUT_FRACTION

    parser = benches.add_parser(
        "quality",
        help="infill quality on held-out code: the model at several step counts vs random weights "
        "and an autoregressive baseline",
        description=(
            "Cut single lines, multi-line spans and function bodies out of held-out files, complete "
            "them through the server's own pipeline, and report exact match, edit similarity, syntax "
            "validity and latency per runner, kind and language."
        ),
    )
    parser.add_argument(
        "--model",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the diffusion model directory under test (e.g. the output of `dglsp train`)",
    )
    parser.add_argument(
        "--causal",
        metavar="DIR",
        help="the autoregressive baseline (`dglsp train --objective causal`); omitted: no baseline row",
    )
    parser.add_argument(
        "--data",
        nargs="+",
        required=True,
        metavar="DIR",
        help="the folders the model was trained on; cases come from their held-out files only",
    )
    parser.add_argument(
        "--steps",
        type=_sizes,
        default=(4, 8, 16, 48),
        metavar="N,N",
        help="denoising step counts, one row each (default 4,8,16,48)",
    )
    parser.add_argument(
        "--strategies",
        type=_distinct_values("strategies", Strategy),
        metavar="S,S",
        help="infill strategies (values of the `strategy` setting: prompt, pinned), one row each per "
        "step count and one floor row each (default: the setting's default only)",
    )
    parser.add_argument(
        "--dtype",
        type=_distinct_values("dtypes", Dtype),
        metavar="D,D",
        help="values of the `dtype` setting (auto, bfloat16, float32, fp8), one row each per step "
        "count and strategy, same cases and seeds, e.g. float32,fp8 for the quality cost of FP8 "
        "weights (default: auto only)",
    )
    parser.add_argument(
        "--cases-per-kind",
        type=_positive,
        default=10,
        metavar="N",
        help="cases per language and kind (single, multi, body); default 10",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the cases and the floor's weights")
    parser.add_argument(
        "--languages", metavar="L,L", help="only these languages (default: every one with held-out files)"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the random-weight row")
    parser.add_argument(
        "--floor-steps",
        type=_positive,
        metavar="N",
        help="steps of the random-weight row (default: the most)",
    )
    parser.add_argument(
        "--context-budget",
        type=_positive,
        metavar="N",
        help="prompt tokens (default: the budget the model was trained with, from its training.json)",
    )
    parser.add_argument(
        "--heldout-fraction",
        type=float,
        default=HELDOUT_FRACTION,
        metavar="F",
        help="the share of files held out, as given to `dglsp train` (default %(default)s)",
    )
    parser.add_argument(
        "--device", metavar="D", default=argparse.SUPPRESS, help="auto (default), cpu, cuda, cuda:1, ..."
    )
    _add_common(parser)


def _add_profile(benches: Any) -> None:
    from dglsp.bench.profile import add_arguments

    parser = benches.add_parser(
        "profile",
        help="one denoising step under torch.profiler; with --compile, the torch.compile'd step vs eager",
        description=(
            "Warm the engine up with one infill, then profile one denoising step (the forward pass "
            "over the canvas and Canvas.step): top operators, the share of matmul/experts, attention, "
            "elementwise work and sampling, host synchronisations; optionally a Chrome trace and the "
            "compiled forward timed and checked against eager in the same run."
        ),
    )
    add_arguments(parser)  # its own --threads, --json and --output (dglsp.bench.profile)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=_positive,
        metavar="N",
        help="torch CPU threads (default: torch's); 1 on a shared host",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--output", metavar="FILE", type=Path, help="also write the JSON report to FILE")


def run(args: argparse.Namespace) -> int:
    from dglsp.bench.environment import environment
    from dglsp.bench.render import render
    from dglsp.bench.report import dumps, envelope, write_report

    if args.bench == "profile":  # prints and writes its own report
        from dglsp.bench.profile import run_args

        run_args(args, _argv(args))
        return EXIT_OK
    threads = _set_threads(args.threads)
    if args.bench == "engine":
        body = _run_engine(args)
        device = body["engine"]["device"]
    elif args.bench == "quality":
        body = _run_quality(args)
        device = _torch_device(body["options"]["device"])
    else:
        body = _run_overhead(args)
        device = "cpu"
    env = environment(device, _argv(args))
    env["torch_threads"] = threads
    report = envelope(args.bench, env, body)
    if args.output:
        write_report(args.output, report)
    if args.bench == "quality" and not args.json:
        from dglsp.bench.quality.render import render_quality

        print(render_quality(report), end="")
        return EXIT_OK
    print(dumps(report) if args.json else render(report), end="" if not args.json else "\n")
    return EXIT_OK


def _run_engine(args: argparse.Namespace) -> dict[str, Any]:
    from dglsp.bench.engine_bench import EngineOptions, run_engine

    model = getattr(args, "model", None)
    if model and args.config:
        raise CliError("give --model or --config, not both")
    if args.random_weights and (model or args.config == "tiny"):
        raise CliError(
            "--random-weights builds --config small or full; --model and --config tiny have weights"
        )
    options = EngineOptions(
        model=model,
        config=args.config or "tiny",
        random_weights=args.random_weights,
        device=getattr(args, "device", None) or "auto",
        repeat=args.repeat,
        steps=args.steps,
        prefill_tokens=tuple(args.prefill_tokens),
        middles=tuple(args.middles),
        baseline=not args.no_baseline,
        experts=args.experts,
        dtype=args.dtype,
    )
    return run_engine(options)


def _run_overhead(args: argparse.Namespace) -> dict[str, Any]:
    from dglsp.bench.overhead import OverheadOptions, run_overhead

    options = OverheadOptions(
        lines=tuple(args.lines),
        repeat=args.repeat,
        languages=tuple(args.languages),
        profile=not args.no_profile,
    )
    return run_overhead(options)


def _run_quality(args: argparse.Namespace) -> dict[str, Any]:
    from dglsp.bench.quality.bench import QualityOptions, run_quality

    model = getattr(args, "model", None)
    if not model:
        raise CliError("--model DIR is required (the diffusion model to judge)")
    languages = (
        tuple(part.strip() for part in args.languages.split(",") if part.strip()) if args.languages else None
    )
    options = QualityOptions(
        model=model,
        data=tuple(args.data),
        causal=args.causal,
        steps=tuple(args.steps),
        **({"strategies": tuple(args.strategies)} if args.strategies else {}),
        **({"dtypes": tuple(args.dtype)} if args.dtype else {}),
        per_kind=args.cases_per_kind,
        seed=args.seed,
        languages=languages,
        device=getattr(args, "device", None) or "auto",
        floor=not args.no_floor,
        floor_steps=args.floor_steps,
        context_budget=args.context_budget,
        heldout_fraction=args.heldout_fraction,
    )
    try:
        return run_quality(options)
    except ValueError as error:
        raise CliError(str(error)) from None


def _torch_device(setting: str) -> str:
    from dglsp.model.loading import choose_device

    return str(choose_device(setting))


def _set_threads(threads: int | None) -> int:
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _argv(args: argparse.Namespace) -> list[str]:
    """The command as typed when run as `dglsp`; otherwise (a test calling run()) the
    equivalent command rebuilt from the parsed options."""
    first = Path(sys.argv[0]).name if sys.argv else ""
    if first == "dglsp" or (first == "__main__.py" and "dglsp" in sys.argv[0]):
        return ["dglsp", *sys.argv[1:]]
    return shlex.split(_canonical(args))


def _canonical(args: argparse.Namespace) -> str:
    parts = ["dglsp", "bench", args.bench]
    skip = {"bench", "command", "stdio", "log_level", "log_file", "json", "output"}
    for key, value in sorted(vars(args).items()):
        if key in skip or value in (None, False):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, tuple | list):
            parts += [flag, ",".join(str(item) for item in value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def _positive(raw: str) -> int:
    value = _integer(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {raw!r}")
    return value


def _sizes(raw: str) -> tuple[int, ...]:
    values = tuple(_positive(part.strip()) for part in raw.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {raw!r}")
    return values


def _languages(raw: str) -> tuple[str, ...]:
    from dglsp.bench.sources import LANGUAGES

    values = tuple(part.strip() for part in raw.split(",") if part.strip())
    unknown = [value for value in values if value not in LANGUAGES]
    if unknown or not values:
        raise argparse.ArgumentTypeError(f"languages must be among {', '.join(LANGUAGES)}, got {raw!r}")
    return values


def _distinct_values(what: str, literal) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated list of distinct values of the Literal `literal`."""
    from typing import get_args

    known = get_args(literal)

    def parse(raw: str) -> tuple[str, ...]:
        values = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not values or any(v not in known for v in values) or len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(
                f"{what} must be distinct values among {', '.join(known)}, got {raw!r}"
            )
        return values

    return parse


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
