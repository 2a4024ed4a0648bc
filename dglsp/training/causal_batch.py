"""Training examples as left-to-right sequences for the causal baseline, and its loss.

The sequence is the example's prompt exactly as the diffusion model receives it (dglsp's FIM
template: <bos><|fim_suffix|>suffix<|fim_prefix|>context prefix<|fim_middle|>), then the
middle's tokens and the end token. So both models see the same tokens of context; only the
middle is written differently: all at once on a canvas, or one token after the other.
The loss is the cross-entropy of the middle and its end token (what the diffusion canvas
weighs 1); the prompt is never a target. A middle longer than the canvas keeps its first
canvas-length tokens and no end token, as the diffusion target does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dglsp.training.examples import Example

IGNORE = -100


@dataclass(frozen=True)
class CausalBatch:
    input_ids: torch.Tensor  # (B, T) right-padded
    attention_mask: torch.Tensor  # (B, T) 1 on real tokens
    labels: torch.Tensor  # (B, T) the token at that position when it is a target, else IGNORE

    @property
    def tokens(self) -> int:
        """Real tokens in the batch: what tokens/s counts."""
        return int(self.attention_mask.sum())

    @property
    def canvas_tokens(self) -> int:
        """Supervised tokens (middle + end), the counterpart of the diffusion canvas cells."""
        return int((self.labels != IGNORE).sum())

    def to(self, device: torch.device) -> CausalBatch:
        return CausalBatch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def target_ids(example: Example) -> list[int]:
    """The middle's tokens plus the end token (the end token only when the middle fit)."""
    return list(example.canvas_ids[: min(example.middle_tokens + 1, len(example.canvas_ids))])


def causal_collate(examples: Sequence[Example], pad_id: int) -> CausalBatch:
    rows = [(list(e.prompt_ids), target_ids(e)) for e in examples]
    length = max(len(prompt) + len(target) for prompt, target in rows)
    input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    for row, (prompt, target) in enumerate(rows):
        end = len(prompt) + len(target)
        input_ids[row, :end] = torch.tensor(prompt + target)
        attention_mask[row, :end] = 1
        labels[row, len(prompt) : end] = torch.tensor(target)
    return CausalBatch(input_ids, attention_mask, labels)


def causal_loss(model, batch: CausalBatch) -> torch.Tensor:
    """Mean next-token cross-entropy over the target tokens (position t predicts t + 1).

    Logits are computed only at the positions that predict a target: the vocabulary projection
    of every prompt position would cost several times the rest of the step and is never used.
    """
    hidden = model.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    wanted = batch.labels[:, 1:]
    predicting = wanted != IGNORE
    logits = model.lm_head(hidden[:, :-1][predicting])
    cap = model.config.final_logit_softcapping
    if cap is not None:  # the model's own logits are soft-capped the same way
        logits = torch.tanh(logits / cap) * cap
    return F.cross_entropy(logits.float(), wanted[predicting])


@torch.no_grad()
def evaluate_causal(model, batch: CausalBatch) -> float:
    was_training = model.training
    model.eval()
    try:
        return float(causal_loss(model, batch))
    finally:
        model.train(was_training)
