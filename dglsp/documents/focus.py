"""The part of a large document that is parsed while typing: its imports and the code around
the cursor.

tree-sitter 0.26's incremental parse walks every top-level statement of the file, whatever
the edit: about 4 ms per keystroke on a 10,000-line file, and growing with it. Carving reads
only the nodes around the cursor and the file's imports, so past `FOCUS_MIN_BYTES` a document
parses just those, as tree-sitter *included ranges*: the tree's positions stay the whole
document's, and an incremental parse costs what the ranges hold, not what the file holds.

A `Window` is chosen from a whole-file tree: the head (up to the last import carving would
find) and a run of whole top-level statements reaching at least `WINDOW_MARGIN_BYTES` either
side of the cursor; inside a statement too large for that (a Java class, a `describe` block), a
run of its children with the lines that open and close it. Each range runs over whole lines, so
the parser sees line breaks where the file has them (Python's indentation and JavaScript's
semicolon insertion need them). Edits move
the ranges (`Window.edited`); while the cursor stays inside the
window, away from an edge where statements were left out, the window serves. Otherwise the
document parses the whole file once more and chooses a new window: once per jump, not per
keystroke.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tree_sitter

if TYPE_CHECKING:
    from dglsp.documents.document import TreeEdit

# Documents shorter than this (in characters) parse whole (one tree serves every cursor): at
# 16 K, about 500 lines, a whole-file incremental parse costs what a window's does (~0.1 ms on
# the bench's CPU).
FOCUS_MIN_BYTES = 16 * 1024
# The window reaches at least this far either side of the cursor (in whole statements), so the
# cursor can wander about 100 lines before a new window is needed.
WINDOW_MARGIN_BYTES = 4 * 1024
# A cursor nearer than this to an edge past which statements were left out gets a new window:
# the statement being written must lie inside the window, not across its edge.
EDGE_GUARD_BYTES = 1024
# A statement around the cursor larger than this is windowed inside (see choose_window).
DESCEND_BYTES = 32 * 1024
# tree-sitter's "to the end of the document", which also takes in text typed at the end.
END = 0xFFFFFFFF
_END_POINT = (END, END)


@dataclass(frozen=True)
class Window:
    """Included ranges for a focused parse: sorted, disjoint, whole lines."""

    ranges: tuple[tree_sitter.Range, ...]
    index: int  # the range around the cursor
    cut_start: bool  # statements before that range were left out
    cut_end: bool  # statements after it were left out

    @property
    def start(self) -> int:
        return self.ranges[self.index].start_byte

    @property
    def end(self) -> int:
        return self.ranges[self.index].end_byte

    def holds(self, at: int) -> bool:
        """Whether a cursor at byte `at` is served by this window."""
        start, end = self.start, self.end
        if not start <= at <= end:
            return False
        if self.cut_start and at - start < EDGE_GUARD_BYTES:
            return False
        return not (self.cut_end and end - at < EDGE_GUARD_BYTES)

    def edited(self, edit: TreeEdit) -> Window | None:
        """This window after `edit`, or None when the edit leaves it unusable.

        Ranges move as tree-sitter moves a tree's included ranges (`Tree.edit`), but for one
        case: text inserted where a range starts joins that range (a range starts a line, and
        text typed at a line's start is that line's), where tree-sitter would leave it out.
        """
        moved = tuple(_moved(r, edit) for r in self.ranges)
        previous_end = 0
        for r in moved:
            if r.start_byte < previous_end or r.end_byte < r.start_byte:
                return None
            previous_end = r.end_byte
        if moved[self.index].start_byte == moved[self.index].end_byte:
            return None  # the window was deleted
        return Window(moved, self.index, self.cut_start, self.cut_end)


def _moved(r: tree_sitter.Range, edit: TreeEdit) -> tree_sitter.Range:
    start, start_point = r.start_byte, r.start_point
    if edit.start_byte < start < edit.old_end_byte:  # the edit removed the range's first bytes
        start, start_point = edit.start_byte, edit.start_point
    elif start > edit.start_byte:
        start, start_point = _shifted(start, start_point, edit)
    end, end_point = r.end_byte, r.end_point
    if end == END:
        pass
    elif edit.start_byte < end < edit.old_end_byte:  # the edit removed the range's last bytes
        end, end_point = edit.new_end_byte, edit.new_end_point
    elif end >= edit.old_end_byte:
        end, end_point = _shifted(end, end_point, edit)
    if (start, start_point, end, end_point) == (r.start_byte, r.start_point, r.end_byte, r.end_point):
        return r
    return tree_sitter.Range(start_point, end_point, start, end)


def _shifted(byte: int, point: tuple[int, int], edit: TreeEdit) -> tuple[int, tuple[int, int]]:
    """A position at or after the edit's old end, where the edit leaves it."""
    row, column = point
    old_row, old_column = edit.old_end_point
    new_row, new_column = edit.new_end_point
    if row == old_row:
        moved = (new_row, new_column + column - old_column)
    else:
        moved = (row - old_row + new_row, column)
    return byte - edit.old_end_byte + edit.new_end_byte, moved


