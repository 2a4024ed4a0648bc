"""The in-process engine against a real tiny DiffusionGemma loaded from save_pretrained files."""

from __future__ import annotations

import asyncio
import time

import pytest

from dglsp.config import Settings
from dglsp.engine import Cancelled, CancelToken, EngineError, EngineState, InfillRequest, create_engine

PROMPT = "<bos><|fim_suffix|>\n<|fim_prefix|>def add(a, b):\n    return<|fim_middle|>"


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    engine = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir), device="cpu"))
    asyncio.run(engine.start())
    assert engine.state is EngineState.READY, engine.error
    return engine


async def _drafts(engine, request, cancel=None):
    return [draft async for draft in engine.infill(request, cancel)]


def test_loads_through_save_pretrained_files(engine, tiny_model_dir):
    assert engine.model_name == tiny_model_dir.name
    assert engine.canvas_length == 32
    assert engine.tokenizer.has_token("<|fim_middle|>")


def test_progress_is_reported_while_loading(tiny_model_dir):
    seen = []
    engine = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir)))
    asyncio.run(engine.start(seen.append))
    assert engine.state is EngineState.READY
    assert seen[0].percentage == 0 and seen[-1].percentage == 100
    assert [p.percentage for p in seen] == sorted(p.percentage for p in seen)


async def test_draft_per_step_and_final_is_last(engine):
    drafts = await _drafts(engine, InfillRequest(PROMPT, steps=6, canvas_length=16))
    # A random model never settles early, so every step yields one draft.
    assert 1 <= len(drafts) <= 6
    assert [d.step for d in drafts] == list(range(1, len(drafts) + 1))
    assert drafts[-1].final and not any(d.final for d in drafts[:-1])
    assert all(d.total_steps == 6 for d in drafts)
    # Drafts change as the canvas sharpens.
    assert len({d.text for d in drafts}) > 1


async def test_same_seed_same_text_other_seed_other_text(engine):
    first = await _drafts(engine, InfillRequest(PROMPT, steps=4, seed=7))
    again = await _drafts(engine, InfillRequest(PROMPT, steps=4, seed=7))
    other = await _drafts(engine, InfillRequest(PROMPT, steps=4, seed=8))
    assert [d.text for d in first] == [d.text for d in again]
    assert first[-1].text != other[-1].text


async def test_canvas_length_is_per_request_and_capped(engine):
    short = await _drafts(engine, InfillRequest(PROMPT, steps=1, canvas_length=4))
    assert len(short[-1].token_ids) <= 4
    capped = await _drafts(engine, InfillRequest(PROMPT, steps=1, canvas_length=10_000))
    assert len(capped[-1].token_ids) <= engine.canvas_length


async def test_cancel_stops_within_one_step(engine):
    cancel = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        async for draft in engine.infill(InfillRequest(PROMPT, steps=200), cancel):
            seen.append(draft)
            if len(seen) == 2:
                cancel.cancel()
    # The flag is checked before every step: at most the step already running finishes.
    assert len(seen) <= 3


async def test_consumer_leaving_early_frees_the_engine(engine):
    stream = engine.infill(InfillRequest(PROMPT, steps=500))
    await anext(stream)
    started = time.perf_counter()
    await stream.aclose()
    # The worker stopped at the next step, so a new request runs right away.
    drafts = await asyncio.wait_for(_drafts(engine, InfillRequest(PROMPT, steps=2)), timeout=10)
    assert drafts[-1].final
    assert time.perf_counter() - started < 10


async def test_missing_model_is_a_clear_error_not_an_exception(tmp_path):
    engine = create_engine(Settings(engine="inprocess", model=str(tmp_path / "missing")))
    await engine.start()
    assert engine.state is EngineState.ERROR
    assert "does not exist" in engine.error and "--model" in engine.error
    with pytest.raises(EngineError, match="does not exist"):
        await _drafts(engine, InfillRequest(PROMPT))


async def test_a_normal_finish_leaves_the_callers_token_alone(engine):
    # The scheduler reads the token to tell "finished" from "cancelled": the engine must not
    # set it when the stream simply ran to its end.
    for _ in range(5):
        cancel = CancelToken()
        drafts = await _drafts(engine, InfillRequest(PROMPT, steps=2), cancel)
        assert drafts[-1].final
        assert not cancel.cancelled


async def test_close_lets_go_of_the_model_and_its_prompt_cache(tiny_model_dir):
    engine = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir)))
    await engine.start()
    await _drafts(engine, InfillRequest(PROMPT, steps=1))
    await engine.close()
    assert engine.state is EngineState.STOPPED
    # Nothing left that holds the weights or KV checkpoints in memory.
    assert engine._model is None and engine._prompt_cache is None


def test_pinned_rows_always_leave_room_for_the_suffix(engine):
    """A middle as long as the canvas (end of line, empty line) is shortened so that every
    row of the pinned layout still has suffix cells after it."""
    suffix = "\n    return total\n"
    request = InfillRequest(
        PROMPT, steps=1, canvas_length=engine.canvas_length, strategy="pinned", pinned_suffix=suffix
    )
    running = engine._prepare(request)
    suffix_ids = engine.tokenizer.encode(suffix)
    layout = running.canvas.layout
    assert running.canvas.width <= engine.canvas_length
    for length, pinned in zip(layout.middle_lengths, layout.pinned, strict=True):
        assert length < running.canvas.width
        assert list(pinned[: len(suffix_ids)]) == suffix_ids[: len(pinned)] and pinned
