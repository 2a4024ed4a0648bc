"""`dglsp train --objective causal`: the autoregressive baseline of the quality benchmark.

It answers "does diffusion infill beat left-to-right at equal size, data and examples?", so
everything but the objective is the diffusion run's: the same example builder (holes carved and
prompted by dglsp's own pipeline), the same files and split, the same examples at every step
(random.Random(f"{seed}:{step}")), batch size, step count, optimizer, learning-rate schedule and
gradient clipping, and, with `--tokenizer DIR`, the diffusion model's own tokenizer and canvas
length. The model is the causal twin of the preset (causal_model.py); the examples become
left-to-right sequences (causal_batch.py).

Progress, checkpoints and resuming are the diffusion trainer's: --out is a loadable model
directory (save_pretrained layout) at every checkpoint, with trainer_state.pt beside it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import torch

from dglsp.training.data import Split, split_files
from dglsp.training.loop import (
    LOG_FILE,
    TrainOptions,
    TrainResult,
    _earlier_seconds,
    _trim_log,
    make_optimizer,
    resolved,
    run_steps,
    start_or_resume,
)

OBJECTIVE = "causal"


@dataclass
class CausalOptions(TrainOptions):
    # A model directory (normally the diffusion model to compare with) whose tokenizer and
    # canvas length the baseline takes; None trains a BPE on the data as `dglsp train` does.
    tokenizer: str | None = None
    objective: str = OBJECTIVE


def train_causal(options: CausalOptions, stream: TextIO | None = None) -> TrainResult:
    from transformers import AutoTokenizer

    from dglsp.config import Settings
    from dglsp.model.loading import choose_device
    from dglsp.model.tokenizer import ModelTokenizer
    from dglsp.training.causal_batch import causal_collate, causal_loss
    from dglsp.training.causal_model import (
        build_causal_model,
        canvas_length_of,
        load_causal_model,
        parameter_counts,
    )
    from dglsp.training.checkpoint import save_checkpoint
    from dglsp.training.examples import ExampleBuilder
    from dglsp.training.presets import PRESETS
    from dglsp.training.progress import ProgressBar
    from dglsp.training.tokenizer import sample_texts, train_tokenizer

    out = Path(options.out)
    options, state = start_or_resume(options, CausalOptions)
    if options.init:
        raise ValueError("--init is not supported with --objective causal (use --resume to continue)")
    options = resolved(options)
    if options.threads:
        torch.set_num_threads(options.threads)
    device = choose_device(options.device)
    progress = ProgressBar(options.steps, state["step"] if state else 0, stream)

    split = split_files([Path(d) for d in options.data], options.heldout_fraction)
    if not split.train:
        raise ValueError(f"no source files to train on in {', '.join(options.data)}")

    if state is not None:
        model = load_causal_model(out, device)
        tokenizer = AutoTokenizer.from_pretrained(out)
        canvas = canvas_length_of(model) or PRESETS[options.config].canvas_length
    else:
        if options.tokenizer:
            tokenizer = AutoTokenizer.from_pretrained(options.tokenizer)
            canvas = options.canvas_length or _model_canvas(Path(options.tokenizer))
        else:
            progress.message(f"training a {options.vocab_size}-token BPE on {len(split.train)} files")
            tokenizer = train_tokenizer(sample_texts(split.train), options.vocab_size)
            canvas = options.canvas_length
        canvas = canvas or PRESETS[options.config].canvas_length
        model = build_causal_model(options.config, len(tokenizer), canvas, options.seed).to(device)
    options = dataclasses.replace(options, canvas_length=canvas)
    model.train()

    model_tokenizer = ModelTokenizer(tokenizer, [tokenizer.eos_token_id])
    # The same builder, canvas and budget as the diffusion trainer: the same examples.
    builder = ExampleBuilder(model_tokenizer, canvas, Settings(context_budget=options.context_budget))
    optimizer, scheduler, first = make_optimizer(model, options, state)
    total = options.steps
    _trim_log(out / LOG_FILE, first)

    result = TrainResult(out, first, first)
    parameters, active = parameter_counts(model)
    progress.message(
        f"causal {options.config} baseline, {parameters / 1e6:.1f}M parameters ({active / 1e6:.1f}M active), "
        f"middle up to {canvas} tokens, {len(split.train)} training files ({len(split.heldout)} held out), "
        f"steps {first}..{total} on {device}"
    )

    started = time.perf_counter()
    earlier_seconds = _earlier_seconds(out) if state is not None else 0.0

    def checkpoint(step: int) -> None:
        seconds = time.perf_counter() - started
        info = _info(options, split, (parameters, active), step, result, seconds, device)
        info["total_seconds"] = round(earlier_seconds + seconds, 1)
        save_checkpoint(out, model, tokenizer, optimizer, scheduler, step, dataclasses.asdict(options), info)

    def step_loss(step: int, examples: list):
        batch = causal_collate(examples, builder.pad_id).to(device)
        return causal_loss(model, batch), batch

    run_steps(
        options,
        builder,
        split,
        model,
        optimizer,
        scheduler,
        first,
        result,
        progress,
        started,
        step_loss,
        checkpoint,
    )
    return result


def _model_canvas(path: Path) -> int | None:
    """The canvas length in a model directory's config.json (DiffusionGemma's `canvas_length`)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("canvas_length")
    return int(value) if value else None


def _info(
    options: CausalOptions,
    split: Split,
    parameters: tuple[int, int],
    step: int,
    result: TrainResult,
    seconds: float,
    device,
) -> dict:
    """training.json, in the diffusion trainer's shape plus the objective and active parameters."""
    per_language = {
        name: {"train": n, "heldout": Counter(f.language for f in split.heldout).get(name, 0)}
        for name, n in sorted(Counter(f.language for f in split.train).items())
    }
    return {
        "objective": OBJECTIVE,
        "step": step,
        "options": dataclasses.asdict(options),
        "parameters": parameters[0],
        "active_parameters": parameters[1],
        "data": {"files": per_language, "dropped_duplicates": split.dropped_duplicates},
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "this_run": {
            "first_step": result.first_step,
            "seconds": round(seconds, 1),
            "tokens": result.tokens,
            "last_loss": result.losses[-1] if result.losses else None,
        },
    }
