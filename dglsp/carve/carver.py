"""carve(): the innermost function around the cursor, or a window of lines.

Node positions from tree-sitter are utf-8 byte offsets, so the span is worked out on the utf-8
bytes of the text and converted to str offsets at the end. "\\r" and "\\n" are single bytes that
never occur inside a multi-byte character, so line arithmetic on bytes matches the str's lines.
The bytes are the ones the tree was parsed from (`Snapshot.utf8`) and offsets convert through the
snapshot's line index, so nothing here costs time in proportion to the file: only the region.
"""

from __future__ import annotations

import tree_sitter

from dglsp.carve.queries import Found, find_around, find_imports, queries
from dglsp.carve.region import Region
from dglsp.documents import Snapshot

_BREAKS = b"\r\n"
_BLANK = b" \t\f\v\r\n"

# Languages whose blocks end by dedenting: there a function node ends at its last statement, so a
# cursor on a following blank line, indented deeper than the `def`, is still writing that body.
_OFFSIDE = {"python": frozenset({"function_definition"})}


class _Source:
    """The text and its utf-8 bytes, with offset conversions both ways."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.text = snapshot.text
        self.ascii = self.text.isascii()
        self.data = snapshot.utf8  # the parse's bytes, not a second encode of the file
        self.lines = snapshot.line_index

    def to_byte(self, offset: int) -> int:
        return offset if self.ascii else self.lines.byte_offset(offset)

    def to_char(self, byte: int) -> int:
        return byte if self.ascii else self.lines.char_offset(byte)

    def slice(self, start_byte: int, end_byte: int) -> str:
        return self.data[start_byte:end_byte].decode("utf-8", "replace")

    def line_start(self, byte: int) -> int:
        data = self.data
        return max(data.rfind(b"\n", 0, byte), data.rfind(b"\r", 0, byte)) + 1

    def line_end(self, byte: int) -> int:
        """The end of the line holding `byte`, before its break."""
        data = self.data
        ends = [i for i in (data.find(b"\n", byte), data.find(b"\r", byte)) if i >= 0]
        return min(ends, default=len(data))

    def last_line_end(self, start_byte: int, end_byte: int) -> int:
        """The end of the last line of [start_byte, end_byte), before its break."""
        while end_byte > start_byte and self.data[end_byte - 1] in _BREAKS:
            end_byte -= 1  # a node that ends with its own line break (e.g. C preprocessor lines)
        return self.line_end(end_byte)


def carve(snapshot: Snapshot, cursor: int, window_lines: int = 60) -> Region:
    """The region the prompt is built from for a cursor at str offset `cursor`.

    The innermost function-like node around the cursor (grammars/<language>.scm, @function);
    outside any function, or without a grammar, `window_lines` lines centred on the cursor.
    """
    text = snapshot.text
    if not 0 <= cursor <= len(text):
        raise ValueError(f"cursor {cursor} is outside a document of length {len(text)}")
    if window_lines < 1:
        raise ValueError(f"window_lines must be at least 1, not {window_lines}")
    q = queries(snapshot.language)
    # The nodes around the cursor and the imports: in a large document, a parse of just those.
    tree = snapshot.tree_at(cursor) if q is not None else None
    if q is None or tree is None:
        start, end = _window(snapshot, cursor, window_lines)
        return Region(snapshot.language, "window", start, end, cursor, "")

    src = _Source(snapshot)
    at = src.to_byte(cursor)
    offside = _OFFSIDE.get(snapshot.language, frozenset())
    # In offside languages a function may end before blank space leading up to the cursor.
    lo = at
    if offside:
        while lo > 0 and src.data[lo - 1] in _BLANK:
            lo -= 1
    found = find_around(q, tree, max(lo - 1, 0), at + 1)  # -1: nodes ending right at the cursor

    function = _innermost(found, src, at, offside)
    if function is not None:
        node, span_start = function
        kind = "function"
        start_b = src.line_start(span_start)
        end_b = src.last_line_end(span_start, node.end_byte)
        if at > end_b:  # an offside body continued on the cursor's line
            end_b = src.line_end(at)
        start, end = src.to_char(start_b), src.to_char(end_b)
        scopes = {
            s: begin
            for s, begin in found.scopes.items()
            if s.start_byte <= span_start and s.end_byte >= node.end_byte
        }
    else:
        kind = "window"
        start, end = _window(snapshot, cursor, window_lines)
        start_b, end_b = src.to_byte(start), src.to_byte(end)
        scopes = {s: begin for s, begin in found.scopes.items() if s.start_byte <= at <= s.end_byte}

    header = _header(src, find_imports(q, tree), scopes, start_b, end_b, _parsed_spans(tree))
    return Region(snapshot.language, kind, start, max(end, cursor), cursor, header)


def _innermost(
    found: Found, src: _Source, at: int, offside: frozenset[str]
) -> tuple[tree_sitter.Node, int] | None:
    """The innermost @function holding byte `at` (ends inclusive), with its span start."""
    inside = [
        (node, start)
        for node, start in found.functions.items()
        if node.start_byte <= at <= node.end_byte
        or (node.type in offside and _continues_offside(src, node, start, at))
    ]
    if not inside:
        return None
    # Nested nodes start later; of two starting together the shorter is inside the other.
    return max(inside, key=lambda item: (item[0].start_byte, -item[0].end_byte))


def _continues_offside(src: _Source, node: tree_sitter.Node, span_start: int, at: int) -> bool:
    """Whether a cursor after an offside function's last statement still writes its body."""
    data, end = src.data, node.end_byte
    if at < end or data[end:at].strip(_BLANK):
        return False
    if not any(b in data[end:at] for b in _BREAKS):
        return True  # trailing blanks on the function's last line
    line = src.line_start(span_start)
    indent = len(data[line:span_start]) - len(data[line:span_start].lstrip(b" \t"))
    return at - src.line_start(at) > indent


