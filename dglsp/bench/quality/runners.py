"""The rows of the quality table, and the loop that completes every case with each of them.

Every row is an Engine driven through dglsp's own Pipeline, exactly as `dglsp complete` does:
the prompt is what the server would send at the cursor, the answer is what the editor would
insert (post-processing included), and the latency is Pipeline.complete's, start to answer.

- `diffusion`: the model under test in the in-process engine, once per step count, infill
  strategy and `dtype` setting (the server's settings otherwise: entropy bound, canvas policy,
  seed); the same cases and seeds in every row, so float32 and fp8 rows differ only by the
  weights' precision.
- `random`: the floor, a DiffusionGemma with the model's own config and tokenizer but random
  weights (torch seed = the bench seed), written to a temporary directory and loaded the same
  way; one row per strategy.
- `causal`: the autoregressive baseline (causal_engine.CausalEngine), greedy decoding, always
  with the prompt strategy (it writes left to right after a FIM prompt: a suffix pinned after
  its middle would never be seen).

Runs go row by row, each case once: the prompt cache of the engine never holds the case's
prompt from another row, so a latency is a request at a new position.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dglsp.bench.quality.cases import Case
from dglsp.bench.quality.metrics import prediction_of, score
from dglsp.config import Settings

# The `strategy` setting's default: the only strategy of a run that does not ask for others.
DEFAULT_STRATEGY: str = Settings().strategy


@dataclass(frozen=True)
class Runner:
    name: str  # the table row
    kind: str  # "diffusion" | "random" | "causal"
    model: str  # the model directory the engine loads
    steps: int | None = None  # denoising steps (diffusion rows)
    strategy: str = DEFAULT_STRATEGY  # the `strategy` setting the row's Pipeline runs with
    dtype: str = "auto"  # the `dtype` setting the row's engine loads the model with


@dataclass
class RunnerResult:
    runner: Runner
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def diffusion_runners(
    model: str,
    steps: Sequence[int],
    strategies: Sequence[str] = (DEFAULT_STRATEGY,),
    label: str | None = None,
    dtypes: Sequence[str] = ("auto",),
) -> list[Runner]:
    """One row per (step count, strategy, dtype): strategies, then dtypes, side by side for each
    step count."""
    name = label or Path(model).name
    return [
        Runner(
            f"{name}, {_steps(n)}{strategy_label(strategy, strategies)}{dtype_label(dtype, dtypes)}",
            "diffusion",
            model,
            n,
            strategy,
            dtype,
        )
        for n in steps
        for strategy in strategies
        for dtype in dtypes
    ]


def dtype_label(dtype: str, dtypes: Sequence[str]) -> str:
    """The row name's tail, e.g. ', fp8'; nothing when the run has only the default dtype."""
    return "" if tuple(dtypes) == ("auto",) else f", {dtype}"


def strategy_label(strategy: str, strategies: Sequence[str]) -> str:
    """The row name's tail, e.g. ', pinned'; nothing when the run has only the default strategy,
    so the names of a run that does not compare strategies stay what they always were."""
    return "" if tuple(strategies) == (DEFAULT_STRATEGY,) else f", {strategy}"


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def run_all(
    runners: Sequence[Runner],
    cases: Sequence[Case],
    settings: Settings,
    stream: TextIO | None = None,
) -> list[RunnerResult]:
    return asyncio.run(_run_all(runners, cases, settings, stream or sys.stderr))


