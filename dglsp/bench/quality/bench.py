"""`dglsp bench quality`: build the cases, run every row, summarise (the report's body).

    dglsp bench quality --model DIR --causal DIR --data DIR --steps 4,8,16,48 --cases-per-kind N
        [--strategies prompt,pinned] [--dtype float32,fp8]

The prompt budget is the one the model was trained with (its training.json), so the bench
asks what the model learned to answer; `--context-budget` overrides it. Without training.json
it is the server's default.

With several `--strategies` (values of the `strategy` setting) every step count gets one row
per strategy, and the floor one row per strategy too: the two strategies give the model
different prompts and canvases, so each is read against random weights run the same way.

With several `--dtype` values (of the `dtype` setting, e.g. float32,fp8) every step count and
strategy gets one row per dtype, on the same cases with the same seeds, and `dtype_agreement`
says for each row how many of its answers are exactly the first dtype's: the quality cost of FP8
weights, side by side. The floor runs in the first dtype.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, get_args

from dglsp.bench.quality.cases import (
    KINDS,
    MAX_MIDDLE_CHARS,
    build_cases,
    cases_digest,
    heldout_files,
)
from dglsp.bench.quality.runners import (
    DEFAULT_STRATEGY,
    Runner,
    describe_model,
    diffusion_runners,
    random_weight_copy,
    run_all,
    strategy_label,
)
from dglsp.bench.quality.summary import breakdown
from dglsp.config import Dtype, Settings, Strategy
from dglsp.training.data import HELDOUT_FRACTION


@dataclass(frozen=True)
class QualityOptions:
    model: str
    data: tuple[str, ...]
    causal: str | None = None
    steps: tuple[int, ...] = (4, 8, 16, 48)
    strategies: tuple[str, ...] = (DEFAULT_STRATEGY,)  # values of the `strategy` setting
    dtypes: tuple[str, ...] = ("auto",)  # values of the `dtype` setting, one row set each
    per_kind: int = 10
    seed: int = 0
    languages: tuple[str, ...] | None = None
    device: str = "auto"
    floor: bool = True
    floor_steps: int | None = None  # default: the largest of `steps`
    context_budget: int | None = None  # default: the model's training budget
    heldout_fraction: float = HELDOUT_FRACTION


def run_quality(options: QualityOptions, stream: TextIO | None = None) -> dict[str, Any]:
    model = Path(options.model)
    if not (model / "config.json").is_file():
        raise ValueError(f"--model {model} is not a model directory (no config.json)")
    if options.causal and not (Path(options.causal) / "config.json").is_file():
        raise ValueError(f"--causal {options.causal} is not a model directory (no config.json)")
    unknown = [s for s in options.strategies if s not in get_args(Strategy)]
    if unknown or not options.strategies or len(set(options.strategies)) != len(options.strategies):
        raise ValueError(
            f"--strategies must be distinct values among {', '.join(get_args(Strategy))}, "
            f"got {','.join(options.strategies)!r}"
        )
    bad = [d for d in options.dtypes if d not in get_args(Dtype)]
    if bad or not options.dtypes or len(set(options.dtypes)) != len(options.dtypes):
        raise ValueError(
            f"--dtype must be distinct values among {', '.join(get_args(Dtype))}, "
            f"got {','.join(options.dtypes)!r}"
        )
    files = heldout_files(options.data, options.heldout_fraction)
    cases = build_cases(files, options.per_kind, options.seed, options.languages)
    if not cases:
        raise ValueError(f"no held-out cases in {', '.join(options.data)} (no held-out code files?)")
    languages = sorted({case.language for case in cases})

    budget = options.context_budget or _trained_budget(model) or Settings().context_budget
    strategies = options.strategies
    settings = Settings(
        model=str(model),
        device=options.device,
        engine="inprocess",
        context_budget=budget,
        strategy=strategies[0],  # checked against Strategy above
    )
    floor_steps = options.floor_steps or max(options.steps)
    runners = diffusion_runners(str(model), options.steps, strategies, dtypes=options.dtypes)
    models = {"diffusion": describe_model(model)}
    if options.causal:
        runners.append(
            Runner(
                f"causal baseline ({Path(options.causal).name}), greedy",
                "causal",
                options.causal,
                strategy="prompt",  # left-to-right decoding never sees a pinned suffix
            )
        )
        models["causal"] = describe_model(options.causal)
    floor_copy = random_weight_copy(model, options.seed) if options.floor else contextlib.nullcontext()
    with floor_copy as floor:
        if floor is not None:
            runners += [
                Runner(
                    f"random weights (floor), {floor_steps} step{'s' if floor_steps != 1 else ''}"
                    + strategy_label(strategy, strategies),
                    "random",
                    str(floor),
                    floor_steps,
                    strategy,
                    options.dtypes[0],
                )
                for strategy in strategies
            ]
            models["random"] = {
                **describe_model(floor),
                "path": f"random weights of {model}, seed {options.seed}",
            }
        results = run_all(runners, cases, settings, stream)

    rows = []
    for result in results:
        row = {**dataclasses.asdict(result.runner), "error": result.error}
        if row["kind"] == "random":
            row["model"] = models["random"]["path"]
        row.update(breakdown(result.records, KINDS, languages))
        rows.append(row)
    return {
        "options": {
            **{k: v for k, v in dataclasses.asdict(options).items() if k != "data"},
            "data": list(options.data),
            "floor_steps": floor_steps,
        },
        "settings": {
            "context_budget": budget,
            "entropy_bound": settings.entropy_bound,
            "canvas_policy": settings.canvas_policy,
            "strategy": settings.strategy,  # the first of `strategies`; each row has its own
            "strategies": list(strategies),
            "dtypes": list(options.dtypes),
            "seed": settings.seed,
            "same_tokenizer": _same_tokenizer(model, options.causal) if options.causal else None,
        },
        "models": models,
        "cases": {
            "count": len(cases),
            "digest": cases_digest(cases),
            "heldout_files": len(files),
            "languages": languages,
            "kinds": list(KINDS),
            "max_middle_chars": MAX_MIDDLE_CHARS,
            "per_language_kind": {
                f"{lang}/{kind}": sum(1 for c in cases if c.language == lang and c.kind == kind)
                for lang in languages
                for kind in KINDS
            },
            "list": [case.to_json() for case in cases],
        },
        "rows": rows,
        "dtype_agreement": dtype_agreement(results) if len(options.dtypes) > 1 else None,
        "per_case": {
            result.runner.name: [
                {k: v for k, v in record.items() if k not in ("language", "kind")}
                for record in result.records
            ]
            for result in results
        },
    }


def dtype_agreement(results) -> list[dict[str, Any]]:
    """For each diffusion row in another dtype than the first: the share of cases whose answer
    is exactly the answer of the row with the same steps and strategy in the first dtype."""
    rows = [r for r in results if r.runner.kind == "diffusion"]
    reference = {}
    for result in rows:
        reference.setdefault((result.runner.steps, result.runner.strategy), result)
    out = []
    for result in rows:
        first = reference[(result.runner.steps, result.runner.strategy)]
        if first is result or result.error or first.error:
            continue
        same = sum(
            a["prediction"] == b["prediction"] for a, b in zip(first.records, result.records, strict=True)
        )
        out.append(
            {
                "row": result.runner.name,
                "reference": first.runner.name,
                "cases": len(result.records),
                "same_answer": same,
                "same_answer_pct": round(100 * same / len(result.records), 1) if result.records else None,
            }
        )
    return out


def _trained_budget(model: Path) -> int | None:
    try:
        info = json.loads((model / "training.json").read_text(encoding="utf-8"))
        return int(info["options"]["context_budget"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _same_tokenizer(model: Path, causal: str) -> bool:
    """Whether the baseline's tokenizer is the model's (same vocabulary, ids, merges, specials)."""

    def essence(path: Path):
        data = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
        return data.get("model"), data.get("added_tokens")

    try:
        return essence(model) == essence(Path(causal))
    except (OSError, ValueError):
        return False
