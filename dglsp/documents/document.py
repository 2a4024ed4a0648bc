"""An open document: its text, version and a tree-sitter tree kept in step with every edit.

The document owns its text, its parser and its tree, and updates them together: each change
becomes a tree-sitter edit in utf-8 bytes and (row, byte column) points, applied to a copy of the
current tree, which the parser then re-parses incrementally. Trees are never edited once a
snapshot may hold them, so `snapshot()` shares the current tree instead of copying it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import tree_sitter

from dglsp.documents.encoding import LineIndex, line_index, remember
from dglsp.languages import grammar

log = logging.getLogger(__name__)

# Above this many utf-8 bytes a document is not parsed (carving falls back to a window of lines):
# generated or minified files make tree-sitter slow and say little about the code being written.
MAX_PARSE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of a document at one version, safe to hand to background work."""

    uri: str
    version: int
    language: str  # dglsp language name (see dglsp.languages), or the raw id if unknown
    text: str
    tree: tree_sitter.Tree | None  # None without a grammar, for binary or oversized text

    @property
    def line_index(self) -> LineIndex:
        return line_index(self.text)


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


def tree_edit(text: str, start: int, end: int, new_text: str) -> TreeEdit:
    """The tree-sitter edit replacing text[start:end] with new_text (str offsets in)."""
    line_start = text.rfind("\n", 0, start) + 1
    start_byte = start if text.isascii() else _utf8_len(text[:start])
    start_point = (text.count("\n", 0, start), _utf8_len(text[line_start:start]))
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


class Document:
    """Text + version + incrementally parsed tree of one open document."""

    def __init__(self, uri: str, language: str, version: int, text: str) -> None:
        self._uri = uri
        self._language = language
        self._version = version
        self._parser = _parser(language)
        self._lines: LineIndex | None = None
        self._text = text
        self._binary = "\0" in text
        self._tree = self._parse_fresh()

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
        """The current tree; never edited in place, so holding on to it is safe."""
        return self._tree

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
        """Replace text[start:end] (str offsets) with `new_text`, updating the tree incrementally."""
        old = self._text
        if not 0 <= start <= end <= len(old):
            raise ValueError(f"change range {start}..{end} is outside a document of length {len(old)}")
        # A document being edited keeps its line index in step and offers it to the free
        # position functions, which the server calls on `text` for the next change.
        lines = self._lines if self._lines is not None else line_index(old)
        self._lines = lines.edited(start, end, new_text)
        remember(self._lines)
        text = self._lines.text
        # Only a change can bring a NUL in; only a document that had one can lose it.
        self._binary = ("\0" in text) if self._binary else ("\0" in new_text)
        self._text = text
        if version is not None:
            self._version = version
        if self._tree is None:
            self._tree = self._parse_fresh()  # e.g. the last NUL just went away
            return
        data = _utf8(text)
        if not self._parsable(data):
            self._tree = None
            return
        edited = self._tree.copy()  # the old tree may sit in a snapshot: edit a copy
        edited.edit(*tree_edit(old, start, end, new_text))
        assert self._parser is not None  # a tree exists only when there is a parser
        self._tree = self._parser.parse(data, old_tree=edited)

    def replace_all(self, text: str, version: int | None = None) -> None:
        """Replace the whole text (a full-document change); the tree is parsed afresh."""
        self._text = text
        self._lines = None
        self._binary = "\0" in text
        if version is not None:
            self._version = version
        self._tree = self._parse_fresh()

    def snapshot(self) -> Snapshot:
        return Snapshot(self._uri, self._version, self._language, self._text, self._tree)

    def _parsable(self, data: bytes) -> bool:
        return self._parser is not None and not self._binary and len(data) <= MAX_PARSE_BYTES

    def _parse_fresh(self) -> tree_sitter.Tree | None:
        if self._parser is None or self._binary or len(self._text) > MAX_PARSE_BYTES:
            return None
        data = _utf8(self._text)
        if not self._parsable(data):
            return None
        return self._parser.parse(data)
