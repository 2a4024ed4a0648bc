"""Shared fixtures. Keep this small: fixtures used by one test file live in that file."""

from __future__ import annotations

from pathlib import Path

import pytest


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
