"""LSP positions <-> offsets into a Python str, for utf-8, utf-16 and utf-32 column units.

Lines are 0-based and end at "\\n", "\\r\\n" or "\\r" (as LSP says). A column counts units of the
negotiated encoding from the start of its line: utf-8 bytes, utf-16 code units (an emoji is 2)
or code points (utf-32, which is what a Python str index counts). A column that falls inside a
character (the second half of a surrogate pair, a continuation byte) rounds down to the start of
that character.

`LineIndex` holds the line starts of one text, so a conversion costs one bisect plus a walk over
a single line; `line_index(text)` keeps the last few indexes, which makes the two free functions
cheap when the server calls them per keystroke on the same text. `LineIndex.edited` updates an
index for an edit without rescanning the whole text. For a text that is not ASCII the index also
keeps the utf-8 byte offset of each line start, so str offsets and the utf-8 byte offsets that
tree-sitter uses convert into each other in one bisect and one line (`byte_offset`,
`char_offset`), not by encoding the text up to the offset.
"""

from __future__ import annotations

import bisect
import re
import threading
from array import array
from collections import OrderedDict
from typing import Literal, get_args

Encoding = Literal["utf-8", "utf-16", "utf-32"]
ENCODINGS: tuple[Encoding, ...] = get_args(Encoding)

_BREAK = re.compile(r"\r\n?|\n")
_BREAK_BYTES = re.compile(rb"\r\n?|\n")


class PositionError(ValueError):
    """A position or offset outside the document."""


def _utf8_len(s: str) -> int:
    # surrogatepass: a lone surrogate from a confused client counts as the 3 bytes tree-sitter sees.
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _width(s: str, encoding: Encoding) -> int:
    """Length of `s` in units of `encoding`."""
    if encoding == "utf-32" or s.isascii():
        return len(s)
    if encoding == "utf-16":
        return len(s.encode("utf-16-le", "surrogatepass")) // 2
    return len(s.encode("utf-8", "surrogatepass"))


def _char_width(ch: str, encoding: Encoding) -> int:
    cp = ord(ch)
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


def _index_in_line(line: str, column: int, encoding: Encoding) -> int | None:
    """Code point index in `line` of `column` (rounded down), or None when past the line end."""
    if encoding == "utf-32" or line.isascii():
        return column if column <= len(line) else None
    units = 0
    for i, ch in enumerate(line):
        units += _char_width(ch, encoding)
        if units > column:
            return i
    return len(line) if column == units else None


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown position encoding {encoding!r} (expected one of {', '.join(ENCODINGS)})")


def _scan_starts(text: str, pos: int, endpos: int) -> list[int]:
    """Offsets just after each line break in text[pos:endpos]."""
    if text.find("\r", pos, endpos) < 0:
        # Plain "\n" text is the common case; str.find is about twice as fast as the regex.
        starts = []
        i = text.find("\n", pos, endpos)
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n", i + 1, endpos)
        return starts
    return [m.end() for m in _BREAK.finditer(text, pos, endpos)]


def _has_lone_carriage_return(text: str, pos: int = 0, endpos: int | None = None) -> bool:
    """Whether a "\r" at an offset in [pos, endpos) is not followed by "\n"."""
    endpos = len(text) if endpos is None else endpos
    i = text.find("\r", pos, endpos)
    while i >= 0:
        if not text.startswith("\n", i + 1):
            return True
        i = text.find("\r", i + 1, endpos)
    return False


