"""Small pure filters from the model's middle to ghost text. Each takes and returns a str."""

from __future__ import annotations

import re

from dglsp.postprocess.style import DocumentStyle

_FENCE = re.compile(r"^\s*```[\w+#.-]*[ \t]*\n?")
_CLOSERS = set(")]}>\"'`;,:")


def strip_code_fences(middle: str) -> str:
    """Chat-tuned models may wrap the answer in ``` fences despite being asked not to."""
    match = _FENCE.match(middle)
    if not match:
        return middle
    body = middle[match.end() :]
    end = body.find("```")
    return body[:end].rstrip("\n") if end >= 0 else body


def drop_repeated_suffix(middle: str, suffix: str) -> str:
    """Remove a tail of the middle that repeats what already follows the cursor.

    Two cases: whole lines (the middle ends with the suffix's first lines, e.g. a `return`
    already written below), and the rest of the cursor's line (e.g. a closing bracket the
    editor auto-inserted, which accepting would duplicate).
    """
    middle = _drop_repeated_lines(middle, suffix)
    return _drop_repeated_line_rest(middle, suffix)


def _drop_repeated_lines(middle: str, suffix: str) -> str:
    middle_lines = middle.rstrip().split("\n")
    suffix_lines = [line.strip() for line in suffix.split("\n") if line.strip()]
    # The middle's first line continues the cursor's line; only later whole lines can repeat.
    for n in range(min(len(middle_lines) - 1, len(suffix_lines)), 0, -1):
        tail = [line.strip() for line in middle_lines[-n:]]
        if tail == suffix_lines[:n] and any(tail):
            return "\n".join(middle_lines[:-n]).rstrip(" \t")
    return middle


def _drop_repeated_line_rest(middle: str, suffix: str) -> str:
    rest = suffix.split("\n", 1)[0].strip()
    if not rest:
        return middle
    stripped = middle.rstrip()
    if stripped.endswith(rest):
        return stripped[: len(stripped) - len(rest)].rstrip(" \t") if len(stripped) > len(rest) else ""
    # A run of closing characters that the rest of the line starts with (`)`, `])`, `";`).
    closers = 0
    while closers < len(rest) and rest[closers] in _CLOSERS:
        closers += 1
    for k in range(closers, 0, -1):
        if stripped.endswith(rest[:k]):
            return stripped[:-k]
    return middle


def trim_trailing_blank(middle: str, suffix: str) -> str:
    """No trailing spaces; no trailing line break when the cursor's line has nothing after it
    (the document already has that line break)."""
    trimmed = middle.rstrip(" \t")
    if not suffix.split("\n", 1)[0].strip():
        trimmed = trimmed.rstrip("\n \t")
    return trimmed


def match_indentation(middle: str, style: DocumentStyle) -> str:
    """Lines after the first use the document's indent unit (tabs vs spaces, width)."""
    model_unit = _indent_unit(middle)
    if model_unit is None or model_unit == style.indent:
        return middle
    lines = middle.split("\n")
    for index in range(1, len(lines)):
        line = lines[index]
        body = line.lstrip(" \t")
        leading = line[: len(line) - len(body)]
        levels, extra = _levels(leading, model_unit)
        lines[index] = style.indent * levels + extra + body
    return "\n".join(lines)


def _indent_unit(text: str) -> str | None:
    lines = text.split("\n")[1:]
    leading = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    if any(lead.startswith("\t") for lead in leading):
        return "\t"
    widths = sorted({len(lead) for lead in leading if lead})
    if not widths:
        return None
    return " " * min(widths)


def _levels(leading: str, unit: str) -> tuple[int, str]:
    if unit == "\t":
        levels = len(leading) - len(leading.lstrip("\t"))
        return levels, leading[levels:]
    levels = len(leading) // len(unit)
    return levels, leading[levels * len(unit) :]


def use_newline(middle: str, style: DocumentStyle) -> str:
    return middle.replace("\r\n", "\n").replace("\n", style.newline) if style.newline != "\n" else middle
