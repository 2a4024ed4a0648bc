"""The bundled model, dglsp-small, as shipped in the package (docs/models/dglsp-small.md)."""

from __future__ import annotations

import json
import sys

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from dglsp import protocol
from dglsp.engine.model_choice import BUNDLED_DIR, BUNDLED_DIR_ENV, bundled_model_dir
from dglsp.model.loading import resolve_model

MAX_BYTES = 25 * 10**6  # the limit for weights + tokenizer + config


def test_the_package_ships_the_bundled_model_within_25_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUNDLED_DIR_ENV)  # conftest hides it from the other tests
    assert bundled_model_dir() == BUNDLED_DIR, "dglsp/models/dglsp-small is missing from the package"
    size = sum(path.stat().st_size for path in BUNDLED_DIR.iterdir() if path.is_file())
    assert size <= MAX_BYTES, f"{size / 1e6:.1f} MB"
    config = json.loads((BUNDLED_DIR / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "diffusion_gemma" and config["dtype"] == "bfloat16"
    training = json.loads((BUNDLED_DIR / "training.json").read_text(encoding="utf-8"))
    assert training["options"]["context_budget"] > 0 and training["step"] > 0
    assert resolve_model(str(BUNDLED_DIR)) == BUNDLED_DIR.resolve()  # the normal --model path


def test_its_tokenizer_has_the_prompt_templates_special_tokens() -> None:
    from dglsp.model.tokenizer import load_tokenizer
    from dglsp.prompt.template import choose_template

    template = choose_template(load_tokenizer(BUNDLED_DIR), "")
    assert template.kind == "fim"  # prefix/suffix/middle tokens, as the server's prompts use


@pytest.mark.slow
async def test_it_answers_an_lsp_inline_completion_end_to_end() -> None:
    command = [
        sys.executable, "-m", "dglsp", "--stdio", "--model", str(BUNDLED_DIR),
        "--engine", "inprocess", "--device", "cpu",
    ]  # fmt: skip
    client = await ClientServerConfig(command).start()
    try:
        capabilities = types.ClientCapabilities(
            text_document=types.TextDocumentClientCapabilities(
                inline_completion=types.InlineCompletionClientCapabilities()
            )
        )
        await client.initialize_session(
            types.InitializeParams(capabilities=capabilities, initialization_options={"steps": 16})
        )
        text = "def area(width, height):\n    return \n"
        item = types.TextDocumentItem(uri="file:///w/area.py", language_id="python", version=1, text=text)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri="file:///w/area.py"),
            position=types.Position(line=1, character=11),
        )
        result = await client.text_document_inline_completion_async(params)
        assert isinstance(result, types.InlineCompletionList)
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=protocol.STATUS_COMMAND)
        )
        status = status._asdict() if hasattr(status, "_asdict") else status
        assert status["state"] == "ready" and status["model"] == "dglsp-small"
        assert status["lastLatencyMs"] is not None  # the model ran to the end
        assert client.messages == []  # no error, no warning
        await client.shutdown_session()
    finally:
        await client.stop()
