"""The denoising loop's own features: library-equal acceptance, infill-aware stopping,
pinned cells, several middle lengths in one pass, and prompt KV reuse."""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace

import pytest
import torch
from transformers import DynamicCache
from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
    EntropyBoundSampler,
    EntropyBoundSamplerConfig,
)

from dglsp.config import Settings
from dglsp.engine import InfillRequest, create_engine
from dglsp.model.denoise import DenoiseSettings, Layout, accept, denoise, encode_prompt
from dglsp.model.loading import load_model
from dglsp.model.prompt_cache import PromptCache
from dglsp.model.tokenizer import load_tokenizer

VOCAB = 32
EOS = 1


class ScriptedLogits:
    """A stand-in for the model: logits from a function of the canvas; records every canvas."""

    def __init__(self, logits_for) -> None:
        self.logits_for = logits_for
        self.device = torch.device("cpu")
        self.config = SimpleNamespace(text_config=SimpleNamespace(vocab_size=VOCAB))
        self.model = SimpleNamespace(
            decoder=SimpleNamespace(embed_tokens=SimpleNamespace(weight=torch.zeros(1)))
        )
        self.canvases: list[torch.Tensor] = []

    def __call__(self, decoder_input_ids, **_):
        self.canvases.append(decoder_input_ids.clone())
        return SimpleNamespace(logits=self.logits_for(decoder_input_ids))


def confident(rows: int, width: int, targets: dict[int, int]) -> torch.Tensor:
    """Near-zero entropy at the target cells, uniform (maximal entropy) elsewhere."""
    logits = torch.zeros(rows, width, VOCAB)
    for cell, token in targets.items():
        logits[:, cell, :] = -20.0
        logits[:, cell, token] = 20.0
    return logits


def test_acceptance_is_the_library_rule():
    torch.manual_seed(0)
    logits = torch.randn(3, 40, VOCAB) * 4
    sampler = EntropyBoundSampler(EntropyBoundSamplerConfig(entropy_bound=0.5), 40, VOCAB, 8)
    canvas = torch.zeros(3, 40, dtype=torch.long)
    sampler.accept_canvas(canvas, canvas, logits, 1)
    entropy = torch.distributions.Categorical(logits=logits).entropy()
    ours = accept(entropy, torch.ones(3, 40, dtype=torch.bool), 0.5)
    assert torch.equal(ours, sampler.accepted_token_mask)


def test_pinned_cells_are_never_accepted_even_when_confident():
    entropy = torch.tensor([[0.0, 0.0, 0.05, 0.0]])
    free = torch.tensor([[True, True, True, False]])
    assert accept(entropy, free, 0.1).tolist() == [[True, True, True, False]]


def test_infill_aware_stopping_ends_when_the_middle_is_settled():
    # Cells 0..2 are a sure middle, cell 3 a sure end; the rest stay noise forever.
    model = ScriptedLogits(lambda canvas: confident(1, canvas.shape[1], {0: 5, 1: 6, 2: 7, 3: EOS}))
    settings = DenoiseSettings(canvas_length=16, max_steps=20, seed=0)
    steps = list(denoise(model, DynamicCache(), 4, settings, end_ids=frozenset({EOS})))
    assert len(steps) == 2  # accepted at step 1, stable at step 2
    assert steps[-1].finished and steps[-1].middle_ids[:4] == [5, 6, 7, EOS]
    # Without it, the library's rule waits for the wasted cells and never stops early.
    library_only = DenoiseSettings(canvas_length=16, max_steps=20, seed=0, infill_stop=False)
    assert len(list(denoise(model, DynamicCache(), 4, library_only, end_ids=frozenset({EOS})))) == 20


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, torch.device("cpu"), torch.float32), load_tokenizer(tiny_model_dir)


class Recording:
    """The real model, recording the canvas it is given at every step."""

    def __init__(self, model) -> None:
        self.inner, self.device, self.config, self.model = model, model.device, model.config, model.model
        self.canvases: list[torch.Tensor] = []

    def __call__(self, decoder_input_ids, **kwargs):
        self.canvases.append(decoder_input_ids.clone())
        return self.inner(decoder_input_ids=decoder_input_ids, **kwargs)


