"""An open document: its text, version and a tree-sitter tree kept in step with every edit.

The document owns its text, its parser and its tree, and updates them together. Each change
becomes a tree-sitter edit in utf-8 bytes and (row, byte column) points, recorded at once; the
parse waits until something asks for the tree (carving, when a completion request survives the
debounce), so keystrokes whose requests are superseded never parse. The first tree asked for
after several changes replays their edits, in order, on a copy of the last parsed tree and
re-parses once, incrementally. Trees are never edited once parsed, so snapshots share them.
The utf-8 bytes a tree was parsed from stay with it (`Snapshot.utf8`): carving reads them rather
than encoding the file again, and byte offsets come from the line index, not from the text.

Carving asks for `Snapshot.tree_at(cursor)`: in a large document (focus.py) that is a parse of the
imports and the statements around the cursor only, carried from version to version like the
whole tree, so a keystroke costs what the window holds; the whole tree is parsed again only when
the cursor leaves the window.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, NamedTuple

import tree_sitter

from dglsp.documents import focus
from dglsp.documents.encoding import LineIndex, line_index, remember
from dglsp.languages import grammar

log = logging.getLogger(__name__)

# Above this many utf-8 bytes a document is not parsed (carving falls back to a window of lines):
# generated or minified files make tree-sitter slow and say little about the code being written.
MAX_PARSE_BYTES = 2 * 1024 * 1024
# Edits waiting for a parse are kept up to this many; past it the next tree is parsed afresh
# (a document typed into for a long time with no completion asked keeps no long history).
MAX_PENDING_EDITS = 2000


class TreeEdit(NamedTuple):
    """The arguments of tree_sitter.Tree.edit: utf-8 byte offsets and (row, byte column) points."""

    start_byte: int
    old_end_byte: int
    new_end_byte: int
    start_point: tuple[int, int]
    old_end_point: tuple[int, int]
    new_end_point: tuple[int, int]


def _utf8(s: str) -> bytes:
    # surrogatepass keeps byte counts consistent for lone surrogates a client may send.
    return s.encode("utf-8", "surrogatepass")


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(_utf8(s))


def _advance(point: tuple[int, int], s: str) -> tuple[int, int]:
    """The point after `s` when it starts at `point`. Rows count "\\n" only, as tree-sitter does."""
    row, column = point
    newlines = s.count("\n")
    if not newlines:
        return row, column + _utf8_len(s)
    return row + newlines, _utf8_len(s[s.rfind("\n") + 1 :])


def tree_edit(text: str, start: int, end: int, new_text: str, lines: LineIndex | None = None) -> TreeEdit:
    """The tree-sitter edit replacing text[start:end] with new_text (str offsets in).

    With `lines`, the index of `text`, the start's byte offset and row come from the index (a
    bisect and one line) instead of encoding and counting the text before `start`; its rows are
    tree-sitter's when no "\\r" stands alone ("\\r\\n" text included).
    """
    if lines is not None and lines.text is text:
        start_byte = lines.byte_offset(start)
        if not lines.may_have_lone_carriage_returns:
            row = lines.line_of(start)
            start_point = (row, start_byte - lines.byte_line_start(row))
        else:
            row = text.count("\n", 0, start)
            start_point = (row, _utf8_len(text[text.rfind("\n", 0, start) + 1 : start]))
    else:
        row = text.count("\n", 0, start)
        line_start = text.rfind("\n", 0, start) + 1
        start_byte = start if text.isascii() else _utf8_len(text[:start])
        start_point = (row, _utf8_len(text[line_start:start]))
    removed = text[start:end]
    return TreeEdit(
        start_byte=start_byte,
        old_end_byte=start_byte + _utf8_len(removed),
        new_end_byte=start_byte + _utf8_len(new_text),
        start_point=start_point,
        old_end_point=_advance(start_point, removed),
        new_end_point=_advance(start_point, new_text),
    )


def _parser(language: str) -> tree_sitter.Parser | None:
    try:
        lang = grammar(language)
    except (ImportError, ValueError) as exc:  # a grammar wheel missing or built for another ABI
        log.warning("no tree-sitter grammar for %s: %s", language, exc)
        return None
    return tree_sitter.Parser(lang) if lang is not None else None


class _Parsing:
    """What the tree slots of one document share: its language, its parsers and a lock (a
    parser parses one text at a time, and a snapshot may be asked for its tree from another
    thread). `parser` parses whole files; `focus_parser` parses windows (see focus.py)."""

    __slots__ = ("_focus_parser", "language", "lock", "parser")

    def __init__(self, language: str, parser: tree_sitter.Parser | None) -> None:
        self.language = language
        self.parser = parser
        self._focus_parser: tree_sitter.Parser | None = None
        self.lock = threading.Lock()

    @property
    def focus_parser(self) -> tree_sitter.Parser:
        if self._focus_parser is None:
            self._focus_parser = tree_sitter.Parser(grammar(self.language))
        return self._focus_parser

    def head_end(self, tree: tree_sitter.Tree) -> int:
        """Where the imports carving finds in `tree` end (0 without any)."""
        from dglsp.carve.queries import find_imports, queries  # carving imports documents

        q = queries(self.language)
        found = find_imports(q, tree) if q is not None else []
        return max((node.end_byte for node in found), default=0)


class _Focus(NamedTuple):
    """A focused parse: the tree of one version over `window`'s ranges only."""

    tree: tree_sitter.Tree
    window: focus.Window


