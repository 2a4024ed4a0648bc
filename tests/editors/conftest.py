"""Fixtures of the editor tests (helpers.py has the rest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import NvimRunner, nvim_runner, write_source


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    """A Python file with two small functions, in a project folder of its own."""
    return write_source(tmp_path)


@pytest.fixture
def run_nvim(tmp_path: Path) -> NvimRunner:
    return nvim_runner(tmp_path)
