"""Checkpoints: the output folder is always a loadable model, plus what resuming needs.

`--out DIR` holds the latest checkpoint in save_pretrained layout (config.json,
generation_config.json, model.safetensors, tokenizer files), so `--model DIR` works at any
point of training, and trainer_state.pt beside it: step, optimizer, scheduler, RNG states and
the options. Files are written to a temporary folder first and moved in one by one, the state
last, so a run killed while saving resumes from the previous state.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trainer_state.pt"
INFO_FILE = "training.json"


def save_checkpoint(
    out: Path,
    model,
    tokenizer,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    options: dict[str, Any],
    info: dict[str, Any],
) -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its bar would break our progress line
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".checkpoint-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "options": options,
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    torch.save(state, staging / STATE_FILE)
    names = [*sorted(p.name for p in staging.iterdir() if p.name != STATE_FILE), STATE_FILE]
    for name in names:
        os.replace(staging / name, out / name)
    staging.rmdir()


def load_state(out: Path) -> dict[str, Any]:
    path = out / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{out} has no {STATE_FILE}: nothing to resume (train without --resume first)"
        )
    state = torch.load(path, map_location="cpu", weights_only=False)
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    return state


def load_model(path: Path, device: torch.device):
    """Weights in float32 for training, whatever dtype they were saved in."""
    from transformers import DiffusionGemmaForBlockDiffusion
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return DiffusionGemmaForBlockDiffusion.from_pretrained(path, dtype=torch.float32).to(device)


def export_model(source: Path, target: Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """A copy of a trained model for shipping: weights in `dtype`, no trainer state."""
    from transformers import AutoTokenizer

    model = load_model(source, torch.device("cpu")).to(dtype)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    if (source / INFO_FILE).is_file():
        shutil.copyfile(source / INFO_FILE, target / INFO_FILE)
    return target
