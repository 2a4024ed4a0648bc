"""A training progress line on stderr: step, loss, tokens/s and ETA.

On a terminal one line is rewritten in place; otherwise (logs, CI) a plain line is printed every
`every_seconds`, and always for the last step.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None, every_seconds: float = 10.0):
        self.total = total
        self.start_step = start
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_seconds = every_seconds
        self.started = time.perf_counter()
        self.last_print = float("-inf")
        self.tokens = 0
        self.canvas_tokens = 0
        self.smoothed_loss: float | None = None

    def restart(self) -> None:
        """Start the clock now: setup (tokenizer training, loading) is not training time."""
        self.started = time.perf_counter()

    def update(self, step: int, loss: float, tokens: int, canvas_tokens: int) -> str:
        """Record step `step` (1-based, counted from the run's start) and maybe print; returns the line."""
        self.tokens += tokens
        self.canvas_tokens += canvas_tokens
        self.smoothed_loss = loss if self.smoothed_loss is None else 0.9 * self.smoothed_loss + 0.1 * loss
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        done = step - self.start_step
        eta = elapsed / done * (self.total - step) if done else 0.0
        width = len(str(self.total))
        line = (
            f"step {step:>{width}}/{self.total}  loss {loss:.3f} (avg {self.smoothed_loss:.3f})  "
            f"{self.tokens / elapsed:,.0f} tok/s ({self.canvas_tokens / elapsed:,.0f} canvas)  "
            f"{_clock(elapsed)} elapsed, ETA {_clock(eta)}"
        )
        now = time.perf_counter()
        if self.tty:
            self.stream.write(f"\r\033[K{line}" + ("\n" if step >= self.total else ""))
        elif now - self.last_print >= self.every_seconds or step >= self.total:
            self.stream.write(line + "\n")
            self.last_print = now
        self.stream.flush()
        return line

    def message(self, text: str) -> None:
        self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
        self.stream.flush()
