"""The ScriptedEngine keeps the Engine contract the server relies on."""

from __future__ import annotations

import asyncio
import json

import pytest

from dglsp.engine.base import (
    Cancelled,
    CancelToken,
    Engine,
    EngineError,
    EngineState,
    InfillRequest,
    Progress,
)
from dglsp.testing.scripted_engine import Script, ScriptedEngine


async def drain(engine: ScriptedEngine, prompt: str, cancel: CancelToken | None = None, steps: int = 48):
    return [draft async for draft in engine.infill(InfillRequest(prompt, steps=steps), cancel)]


async def test_script_from_a_json_file_drives_loading_and_drafts(tmp_path) -> None:
    path = tmp_path / "script.json"
    script = {
        "model_name": "scripted-x",
        "load_progress": ["one", "two"],
        "steps": 3,
        "rules": [{"when": "def add(", "middle": "return a + b"}],
        "default_middle": "pass",
    }
    path.write_text(json.dumps(script))
    engine = ScriptedEngine(Script.load(path))
    assert isinstance(engine, Engine)
    assert engine.tokenizer is None  # like a real engine, only once loaded

    seen: list[Progress] = []
    await engine.start(seen.append)
    assert engine.state is EngineState.READY and engine.model_name == "scripted-x"
    assert [p.message for p in seen] == ["one", "two"]
    assert engine.tokenizer.count("abcdefgh") == 2 and not engine.tokenizer.has_token("<|fim_middle|>")

    drafts = await drain(engine, "def add(a, b):\n    ")
    assert [(d.step, d.text, d.final) for d in drafts] == [
        (1, "retu", False),
        (2, "return a", False),
        (3, "return a + b", True),
    ]
    assert [d.text for d in await drain(engine, "x = ", steps=1)] == ["pass"]  # capped by the request
    assert [(r.prompt[:4], r.outcome, r.steps_run) for r in engine.requests] == [
        ("def ", "done", 3),
        ("x = ", "done", 1),
    ]


async def test_cancellation_is_seen_between_steps() -> None:
    engine = ScriptedEngine(Script(steps=100, step_delay_ms=5, default_middle="x" * 100))
    await engine.start()
    token = CancelToken()
    asyncio.get_running_loop().call_later(0.03, token.cancel, "superseded")
    with pytest.raises(Cancelled, match="superseded"):
        await drain(engine, "p", token)
    [record] = engine.requests
    assert record.outcome == "cancelled" and record.cancel_reason == "superseded"
    assert 1 <= record.steps_run < 100


async def test_errors_load_failure_and_concurrent_starts() -> None:
    engine = ScriptedEngine(Script.from_dict({"rules": [{"when": "BAD", "error": "boom"}]}))
    await asyncio.gather(engine.start(), engine.start())  # the pipeline may start() while loading
    with pytest.raises(EngineError, match="boom"):
        await drain(engine, "BAD")
    assert engine.requests[0].outcome == "error"

    failed = ScriptedEngine(Script(load_error="Model not found: run dglsp doctor"))
    await failed.start()
    assert failed.state is EngineState.ERROR and failed.error == "Model not found: run dglsp doctor"
    with pytest.raises(EngineError, match="Model not found"):
        await drain(failed, "x")

    with pytest.raises(ValueError, match="unknown script keys: stepz"):
        Script.from_dict({"stepz": 3})
