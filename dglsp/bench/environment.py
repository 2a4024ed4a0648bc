"""Where and when a figure was measured: device, date, commit, versions, command line.

Every report carries this block, so a figure copied into docs/benchmarks.md keeps its
provenance. A CPU figure says CPU in `device`; nothing here ever guesses a GPU.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from dglsp import __version__

_REPOSITORY = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: str | None = None) -> str:
    """'CPU: <model> (<n> cores)' or 'CUDA: <GPU name>' for a torch device string."""
    if device and device.startswith("cuda"):
        import torch

        return f"CUDA: {torch.cuda.get_device_name(torch.device(device))}"
    return f"CPU: {cpu_model()} ({os.cpu_count()} logical cores)"


def git_commit() -> str | None:
    """The checkout's commit (with '-dirty' when it has local changes), None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_REPOSITORY, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_REPOSITORY,
            capture_output=True,
            text=True,
            timeout=5,
        )
        suffix = "-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else ""
        return commit.stdout.strip() + suffix
    except (OSError, subprocess.SubprocessError):
        return None


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed: `dglsp bench ...` (argv[0] shortened to its name)."""
    args = list(sys.argv if argv is None else argv)
    if args:
        name = Path(args[0]).name
        args[0] = "dglsp" if name in ("dglsp", "__main__.py", "main.py") else name
    return shlex.join(args)


def versions() -> dict[str, str]:
    found = {"dglsp": __version__, "python": platform.python_version()}
    for module in ("torch", "transformers", "tree_sitter", "pygls"):
        try:
            found[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            continue
    return found


def environment(device: str | None = None, argv: list[str] | None = None) -> dict[str, Any]:
    return {
        "device": device_name(device),
        "cpu": cpu_model(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "versions": versions(),
        "command": command_line(argv),
        "platform": platform.platform(),
        "load_average": _load_average(),
    }


def _load_average() -> list[float] | None:
    """1/5/15-minute load: a busy machine (shared with other work) shows here."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def peak_rss_bytes() -> int | None:
    """The process's peak resident set (VmHWM), Linux only."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
