"""The per-language query files (grammars/<language>.scm), compiled once, and running them.

A query file is compiled into two queries: the @import patterns, run from the root with a start
depth limit over the file's head only (imports sit at the top of a file, and a whole-tree search
costs a fraction of a millisecond per keystroke on large files), and the rest (@function,
@decorator, @scope), run only over the bytes around the cursor, which visits the cursor's
ancestors and little else.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

import tree_sitter

from dglsp.languages import grammar, grammars_dir

log = logging.getLogger(__name__)

# @import patterns may start at the root (depth 0) or one of its children (depth 1).
IMPORT_MAX_START_DEPTH = 1
# The head searched for imports: from the file's start to this many bytes past the end of the
# last import found. A file's imports come first (Go and Java require it); ones after a stretch
# of this much code without any are not looked for. Searching costs a few microseconds per KB,
# so a file whose imports end near its top costs the same whatever its size.
IMPORT_WINDOW_BYTES = 8 * 1024


@dataclass(frozen=True)
class Queries:
    around: tree_sitter.Query  # @function / @decorator / @scope patterns
    imports: tree_sitter.Query | None  # @import patterns; None when the file has none


@dataclass
class Found:
    """Function-like nodes and scopes near the cursor."""

    # node -> byte where it starts with its decorators, in document order
    functions: dict[tree_sitter.Node, int]
    scopes: dict[tree_sitter.Node, int]


@functools.cache
def queries(language: str) -> Queries | None:
    """The compiled queries for a dglsp language name; None without a grammar or query file."""
    try:
        lang = grammar(language)
    except (ImportError, ValueError) as exc:
        log.warning("no tree-sitter grammar for %s: %s", language, exc)
        return None
    path = grammars_dir() / f"{language}.scm"
    if lang is None or not path.is_file():
        return None
    return compile_queries(lang, path.read_text(encoding="utf-8"))


def compile_queries(lang: tree_sitter.Language, source: str) -> Queries:
    """Split one query file into its @import patterns and the rest."""
    around = tree_sitter.Query(lang, source)
    imports = tree_sitter.Query(lang, source)
    raw = source.encode("utf-8")
    has_imports = False
    for i in range(around.pattern_count):
        # A pattern's own source text tells which capture it is for. (Its range runs up to the
        # next pattern, so it may hold comments, which are dropped first.)
        text = raw[around.start_byte_for_pattern(i) : around.end_byte_for_pattern(i)].decode("utf-8")
        is_import = _IMPORT_CAPTURE.search(_without_comments(text)) is not None
        (around if is_import else imports).disable_pattern(i)
        has_imports |= is_import
    return Queries(around, imports if has_imports else None)


_IMPORT_CAPTURE = re.compile(r"@import(?![\w.-])")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|;[^\n]*|[^";]+|"', re.S)


def _without_comments(query: str) -> str:
    """Query source without its ";" comments (a ";" inside a string is not one)."""
    return "".join(t for t in _TOKEN.findall(query) if not t.startswith(";"))


def find_around(q: Queries, tree: tree_sitter.Tree, start_byte: int, end_byte: int) -> Found:
    """@function and @scope nodes that intersect bytes [start_byte, end_byte)."""
    cursor = tree_sitter.QueryCursor(q.around)
    cursor.set_byte_range(start_byte, max(end_byte, start_byte + 1))
    found = Found({}, {})
    for _, match in cursor.matches(tree.root_node):
        front = min((n.start_byte for n in match.get("decorator", ())), default=None)
        for name, nodes in (("function", found.functions), ("scope", found.scopes)):
            for node in match.get(name, ()):
                start = node.start_byte if front is None else min(front, node.start_byte)
                nodes[node] = min(start, nodes.get(node, start))
    return found


def find_imports(q: Queries, tree: tree_sitter.Tree) -> list[tree_sitter.Node]:
    """@import nodes in the file's head (see IMPORT_WINDOW_BYTES), in document order."""
    if q.imports is None:
        return []
    root = tree.root_node
    found: dict[tree_sitter.Node, None] = {}
    start, reach = 0, IMPORT_WINDOW_BYTES
    while start < min(reach, root.end_byte):
        cursor = tree_sitter.QueryCursor(q.imports)
        cursor.set_max_start_depth(IMPORT_MAX_START_DEPTH)
        cursor.set_byte_range(start, reach)
        last = -1
        for _, match in cursor.matches(root):
            for node in match.get("import", ()):
                if node not in found:  # one across the edge of two searches is found twice
                    found[node] = None
                    last = max(last, node.end_byte)
        if last < 0:
            break
        # Searched up to `reach`; go on to a window's length past the last import.
        start, reach = reach, last + IMPORT_WINDOW_BYTES
    return sorted(found, key=lambda node: node.start_byte)
