"""The denoising loop, owned here so that every step yields a draft and can be cancelled.

It follows transformers' `DiffusionGemmaGenerationMixin.generate` step for step (one block,
batch 1) and reuses its sampler pieces: the linear temperature schedule, the entropy-bound
acceptance and the stable-and-confident stopping rule. What it adds: a seeded generator for
every random draw (same seed, same text, whatever else the process does), a per-request
canvas length, a draft after each step, and a cancellation check between two steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
    EntropyBoundSampler,
    EntropyBoundSamplerConfig,
    LinearTemperatureScheduleLogitsProcessor,
    StableAndConfidentStoppingCriteria,
)

from dglsp.engine.base import Cancelled


@dataclass(frozen=True)
class DenoiseSettings:
    canvas_length: int
    max_steps: int = 48
    entropy_bound: float = 0.1
    t_min: float = 0.4
    t_max: float = 0.8
    stability_threshold: int = 1
    confidence_threshold: float = 0.005
    seed: int = 0


@dataclass(frozen=True)
class StepResult:
    step: int  # 1-based
    argmax_ids: list[int]  # the model's best guess for every canvas cell after this step
    finished: bool  # the stopping rule fired: this is the last step


class _SeededSampler(EntropyBoundSampler):
    """The library's entropy-bound sampler with its random draws taken from our generator."""

    def __init__(
        self,
        config: EntropyBoundSamplerConfig,
        canvas_length: int,
        vocab_size: int,
        generator: torch.Generator,
    ) -> None:
        super().__init__(config, canvas_length, vocab_size, max_denoising_steps=0)
        self.generator = generator

    def initialize_canvas(self, batch_size: int, device: torch.device) -> torch.LongTensor:
        return torch.randint(
            0, self.vocab_size, (batch_size, self.canvas_length), device=device, generator=self.generator
        )


def encode_prompt(model, prompt_ids: list[int]) -> DynamicCache:
    """Run the causal encoder over the prompt; the decoder reads this cache and never writes it."""
    device = model.device
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    positions = torch.arange(len(prompt_ids), dtype=torch.int32, device=device).unsqueeze(0)
    model.model.encoder(input_ids=input_ids, past_key_values=cache, position_ids=positions, use_cache=True)
    return cache


@torch.no_grad()
def denoise(
    model,
    prompt_ids: list[int],
    settings: DenoiseSettings,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[StepResult]:
    """Encode the prompt, then denoise one canvas, yielding after every step.

    Raises `Cancelled` when `should_stop()` is true before a step.
    """
    if should_stop():
        raise Cancelled()
    device = model.device
    vocab_size = model.config.text_config.vocab_size
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    cache = encode_prompt(model, prompt_ids)

    length = settings.canvas_length
    positions = torch.arange(
        len(prompt_ids), len(prompt_ids) + length, dtype=torch.int32, device=device
    ).unsqueeze(0)
    sampler = _SeededSampler(
        EntropyBoundSamplerConfig(entropy_bound=float(settings.entropy_bound)), length, vocab_size, generator
    )
    temperature = LinearTemperatureScheduleLogitsProcessor(settings.t_min, settings.t_max, settings.max_steps)
    stopping = StableAndConfidentStoppingCriteria(settings.stability_threshold, settings.confidence_threshold)
    embed_dtype = model.model.decoder.embed_tokens.weight.dtype

    canvas = sampler.initialize_canvas(1, device)
    self_conditioning = None
    # Steps count down (N..1) as in the library: the temperature falls with the remaining steps.
    for remaining in range(settings.max_steps, 0, -1):
        if should_stop():
            raise Cancelled()
        logits = model(
            decoder_input_ids=canvas,
            self_conditioning_logits=self_conditioning,
            past_key_values=cache,
            decoder_position_ids=positions,
        ).logits
        logits = temperature(None, logits, cur_step=remaining)
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
        sampled = torch.multinomial(probs.view(-1, vocab_size), 1, generator=generator).view(1, length)
        argmax = logits.argmax(dim=-1)
        accepted = sampler.accept_canvas(canvas, sampled, logits, remaining)
        canvas = sampler.renoise_canvas(accepted, remaining)
        finished = bool(stopping(argmax, logits).all()) or remaining == 1
        self_conditioning = logits.to(embed_dtype)
        yield StepResult(settings.max_steps - remaining + 1, argmax[0].tolist(), finished)
        if finished:
            return
