"""`dglsp --stdio` as editors start it, under a pytest-lsp client that can never hang a test.

    async with dglsp_stdio("--model", str(tiny_model_dir), init_options={"steps": 4}) as editor:
        editor.open("file:///w/a.py", "def add(a, b):\n    return \n")
        result = await editor.inline("file:///w/a.py", 1, 11)

Leaving the block normally checks that the server answers `shutdown` and exits promptly (a
test failure otherwise). Leaving it with an exception stops the server whatever state it is
in (exit, then its stdin closed, then SIGTERM, then SIGKILL), so the test fails with its own
assertion. pytest-lsp's `client.stop()` alone waits for the server to exit without telling
it to, which is how a failed assertion used to turn into a test run that never ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from dglsp import protocol
from dglsp.testing.daemons import kill_daemons

# Every wait below is bounded; these are generous for a busy 2-core CI machine.
INITIALIZE_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0  # a first completion waits for the (tiny) model to load
SHUTDOWN_TIMEOUT_S = 10.0  # an editor waits about this long before it kills a server
EXIT_TIMEOUT_S = 20.0  # the interpreter's own exit, with torch loaded, takes seconds here
KILL_TIMEOUT_S = 5.0


class Editor:
    """One session: the pytest-lsp client plus what a test needs to drive dglsp.

    `client.messages` holds the window/showMessage received, `client.progress_reports` the
    $/progress by token, `statuses` every dglsp/status notification (with the `status` option).
    """

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.statuses: list[protocol.StatusParams] = []
        self.shutdown_s: float | None = None  # how long `shutdown` took to be answered

        def on_status(params: Any) -> None:  # a plain function: pygls tags handlers
            self.statuses.append(protocol.StatusParams.from_json(plain(params)))

        client.feature(protocol.STATUS)(on_status)

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        item = types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))

    async def inline(
        self, uri: str, line: int, character: int, timeout: float = REQUEST_TIMEOUT_S
    ) -> types.InlineCompletionList:
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
        request = self.client.text_document_inline_completion_async(params)
        return await _within(request, timeout, f"an answer to inlineCompletion at {uri}:{line}:{character}")

    async def status(self) -> dict[str, Any]:
        """What the `dglsp.status` command answers (camelCase keys)."""
        params = types.ExecuteCommandParams(command=protocol.STATUS_COMMAND)
        answer = await _within(self.client.workspace_execute_command_async(params), 30, "dglsp.status")
        return plain(answer)

    def change_settings(self, settings: dict[str, Any]) -> None:
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"dglsp": settings})
        )

    async def wait_for(self, condition, what: str, timeout: float = 60.0) -> None:
        """Until `condition()` holds (the server's notifications arrive meanwhile)."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def dglsp_stdio(
    *flags: str,
    init_options: dict[str, Any] | None = None,
    capabilities: types.ClientCapabilities | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Editor]:
    """`python -m dglsp --stdio FLAGS...`, initialized; shut down (and checked) on the way out.

    `env` is added to this process's environment (pytest-lsp alone would replace it).
    `capabilities` default: inline completion and work-done progress.
    """
    command = [sys.executable, "-m", "dglsp", "--stdio", *flags]
    client = await ClientServerConfig(command, server_env={**os.environ, **(env or {})}).start()
    editor = Editor(client)
    try:
        if capabilities is None:
            capabilities = types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True),
                text_document=types.TextDocumentClientCapabilities(
                    inline_completion=types.InlineCompletionClientCapabilities()
                ),
            )
        params = types.InitializeParams(capabilities=capabilities, initialization_options=init_options)
        await _within(client.initialize_session(params), INITIALIZE_TIMEOUT_S, "the initialize answer")
        yield editor
        started = time.monotonic()
        await _within(client.shutdown_async(None), SHUTDOWN_TIMEOUT_S, "the shutdown answer")
        editor.shutdown_s = time.monotonic() - started
        client.exit(None)
        await _within(_server(client).wait(), EXIT_TIMEOUT_S, "the server to exit after `exit`")
    finally:
        await stop(client)


async def stop(client: LanguageClient) -> None:
    """End the server process and the client, whatever state they are in; never hangs."""
    server = _server(client)
    if server is not None and server.returncode is None:
        with contextlib.suppress(Exception):
            client.exit(None)  # harmless if it already had one
        with contextlib.suppress(Exception):
            server.stdin.close()  # a server waiting for input sees the end of it
        for ending in (None, server.terminate, server.kill):
            if ending is not None:
                with contextlib.suppress(ProcessLookupError):
                    ending()
            try:
                await asyncio.wait_for(server.wait(), KILL_TIMEOUT_S)
                break
            except TimeoutError:
                continue
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.stop(), KILL_TIMEOUT_S)


def own_runtime_dir(factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """For a fixture: a runtime dir of the test's own, its daemons killed afterwards.

    conftest's runtime dir is shared by the whole run, so a daemon another test started (idle
    exit 30 min) would otherwise answer this test's servers. Short: socket paths are limited
    to 107 bytes.
    """
    path = factory.mktemp("rt")
    monkeypatch.setenv("DGLSP_RUNTIME_DIR", str(path))
    yield path
    kill_daemons(path)


def _server(client: LanguageClient) -> asyncio.subprocess.Process:
    return client._server  # pytest-lsp keeps the process there and offers no accessor


async def _within(awaitable, timeout: float, what: str):
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise AssertionError(f"dglsp --stdio: timed out after {timeout:.0f} s waiting for {what}") from None


def plain(value: Any) -> Any:
    """pygls hands custom params and results over as namedtuples; back to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value
