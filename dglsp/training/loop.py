"""The training loop behind `dglsp train`: from scratch, from a checkpoint (--init), or resumed.

Each step is a pure function of (seed, step) and the weights: its examples come from
random.Random(f"{seed}:{step}") and its noise from a generator seeded the same way, so a resumed
run continues exactly as an uninterrupted one, and nothing depends on how many steps ran before
in this process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import torch

from dglsp.training.checkpoint import INFO_FILE, STATE_FILE
from dglsp.training.data import HELDOUT_FRACTION, Split, split_files

if TYPE_CHECKING:
    from dglsp.training.batch import Batch
    from dglsp.training.progress import ProgressBar

CLIP_NORM = 1.0
LOG_FILE = "train_log.jsonl"
# Options a resumed run takes from its saved state (anything else would change the run).
_RESUME_KEEPS = ("steps", "threads", "device", "checkpoint_every", "resume", "out")


@dataclass
class TrainOptions:
    data: list[str]
    out: str
    init: str | None = None  # continue from this model directory (fresh optimizer)
    resume: bool = False  # continue the run saved in `out` (same options, same batches)
    steps: int | None = 1000  # None only with resume: the saved run's own
    batch_size: int = 8
    lr: float | None = None  # default: the preset's
    seed: int = 0
    config: str = "small"  # a preset name (presets.PRESETS)
    canvas_length: int | None = None  # default: the preset's, or the --init model's
    context_budget: int | None = None  # prompt tokens; default: the preset's
    vocab_size: int | None = None  # default: the preset's
    self_conditioning_rate: float = 0.5
    pad_weight: float = 0.25
    warmup_steps: int | None = None  # default: 5 % of the steps, at most 200
    heldout_fraction: float = HELDOUT_FRACTION
    checkpoint_every: int | None = 200  # None only with resume: the saved run's own
    threads: int | None = None
    device: str = "auto"


@dataclass
class TrainResult:
    out: Path
    first_step: int
    last_step: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0


def resolved(options: TrainOptions) -> TrainOptions:
    """The options with every default filled in from the preset (what the state records)."""
    from dglsp.training.presets import PRESETS

    if options.config not in PRESETS:
        raise ValueError(f"unknown config {options.config!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[options.config]
    return dataclasses.replace(
        options,
        data=[str(Path(d)) for d in options.data],
        lr=options.lr if options.lr is not None else preset.lr,
        canvas_length=options.canvas_length,  # None keeps an --init model's own canvas
        context_budget=options.context_budget or preset.context_budget,
        vocab_size=options.vocab_size or preset.vocab_size,
        warmup_steps=options.warmup_steps
        if options.warmup_steps is not None
        else min(200, options.steps // 20),
    )


def step_seed(seed: int, step: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{step}:noise".encode()).digest()[:8], "big") >> 1


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train(options: TrainOptions, stream: TextIO | None = None) -> TrainResult:
    from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion

    from dglsp.config import Settings
    from dglsp.model.configs import generation_config
    from dglsp.model.loading import choose_device
    from dglsp.model.tokenizer import ModelTokenizer
    from dglsp.training.batch import collate
    from dglsp.training.checkpoint import load_model, save_checkpoint
    from dglsp.training.examples import ExampleBuilder
    from dglsp.training.objective import ObjectiveSettings, diffusion_loss
    from dglsp.training.presets import PRESETS, model_config
    from dglsp.training.progress import ProgressBar
    from dglsp.training.tokenizer import sample_texts, train_tokenizer

    out = Path(options.out)
    options, state = start_or_resume(options, TrainOptions)
    options = resolved(options)
    if options.threads:
        torch.set_num_threads(options.threads)
    device = choose_device(options.device)
    progress = ProgressBar(options.steps, state["step"] if state else 0, stream)

    split = split_files([Path(d) for d in options.data], options.heldout_fraction)
    if not split.train:
        raise ValueError(f"no source files to train on in {', '.join(options.data)}")

    if state is not None:
        model = load_model(out, device)
        tokenizer = AutoTokenizer.from_pretrained(out)
    elif options.init:
        model = load_model(Path(options.init), device)
        tokenizer = AutoTokenizer.from_pretrained(options.init)
    else:
        progress.message(f"training a {options.vocab_size}-token BPE on {len(split.train)} files")
        tokenizer = train_tokenizer(sample_texts(split.train), options.vocab_size)
        canvas = options.canvas_length or PRESETS[options.config].canvas_length
        torch.manual_seed(options.seed)
        model = DiffusionGemmaForBlockDiffusion(model_config(PRESETS[options.config], len(tokenizer), canvas))
        model = model.to(device)
    if options.canvas_length and options.canvas_length != model.config.canvas_length:
        model.config.canvas_length = options.canvas_length
    model.generation_config = generation_config(model.config.canvas_length)
    options = dataclasses.replace(options, canvas_length=model.config.canvas_length)
    model.train()

    model_tokenizer = ModelTokenizer(tokenizer, [tokenizer.eos_token_id])
    builder = ExampleBuilder(
        model_tokenizer, model.config.canvas_length, Settings(context_budget=options.context_budget)
    )
    objective = ObjectiveSettings(self_conditioning_rate=options.self_conditioning_rate)
    optimizer, scheduler, first = make_optimizer(model, options, state)
    total = options.steps
    _trim_log(out / LOG_FILE, first)

    result = TrainResult(out, first, first)
    parameters = sum(p.numel() for p in model.parameters())
    progress.message(
        f"{options.config} model, {parameters / 1e6:.1f}M parameters, "
        f"canvas {model.config.canvas_length}, {len(split.train)} training files "
        f"({len(split.heldout)} held out), steps {first}..{total} on {device}"
    )

    started = time.perf_counter()
    earlier_seconds = _earlier_seconds(out) if state is not None else 0.0

    def checkpoint(step: int) -> None:
        info = _info(options, split, parameters, step, result, time.perf_counter() - started, device)
        info["total_seconds"] = round(earlier_seconds + info["this_run"]["seconds"], 1)
        save_checkpoint(out, model, tokenizer, optimizer, scheduler, step, dataclasses.asdict(options), info)

    def step_loss(step: int, examples: list) -> tuple[torch.Tensor, Batch]:
        batch = collate(examples, builder.pad_id, options.pad_weight).to(device)
        generator = torch.Generator().manual_seed(step_seed(options.seed, step))
        return diffusion_loss(model, batch, generator, objective), batch

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


def start_or_resume(options, options_class: type) -> tuple[Any, dict[str, Any] | None]:
    """The options to train with and the saved state (None for a new run).

    A new run refuses an --out that already holds one. A resumed run takes its saved options,
    except those in _RESUME_KEEPS that the command line gave (None: not given).
    """
    from dglsp.training.checkpoint import load_state

    out = Path(options.out)
    if not options.resume:
        if (out / STATE_FILE).is_file():
            raise ValueError(
                f"{out} already holds a training run: add --resume to continue it, or pick another --out"
            )
        return options, None
    state = load_state(out)
    given = {name: getattr(options, name) for name in _RESUME_KEEPS}
    kept = {name: value for name, value in given.items() if value is not None}
    return dataclasses.replace(options_class(**state["options"]), **kept), state


def make_optimizer(model, options: TrainOptions, state: dict[str, Any] | None):
    """AdamW with warm-up and cosine decay over `options.steps`; restored from `state` on resume.

    Returns the optimizer, its scheduler and the first step to run.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, betas=(0.9, 0.95), weight_decay=0.01)
    warmup, total = options.warmup_steps or 0, options.steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
    if state is None:
        return optimizer, scheduler, 0
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return optimizer, scheduler, state["step"]


