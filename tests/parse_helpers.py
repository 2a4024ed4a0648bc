"""Test helpers for tree-sitter trees: counting a document's parses, comparing trees node by node."""

from __future__ import annotations

import tree_sitter

from dglsp.documents import Document


class CountingParser:
    """A parser that counts its parses (tree_sitter.Parser cannot be patched in place)."""

    def __init__(self, parser: tree_sitter.Parser) -> None:
        self.parser = parser
        self.parses = 0

    def parse(self, *args, **kwargs):
        self.parses += 1
        return self.parser.parse(*args, **kwargs)


def counting(doc: Document) -> CountingParser:
    """Count the whole-file parses of `doc` from now on."""
    counter = CountingParser(doc._parsing.parser)
    doc._parsing.parser = counter  # type: ignore[assignment]
    return counter


def shape(tree: tree_sitter.Tree) -> list[tuple]:
    """Every node with its type, byte range and points: stricter than the S-expression."""
    out = []
    cursor = tree.walk()
    while True:
        node = cursor.node
        out.append((node.type, node.start_byte, node.end_byte, node.start_point, node.end_point))
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return out
