"""Clean-up for tests that start `dglsp serve` daemons (directly or through engine "auto")."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def kill_daemons(runtime: Path) -> None:
    """SIGKILL every daemon whose pid file is in `runtime` (only dglsp daemons we started)."""
    for pid_file in runtime.glob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip() or 0)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if pid and b"dglsp.daemon" in cmdline:
            os.kill(pid, signal.SIGKILL)