def _parsed_spans(tree: tree_sitter.Tree) -> list[tuple[int, int]]:
    """The byte spans the tree was parsed from: the whole text, or a large document's window
    (dglsp/documents/focus.py), whose nodes may stretch over text left out of the parse."""
    return [(r.start_byte, r.end_byte) for r in tree.included_ranges]


def _header(
    src: _Source,
    imports: list[tree_sitter.Node],
    scopes: dict[tree_sitter.Node, int],
    start_b: int,
    end_b: int,
    spans: list[tuple[int, int]],
) -> str:
    """Imports outside the span and headers of enclosing scopes above it, in document order."""
    parts: list[tuple[int, str]] = [
        (node.start_byte, src.slice(node.start_byte, node.end_byte).rstrip())
        for node in imports
        if node.end_byte <= start_b or node.start_byte >= end_b
    ]
    for scope, front in scopes.items():
        begin, text = _scope_header(src, scope, front, spans)
        if begin < start_b:  # a header on the span's first line is in the span already
            parts.append((begin, text))
    seen: set[str] = set()
    lines = []
    for _, text in sorted(parts, key=lambda part: part[0]):
        if text and text not in seen:
            seen.add(text)
            lines.append(text)
    return "\n".join(lines)


def _scope_header(
    src: _Source, scope: tree_sitter.Node, front: int, spans: list[tuple[int, int]]
) -> tuple[int, str]:
    """Where a scope's header starts and its text: from its decorators to its body's opening."""
    data = src.data
    line = src.line_start(front)
    # Keep the indentation of a nested scope, so the header reads like the code.
    begin = line if not data[line:front].strip(b" \t") else front
    body = scope.child_by_field_name("body")
    if body is None:
        return begin, src.slice(begin, src.line_end(scope.start_byte)).rstrip()
    end = body.start_byte
    # In a window, a Python class body starts at its first statement parsed, maybe far below:
    # the header ends where the parsed text around it does.
    parsed_end = next((e for s, e in spans if s <= begin < e), end)
    if end > parsed_end:
        return begin, src.slice(begin, parsed_end).rstrip()
    if data[end : end + 1] == b"{":
        end += 1  # "impl<T> Trait for X {" reads better with its brace
    return begin, src.slice(begin, end).rstrip()


def _window(snapshot: Snapshot, cursor: int, lines: int) -> tuple[int, int]:
    """`lines` lines centred on the cursor's line, clipped to the document."""
    index = snapshot.line_index  # the document's own, kept in step edit by edit
    line = index.line_of(cursor)
    first = line - lines // 2
    last = first + lines - 1
    return index.line_start(max(first, 0)), index.line_end(min(last, index.line_count - 1))