def run_steps(
    options: TrainOptions,
    builder,
    split: Split,
    model,
    optimizer,
    scheduler,
    first: int,
    result: TrainResult,
    progress: ProgressBar,
    started: float,
    step_loss: Callable[[int, list], tuple[torch.Tensor, Any]],
    checkpoint: Callable[[int], None],
) -> None:
    """Steps `first`..`options.steps`: the same examples per step for any objective (seeded by
    the step), `step_loss` turns them into a loss and its batch; logging, progress, checkpoints."""
    out, total = Path(options.out), options.steps
    progress.restart()
    for step in range(first, total):
        examples = builder.sample(split.train, random.Random(f"{options.seed}:{step}"), options.batch_size)
        loss, batch = step_loss(step, examples)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        value = float(loss.detach())
        result.losses.append(value)
        result.last_step = step + 1
        result.tokens += batch.tokens
        _log(
            out / LOG_FILE, step + 1, value, scheduler.get_last_lr()[0], batch, time.perf_counter() - started
        )
        progress.update(step + 1, value, batch.tokens, batch.canvas_tokens)
        if (step + 1) % options.checkpoint_every == 0 or step + 1 == total:
            checkpoint(step + 1)
    result.seconds = time.perf_counter() - started


def _info(
    options, split: Split, parameters: int, step: int, result: TrainResult, seconds: float, device
) -> dict:
    """training.json: what a model card needs, readable without torch."""
    per_language = {
        name: {"train": n, "heldout": Counter(f.language for f in split.heldout).get(name, 0)}
        for name, n in sorted(Counter(f.language for f in split.train).items())
    }
    return {
        "step": step,
        "options": dataclasses.asdict(options),
        "parameters": parameters,
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


def _earlier_seconds(out: Path) -> float:
    """Training time of the runs this one resumes (from their training.json)."""
    try:
        return float(json.loads((out / INFO_FILE).read_text(encoding="utf-8")).get("total_seconds", 0.0))
    except (OSError, ValueError):
        return 0.0


def _log(path: Path, step: int, loss: float, lr: float, batch, seconds: float) -> None:
    record = {
        "step": step,
        "loss": round(loss, 5),
        "lr": lr,
        "tokens": batch.tokens,
        "seconds": round(seconds, 3),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines past the checkpoint we start from (a killed run may have logged more)."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