def choose_window(tree: tree_sitter.Tree, data: bytes, at: int, head_end: int) -> Window:
    """The window for a cursor at byte `at` of `data`, from `tree`, a whole-file parse of it.

    `head_end`: the byte where the file's last import ends (0 without one); the head up to it
    is parsed too, so the imports carving puts in the prompt are in the tree.

    A statement around the cursor larger than `DESCEND_BYTES` (a Java class, a test file's
    `describe(() => {...})`) is windowed inside: its lines up to the part that holds the cursor
    and after it are kept (the class's header and closing brace), and so on down to a node whose
    child at the cursor is small; there a run of its children around the cursor is kept, with
    the lines of its opening and closing tokens.
    """
    root = tree.root_node
    node = root
    pieces: list[tuple[int, int]] = []
    if head_end > 0:
        pieces.append((0, _line_after(data, head_end)))
    while True:
        child = _child_holding(node.children, at)
        if child is None or child.child_count == 0 or child.end_byte - child.start_byte <= DESCEND_BYTES:
            break
        if node is not root:  # the node's own lines before and after the part being entered
            pieces.append((_line_start(data, node.start_byte), _line_start(data, child.start_byte)))
            pieces.append((_line_after(data, child.end_byte), _line_after(data, node.end_byte)))
        node = child
    kids = node.children
    if not kids:
        return Window((_range(data, 0, END),), 0, False, False)
    named = [i for i, kid in enumerate(kids) if kid.is_named]
    # The run of children that overlap [at - margin, at + margin], and at least the one at `at`.
    ends = [kid.end_byte for kid in kids]
    first = min(bisect.bisect_right(ends, at - WINDOW_MARGIN_BYTES), len(kids) - 1)
    last = first
    while last + 1 < len(kids) and kids[last + 1].start_byte < at + WINDOW_MARGIN_BYTES:
        last += 1
    cut_start = any(i < first for i in named)
    cut_end = any(i > last for i in named)
    if node is root:
        start = _line_start(data, kids[first].start_byte) if first > 0 else 0
        end = _line_after(data, kids[last].end_byte) if last < len(kids) - 1 else END
    else:
        start, end = _line_start(data, kids[first].start_byte), _line_after(data, kids[last].end_byte)
        # The opening and closing tokens ("{", "}") before the first child and after the last.
        for kid in kids[: named[0]] if named else kids:
            pieces.append((_line_start(data, kid.start_byte), _line_after(data, kid.end_byte)))
        for kid in kids[named[-1] + 1 :] if named else ():
            pieces.append((_line_start(data, kid.start_byte), _line_after(data, kid.end_byte)))
    pieces.append((start, end))
    ranges = _merged(pieces, len(data))
    index = next(i for i, (s, e) in enumerate(ranges) if s <= start < e)
    window_start, window_end = ranges[index]
    # An edge is cut where children were left out right behind it (not where the run joined
    # the lines before or after it, or reached the file's edge).
    cut_start = cut_start and window_start == start and window_start > 0
    cut_end = cut_end and window_end == end and window_end != END
    return Window(tuple(_range(data, s, e) for s, e in ranges), index, cut_start, cut_end)


def _child_holding(kids: list[tree_sitter.Node], at: int) -> tree_sitter.Node | None:
    starts = [kid.start_byte for kid in kids]
    i = bisect.bisect_right(starts, at) - 1
    return kids[i] if i >= 0 and at <= kids[i].end_byte else None


def _merged(pieces: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Sorted, non-empty, disjoint ranges covering `pieces`; one reaching the end of the data
    runs to END (text typed at the end is in it)."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(pieces):
        e = END if e >= size else e
        if s >= e:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _line_start(data: bytes, byte: int) -> int:
    return data.rfind(b"\n", 0, byte) + 1


def _line_after(data: bytes, byte: int) -> int:
    """The start of the line after the one holding `byte` (the line's own break included), or
    the end of the data. A node ending with its line break ends at the next line's start."""
    if byte > 0 and data[byte - 1 : byte] == b"\n":
        return byte
    found = data.find(b"\n", byte)
    return len(data) if found < 0 else found + 1


def _point(data: bytes, byte: int) -> tuple[int, int]:
    """tree-sitter's (row, byte column) of `byte`: rows count "\\n" only."""
    return data.count(b"\n", 0, byte), byte - _line_start(data, byte)


def _range(data: bytes, start: int, end: int) -> tree_sitter.Range:
    end_point = _END_POINT if end == END else _point(data, end)
    return tree_sitter.Range(_point(data, start), end_point, start, end)