def test_pinned_suffix_cells_keep_their_tokens_every_step(tiny):
    model, _ = tiny
    recording = Recording(model)
    suffix = [40, 41, 42, 43]
    layout = Layout.pinned_suffix((3, 6), suffix, width=10, pad_id=0)
    cache = encode_prompt(model, [2, 50, 60, 70])
    steps = list(denoise(recording, cache, 4, DenoiseSettings(canvas_length=10, max_steps=5), layout))
    assert len(recording.canvases) == len(steps) == 5
    for canvas in recording.canvases:
        assert canvas[0, 3:].tolist() == [*suffix, 0, 0, 0]  # row 0: 3 middle cells, suffix, padding
        assert canvas[1, 6:].tolist() == suffix  # row 1: 6 middle cells, suffix
    # Free cells do change: they are being denoised.
    assert any(not torch.equal(a[:, :3], b[:, :3]) for a, b in itertools.pairwise(recording.canvases))
    for result in steps:
        assert len(result.middle_ids) == layout.middle_lengths[result.row]


def test_the_most_confident_middle_length_wins():
    # Row 1 (length 4) is sure of every middle cell; row 0 (length 2) is noise.
    def logits_for(canvas):
        logits = confident(2, canvas.shape[1], {0: 5, 1: 6, 2: 7, 3: 8})
        logits[0, :2, :] = 0.0
        return logits

    layout = Layout.pinned_suffix((2, 4), [9, 9], width=6, pad_id=0)
    steps = list(
        denoise(ScriptedLogits(logits_for), DynamicCache(), 3, DenoiseSettings(6, max_steps=3), layout)
    )
    assert steps[-1].row == 1 and steps[-1].middle_ids == [5, 6, 7, 8]


def test_prompt_cache_reuses_the_shared_start(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("def mean(values):\n    total = 0\n" * 6)
    cache = PromptCache(model, holdback=8)
    assert cache.encode(ids).reused_tokens == 0
    typed = ids[:-3] + tokenizer.encode("x + 1")
    warm = cache.encode(typed)
    assert warm.reused_tokens == len(ids) - 8
    cold = encode_prompt(model, typed)
    for cold_layer, warm_layer in zip(cold.layers, warm.cache.layers, strict=True):
        torch.testing.assert_close(cold_layer.keys, warm_layer.keys, atol=1e-5, rtol=1e-4)
    # Another prompt shares nothing: no reuse.
    assert cache.encode(tokenizer.encode("fn main() {}")).reused_tokens == 0


async def _texts(engine, request):
    return [draft.text async for draft in engine.infill(request)]


@pytest.mark.parametrize("strategy", ["prompt", "pinned"])
def test_kv_reuse_gives_the_cold_run_text(tiny_model_dir, strategy):
    base = "<bos><|fim_suffix|>\nprint(total)\n<|fim_prefix|>" + "def add(a, b):\n    return a + b\n" * 8
    first = InfillRequest(
        base + "x = add(1, 2<|fim_middle|>", steps=6, seed=3, strategy=strategy, pinned_suffix=")\nprint(x)"
    )
    second = InfillRequest(
        base + "x = add(1, 3<|fim_middle|>", steps=6, seed=3, strategy=strategy, pinned_suffix=")\nprint(x)"
    )

    async def run():
        warm = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir)))
        cold = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir)))
        await warm.start()
        await cold.start()
        await _texts(warm, first)
        warm_texts = await _texts(warm, second)
        assert warm.last_stats["reused_tokens"] > 0
        cold_texts = await _texts(cold, second)
        assert cold.last_stats["reused_tokens"] == 0
        return warm_texts, cold_texts

    warm_texts, cold_texts = asyncio.run(run())
    assert warm_texts == cold_texts


def test_pinned_strategy_through_the_engine(tiny_model_dir):
    async def run():
        engine = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir)))
        await engine.start()
        request = InfillRequest(
            "<bos>def f(x):\n    return ",
            canvas_length=8,
            steps=3,
            strategy="pinned",
            pinned_suffix="\n\nprint(f(1))\n",
            middle_lengths=(2, 4, 8),
        )
        return [d async for d in engine.infill(request)]

    drafts = asyncio.run(run())
    assert drafts[-1].final and len(drafts[-1].token_ids) <= 8
