"""Examples -> padded tensors that give each example exactly the engine's computation.

The engine encodes one prompt at positions 0..P-1 and denoises a canvas at P..P+L-1. In a batch,
prompts are left-padded and canvases right-padded to the longest, with per-example positions
and a decoder mask over [prompt | canvas] keys that hides both paddings; with that, the canvas
logits equal the engine's per-example ones (checked in tests/test_training_objective.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dglsp.training.examples import Example


@dataclass(frozen=True)
class Batch:
    prompt_ids: torch.Tensor  # (B, P) left-padded
    prompt_mask: torch.Tensor  # (B, P) 1 on real prompt tokens
    prompt_positions: torch.Tensor  # (B, P) 0.. from each prompt's first real token
    target: torch.Tensor  # (B, L) the clean canvas, right-padded
    canvas_mask: torch.Tensor  # (B, L) bool: the cell belongs to the example's canvas
    canvas_positions: torch.Tensor  # (B, L) right after each prompt
    decoder_mask: torch.Tensor  # (B, P + L) keys the canvas may attend to
    weights: torch.Tensor  # (B, L) loss weight per cell

    @property
    def tokens(self) -> int:
        """Real prompt + canvas tokens: what tokens/s counts."""
        return int(self.prompt_mask.sum()) + int(self.canvas_mask.sum())

    @property
    def canvas_tokens(self) -> int:
        return int(self.canvas_mask.sum())

    def to(self, device: torch.device) -> Batch:
        return Batch(*(getattr(self, name).to(device) for name in self.__dataclass_fields__))


def collate(examples: Sequence[Example], pad_id: int, pad_weight: float) -> Batch:
    """Stack examples. Cells after the middle's EOS weigh `pad_weight`, the rest 1: padding is
    easy and plentiful, and at full weight it would drown the cells that carry the code."""
    batch = len(examples)
    prompt_length = max(len(e.prompt_ids) for e in examples)
    canvas_length = max(len(e.canvas_ids) for e in examples)
    prompt_ids = torch.full((batch, prompt_length), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((batch, prompt_length), dtype=torch.long)
    prompt_positions = torch.zeros((batch, prompt_length), dtype=torch.long)
    target = torch.full((batch, canvas_length), pad_id, dtype=torch.long)
    canvas_mask = torch.zeros((batch, canvas_length), dtype=torch.bool)
    canvas_positions = torch.zeros((batch, canvas_length), dtype=torch.long)
    decoder_mask = torch.zeros((batch, prompt_length + canvas_length), dtype=torch.long)
    weights = torch.zeros((batch, canvas_length), dtype=torch.float32)
    for row, example in enumerate(examples):
        p, c = len(example.prompt_ids), len(example.canvas_ids)
        pad = prompt_length - p
        prompt_ids[row, pad:] = torch.tensor(example.prompt_ids)
        prompt_mask[row, pad:] = 1
        prompt_positions[row, pad:] = torch.arange(p)
        target[row, :c] = torch.tensor(example.canvas_ids)
        canvas_mask[row, :c] = True
        canvas_positions[row] = torch.arange(p, p + canvas_length)
        decoder_mask[row, pad : prompt_length + c] = 1
        # Middle tokens and the EOS weigh 1; what follows the EOS is padding.
        weights[row, :c] = pad_weight
        weights[row, : min(example.middle_tokens + 1, c)] = 1.0
    return Batch(
        prompt_ids,
        prompt_mask,
        prompt_positions,
        target,
        canvas_mask,
        canvas_positions,
        decoder_mask,
        weights,
    )
