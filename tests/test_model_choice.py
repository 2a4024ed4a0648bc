"""The bundled model stands in for DiffusionGemma only when the default cannot run here.

Unit tests drive `choose_model` with the cache and device probes replaced; the server and
CLI tests run the real `dglsp` with no `--model`, no DiffusionGemma in the cache (nothing is
ever downloaded here) and DGLSP_BUNDLED_MODEL pointing at the tiny test model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsp_client import dglsp_stdio
from lsprotocol import types

from dglsp.config import DEFAULT_MODEL, Settings
from dglsp.engine import ModelUnavailable, model_choice
from dglsp.engine.model_choice import BUNDLED_DIR_ENV, choose_model, with_model


@pytest.fixture
def bundled(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the tiny model as the bundled one, with the training.json `dglsp train` writes."""
    path = tmp_path / "dglsp-small"
    shutil.copytree(tiny_model_dir, path)
    (path / "training.json").write_text(json.dumps({"options": {"context_budget": 256}}), encoding="utf-8")
    monkeypatch.setenv(BUNDLED_DIR_ENV, str(path))
    return path.resolve()


def _not_cached(name: str) -> Path:
    raise ModelUnavailable(f"The model {name} is not in the local Hugging Face cache.")


def test_an_explicit_model_is_never_replaced(bundled: Path, tiny_model_dir: Path) -> None:
    settings = Settings(model=str(tiny_model_dir))
    choice = choose_model(settings)
    assert choice.settings == settings and choice.notice() is None


def test_default_not_in_cache_uses_the_bundled_model(bundled: Path, monkeypatch) -> None:
    monkeypatch.setattr("dglsp.model.loading.resolve_model", _not_cached)
    choice = choose_model(Settings())
    assert choice.settings.model == str(bundled)
    # The default budget suits DiffusionGemma; the small model gets what it was trained on.
    assert choice.settings.context_budget == 256
    notice = choice.notice()
    assert "dglsp-small" in notice and "not in the local Hugging Face cache" in notice
    assert "the `model` setting" in notice
    assert "--model" in choice.notice("--model")


def test_a_budget_the_user_set_is_kept(bundled: Path, monkeypatch) -> None:
    monkeypatch.setattr("dglsp.model.loading.resolve_model", _not_cached)
    assert choose_model(Settings(context_budget=1024)).settings.context_budget == 1024
    # ... also when settings change later while the bundled model runs.
    assert with_model(Settings(context_budget=512), str(bundled)).context_budget == 512
    assert with_model(Settings(), str(bundled)).context_budget == 256


def test_default_in_cache_without_a_gpu_uses_the_bundled_model(bundled: Path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("dglsp.model.loading.resolve_model", lambda name: tiny_model_dir)
    choice = choose_model(Settings(device="cpu"))
    assert choice.settings.model == str(bundled)
    assert "needs a CUDA GPU" in choice.notice()


def test_no_bundled_model_leaves_the_default(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BUNDLED_DIR_ENV, str(tmp_path / "absent"))
    monkeypatch.setattr("dglsp.model.loading.resolve_model", _not_cached)
    assert choose_model(Settings()).settings.model == DEFAULT_MODEL


def test_a_remote_engine_keeps_its_own_model(bundled: Path, monkeypatch) -> None:
    monkeypatch.setattr("dglsp.model.loading.resolve_model", _not_cached)
    settings = Settings(engine="http://127.0.0.1:8000/v1")
    assert choose_model(settings).settings == settings


def test_bundled_dir_defaults_to_the_package_and_an_empty_setting_hides_it(monkeypatch) -> None:
    monkeypatch.delenv(BUNDLED_DIR_ENV, raising=False)
    assert model_choice.bundled_model_dir() == model_choice.BUNDLED_DIR
    monkeypatch.setenv(BUNDLED_DIR_ENV, "")
    assert model_choice.bundled_model_dir() is None


@pytest.mark.slow
async def test_server_without_a_model_answers_with_the_bundled_one_and_says_so(bundled: Path):
    flags = ("--engine", "inprocess", "--device", "cpu")
    async with dglsp_stdio(*flags, init_options={"steps": 4}, env={BUNDLED_DIR_ENV: str(bundled)}) as editor:
        editor.open("file:///w/a.py", "def add(a, b):\n    return \n")
        result = await editor.inline("file:///w/a.py", 1, 11)
        assert isinstance(result, types.InlineCompletionList)
        [message] = editor.client.messages
        assert message.type == types.MessageType.Info and "dglsp-small" in message.message
        status = await editor.status()
        assert status["state"] == "ready" and status["modelPath"] == str(bundled)
        assert status["lastLatencyMs"] is not None  # the bundled model ran


@pytest.mark.slow
def test_cli_complete_without_a_model_uses_the_bundled_one(bundled: Path, tmp_path: Path) -> None:
    source = tmp_path / "add.py"
    source.write_text("def add(a, b):\n    return \n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "dglsp", "complete", f"{source}:2:12", "--engine", "inprocess", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**_env(), BUNDLED_DIR_ENV: str(bundled)},
    )
    assert result.returncode == 0, result.stderr
    assert "using the bundled small model dglsp-small" in result.stderr and "--model" in result.stderr
    assert "text" in json.loads(result.stdout)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
