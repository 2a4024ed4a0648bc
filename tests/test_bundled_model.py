"""The bundled model, dglsp-small, as shipped in the package (docs/models/dglsp-small.md)."""

from __future__ import annotations

import json

import pytest
from lsp_client import dglsp_stdio
from lsprotocol import types

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
    flags = ("--model", str(BUNDLED_DIR), "--engine", "inprocess", "--device", "cpu")
    async with dglsp_stdio(*flags, init_options={"steps": 16}) as editor:
        editor.open("file:///w/area.py", "def area(width, height):\n    return \n")
        result = await editor.inline("file:///w/area.py", 1, 11)
        assert isinstance(result, types.InlineCompletionList)
        status = await editor.status()
        assert status["state"] == "ready" and status["model"] == "dglsp-small"
        assert status["lastLatencyMs"] is not None  # the model ran to the end
        assert editor.client.messages == []  # no error, no warning
