"""`dglsp/status` notifications and the `dglsp.status` / `dglsp.context` commands (docs/protocol.md).

The real server over stdio with a ScriptedEngine: loading, ready, generating, latency and
failure are scripted, so the states a status bar must go through are known exactly.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsp_client import plain
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from dglsp import protocol
from dglsp.server.status import short_model_name

SCRIPT = {
    "load_delay_ms": 300,
    "load_progress": ["Reading weights", "Warming up"],
    "steps": 3,
    "rules": [{"when": "def add(", "middle": "return a + b", "step_delay_ms": 20}],
}
ADD = "def add(a, b):\n    \n"


def _record_status(session) -> list[protocol.StatusParams]:
    seen: list[protocol.StatusParams] = []

    def on_status(params: Any) -> None:
        seen.append(protocol.StatusParams.from_json(plain(params)))

    session.client.feature(protocol.STATUS)(on_status)
    return seen


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def _execute(session, command: str, arguments: list | None = None) -> Any:
    params = types.ExecuteCommandParams(command=command, arguments=arguments)
    return plain(await session.client.workspace_execute_command_async(params))


def test_short_model_name() -> None:
    assert short_model_name("google/diffusiongemma-26B-A4B-it") == "diffusiongemma-26B-A4B-it"
    assert short_model_name("/home/me/models/dglsp-small/") == "dglsp-small"
    assert short_model_name("C:\\models\\tiny") == "tiny"


async def test_status_goes_loading_ready_generating_ready_with_latency(scripted_lsp) -> None:
    session = await scripted_lsp(SCRIPT, init_options={"status": True}, settings={"model": "/m/tiny-model"})
    seen = _record_status(session)
    await _wait_for(lambda: any(s.state == "ready" for s in seen))
    states = [s.state for s in seen]
    assert states[0] == "starting"
    assert "loading" in states and states.index("loading") < states.index("ready")
    loading = [s for s in seen if s.state == "loading"]
    assert [s.message for s in loading] == ["Reading weights", "Warming up"]
    assert all(s.model == "tiny-model" and s.model_path == "/m/tiny-model" for s in seen)
    assert seen[-1].last_latency_ms is None

    session.open("file:///add.py", ADD)
    result = await session.inline("file:///add.py", 1, 4)
    assert result.items[0].insert_text == "return a + b"
    await _wait_for(lambda: seen[-1].last_latency_ms is not None)
    after = [s.state for s in seen[states.index("ready") + 1 :]]
    assert after[0] == "generating" and after[-1] == "ready"
    assert seen[-1].last_latency_ms > 0

    # The command answers the same state as the last notification, whatever the option says.
    answer = protocol.StatusParams.from_json(await _execute(session, protocol.STATUS_COMMAND))
    assert answer == seen[-1]


async def test_no_status_notifications_without_the_option(scripted_lsp) -> None:
    session = await scripted_lsp(SCRIPT)
    seen = _record_status(session)
    await _wait_for(lambda: session is not None)
    session.open("file:///add.py", ADD)
    await session.inline("file:///add.py", 1, 4)
    answer = protocol.StatusParams.from_json(await _execute(session, protocol.STATUS_COMMAND))
    assert answer.state == "ready" and answer.last_latency_ms is not None
    assert seen == []


async def test_status_names_the_dtype_setting(scripted_lsp) -> None:
    session = await scripted_lsp(SCRIPT, settings={"dtype": "fp8"})
    answer = await _execute(session, protocol.STATUS_COMMAND)
    assert answer["dtype"] == "fp8" and protocol.StatusParams.from_json(answer).dtype == "fp8"


async def test_failed_load_is_an_error_status_with_the_message(scripted_lsp) -> None:
    script = {"load_error": "Model not found: /nowhere. Set `model` to a model directory."}
    session = await scripted_lsp(script, init_options={"status": True})
    seen = _record_status(session)
    await _wait_for(lambda: any(s.state == "error" for s in seen))
    assert "Model not found: /nowhere" in seen[-1].message


async def test_commands_are_advertised(scripted_lsp) -> None:
    session = await scripted_lsp(SCRIPT)
    provider = session.capabilities.execute_command_provider
    assert provider is not None
    assert set(provider.commands) >= {protocol.STATUS_COMMAND, protocol.CONTEXT_COMMAND}


async def test_context_command_renders_what_the_cli_renders(scripted_lsp) -> None:
    session = await scripted_lsp(SCRIPT)
    session.open("file:///add.py", ADD)
    argument = protocol.ContextArguments("file:///add.py", protocol.Position(1, 4)).to_json()
    answer = await _execute(session, protocol.CONTEXT_COMMAND, [argument])
    assert answer["context"]["language"] == "python"
    text = answer["text"]
    assert "language:  python" in text and "cursor:    2:5" in text
    assert "--- prompt" in text and "def add(a, b):" in text


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        [{"position": {"line": 0, "character": 0}}],
        [{"textDocument": {"uri": "file:///never-opened.py"}, "position": {"line": 0, "character": 0}}],
        [{"textDocument": {"uri": "file:///add.py"}, "position": {"line": 99, "character": 0}}],
    ],
)
async def test_context_command_rejects_bad_arguments(scripted_lsp, arguments) -> None:
    session = await scripted_lsp(SCRIPT)
    session.open("file:///add.py", ADD)
    with pytest.raises(JsonRpcInvalidParams):
        await _execute(session, protocol.CONTEXT_COMMAND, arguments)
    # ... and the server is still there.
    answer = await _execute(session, protocol.STATUS_COMMAND)
    assert answer["state"] in protocol.ENGINE_STATES
