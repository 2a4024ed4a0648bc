"""Shared fixtures. Keep this small: fixtures used by one test file live in that file."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsp_client import plain
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient


@pytest.fixture(autouse=True)
def isolated_runtime_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Each test's daemons (engine "auto" is the default) live in a runtime dir of its own,
    never the user's nor another test's, and are killed when the test ends: a daemon left
    loaded by one test must not answer the next (it hid a hang once)."""
    from dglsp.testing.daemons import kill_daemons

    path = tmp_path_factory.mktemp("rt")  # short: socket paths are limited to 107 bytes
    monkeypatch.setenv("DGLSP_RUNTIME_DIR", str(path))
    yield path
    kill_daemons(path)


@pytest.fixture(scope="session", autouse=True)
def no_bundled_model() -> Iterator[None]:
    """Servers and commands in tests see no bundled model unless a test asks for it
    (tests/test_model_choice.py, test_bundled_model.py): with it, a scripted server left at the
    default model would get the bundled one and an info message every test would have to expect."""
    from dglsp.engine.model_choice import BUNDLED_DIR_ENV

    previous = os.environ.get(BUNDLED_DIR_ENV)
    os.environ[BUNDLED_DIR_ENV] = ""
    yield
    if previous is None:
        os.environ.pop(BUNDLED_DIR_ENV, None)
    else:
        os.environ[BUNDLED_DIR_ENV] = previous


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random DiffusionGemma + FIM tokenizer in save_pretrained layout (built once per run).

    Tests load it through the same path users use (`--model DIR`); nothing is downloaded.
    """
    from dglsp.testing.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like tiny_model_dir, but its tokenizer has no FIM tokens and a Gemma-4-style chat template."""
    from dglsp.testing.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny-chat-model"), seed=0, chat=True)


# --- the language server over real stdio, with a ScriptedEngine (tests/test_server_*.py) ---


class ScriptedSession:
    """A pytest-lsp client talking to `python -m dglsp.testing.scripted_server`, plus shortcuts.

    `client` is the pytest-lsp LanguageClient (client.messages: window/showMessage received,
    client.progress_reports: $/progress by token); `encoding` is what the server negotiated;
    `state()` asks the server what its engines saw (see dglsp/testing/scripted_server.py).
    """

    def __init__(self, client: LanguageClient, result: types.InitializeResult) -> None:
        self.client = client
        self.capabilities = result.capabilities
        encoding = result.capabilities.position_encoding or "utf-16"
        self.encoding = getattr(encoding, "value", encoding)

    async def state(self) -> dict:
        return plain(await self.client.protocol.send_request_async("dglsp/testing/state", None))

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        item = types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))

    @staticmethod
    def inline_params(
        uri: str, line: int, character: int, automatic: bool = False
    ) -> types.InlineCompletionParams:
        kind = types.InlineCompletionTriggerKind
        return types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=kind.Automatic if automatic else kind.Invoked),
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )

    async def inline(self, uri: str, line: int, character: int, automatic: bool = False):
        params = self.inline_params(uri, line, character, automatic)
        return await self.client.text_document_inline_completion_async(params)


@pytest.fixture
async def scripted_lsp(tmp_path: Path):
    """Start the real server over stdio with a ScriptedEngine: `session = await scripted_lsp(script)`.

    Keyword arguments: `settings` (base settings, as command-line flags would give),
    `init_options` (initializationOptions), `encodings` (the client's
    general.positionEncodings; None offers none, which means utf-16), `progress` (supports
    window.workDoneProgress), `inline` (declares textDocument.inlineCompletion),
    `config_pull` (supports workspace/configuration). Sessions are shut down after the test.
    """
    sessions: list[ScriptedSession] = []

    async def start(
        script: dict | None = None,
        *,
        settings: dict | None = None,
        init_options: dict | None = None,
        encodings: list[str] | None = ("utf-8", "utf-16"),
        progress: bool = False,
        inline: bool = True,
        config_pull: bool = False,
    ) -> ScriptedSession:
        path = tmp_path / f"script{len(sessions)}.json"
        path.write_text(json.dumps(script or {}), encoding="utf-8")
        command = [sys.executable, "-m", "dglsp.testing.scripted_server", "--script", str(path)]
        client = await ClientServerConfig([*command, "--settings", json.dumps(settings or {})]).start()
        general = types.GeneralClientCapabilities(position_encodings=list(encodings)) if encodings else None
        capabilities = types.ClientCapabilities(
            general=general,
            window=types.WindowClientCapabilities(work_done_progress=progress),
            text_document=types.TextDocumentClientCapabilities(
                inline_completion=types.InlineCompletionClientCapabilities() if inline else None
            ),
            workspace=types.WorkspaceClientCapabilities(configuration=config_pull),
        )
        params = types.InitializeParams(capabilities=capabilities, initialization_options=init_options)
        session = ScriptedSession(client, await client.initialize_session(params))
        sessions.append(session)
        return session

    yield start

    for session in sessions:
        await session.client.shutdown_session()
        await session.client.stop()


# --- dglsp's OpenAI-compatible server in a thread (tests/test_openai_*.py) ---


@pytest.fixture
def serve():
    """`url = serve(engine, **OpenAIServer options)`: the API root of a server on loopback;
    every server started this way stops after the test."""
    from dglsp.openai_server import OpenAIServer, ServerThread

    threads: list[ServerThread] = []

    def start(engine, **options) -> str:
        thread = ServerThread(OpenAIServer(engine, **options))
        threads.append(thread)
        return thread.start()

    yield start
    for thread in threads:
        thread.stop()
