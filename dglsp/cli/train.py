"""`dglsp train --data DIR... --out DIR`: train a DiffusionGemma-architecture infill model.

Examples are holes cut out of the files under --data and prompted by dglsp's own pipeline, so
the model learns on exactly what the server sends. Collect permissive code on this machine
first with `python -m dglsp.training.data DIR` (it writes a license manifest). --out is a
model directory at every checkpoint: `dglsp --model DIR ...` uses it as it stands.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dglsp.cli.common import EXIT_OK, CliError

DEFAULT_STEPS = 1000
DEFAULT_CHECKPOINT_EVERY = 200


def add_parser(subparsers: Any) -> None:
    from dglsp.training.data import HELDOUT_FRACTION
    from dglsp.training.presets import PRESETS

    parser = subparsers.add_parser(
        "train",
        help="train a DiffusionGemma-architecture infill model on source folders",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument(
        "--data", nargs="+", metavar="DIR", help="folders of source files (all languages dglsp knows)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="model + checkpoint directory (created)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--init", metavar="DIR", help="start from this model directory instead of from scratch"
    )
    start.add_argument(
        "--resume", action="store_true", help="continue the run saved in --out, with its options"
    )
    parser.add_argument(
        "--objective",
        choices=("diffusion", "causal"),
        default="diffusion",
        help="diffusion (default): the DiffusionGemma infill model; causal: the autoregressive "
        "baseline of `dglsp bench quality`, trained on the same examples",
    )
    parser.add_argument(
        "--tokenizer",
        metavar="DIR",
        help="causal only: use this model directory's tokenizer and canvas length (the diffusion "
        "model to compare with) instead of training a new BPE",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help=f"total optimizer steps (default {DEFAULT_STEPS}; with --resume: the run's own, so its "
        "schedule is kept unless you extend it)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, metavar="B", help="examples per step (default 8)"
    )
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the config's)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for weights, examples and noise (default 0)"
    )
    parser.add_argument(
        "--config",
        choices=sorted(PRESETS),
        default="small",
        help="model size for a new model (default small)",
    )
    parser.add_argument("--canvas-length", type=int, metavar="N", help="canvas cells (default: the config's)")
    parser.add_argument("--context-budget", type=int, metavar="N", help="prompt tokens per example")
    parser.add_argument(
        "--self-conditioning", type=float, default=0.5, metavar="P", help="share of examples self-conditioned"
    )
    parser.add_argument(
        "--pad-weight", type=float, default=0.25, metavar="W", help="loss weight of cells after the EOS"
    )
    parser.add_argument(
        "--warmup-steps", type=int, metavar="N", help="default: 5%% of the steps, at most 200"
    )
    parser.add_argument(
        "--heldout-fraction", type=float, default=HELDOUT_FRACTION, help="share of files held out of training"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help=f"steps between checkpoints (default {DEFAULT_CHECKPOINT_EVERY}; with --resume: the run's own)",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    # SUPPRESS: `dglsp --device cuda train ...` (the global flag) is not overwritten by a default.
    parser.add_argument(
        "--device", default=argparse.SUPPRESS, metavar="D", help="auto (default), cpu, cuda, cuda:N"
    )


def run(args: argparse.Namespace) -> int:
    from dglsp.training.loop import TrainOptions, train

    if args.tokenizer and args.objective != "causal":
        raise CliError("--tokenizer is for --objective causal (a diffusion run trains its own BPE)")
    if not args.data and not args.resume:
        raise CliError("--data DIR... is required (folders of source files to train on)")
    for name in ("steps", "batch_size", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1")
    # Not given: a resumed run keeps its own (a different total would change its LR schedule).
    steps = args.steps or (None if args.resume else DEFAULT_STEPS)
    checkpoint_every = args.checkpoint_every or (None if args.resume else DEFAULT_CHECKPOINT_EVERY)
    fields = dict(
        data=args.data or [],
        out=args.out,
        init=args.init,
        resume=args.resume,
        steps=steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        config=args.config,
        canvas_length=args.canvas_length,
        context_budget=args.context_budget,
        self_conditioning_rate=args.self_conditioning,
        pad_weight=args.pad_weight,
        warmup_steps=args.warmup_steps,
        heldout_fraction=args.heldout_fraction,
        checkpoint_every=checkpoint_every,
        threads=args.threads,
        device=getattr(args, "device", None) or "auto",
    )
    try:
        if args.objective == "causal" or (args.resume and _saved_objective(args.out) == "causal"):
            from dglsp.training.causal import CausalOptions, train_causal

            result = train_causal(CausalOptions(**fields, tokenizer=args.tokenizer))
        else:
            result = train(TrainOptions(**fields))
    except (ValueError, FileNotFoundError) as error:
        raise CliError(str(error)) from None
    summary = {
        "out": str(result.out),
        "steps": [result.first_step, result.last_step],
        "last_loss": result.losses[-1] if result.losses else None,
        "seconds": round(result.seconds, 1),
        "tokens_per_second": round(result.tokens / result.seconds) if result.seconds else None,
    }
    print(json.dumps(summary))
    return EXIT_OK


def _saved_objective(out: str) -> str:
    """The objective of the run saved in `out` (a causal run records it in training.json)."""
    from pathlib import Path

    from dglsp.training.checkpoint import INFO_FILE

    try:
        return str(json.loads((Path(out) / INFO_FILE).read_text(encoding="utf-8")).get("objective", ""))
    except (OSError, ValueError):
        return ""
