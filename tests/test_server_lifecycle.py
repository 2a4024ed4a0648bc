"""The language server over real stdio with a ScriptedEngine: engine loading, failures, settings."""

from __future__ import annotations

import asyncio
import json
import time

from lsprotocol import types

FAST = {"rules": [{"when": "total = ad", "middle": "d(1, 2)"}]}
MISSING = (
    "Model not found: /nowhere/model has no config.json. Set dglsp.model to a Hugging Face id or a "
    "directory in save_pretrained layout."
)


async def until(session, predicate, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = await session.state()
        if predicate(state):
            return state
        assert time.monotonic() < deadline, f"timed out; state: {json.dumps(state)[:2000]}"
        await asyncio.sleep(0.02)


def texts(result) -> list[str]:
    return [item.insert_text for item in result.items]


async def test_slow_load_reports_progress_and_requests_wait_for_it(scripted_lsp):
    script = dict(FAST, load_delay_ms=600, load_progress=["Reading weights", "Warming up"])
    session = await scripted_lsp(script, progress=True)
    session.open("file:///w/a.py", "total = ad\n")
    started = time.monotonic()
    result = await session.inline("file:///w/a.py", 0, 10)  # sent while the model loads

    assert texts(result) == ["add(1, 2)"]  # it waited for the load instead of failing
    assert time.monotonic() - started >= 0.5
    [reports] = session.client.progress_reports.values()
    assert [type(r).__name__ for r in reports] == [
        "WorkDoneProgressBegin",
        "WorkDoneProgressReport",
        "WorkDoneProgressReport",
        "WorkDoneProgressEnd",
    ]
    assert "loading" in reports[0].title
    assert [r.message for r in reports[1:3]] == ["Reading weights", "Warming up"]
    assert reports[-1].message == "Ready"


async def test_a_failed_load_shows_one_error_and_completions_answer_empty(scripted_lsp):
    script = dict(FAST, load_error=MISSING)
    session = await scripted_lsp(script, progress=True, inline=False)
    session.open("file:///w/a.py", "total = ad\n")
    for _ in range(2):
        assert texts(await session.inline("file:///w/a.py", 0, 10)) == []
        listed = await session.client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri="file:///w/a.py"),
                position=types.Position(line=0, character=10),
            )
        )
        assert list(listed.items) == []

    [message] = session.client.messages
    assert message.type == types.MessageType.Error
    assert MISSING in message.message  # the engine's own words: they say what to do
    [reports] = session.client.progress_reports.values()
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)  # the progress bar went away
    state = await session.state()
    assert state["engines"][0]["state"] == "error" and state["engines"][0]["requests"] == []


async def test_settings_from_initialization_options_and_did_change_configuration(scripted_lsp):
    session = await scripted_lsp(
        FAST,
        init_options={"steps": 3, "debounceMs": "soon", "bogusKey": 1},
        config_pull=True,
    )
    client = session.client

    # A bad value and an unknown key: one warning naming both, the default kept.
    await until(session, lambda s: client.messages)
    [warning] = client.messages
    assert warning.type == types.MessageType.Warning
    assert "debounceMs" in warning.message and "bogusKey" in warning.message
    state = await session.state()
    assert state["settings"]["steps"] == 3
    assert state["settings"]["debounce_ms"] == 150

    session.open("file:///w/a.py", "total = ad\n")
    assert texts(await session.inline("file:///w/a.py", 0, 10)) == ["add(1, 2)"]
    state = await session.state()
    assert state["engines"][0]["requests"][0]["steps"] == 3  # the setting reached the engine

    # didChangeConfiguration, wrapped in a "dglsp" section as editors send it.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dglsp": {"steps": 2}})
    )
    await until(session, lambda s: s["settings"]["steps"] == 2)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dglsp": {"entropyBound": -1}})
    )
    await until(session, lambda s: len(client.messages) == 2)
    assert "entropyBound" in client.messages[1].message
    state = await session.state()
    assert state["settings"]["entropy_bound"] == 0.1
    assert state["settings"]["steps"] == 3  # back to the startup value: the key was removed

    # No settings in the notification: the server asks for section "dglsp" (pull model).
    client.set_configuration({"steps": 5}, section="dglsp")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await until(session, lambda s: s["settings"]["steps"] == 5)
    assert len((await session.state())["engines"]) == 1  # none of these needed a new engine

    # A new model restarts the engine; completions go to the new one.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dglsp": {"model": "/models/other"}})
    )
    state = await until(session, lambda s: len(s["engines"]) == 2 and s["engines"][1]["state"] == "ready")
    old, new = state["engines"]
    assert old["closed"] and new["model_name"] == "/models/other"
    assert texts(await session.inline("file:///w/a.py", 0, 10)) == ["add(1, 2)"]
    state = await session.state()
    assert len(state["engines"][0]["requests"]) == 1 and len(state["engines"][1]["requests"]) == 1
