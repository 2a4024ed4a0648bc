"""The carved region: the part of a document the prompt is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Region:
    """A span of the document around the cursor, plus header context from outside it.

    Offsets are str indexes into the snapshot's text, with start <= cursor <= end.
    """

    language: str
    kind: Literal["function", "window"]
    start: int  # function: column 0 of its first line, decorators included; window: a line start
    end: int  # end of the last line of the span, before its line break
    cursor: int
    header: str  # imports and enclosing scope headers outside the span, in document order; '' if none

    def prefix(self, text: str) -> str:
        return text[self.start : self.cursor]

    def suffix(self, text: str) -> str:
        return text[self.cursor : self.end]