class _TreeSlot:
    """The tree of one version of a document, parsed the first time it is asked for.

    Until then the slot knows how to get it: from the slot of the version before plus the edit
    between them (an incremental parse from the nearest parsed ancestor), or, with no parent,
    by a fresh parse. The slot holds no text (an unparsed chain would keep every version's
    text alive): whoever asks passes the text of the slot's version.
    """

    __slots__ = (
        "_binary",
        "_data",
        "_edit",
        "_focus",
        "_parent",
        "_parsed",
        "_parsing",
        "_pending",
        "_tree",
    )

    def __init__(
        self, parsing: _Parsing, binary: bool, parent: _TreeSlot | None = None, edit: TreeEdit | None = None
    ) -> None:
        self._parsing = parsing
        self._binary = binary
        self._parent = parent
        self._edit = edit
        self._tree: tree_sitter.Tree | None = None
        self._data: bytes | None = None  # the utf-8 text the tree (or the focused tree) was parsed from
        self._focus: _Focus | None = None
        self._parsed = False
        self._pending = 0 if parent is None else 1 + (0 if parent._parsed else parent._pending)

    @property
    def parsed(self) -> bool:
        return self._parsed

    @property
    def data(self) -> bytes | None:
        """The utf-8 bytes the tree was parsed from (None before the parse or without a tree)."""
        return self._data

    def edited(self, edit: TreeEdit | None, binary: bool) -> _TreeSlot:
        """The slot of the next version, `edit` away from this one (None: a fresh parse)."""
        if self._parsing.parser is None:
            return _TreeSlot(self._parsing, binary)  # never parsed: no history to keep
        if edit is None or self._pending >= MAX_PENDING_EDITS:
            return _TreeSlot(self._parsing, binary)
        return _TreeSlot(self._parsing, binary, self, edit)

    def tree(self, text: str) -> tree_sitter.Tree | None:
        """The tree of `text` (this slot's version), parsed now if it was not yet."""
        if self._parsed:
            return self._tree
        with self._parsing.lock:
            return self._whole_tree(text)

    def _whole_tree(self, text: str, data: bytes | None = None) -> tree_sitter.Tree | None:
        """`tree`, with the lock held (`data`: the text's utf-8 bytes when already at hand)."""
        if not self._parsed:
            self._tree, self._data = self._parse(text, data)
            self._parsed = True
            self._parent = self._edit = None  # the chain behind is no longer needed
        return self._tree

    def tree_at(self, text: str, at: int) -> tree_sitter.Tree | None:
        """A tree that holds the nodes around byte `at` and the file's imports: the whole tree
        for a small document, a focused one (focus.py) for a large one."""
        if self._parsed:
            return self._tree
        held = self._focus
        if held is not None and held.window.holds(at):
            return held.tree
        if self._parsing.parser is None or self._binary or len(text) < focus.FOCUS_MIN_BYTES:
            return self.tree(text)
        with self._parsing.lock:
            if self._parsed:
                return self._tree
            held = self._focus
            if held is not None and held.window.holds(at):
                return held.tree
            data = _utf8(text)
            if len(data) > MAX_PARSE_BYTES:
                return self._whole_tree(text, data)  # no tree: too large to parse at all
            tree = self._refocus(data, at)
            if tree is not None:
                return tree
            # No window to carry on from: the whole tree serves this request, and a window
            # chosen from it serves the next keystrokes.
            whole = self._whole_tree(text, data)
            if whole is not None:
                window = focus.choose_window(whole, data, at, self._parsing.head_end(whole))
                focused = self._parse_window(data, window, None)
                self._focus = _Focus(focused, window) if focused is not None else None
            return whole

    def _refocus(self, data: bytes, at: int) -> tree_sitter.Tree | None:
        """The focused tree of this version for a cursor at `at`, parsed incrementally from the
        nearest earlier version's window; None when none serves (then a new window is chosen)."""
        edits: list[TreeEdit] = []
        base: _TreeSlot | None = self
        while base is not None and base._focus is None:
            if base._parsed or base._edit is None:
                return None  # the chain behind has no window
            edits.append(base._edit)
            base = base._parent
        if base is None or base is self or base._focus is None:
            return None  # this version's own window does not hold `at`
        edited = base._focus.tree.copy()
        window: focus.Window | None = base._focus.window
        for edit in reversed(edits):
            edited.edit(*edit)
            window = window.edited(edit) if window is not None else None
        if window is None or not window.holds(at):
            return None
        tree = self._parse_window(data, window, edited)
        if tree is None:
            return None
        self._focus = _Focus(tree, window)
        self._data = data
        # Only the newest window is carried on from; an older version asked again refocuses.
        base._focus = None
        if not base._parsed:
            base._data = None
        return tree

    def _parse_window(
        self, data: bytes, window: focus.Window, old: tree_sitter.Tree | None
    ) -> tree_sitter.Tree | None:
        parser = self._parsing.focus_parser
        try:
            parser.included_ranges = list(window.ranges)
        except ValueError:  # ranges tree-sitter refuses: choose a new window instead
            log.debug("focused parse: ranges refused: %s", window.ranges)
            return None
        return parser.parse(data) if old is None else parser.parse(data, old_tree=old)

    def _parse(self, text: str, data: bytes | None = None) -> tuple[tree_sitter.Tree | None, bytes | None]:
        """The tree and the bytes it was parsed from (`data`, or the text encoded now). The tree
        holds on to those bytes anyway (py-tree-sitter keeps its source), so carving reads them
        instead of encoding again."""
        parser = self._parsing.parser
        if parser is None or self._binary:
            return None, None
        if data is None:
            data = _utf8(text)
        if len(data) > MAX_PARSE_BYTES:
            return None, None
        edits: list[TreeEdit] = []
        base: _TreeSlot | None = self
        while base is not None and not base._parsed:
            if base._edit is not None:
                edits.append(base._edit)
            base = base._parent
        old = base._tree if base is not None else None
        if old is None:  # nothing parsed to start from (new, binary or oversized before)
            return parser.parse(data), data
        edited = old.copy()  # the old tree may sit in a snapshot: edit a copy
        for edit in reversed(edits):
            edited.edit(*edit)
        return parser.parse(data, old_tree=edited), data


