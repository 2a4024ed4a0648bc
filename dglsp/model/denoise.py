"""The denoising loop, owned here so that every step yields a draft and can be cancelled.

It follows transformers' `DiffusionGemmaGenerationMixin.generate` step for step for one
block: the linear temperature schedule (reused from the library), the entropy-bound
acceptance and the stable-and-confident stopping rule (same math as the library's
`EntropyBoundSampler` and `StableAndConfidentStoppingCriteria`). What it adds:

- a seeded generator for every random draw: same seed, same text;
- a draft after every step and a cancellation check between two steps;
- pinned cells (the suffix after the middle in the pinned-suffix strategy) that keep
  their token every step and take no part in acceptance or stopping;
- several rows in one forward pass, each a different middle length before the same
  pinned suffix; the most confident row wins;
- infill-aware stopping: once every cell up to the end of the middle is accepted and
  stable, the cells after it are wasted work, so the loop stops;
- fewer passes over the logits (`sample`) and one device-to-host copy per step
  (`Canvas.advance` keeps everything on the device, `read_host` copies once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
    LinearTemperatureScheduleLogitsProcessor,
)

from dglsp.engine.base import Cancelled


@dataclass(frozen=True)
class DenoiseSettings:
    canvas_length: int  # cells per row (for pinned rows: middle + pinned suffix)
    max_steps: int = 48
    entropy_bound: float = 0.1
    t_min: float = 0.4
    t_max: float = 0.8
    stability_threshold: int = 1
    confidence_threshold: float = 0.005
    seed: int = 0
    infill_stop: bool = True


@dataclass(frozen=True)
class Layout:
    """What each batch row of the canvas holds: `middle_lengths[i]` free cells, then pinned
    tokens. The default is one row of free cells (the prompt-side strategy)."""

    middle_lengths: tuple[int, ...]
    pinned: tuple[tuple[int, ...], ...] = ()  # per row, the tokens after its middle

    @staticmethod
    def free(width: int) -> Layout:
        return Layout((width,), ((),))

    @staticmethod
    def pinned_suffix(
        middle_lengths: Sequence[int], suffix_ids: Sequence[int], width: int, pad_id: int
    ) -> Layout:
        """Rows of `width` cells: L free cells then the suffix (padded), for each L."""
        rows = []
        for length in middle_lengths:
            room = width - length
            rows.append(tuple(list(suffix_ids[:room]) + [pad_id] * max(0, room - len(suffix_ids))))
        return Layout(tuple(middle_lengths), tuple(rows))


@dataclass(frozen=True)
class StepResult:
    step: int  # 1-based
    middle_ids: list[int]  # the best row's middle cells, the model's current best guess
    row: int  # which layout row that is
    finished: bool  # the loop stops after this step


def encode_prompt(model, prompt_ids: list[int]) -> DynamicCache:
    """Run the causal encoder over the whole prompt (no reuse); see PromptCache for reuse."""
    device = model.device
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    positions = torch.arange(len(prompt_ids), dtype=torch.int32, device=device).unsqueeze(0)
    model.model.encoder(input_ids=input_ids, past_key_values=cache, position_ids=positions, use_cache=True)
    return cache


def accept(entropy: torch.Tensor, free: torch.Tensor, bound: float) -> torch.Tensor:
    """The entropy-bound rule: accept the k lowest-entropy free cells with
    sum(entropy) - max(entropy) <= bound (arXiv 2505.24857), per row."""
    entropy = entropy.masked_fill(~free, float("inf"))
    ordered, order = torch.sort(entropy, dim=-1)
    chosen = (torch.cumsum(ordered, dim=-1) - ordered <= bound) & torch.isfinite(ordered)
    return torch.zeros_like(chosen).scatter(-1, order, chosen)


class Canvas:
    """One request's denoising state: its rows, prompt cache, random generator and history.

    `step(logits)` applies one denoising step given the model's logits for this canvas, so
    the same state advances alone (`denoise`) or as part of a batched forward pass
    (dglsp.model.batch) with the same draws: its generator is its own.
    """

    def __init__(
        self,
        model,
        cache: DynamicCache,
        prompt_length: int,
        settings: DenoiseSettings,
        layout: Layout | None = None,
        end_ids: frozenset[int] = frozenset(),
    ) -> None:
        layout = layout or Layout.free(settings.canvas_length)
        device = model.device
        self.settings, self.layout, self.prompt_length = settings, layout, prompt_length
        self.vocab_size = model.config.text_config.vocab_size
        self.rows, self.width = len(layout.middle_lengths), settings.canvas_length
        self._generator = torch.Generator(device=device).manual_seed(settings.seed)

        self.free = torch.zeros(self.rows, self.width, dtype=torch.bool, device=device)
        self._seed = torch.zeros(self.rows, self.width, dtype=torch.long, device=device)
        for row, (length, pinned) in enumerate(zip(layout.middle_lengths, layout.pinned, strict=True)):
            self.free[row, :length] = True
            self._seed[row, length : length + len(pinned)] = torch.tensor(pinned, dtype=torch.long)
        self.cache = _repeat_rows(cache, self.rows) if self.rows > 1 else cache
        positions = torch.arange(prompt_length, prompt_length + self.width, dtype=torch.int32, device=device)
        self.positions = positions.unsqueeze(0).expand(self.rows, -1)

        self._temperature = LinearTemperatureScheduleLogitsProcessor(
            settings.t_min, settings.t_max, settings.max_steps
        )
        self._embed_dtype = model.model.decoder.embed_tokens.weight.dtype
        self._end = torch.tensor(sorted(end_ids), dtype=torch.long, device=device)
        self.tokens = torch.where(self.free, self._noise(), self._seed)
        self.self_conditioning: torch.Tensor | None = None
        self._history: list[torch.Tensor] = []
        # Steps count down (N..1) as in the library: the temperature falls with the remaining steps.
        self.remaining = settings.max_steps

    def _noise(self) -> torch.Tensor:
        return torch.randint(
            0, self.vocab_size, (self.rows, self.width), device=self.free.device, generator=self._generator
        )

    def forward(self, model) -> torch.Tensor:
        """This canvas alone through the model: its logits, (rows, width, vocab)."""
        return model(
            decoder_input_ids=self.tokens,
            self_conditioning_logits=self.self_conditioning,
            past_key_values=self.cache,
            decoder_position_ids=self.positions,
        ).logits

    def step(self, logits: torch.Tensor) -> StepResult:
        """Sample, accept and re-noise from this step's logits; say whether the loop is done."""
        return self.result(read_host([self.advance(logits)])[0])

    def advance(self, logits: torch.Tensor) -> torch.Tensor:
        """The step on the device, without reading anything back: returns what the host needs
        (`result` reads it), so several canvases' steps cost one copy (`read_host`)."""
        settings, free, seed = self.settings, self.free, self._seed
        logits = self._temperature(None, logits, cur_step=self.remaining)
        sampled, argmax, entropy = sample(logits, self._generator)
        argmax = torch.where(free, argmax, seed)
        accepted = accept(entropy, free, settings.entropy_bound)
        canvas = torch.where(accepted, sampled, self.tokens)
        canvas = torch.where(free & ~accepted, self._noise(), canvas)  # re-noise what was not accepted
        self.tokens = torch.where(free, canvas, seed)
        self.self_conditioning = logits.to(self._embed_dtype)

        threshold = settings.stability_threshold
        self._history = [*self._history[-threshold:], argmax] if threshold else []
        settled = _settled(argmax, entropy, accepted, free, self._history, settings, self._end)
        best = _best_row(entropy, free, argmax, self._end)
        # [every row settled, best row, the best row's cells]: one small tensor, one copy.
        return torch.cat(
            [settled.all().view(1).long(), best.view(1), argmax.index_select(0, best.view(1))[0]]
        )

    def result(self, summary: list[int]) -> StepResult:
        """The StepResult of the step `advance` just took, from its summary read on the host."""
        settled, best, cells = summary[0], summary[1], summary[2:]
        remaining = self.remaining
        self.remaining -= 1
        step = self.settings.max_steps - remaining + 1
        return StepResult(
            step, cells[: self.layout.middle_lengths[best]], best, bool(settled) or remaining == 1
        )