async def _run_all(
    runners: Sequence[Runner], cases: Sequence[Case], settings: Settings, stream: TextIO
) -> list[RunnerResult]:
    from dglsp.bench.quality.causal_engine import CausalEngine
    from dglsp.engine.inprocess import InProcessEngine

    results = []
    # One engine per model and dtype, shared by its step counts and strategies.
    engines: dict[tuple[str, str, str], Any] = {}
    try:
        for runner in runners:
            key = (runner.kind, runner.model, runner.dtype)
            if key not in engines:
                if runner.kind == "causal":
                    engines[key] = CausalEngine(runner.model, settings.device)
                else:
                    engines[key] = InProcessEngine(runner.model, settings.device, dtype=runner.dtype)
                await engines[key].start()
            engine = engines[key]
            result = RunnerResult(runner)
            results.append(result)
            if engine.error:
                result.error = engine.error
                _say(stream, f"{runner.name}: {engine.error}")
                continue
            row_settings = dataclasses.replace(
                settings, model=runner.model, steps=runner.steps or settings.steps, strategy=runner.strategy
            )
            started = time.perf_counter()
            for index, case in enumerate(cases, 1):
                result.records.append(await _complete(engine, row_settings, case))
                if index % 10 == 0 or index == len(cases):
                    _say(
                        stream,
                        f"{runner.name}: {index}/{len(cases)} cases, {time.perf_counter() - started:.0f} s",
                    )
    finally:
        for engine in engines.values():
            await engine.close()
    return results


async def _complete(engine, settings: Settings, case: Case) -> dict[str, Any]:
    from dglsp.documents import Document
    from dglsp.pipeline import Pipeline

    snapshot = Document(f"file:///quality/{case.key}", case.language, 1, case.document).snapshot()
    completion = await Pipeline(engine, settings).complete(snapshot, case.start)
    prediction = prediction_of(case, completion.text, completion.start, completion.end)
    figures = score(case, prediction)
    return {
        "case": case.id,
        "language": case.language,
        "kind": case.kind,
        "prediction": prediction,
        "exact": figures.exact,
        "edit_similarity": round(figures.edit_similarity, 4),
        "syntax_valid": figures.syntax_valid,
        "empty": figures.empty,
        "latency_ms": round(completion.elapsed_ms, 1),
        "steps": completion.steps,
    }


def _say(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


# --- the floor: random weights of the model's own config ----------------------------------------


@contextmanager
def random_weight_copy(model_dir: str | Path, seed: int):
    """A temporary model directory: `model_dir`'s config, tokenizer and generation config with
    freshly initialised weights (torch seed `seed`), removed on exit."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, DiffusionGemmaForBlockDiffusion
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    source = Path(model_dir)
    target = Path(tempfile.mkdtemp(prefix="dglsp-floor-"))
    try:
        torch.manual_seed(seed)
        model = DiffusionGemmaForBlockDiffusion(AutoConfig.from_pretrained(source))
        model.save_pretrained(target)
        AutoTokenizer.from_pretrained(source).save_pretrained(target)
        if (source / "generation_config.json").is_file():
            shutil.copyfile(source / "generation_config.json", target / "generation_config.json")
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


# --- what each row's model is ---------------------------------------------------------------------


def describe_model(path: str | Path) -> dict[str, Any]:
    """Architecture, parameters (total and active per token) and training facts of a model dir."""
    path = Path(path)
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    total, active = parameters_in(path, config)
    info: dict[str, Any] = {
        "path": str(path),
        "architecture": (config.get("architectures") or ["?"])[0],
        "parameters": total,
        "active_parameters": active,
    }
    training = path / "training.json"
    if training.is_file():
        data = json.loads(training.read_text(encoding="utf-8"))
        options = data.get("options", {})
        info["training"] = {
            "step": data.get("step"),
            "steps": options.get("steps"),
            "batch_size": options.get("batch_size"),
            "seed": options.get("seed"),
            "objective": data.get("objective", "diffusion"),
            "seconds": data.get("total_seconds"),
            "context_budget": options.get("context_budget"),
        }
    return info


def parameters_in(path: Path, config: dict) -> tuple[int, int]:
    """(total, active) from the safetensors headers: tied tensors are stored once; the
    experts a token's router does not pick (num_experts - top_k per layer) are not active."""
    from safetensors import safe_open

    total = experts_weights = 0
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(file, "pt") as tensors:
            for name in tensors.keys():  # noqa: SIM118 (safe_open is not a dict)
                count = 1
                for size in tensors.get_slice(name).get_shape():
                    count *= size
                total += count
                experts_weights += count if ".experts." in name else 0
    text = config.get("text_config", config)
    experts, top_k = text.get("num_experts") or 0, text.get("top_k_experts") or 0
    inactive = experts_weights * (experts - top_k) // experts if experts else 0
    return total, total - inactive