class Snapshot:
    """An immutable view of a document at one version, safe to hand to background work.

    `tree` is parsed the first time it is read (once for all snapshots of the version and the
    document itself); `Snapshot(uri, version, language, text, tree)` makes one around a tree
    already at hand (or None).
    """

    __slots__ = ("_lines", "_slot", "_tree", "language", "text", "uri", "version")

    uri: str
    version: int
    language: str  # dglsp language name (see dglsp.languages), or the raw id if unknown
    text: str

    def __init__(
        self,
        uri: str,
        version: int,
        language: str,
        text: str,
        tree: tree_sitter.Tree | None = None,
        *,
        _slot: _TreeSlot | None = None,
        _lines: LineIndex | None = None,
    ) -> None:
        for name, value in (
            ("uri", uri),
            ("version", version),
            ("language", language),
            ("text", text),
            ("_tree", tree),
            ("_slot", _slot),
            ("_lines", _lines),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        return f"Snapshot(uri={self.uri!r}, version={self.version}, language={self.language!r})"

    @property
    def tree(self) -> tree_sitter.Tree | None:
        """The tree; None without a grammar, for binary or oversized text. Parsed on first use."""
        if self._slot is not None:
            return self._slot.tree(self.text)
        return self._tree

    def tree_at(self, cursor: int) -> tree_sitter.Tree | None:
        """A tree holding the nodes around str offset `cursor` and the file's imports, with the
        whole document's positions: `tree` itself for a small document; for a large one a parse
        of just those parts (documents/focus.py), incremental while the cursor stays near."""
        if self._slot is None:
            return self._tree
        at = cursor if self.text.isascii() else self.line_index.byte_offset(cursor)
        return self._slot.tree_at(self.text, at)

    @property
    def parsed(self) -> bool:
        """Whether `tree` is there already (reading it costs no parse)."""
        return self._slot is None or self._slot.parsed

    @property
    def utf8(self) -> bytes:
        """The text in utf-8 ("surrogatepass"): the very bytes `tree` was parsed from once it is
        parsed (no second encode of the file per request), else a fresh encode."""
        data = self._slot.data if self._slot is not None else None
        return data if data is not None else _utf8(self.text)

    @property
    def line_index(self) -> LineIndex:
        return self._lines if self._lines is not None else line_index(self.text)


class Document:
    """Text + version + incrementally parsed tree of one open document."""

    def __init__(self, uri: str, language: str, version: int, text: str) -> None:
        self._uri = uri
        self._language = language
        self._version = version
        self._parsing = _Parsing(language, _parser(language))
        self._lines: LineIndex | None = None
        self._text = text
        self._binary = "\0" in text
        self._slot = _TreeSlot(self._parsing, self._binary)  # parsed when first asked for

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def language(self) -> str:
        return self._language

    @property
    def version(self) -> int:
        return self._version

    @property
    def text(self) -> str:
        return self._text

    @property
    def tree(self) -> tree_sitter.Tree | None:
        """The current tree (parsed now if edits are pending); never edited in place, so
        holding on to it is safe."""
        return self._slot.tree(self._text)

    @property
    def parsed(self) -> bool:
        """Whether the current tree is there already (no edit waits for a parse)."""
        return self._slot.parsed

    @property
    def is_binary(self) -> bool:
        """The text holds NUL characters: most likely not a text file (it is not parsed)."""
        return self._binary

    @property
    def line_index(self) -> LineIndex:
        """Line starts of the current text, updated edit by edit once the document is edited."""
        if self._lines is None:
            self._lines = line_index(self._text)
        return self._lines

    def apply_change(self, start: int, end: int, new_text: str, version: int | None = None) -> None:
        """Replace text[start:end] (str offsets) with `new_text`; the tree follows when asked for."""
        old = self._text
        if not 0 <= start <= end <= len(old):
            raise ValueError(f"change range {start}..{end} is outside a document of length {len(old)}")
        lines = self.line_index
        edit = tree_edit(old, start, end, new_text, lines) if self._parsing.parser is not None else None
        # A document being edited keeps its line index in step and offers it to the free
        # position functions, which the server calls on `text` for the next change.
        self._lines = lines.edited(start, end, new_text)
        remember(self._lines)
        self._text = self._lines.text
        # Only a change can bring a NUL in; only a document that had one can lose it.
        self._binary = ("\0" in self._text) if self._binary else ("\0" in new_text)
        if version is not None:
            self._version = version
        self._slot = self._slot.edited(edit, self._binary)

    def replace_all(self, text: str, version: int | None = None) -> None:
        """Replace the whole text (a full-document change); the tree is parsed afresh."""
        self._text = text
        self._lines = None
        self._binary = "\0" in text
        if version is not None:
            self._version = version
        self._slot = self._slot.edited(None, self._binary)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self._uri, self._version, self._language, self._text, _slot=self._slot, _lines=self._lines
        )