def sample(logits: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(sampled token, argmax, entropy) per cell of (rows, width, vocab) logits.

    At full size the vocabulary is 262,144 cells wide, so every pass over the logits is real
    memory traffic. Passes: softmax, the multinomial draw, argmax, log-softmax and one fused
    dot product for the entropy, -sum(p * log p); `Categorical(logits).entropy()` made five
    more (normalise, softmax, clamp, multiply, sum) and as many temporaries. The draw keeps
    softmax's probabilities, not exp(log-softmax): those differ in the last bit, which could
    change a seed's text; the entropy from log-softmax is the same up to float rounding.
    """
    rows, width, vocab = logits.shape
    probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
    sampled = torch.multinomial(probs.view(-1, vocab), 1, generator=generator).view(rows, width)
    entropy = -torch.linalg.vecdot(probs, torch.log_softmax(logits, dim=-1, dtype=torch.float32))
    return sampled, logits.argmax(dim=-1), entropy


def read_host(summaries: Sequence[torch.Tensor]) -> list[list[int]]:
    """Every canvas's step summary on the host in one device-to-host copy: the only point
    where a denoising pass waits for the device. On CUDA the copy goes straight into pinned
    memory (no staging through a pageable buffer), then the host waits once on the stream."""
    if not summaries:
        return []
    packed = torch.cat(list(summaries))
    if packed.device.type == "cuda":
        host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
        host.copy_(packed, non_blocking=True)
        torch.cuda.current_stream(packed.device).synchronize()
        packed = host
    values = packed.tolist()
    out, start = [], 0
    for summary in summaries:
        out.append(values[start : start + summary.numel()])
        start += summary.numel()
    return out


@torch.no_grad()
def denoise(
    model,
    cache: DynamicCache,
    prompt_length: int,
    settings: DenoiseSettings,
    layout: Layout | None = None,
    end_ids: frozenset[int] = frozenset(),
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[StepResult]:
    """Denoise one canvas over an encoded prompt, yielding after every step.

    Raises `Cancelled` when `should_stop()` is true before a step.
    """
    canvas = Canvas(model, cache, prompt_length, settings, layout, end_ids)
    while True:
        if should_stop():
            raise Cancelled()
        result = canvas.step(canvas.forward(model))
        yield result
        if result.finished:
            return


def _repeat_rows(cache: DynamicCache, rows: int) -> DynamicCache:
    from dglsp.model.prompt_cache import snapshot

    copy = snapshot(cache)
    copy.batch_repeat_interleave(rows)
    return copy


def _first_end(argmax: torch.Tensor, free: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the first end-of-middle token among the free cells (or the
    number of free cells when there is none)."""
    is_end = torch.isin(argmax, end) & free if end.numel() else torch.zeros_like(free)
    lengths = free.sum(dim=-1)
    positions = torch.arange(argmax.shape[1], device=argmax.device).expand_as(argmax)
    return torch.where(is_end, positions, lengths[:, None]).min(dim=-1).values


def _settled(argmax, entropy, accepted, free, history, settings: DenoiseSettings, end) -> torch.Tensor:
    """Per row: the library's rule (stable and confident over all free cells), or with
    infill_stop, every cell up to the end of the middle accepted and stable."""
    if settings.stability_threshold and len(history) <= settings.stability_threshold:
        stable_cells = torch.zeros_like(free)  # not enough steps seen yet
    elif settings.stability_threshold:
        stable_cells = torch.stack([h == argmax for h in history[:-1]]).all(dim=0)
    else:
        stable_cells = torch.ones_like(free)
    free_count = free.sum(dim=-1).clamp(min=1)
    mean_entropy = (entropy * free).sum(dim=-1) / free_count
    library_rule = (stable_cells | ~free).all(dim=-1) & (mean_entropy < settings.confidence_threshold)
    if not settings.infill_stop:
        return library_rule
    end_at = _first_end(argmax, free, end)
    positions = torch.arange(free.shape[1], device=free.device).expand_as(free)
    up_to_end = (positions <= end_at[:, None]) & free
    infill_rule = ((accepted & stable_cells) | ~up_to_end).all(dim=-1)
    return library_rule | infill_rule


def _best_row(entropy, free, argmax, end) -> torch.Tensor:
    """The row whose middle the model is surest of: lowest mean entropy up to its end (a
    0-d tensor on the device: reading it is left to the step's one copy)."""
    if free.shape[0] == 1:
        return torch.zeros((), dtype=torch.long, device=free.device)
    end_at = _first_end(argmax, free, end)
    positions = torch.arange(free.shape[1], device=free.device).expand_as(free)
    cells = (positions <= end_at[:, None]) & free
    mean = (entropy * cells).sum(dim=-1) / cells.sum(dim=-1).clamp(min=1)
    return mean.argmin()
