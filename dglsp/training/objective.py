"""The block-diffusion training loss, matching how dglsp.model.denoise decodes.

- The prompt goes through the causal encoder into a DynamicCache (as `encode_prompt` does);
  the decoder reads it with bidirectional attention over [prompt | canvas].
- The canvas is corrupted with UNIFORM random vocabulary ids (the engine's noise: its canvas
  starts as uniform random ids and rejected cells are re-randomised), at a rate drawn per
  example from U(0, 1]: early denoising steps see mostly noise, late ones mostly settled cells.
- Cross-entropy on every canvas cell, clean ones included (at inference the "clean" cells are
  the model's own earlier guesses, which it may still need to fix), weighted by the batch's
  weights (padding after EOS counts less).
- Self-conditioning: for a share of examples a first, gradient-free decoder pass gives logits,
  which the real pass receives as `self_conditioning_logits`, scaled by a temperature from the
  engine's schedule range, because the engine feeds back temperature-scaled logits.

All randomness comes from the generator passed in, so a step is a pure function of the weights,
the batch and the generator's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from dglsp.training.batch import Batch

MIN_NOISE_RATE = 0.02


@dataclass(frozen=True)
class ObjectiveSettings:
    self_conditioning_rate: float = 0.5  # share of examples that get a first pass's logits
    t_min: float = 0.4  # the engine's temperature range (DenoiseSettings)
    t_max: float = 0.8


def corrupt(target: torch.Tensor, vocab_size: int, generator: torch.Generator) -> torch.Tensor:
    """Each cell replaced by a uniform random id with the example's noise rate."""
    batch = target.shape[0]
    rate = torch.rand(batch, 1, generator=generator).clamp_min(MIN_NOISE_RATE)
    noisy = torch.rand(target.shape, generator=generator) < rate
    noise = torch.randint(0, vocab_size, target.shape, generator=generator)
    return torch.where(noisy.to(target.device), noise.to(target.device), target)


def encode(model, batch: Batch) -> DynamicCache:
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    model.model.encoder(
        input_ids=batch.prompt_ids,
        attention_mask=batch.prompt_mask,
        position_ids=batch.prompt_positions,
        past_key_values=cache,
        use_cache=True,
    )
    return cache


def canvas_logits(model, batch: Batch, cache: DynamicCache, canvas: torch.Tensor, **self_conditioning):
    """Decoder logits for `canvas` over the cached prompts (the cache is read, never written)."""
    return model(
        decoder_input_ids=canvas,
        past_key_values=cache,
        decoder_position_ids=batch.canvas_positions,
        decoder_attention_mask=batch.decoder_mask,
        **self_conditioning,
    ).logits


def diffusion_loss(
    model, batch: Batch, generator: torch.Generator, settings: ObjectiveSettings = ObjectiveSettings()
) -> torch.Tensor:
    """The weighted mean cross-entropy over canvas cells for one corrupted batch."""
    vocab_size = model.config.text_config.vocab_size
    canvas = corrupt(batch.target, vocab_size, generator)
    size = batch.target.shape[0]
    use_previous = torch.rand(size, generator=generator) < settings.self_conditioning_rate
    temperature = settings.t_min + (settings.t_max - settings.t_min) * torch.rand(
        size, 1, 1, generator=generator
    )
    cache = encode(model, batch)

    self_conditioning = {}
    if bool(use_previous.any()):
        with torch.no_grad():
            previous = canvas_logits(model, batch, cache, canvas)
        embed_dtype = model.model.decoder.embed_tokens.weight.dtype
        self_conditioning = {
            "self_conditioning_logits": (previous / temperature.to(previous.device)).to(embed_dtype),
            "self_conditioning_mask": use_previous.to(previous.device),
        }
    logits = canvas_logits(model, batch, cache, canvas, **self_conditioning)
    cross_entropy = F.cross_entropy(logits.float().flatten(0, 1), batch.target.flatten(), reduction="none")
    weights = batch.weights.flatten()
    return (cross_entropy * weights).sum() / weights.sum().clamp_min(1e-6)


@torch.no_grad()
def evaluate(model, batch: Batch, seed: int, settings: ObjectiveSettings = ObjectiveSettings()) -> float:
    """The loss on `batch` with a fixed corruption: comparable between two points of training."""
    was_training = model.training
    model.eval()
    try:
        generator = torch.Generator().manual_seed(seed)
        return float(diffusion_loss(model, batch, generator, settings))
    finally:
        model.train(was_training)
