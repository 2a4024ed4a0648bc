"""`dglsp --stdio` as editors start it, with the real in-process engine on the tiny model.

The scripted tests cover the server's logic; this one covers the wiring they replace: the
CLI's run_stdio, the default engine factory, progress reported from the engine's loading
thread, and a restart that closes a real engine and reports the new one's failure.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from dglsp import protocol

pytestmark = pytest.mark.slow


async def test_dglsp_stdio_loads_the_model_completes_and_reports_a_bad_model(tiny_model_dir):
    command = [
        sys.executable, "-m", "dglsp", "--stdio", "--model", str(tiny_model_dir),
        "--device", "cpu", "--engine", "inprocess",
    ]  # fmt: skip
    client = await ClientServerConfig(command).start()
    statuses: list[protocol.StatusParams] = []

    def on_status(params) -> None:  # a plain function: pygls tags handlers
        statuses.append(protocol.StatusParams.from_json(_plain(params)))

    client.feature(protocol.STATUS)(on_status)
    try:
        capabilities = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True)
        )
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities, initialization_options={"steps": 4, "status": True}
            )
        )
        text = "def add(a, b):\n    return \n"
        item = types.TextDocumentItem(uri="file:///w/a.py", language_id="python", version=1, text=text)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri="file:///w/a.py"),
            position=types.Position(line=1, character=11),
        )
        # Random weights: the text is noise (often dropped by post-processing); what counts is
        # that the request waited for the load and came back without an error.
        result = await client.text_document_inline_completion_async(params)
        assert isinstance(result, types.InlineCompletionList)
        [reports] = client.progress_reports.values()
        assert [r.kind for r in (reports[0], reports[-1])] == ["begin", "end"]
        assert reports[-1].message == "Ready"
        assert client.messages == []
        # The status bar's view of the same load, reported from the engine's loading thread.
        states = [s.state for s in statuses]
        assert states[0] == "starting" and "loading" in states and "ready" in states
        assert statuses[-1].model == tiny_model_dir.name and statuses[-1].last_latency_ms is not None

        missing = tiny_model_dir.parent / "no-such-model"
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"dglsp": {"model": str(missing)}})
        )
        deadline = time.monotonic() + 60
        while not client.messages:
            assert time.monotonic() < deadline, "no error message after switching to a missing model"
            await asyncio.sleep(0.05)
        [message] = client.messages
        assert message.type == types.MessageType.Error and str(missing) in message.message
        result = await client.text_document_inline_completion_async(params)
        assert list(result.items) == []
        assert statuses[-1].state == "error" and str(missing) in statuses[-1].message
        await client.shutdown_session()
    finally:
        await client.stop()


def _plain(value):
    """pygls hands custom params over as namedtuples; back to dicts."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    return value
