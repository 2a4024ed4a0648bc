"""Concurrent requests share one forward pass: the packed batch (dglsp.model.batch), the
engine's lane (dglsp.engine.batching) and the daemon running several jobs at once, all on a
real tiny DiffusionGemma. The contract everywhere: a request's text is the one it gets alone
with the same seed, whoever shares its passes."""

from __future__ import annotations

import asyncio

import pytest
import torch

from dglsp.engine import CancelToken, EngineState, InfillRequest
from dglsp.engine.base import Cancelled
from dglsp.engine.inprocess import InProcessEngine
from dglsp.model.batch import PackedBatch
from dglsp.model.denoise import Canvas, DenoiseSettings, Layout, denoise, encode_prompt
from dglsp.model.loading import load_model
from dglsp.model.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, torch.device("cpu"), torch.float32), load_tokenizer(tiny_model_dir)


def _cases(tokenizer):
    """Different prompt lengths (one past the sliding window of 128), widths, step counts,
    seeds, and a pinned layout of three rows."""
    return [
        (
            tokenizer.encode("def mean(values):\n    total = 0\n" * 3),
            DenoiseSettings(12, max_steps=6, seed=1),
            None,
        ),
        (tokenizer.encode("x = 1\n"), DenoiseSettings(7, max_steps=4, seed=2), None),
        (
            tokenizer.encode("import os\n" * 60),
            DenoiseSettings(16, max_steps=8, seed=3),
            Layout.pinned_suffix((2, 5, 8), [40, 41, 42], width=16, pad_id=0),
        ),
    ]


def _alone(model, tokenizer, case):
    ids, settings, layout = case
    cache = encode_prompt(model, ids)
    return [
        step.middle_ids
        for step in denoise(model, cache, len(ids), settings, layout, tokenizer.end_of_middle_ids)
    ]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_packed_pass_gives_each_canvas_its_own_text(tiny, attention):
    model, tokenizer = tiny
    model.set_attn_implementation(attention)
    try:
        cases = _cases(tokenizer)
        alone = [_alone(model, tokenizer, case) for case in cases]
        assert max(len(case[0]) for case in cases) > model.config.text_config.sliding_window
        canvases = [
            Canvas(model, encode_prompt(model, ids), len(ids), settings, layout, tokenizer.end_of_middle_ids)
            for ids, settings, layout in cases
        ]
        together: list[list[list[int]]] = [[] for _ in canvases]
        active = list(range(len(canvases)))
        # The third canvas joins after two steps: a request arriving mid-way.
        joined_late = active.pop()
        passes = 0
        with torch.no_grad():
            while active:
                logits = PackedBatch(model, [canvases[i] for i in active]).forward(model)
                for i, own in zip(list(active), logits, strict=True):
                    result = canvases[i].step(own)
                    together[i].append(result.middle_ids)
                    if result.finished:
                        active.remove(i)
                passes += 1
                if passes == 2:
                    active.append(joined_late)
        assert together == alone
    finally:
        model.set_attn_implementation("sdpa")


def test_padding_is_masked_out_of_attention(tiny):
    """A short canvas packed with a long one gets the logits it gets alone (to float
    precision): padded prompt slots and canvas cells take no part."""
    model, tokenizer = tiny
    short, long = _cases(tokenizer)[1], _cases(tokenizer)[2]
    canvases = [
        Canvas(model, encode_prompt(model, ids), len(ids), settings, layout, tokenizer.end_of_middle_ids)
        for ids, settings, layout in (short, long)
    ]
    with torch.no_grad():
        packed = PackedBatch(model, canvases).forward(model)
        for canvas, logits in zip(canvases, packed, strict=True):
            torch.testing.assert_close(logits, canvas.forward(model), rtol=1e-4, atol=1e-4)


PROMPT = "<bos><|fim_suffix|>\n<|fim_prefix|>def add(a, b):\n    return<|fim_middle|>"
PROMPTS = [PROMPT, PROMPT.replace("add", "mul"), PROMPT.replace("a, b", "left, right, *rest")]


async def _engine(tiny_model_dir, max_batch: int) -> InProcessEngine:
    engine = InProcessEngine(str(tiny_model_dir), "cpu", max_batch=max_batch)
    await engine.start()
    assert engine.state is EngineState.READY, engine.error
    return engine


async def _texts(engine, request, cancel=None) -> list[str]:
    return [draft.text async for draft in engine.infill(request, cancel)]


async def test_concurrent_requests_share_passes_and_keep_their_text(tiny_model_dir):
    requests = [InfillRequest(p, steps=6, seed=i, canvas_length=8 + 4 * i) for i, p in enumerate(PROMPTS)]
    one_at_a_time = await _engine(tiny_model_dir, max_batch=1)
    try:
        alone = [await _texts(one_at_a_time, request) for request in requests]
        assert one_at_a_time.largest_batch == 1
    finally:
        await one_at_a_time.close()
    batched = await _engine(tiny_model_dir, max_batch=3)
    try:
        together = await asyncio.gather(*(_texts(batched, request) for request in requests))
        assert batched.largest_batch == 3  # all three were in one pass
        assert list(together) == alone
    finally:
        await batched.close()


async def test_one_cancelled_request_leaves_the_batch_the_others_finish(tiny_model_dir):
    engine = await _engine(tiny_model_dir, max_batch=2)
    try:
        cancel = CancelToken()
        seen: list[str] = []

        async def cancelled_after_two() -> None:
            async for draft in engine.infill(InfillRequest(PROMPTS[0], steps=200), cancel):
                seen.append(draft.text)
                if len(seen) == 2:
                    cancel.cancel()

        other = asyncio.ensure_future(_texts(engine, InfillRequest(PROMPTS[1], steps=6, seed=5)))
        with pytest.raises(Cancelled):
            await cancelled_after_two()
        assert len(seen) <= 3  # left within one step
        texts = await other
        assert len(texts) <= 6 and texts  # the other one ran to its own end
        assert engine.largest_batch == 2
    finally:
        await engine.close()


async def test_requests_beyond_the_batch_wait_for_a_free_place(tiny_model_dir):
    """With room for two, a third request still completes: it is admitted when one leaves."""
    engine = await _engine(tiny_model_dir, max_batch=2)
    try:
        requests = [InfillRequest(p, steps=4, seed=1) for p in PROMPTS]
        results = await asyncio.wait_for(asyncio.gather(*(_texts(engine, r) for r in requests)), 60)
        assert all(results) and engine.largest_batch == 2
    finally:
        await engine.close()


async def test_a_failed_pass_fails_its_requests_and_the_engine_keeps_serving(tiny_model_dir, monkeypatch):
    from dglsp.engine.base import EngineError

    engine = await _engine(tiny_model_dir, max_batch=2)
    try:
        failing = {"left": 1}
        real_forward = PackedBatch.forward

        def forward_failing_once(self, model):
            if failing["left"]:
                failing["left"] -= 1
                raise RuntimeError("simulated kernel failure")
            return real_forward(self, model)

        monkeypatch.setattr(PackedBatch, "forward", forward_failing_once)
        requests = [InfillRequest(p, steps=4, seed=1) for p in PROMPTS[:2]]
        results = await asyncio.gather(*(_texts(engine, r) for r in requests), return_exceptions=True)
        assert all(isinstance(r, EngineError) and "simulated kernel failure" in str(r) for r in results)
        again = await asyncio.wait_for(_texts(engine, InfillRequest(PROMPT, steps=2)), 30)
        assert again  # the lane is still alive
    finally:
        await engine.close()
