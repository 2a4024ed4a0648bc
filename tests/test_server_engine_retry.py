"""A failed engine is tried again when the user changes a dglsp setting (ScriptedEngine, real stdio).

The user may have fixed what made the load fail (copied the model in, freed GPU memory)
without changing the model setting; touching any dglsp setting retries, and a second failure
is shown again rather than swallowed as a message already seen.
"""

from __future__ import annotations

import asyncio
import time

from lsprotocol import types

FAILING = {"load_error": "Model not found: /nowhere/model has no config.json."}


async def _until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_changed_setting_retries_a_failed_engine_and_shows_a_new_failure(scripted_lsp) -> None:
    session = await scripted_lsp(FAILING)
    client = session.client
    await _until(lambda: client.messages, "the load error")
    assert len((await session.state())["engines"]) == 1

    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dglsp": {"steps": 8}})
    )
    await _until(lambda: len(client.messages) == 2, "the retry's error")
    engines = (await session.state())["engines"]
    assert len(engines) == 2 and engines[0]["closed"] and engines[1]["state"] == "error"
    assert [m.type for m in client.messages] == [types.MessageType.Error] * 2
    assert client.messages[0].message == client.messages[1].message

    # The same settings again are no change: no retry, no message.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dglsp": {"steps": 8}})
    )
    await asyncio.sleep(0.5)
    assert len((await session.state())["engines"]) == 2 and len(client.messages) == 2