class LineIndex:
    """The line starts of one text, for position <-> offset conversions.

    The starts are a machine-int array: copying one for an edit is a memcpy, where a list would
    touch an int object per line. An edit shifts every later line start; rather than rewrite
    them all per keystroke, an index may hold a pending shift: stored starts from `_shift_from`
    on are `_shift` short of the real ones. Typing at one place keeps adding to the same shift;
    an edit elsewhere applies it first.

    A text that is not ASCII also gets the utf-8 byte offsets of its line starts (`_bstarts`,
    with its own pending shift `_bshift` from the same `_shift_from`), built when first asked
    for and then carried through edits like the str starts. An ASCII text has none: its byte
    offsets are its str offsets.
    """

    __slots__ = ("_bshift", "_bstarts", "_cr", "_lone_cr", "_shift", "_shift_from", "_starts", "text")

    def __init__(
        self,
        text: str,
        *,
        _starts: array[int] | None = None,
        _shift_from: int | None = None,
        _shift: int = 0,
        _cr: bool | None = None,
        _lone_cr: bool | None = None,
        _bstarts: array[int] | None = None,
        _bshift: int = 0,
    ) -> None:
        self.text = text
        if _starts is None:
            _starts = array("q", [0, *_scan_starts(text, 0, len(text))])
        self._starts = _starts
        self._shift = _shift
        self._bstarts = _bstarts
        self._bshift = _bshift if _bstarts is not None else 0
        pending = _shift or self._bshift
        self._shift_from = len(self._starts) if _shift_from is None or not pending else _shift_from
        # Whether the text may hold a "\r", and one not followed by "\n" (True can be stale after
        # one was deleted: that only costs speed). Without a lone one, lines are tree-sitter's rows.
        self._cr = ("\r" in text) if _cr is None else _cr
        self._lone_cr = (self._cr and _has_lone_carriage_return(text)) if _lone_cr is None else _lone_cr

    @property
    def line_count(self) -> int:
        """Number of lines; a text ending in a line break has an empty last line."""
        return len(self._starts)

    @property
    def may_have_carriage_returns(self) -> bool:
        """False when the text surely has no "\\r"."""
        return self._cr

    @property
    def may_have_lone_carriage_returns(self) -> bool:
        """False when every "\\r" of the text surely comes before a "\\n": then its lines are
        tree-sitter's rows (which end at "\\n" only), "\\r\\n" text included."""
        return self._lone_cr

    def line_start(self, line: int) -> int:
        if line < 0:
            line += len(self._starts)
        start = self._starts[line]
        return start + self._shift if line >= self._shift_from else start

    def line_end(self, line: int) -> int:
        """Offset of the end of the line's content, before its line break."""
        if line + 1 >= len(self._starts):
            return len(self.text)
        nxt = self.line_start(line + 1)
        return nxt - 2 if self.text.startswith("\r\n", nxt - 2) else nxt - 1

    def line_of(self, offset: int) -> int:
        """The line holding `offset` (an offset inside a "\\r\\n" belongs to the line it ends)."""
        return self._bisect(bisect.bisect_right, offset) - 1

    def _bisect(self, search, value: int, starts: array[int] | None = None, shift: int | None = None) -> int:
        """`search` (bisect_left or bisect_right) over the real starts, pending shift included
        (the str starts unless others are given)."""
        if starts is None:
            starts, shift = self._starts, self._shift
        split = self._shift_from
        index = search(starts, value, 0, split)
        if index < split:
            return index
        return search(starts, value - shift, split)

    # --- utf-8 byte offsets ---

    def _byte_starts(self) -> tuple[array[int], int]:
        """The byte line starts and their pending shift, built now if they were not."""
        if self._bstarts is None:
            data = self.text.encode("utf-8", "surrogatepass")
            # "\r" and "\n" are single bytes that never occur inside a multi-byte character, so
            # the breaks found in the bytes are the str's breaks, one for one.
            if data.find(b"\r") < 0:
                found = []
                i = data.find(b"\n")
                while i >= 0:
                    found.append(i + 1)
                    i = data.find(b"\n", i + 1)
            else:
                found = [m.end() for m in _BREAK_BYTES.finditer(data)]
            self._bshift = 0  # real values (the str starts may still have a pending shift)
            self._bstarts = array("q", [0, *found])
        return self._bstarts, self._bshift

    def byte_line_start(self, line: int) -> int:
        """The utf-8 byte offset of a line's start."""
        if self._bstarts is None and self.text.isascii():
            return self.line_start(line)
        starts, shift = self._byte_starts()
        if line < 0:
            line += len(starts)
        return starts[line] + shift if line >= self._shift_from else starts[line]

    def byte_offset(self, offset: int) -> int:
        """The utf-8 byte offset of str offset `offset` (0 <= offset <= len(text))."""
        if self.text.isascii():
            return offset
        line = self.line_of(offset)
        return self.byte_line_start(line) + _utf8_len(self.text[self.line_start(line) : offset])

    def char_offset(self, byte: int) -> int:
        """The str offset of utf-8 byte offset `byte`; a byte inside a character rounds down to
        that character's start (tree-sitter may split invalid sequences anywhere)."""
        if self.text.isascii():
            return byte
        starts, shift = self._byte_starts()
        line = self._bisect(bisect.bisect_right, byte, starts, shift) - 1
        start = self.line_start(line)
        end = self.line_start(line + 1) if line + 1 < len(self._starts) else len(self.text)
        piece = self.text[start:end].encode("utf-8", "surrogatepass")
        at = byte - self.byte_line_start(line)
        while 0 < at < len(piece) and 0x80 <= piece[at] < 0xC0:
            at -= 1
        return start + len(piece[:at].decode("utf-8", "surrogatepass"))

    def position_to_offset(
        self, line: int, column: int, encoding: Encoding = "utf-16", *, clamp: bool = False
    ) -> int:
        _check_encoding(encoding)
        if line < 0 or column < 0:
            if not clamp:
                raise PositionError(f"position ({line}, {column}) is negative")
            line, column = max(line, 0), max(column, 0)
        if line >= len(self._starts):
            if clamp:
                return len(self.text)
            raise PositionError(f"line {line} is past the end of a document with {len(self._starts)} lines")
        start, end = self.line_start(line), self.line_end(line)
        content = self.text[start:end]
        index = _index_in_line(content, column, encoding)
        if index is None:
            if clamp:
                return end
            raise PositionError(
                f"column {column} is past the end of line {line} "
                f"(length {_width(content, encoding)} {encoding} units)"
            )
        return start + index

    def offset_to_position(self, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        _check_encoding(encoding)
        if not 0 <= offset <= len(self.text):
            raise PositionError(f"offset {offset} is outside a document of length {len(self.text)}")
        line = self.line_of(offset)
        start = self.line_start(line)
        end = min(offset, self.line_end(line))
        return line, _width(self.text[start:end], encoding)

    def edited(self, start: int, end: int, new_text: str) -> LineIndex:
        """The index of text[:start] + new_text + text[end:], rescanning only the lines touched.

        The starts after the edit are copied, not rewritten: their shift is added to the
        pending one when that one starts where this edit's does (typing at one place)."""
        old = self.text
        if not 0 <= start <= end <= len(old):
            raise ValueError(f"edit range {start}..{end} is outside a text of length {len(old)}")
        text = old[:start] + new_text + old[end:]
        delta = len(new_text) - (end - start)
        # Line starts before `start` keep their place: a break ending before the edit cannot
        # change (one ending exactly at `start` can, "\r" + an inserted "\n").
        keep = self._bisect(bisect.bisect_left, start)
        lo = self.line_start(keep - 1) if keep else 0
        # Starts at or after end + 2 come from breaks that begin at or after `end`, which the edit
        # does not touch; the first of them bounds the rescan.
        tail = self._bisect(bisect.bisect_left, end + 2)
        count = len(self._starts)
        hi = self.line_start(tail) + delta if tail < count else len(text)
        rescanned = _scan_starts(text, lo, hi)
        if tail < count:
            tail += 1  # the rescan ends with that start already
        starts, shift = self._starts, self._shift
        # Byte starts go along when the new text needs them and the old ones are at hand (an
        # ASCII text's are its str starts); otherwise they are built if ever asked for.
        bstarts: array[int] | None = None
        bshift = 0
        if not text.isascii():
            if self._bstarts is not None:
                bstarts, bshift = self._bstarts, self._bshift
            elif old.isascii():
                bstarts, bshift = starts, shift
        if (shift or bshift) and not keep <= self._shift_from <= tail:
            # The pending shift starts inside the kept part or the copied tail: apply it first.
            starts, shift = self._real(starts, shift), 0
            if bstarts is not None:
                bstarts, bshift = self._real(bstarts, bshift), 0
        new_starts = starts[:keep] or array("q", [0])
        new_starts.extend(rescanned)
        shift_from = len(new_starts)
        new_starts += starts[tail:]
        new_bstarts = None
        if bstarts is not None:
            new_bstarts = bstarts[:keep] or array("q", [0])
            byte, previous = new_bstarts[-1], lo
            for found in rescanned:  # the lines touched: bytes counted over them alone
                byte += _utf8_len(text[previous:found])
                previous = found
                new_bstarts.append(byte)
            new_bstarts += bstarts[tail:]
            bshift += _utf8_len(new_text) - _utf8_len(old[start:end])
        cr = self._cr or "\r" in new_text
        # Only a "\r" just before the edit or inserted by it can have lost or lack its "\n".
        lone_cr = self._lone_cr or (
            cr and _has_lone_carriage_return(text, max(start - 1, 0), start + len(new_text))
        )
        return LineIndex(
            text,
            _starts=new_starts,
            _shift_from=shift_from,
            _shift=shift + delta,
            _cr=cr,
            _lone_cr=lone_cr,
            _bstarts=new_bstarts,
            _bshift=bshift,
        )

    def _real(self, starts: array[int], shift: int) -> array[int]:
        """`starts` (the str or the byte ones) with the pending shift applied."""
        split = self._shift_from
        real = starts[:split]
        real.extend([s + shift for s in starts[split:]])
        return real


# A few recent indexes, so repeated conversions on the same text do not rescan it. Documents put
# their incrementally updated index here too (see `remember`). The key is the text's identity:
# hashing a large text would cost more than the conversion (the entry holds the text, so its id
# cannot be reused while the entry is here). An equal text that is another object is rescanned.
_CACHE_SIZE = 8
_cache: OrderedDict[int, LineIndex] = OrderedDict()
_cache_lock = threading.Lock()


def remember(index: LineIndex) -> None:
    """Offer an index already built for its text to later `line_index` calls."""
    key = id(index.text)
    with _cache_lock:
        _cache[key] = index
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def line_index(text: str) -> LineIndex:
    """The (cached) line index of `text`."""
    with _cache_lock:
        index = _cache.get(id(text))
        if index is not None and index.text is text:
            _cache.move_to_end(id(text))
            return index
    index = LineIndex(text)
    remember(index)
    return index


def position_to_offset(
    text: str, line: int, column: int, encoding: Encoding = "utf-16", *, clamp: bool = False
) -> int:
    """0-based `line` and `column` (in `encoding` units) -> index into `text`.

    Raises PositionError for a line past the end or a column past the end of its line, unless
    `clamp`, which moves such positions to the document end / the line end instead.
    """
    return line_index(text).position_to_offset(line, column, encoding, clamp=clamp)


def offset_to_position(text: str, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
    """Index into `text` -> 0-based (line, column in `encoding` units)."""
    return line_index(text).offset_to_position(offset, encoding)
