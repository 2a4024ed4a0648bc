"""From a Completion (str offsets) to an LSP edit that clients accept.

Both InlineCompletionItem.range and a CompletionItem's textEdit must begin and end on the
line of the cursor. The pipeline's edits normally do (a partly typed word before the cursor
is replaced); when one spans lines, the text it keeps unchanged at either end is trimmed
until it fits, and an edit that still spans lines is dropped rather than drawn wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

from dglsp.documents import offset_to_position
from dglsp.documents.encoding import Encoding


@dataclass(frozen=True)
class Edit:
    start: int  # str offsets into the snapshot's text
    end: int
    text: str


def single_line_edit(text: str, start: int, end: int, new_text: str, cursor: int) -> Edit | None:
    """The same change as text[start:end] -> new_text, with start and end on the cursor's line."""
    line_start, line_end = _line_bounds(text, cursor)
    while start < line_start and start < end and new_text and text[start] == new_text[0]:
        start, new_text = start + 1, new_text[1:]
    while end > line_end and end > start and new_text and text[end - 1] == new_text[-1]:
        end, new_text = end - 1, new_text[:-1]
    if start < line_start or end > line_end:
        return None
    return Edit(start, end, new_text)


def to_range(text: str, start: int, end: int, encoding: Encoding) -> types.Range:
    return types.Range(start=to_position(text, start, encoding), end=to_position(text, end, encoding))


def to_position(text: str, offset: int, encoding: Encoding) -> types.Position:
    line, character = offset_to_position(text, offset, encoding)
    return types.Position(line=line, character=character)


def _line_bounds(text: str, offset: int) -> tuple[int, int]:
    """[start, end) of the line holding `offset`; "\\n", "\\r\\n" and "\\r" end lines, as in LSP."""
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    ends = [i for i in (text.find("\n", offset), text.find("\r", offset)) if i >= 0]
    return start, min(ends, default=len(text))
