"""The document's own conventions, so the ghost text matches them: line ending and indent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

SAMPLE_LINES = 2000  # enough to see the style; bounded so huge files cost nothing


@dataclass(frozen=True)
class DocumentStyle:
    newline: str = "\n"
    indent: str = "    "  # one indentation level: a tab or N spaces


def detect_style(text: str) -> DocumentStyle:
    head = text[:200_000]
    newline = "\r\n" if head.count("\r\n") * 2 > head.count("\n") else "\n"
    tabs = 0
    widths: Counter[int] = Counter()
    previous = 0
    for line in head.splitlines()[:SAMPLE_LINES]:
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
