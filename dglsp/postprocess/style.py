"""The document's own conventions, so the ghost text matches them: line ending and indent."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

# The file's first lines show its style; reading only them keeps this O(1) per request
# however large the file (it runs on every completion).
SAMPLE_CHARS = 20_000


@dataclass(frozen=True)
class DocumentStyle:
    newline: str = "\n"
    indent: str = "    "  # one indentation level: a tab or N spaces


def detect_style(text: str) -> DocumentStyle:
    # Keyed by the sampled head: typing anywhere after it reuses the answer.
    return _detect(text[:SAMPLE_CHARS])


@functools.lru_cache(maxsize=64)
def _detect(head: str) -> DocumentStyle:
    newline = "\r\n" if head.count("\r\n") * 2 > head.count("\n") else "\n"
    tabs = 0
    widths: Counter[int] = Counter()
    previous = 0
    for line in head.splitlines():
        if not line.strip():
            continue
        if line.startswith("\t"):
            tabs += 1
            continue
        width = len(line) - len(line.lstrip(" "))
        if width != previous:
            widths[abs(width - previous)] += 1
        previous = width
    spaces = sum(widths.values())
    if tabs > spaces:
        return DocumentStyle(newline, "\t")
    unit = next((w for w, _ in widths.most_common() if 1 < w <= 8), 4)
    return DocumentStyle(newline, " " * unit)
