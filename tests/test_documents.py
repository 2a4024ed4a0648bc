"""Documents: text, version and an incrementally parsed tree that must equal a fresh parse."""

from __future__ import annotations

import dataclasses

import pytest
import tree_sitter
from hypothesis import given, settings
from hypothesis import strategies as st
from parse_helpers import counting, shape

from dglsp.documents import Document, Snapshot
from dglsp.documents import document as document_module
from dglsp.documents.document import TreeEdit, tree_edit
from dglsp.documents.encoding import LineIndex, line_index
from dglsp.languages import grammar

SAMPLES = {
    "python": 'import os\n\nclass A:\n    def f(self, x):\n        return x + 1  # é\n\ns = "中😀"\n',
    "javascript": "const f = (a) => {\n  return a * 2;\n};\nclass B { m() { return 'é'; } }\n",
    "typescript": "function g(x: number): string {\n  return `${x}😀`;\n}\ninterface I { a: number }\n",
    "tsx": 'export function App() {\n  return <div className="中">{1}</div>;\n}\n',
    "rust": 'use std::io;\nfn main() {\n    let s = "é";\n    println!("{}", s);\n}\n',
    "go": 'package main\n\nfunc main() {\n\tx := "😀"\n\t_ = x\n}\n',
    "c": '#include <stdio.h>\nint main(void) {\n  printf("%s\\n", "中");\n  return 0;\n}\n',
    "cpp": "#include <vector>\nauto f = [](int x) { return x; };\nstruct S { int m() { return 1; } };\n",
    "java": "class A {\n  int f(int x) {\n    return x; // é\n  }\n}\n",
}

# Fragments that make and break syntax, with every kind of line break and multi-byte characters.
FRAGMENTS = [
    *"(){}[]:;,.=<>\"'`#/*x1 \t",
    "\n",
    "\r\n",
    "\r",
    "    ",
    "return ",
    "def ",
    "fn ",
    "function ",
    "é",
    "中",
    "😀",
    "//",
    "=>",
]
inserted = st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join)


def assert_same_as_fresh(doc: Document) -> None:
    fresh = Document(doc.uri, doc.language, doc.version, doc.text)
    assert str(doc.tree.root_node) == str(fresh.tree.root_node)
    assert shape(doc.tree) == shape(fresh.tree)


class ReferenceParser:
    """Incremental parsing done the slow, obvious way: edits from full re-encodes of the text.

    `apply(..., parse=False)` only edits the tree, as a document does until its tree is asked
    for; the next `parse()` re-parses once for all the edits since the last one."""

    def __init__(self, language: str, text: str) -> None:
        self.parser = tree_sitter.Parser(grammar(language))
        self.text = text
        self.tree = self.parser.parse(text.encode("utf-8", "surrogatepass"))

    def apply(self, start: int, end: int, new_text: str, parse: bool = True) -> None:
        self.tree.edit(*reference_edit(self.text, start, end, new_text))
        self.text = self.text[:start] + new_text + self.text[end:]
        if parse:
            self.parse()

    def parse(self) -> None:
        self.tree = self.parser.parse(utf8(self.text), self.tree)


def utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def reference_edit(text: str, start: int, end: int, new_text: str) -> TreeEdit:
    new = text[:start] + new_text + text[end:]
    start_byte = len(utf8(text[:start]))
    old_end, new_end = len(utf8(text[:end])), start_byte + len(utf8(new_text))
    return TreeEdit(
        start_byte,
        old_end,
        new_end,
        point(utf8(text), start_byte),
        point(utf8(text), old_end),
        point(utf8(new), new_end),
    )


def point(data: bytes, byte: int) -> tuple[int, int]:
    """tree-sitter's point of a byte offset: rows end at "\\n" only, columns count bytes."""
    return data.count(b"\n", 0, byte), byte - (data.rfind(b"\n", 0, byte) + 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=20).map("".join), st.data())
def test_tree_edit_bytes_and_points(text, data):
    # Points matter for the edited old tree (and changed_ranges); the reparsed tree hides them.
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    new_text = data.draw(inserted)
    expected = reference_edit(text, start, end, new_text)
    assert tree_edit(text, start, end, new_text) == expected
    # Rows from the line index (used while a document is edited) are the same rows.
    assert tree_edit(text, start, end, new_text, LineIndex(text)) == expected


def assert_consistent(doc: Document) -> None:
    """Every node's range lies in the text, and its points agree with its byte offsets."""
    data = doc.text.encode("utf-8", "surrogatepass")
    for _, start, end, start_point, end_point in shape(doc.tree):
        assert 0 <= start <= end <= len(data)
        assert (start_point, end_point) == (point(data, start), point(data, end))


def draw_edit(data, text: str) -> tuple[int, int, str]:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 12)))
    return start, end, data.draw(inserted)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_random_edits_update_text_and_tree(language, data):
    text = SAMPLES[language]
    doc = Document("file:///sample", language, 0, text)
    doc.tree  # noqa: B018 - the tree at open, as the reference has it
    reference = ReferenceParser(language, text)
    for version in range(1, data.draw(st.integers(1, 6)) + 1):
        start, end, new_text = draw_edit(data, text)
        text = text[:start] + new_text + text[end:]
        doc.apply_change(start, end, new_text, version)
        # Sometimes a request asks for the tree after this edit; otherwise the edits pile up
        # and the next tree asked for replays them all before one parse.
        asked = data.draw(st.booleans())
        reference.apply(start, end, new_text, parse=asked)
        if asked:
            assert doc.tree is not None and doc.parsed
        else:
            assert not doc.parsed
        assert doc.text == text
        assert doc.version == version
    reference.parse()
    assert_consistent(doc)
    # Same edits, same old trees: tree-sitter must give the same tree as the reference.
    assert shape(doc.tree) == shape(reference.tree)
    # tree-sitter does not promise that an incremental tree with syntax errors equals a fresh
    # parse (its error recovery depends on what it reuses: tree-sitter/tree-sitter#1444), so a
    # fresh parse is the oracle only when it is error-free.
    if not Document(doc.uri, language, 0, text).tree.root_node.has_error:
        assert_same_as_fresh(doc)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_typing_code_back_equals_a_fresh_parse(language, data):
    """Delete a span, then retype it in chunks with typos made and undone: a session at the keyboard."""
    text = SAMPLES[language]
    doc = Document("file:///sample", language, 0, text)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    doc.apply_change(start, end, "")
    at = start
    while at < end:
        if data.draw(st.booleans()):
            typo = data.draw(inserted)
            doc.apply_change(at, at, typo)
            assert_consistent(doc)
            doc.apply_change(at, at + len(typo), "")
        chunk = text[at : at + data.draw(st.integers(1, 5))][: end - at]
        doc.apply_change(at, at, chunk)
        at += len(chunk)
        assert_consistent(doc)
    assert doc.text == text
    assert_same_as_fresh(doc)


def test_incremental_parse_reuses_the_old_tree():
    text = "def a():\n    return 1\n\n\ndef b():\n    return 2\n" * 5
    doc = Document("file:///a.py", "python", 1, text)
    before = doc.tree
    old_ids = {node[0] for node in ids(before)}
    doc.apply_change(len(text), len(text), "x = 1\n")
    # Unchanged subtrees are shared with the old tree; a fresh parse would share none.
    assert len(old_ids & {node[0] for node in ids(doc.tree)}) > len(old_ids) // 4
    fresh = Document("file:///a.py", "python", 1, doc.text)
    assert not old_ids & {node[0] for node in ids(fresh.tree)}
    assert_same_as_fresh(doc)


def test_changes_wait_for_the_tree_and_one_parse_serves_them_all():
    text = "def a():\n    return 1\n\n\ndef b():\n    return 2\n" * 5
    doc = Document("file:///a.py", "python", 1, text)
    parser = counting(doc)
    assert not doc.parsed  # opening does not parse either
    first = doc.tree
    assert parser.parses == 1 and doc.parsed
    at = text.index("return 2") + len("return 2")
    for version, character in enumerate(" + 40", start=2):  # typing: nothing parses per keystroke
        doc.apply_change(at, at, character, version)
        at += 1
    snapshot = doc.snapshot()
    assert parser.parses == 1 and not doc.parsed and not snapshot.parsed
    tree = snapshot.tree  # a request that survived the debounce: one incremental parse
    assert parser.parses == 1 + 1 and snapshot.parsed
    # The document shares the snapshot's parse, and it reused the tree from before the typing.
    assert doc.parsed and doc.tree is tree and parser.parses == 2
    assert {n for n, _ in ids(first)} & {n for n, _ in ids(tree)}
    assert "return 2 + 40" in doc.text
    assert_same_as_fresh(doc)


def test_snapshots_of_older_versions_get_the_tree_of_their_own_text():
    doc = Document("file:///a.rs", "rust", 1, "fn main() {}\n")
    doc.tree  # noqa: B018
    old = doc.snapshot()
    doc.apply_change(0, 0, "fn f() -> u8 { 1 }\n", 2)
    middle = doc.snapshot()
    doc.apply_change(0, 0, "use std::io;\n", 3)
    # Asked for out of order: each replays the edits up to its own version.
    for snapshot in (doc.snapshot(), old, middle):
        fresh = Document("file:///b.rs", "rust", 0, snapshot.text).tree
        assert not fresh.root_node.has_error
        assert shape(snapshot.tree) == shape(fresh)
    assert doc.tree is doc.snapshot().tree


def test_a_tree_asked_for_from_two_threads_is_parsed_once():
    import threading

    text = "int f(void) { return 1; }\n" * 2000
    doc = Document("file:///a.c", "c", 1, text)
    doc.tree  # noqa: B018
    doc.apply_change(0, 0, "int g;\n", 2)
    parser = counting(doc)
    snapshot = doc.snapshot()
    trees = []
    threads = [threading.Thread(target=lambda: trees.append(snapshot.tree)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert parser.parses == 1 and len(trees) == 4 and all(tree is trees[0] for tree in trees)


def test_too_many_pending_edits_give_a_fresh_parse(monkeypatch):
    monkeypatch.setattr(document_module, "MAX_PENDING_EDITS", 3)
    text = "def a():\n    return 1\n" * 5
    doc = Document("file:///a.py", "python", 1, text)
    old = doc.tree  # kept alive: node ids are addresses
    before = {n for n, _ in ids(old)}
    for i in range(2):
        doc.apply_change(len(doc.text), len(doc.text), f"x{i} = 1\n")
    assert before & {n for n, _ in ids(doc.tree)}  # 2 pending edits: incremental
    old = doc.tree
    before = {n for n, _ in ids(old)}
    for i in range(4):
        doc.apply_change(len(doc.text), len(doc.text), f"y{i} = 1\n")
    assert not before & {n for n, _ in ids(doc.tree)}  # 4 > 3: parsed afresh, still right
    assert_same_as_fresh(doc)


def ids(tree) -> list[tuple[int, str]]:
    out = []

    def walk(node):
        out.append((node.id, node.type))
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return out


def test_snapshot_is_frozen_and_unaffected_by_later_edits():
    doc = Document("file:///a.py", "python", 3, "def f():\n    return 1\n")
    snap = doc.snapshot()
    old_sexp, old_shape = str(snap.tree.root_node), shape(snap.tree)
    doc.apply_change(13, 21, "pass", version=4)
    doc.apply_change(0, 0, "import os\n", version=5)
    assert (snap.version, snap.text) == (3, "def f():\n    return 1\n")
    # tree.edit mutates a tree in place: the snapshot's tree must not have been edited.
    assert str(snap.tree.root_node) == old_sexp
    assert shape(snap.tree) == old_shape
    assert not snap.tree.root_node.has_changes
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.text = "x"  # type: ignore[misc]
    later = doc.snapshot()
    assert (later.version, later.text) == (5, "import os\ndef f():\n    pass\n")
    assert isinstance(later, Snapshot) and later.language == "python"


def test_version_unchanged_without_one():
    doc = Document("file:///a.go", "go", 7, "package main\n")
    doc.apply_change(0, 0, "// x\n")
    assert doc.version == 7


def test_unknown_language_has_no_tree_but_edits_work():
    doc = Document("file:///a.lua", "lua", 1, "print('hi')\n")
    assert doc.tree is None
    doc.apply_change(0, 5, "error", 2)
    assert doc.text == "error('hi')\n"
    assert doc.snapshot().tree is None


def test_binary_text_is_kept_but_not_parsed():
    doc = Document("file:///a.c", "c", 1, "int x;\n")
    assert doc.tree is not None and not doc.is_binary
    doc.apply_change(3, 3, "\0")
    assert doc.is_binary and doc.tree is None
    assert doc.text == "int\0 x;\n"
    doc.apply_change(3, 4, "")  # the NUL goes: parsed again
    assert not doc.is_binary and doc.tree is not None
    assert_same_as_fresh(doc)
    assert Document("file:///b", "c", 1, "a\0b").is_binary


def test_oversized_text_is_not_parsed(monkeypatch):
    monkeypatch.setattr(document_module, "MAX_PARSE_BYTES", 20)
    doc = Document("file:///a.rs", "rust", 1, "fn main() {}\n")
    assert doc.tree is not None
    doc.apply_change(0, 0, "// é é é é é\n")  # 17 characters but 22 bytes
    assert doc.tree is None
    doc.apply_change(0, 14, "")
    assert doc.tree is not None
    assert_same_as_fresh(doc)


def test_replace_all():
    doc = Document("file:///a.java", "java", 1, "class A {}\n")
    doc.line_index  # noqa: B018 - builds the index the replacement must drop
    doc.replace_all("class B { void m() {} }\n", version=2)
    assert doc.version == 2 and doc.text.startswith("class B")
    assert doc.line_index.line_count == 2
    assert_same_as_fresh(doc)


def test_change_outside_the_document():
    doc = Document("file:///a.py", "python", 1, "abc")
    with pytest.raises(ValueError, match="outside"):
        doc.apply_change(2, 4, "x")
    with pytest.raises(ValueError):
        doc.apply_change(2, 1, "x")
    assert doc.text == "abc"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_line_index_follows_edits(data):
    text = SAMPLES["python"]
    doc = Document("file:///a.py", "python", 1, text)
    for _ in range(data.draw(st.integers(1, 5))):
        start = data.draw(st.integers(0, len(doc.text)))
        end = data.draw(st.integers(start, len(doc.text)))
        doc.apply_change(start, end, data.draw(inserted))
    fresh = LineIndex(doc.text)
    assert doc.line_index.text == doc.text
    # The free position functions, called by the server on doc.text, reuse the updated index.
    assert line_index(doc.text) is doc.line_index
    assert [doc.line_index.line_start(i) for i in range(doc.line_index.line_count)] == [
        fresh.line_start(i) for i in range(fresh.line_count)
    ]


def test_lone_surrogates_do_not_break_parsing():
    doc = Document("file:///a.py", "python", 1, "x = 1\n")
    doc.apply_change(4, 4, "\ud83d")  # half of an emoji, as a confused client might send
    doc.apply_change(0, 0, "é")
    assert doc.text == "éx = \ud83d1\n"
    assert_same_as_fresh(doc)


def test_snapshot_utf8_is_the_bytes_the_tree_was_parsed_from():
    doc = Document("file:///a.py", "python", 1, SAMPLES["python"])
    doc.apply_change(0, 0, "# é\r\n")
    snapshot = doc.snapshot()
    before = snapshot.utf8  # not parsed yet: a fresh encode
    assert before == snapshot.text.encode("utf-8") and not snapshot.parsed
    tree = snapshot.tree
    # Once parsed, the same bytes object every time (carving encodes nothing), and it is the
    # text the tree's nodes point into.
    assert snapshot.utf8 is snapshot.utf8 is doc.snapshot().utf8
    assert snapshot.utf8 == snapshot.text.encode("utf-8")
    node = tree.root_node.children[-1]
    assert snapshot.utf8[node.start_byte : node.end_byte] == node.text


def test_snapshot_utf8_without_a_grammar_is_the_encoded_text():
    doc = Document("file:///a.txt", "plaintext", 1, "é\r\nx")
    assert doc.snapshot().tree is None
    assert doc.snapshot().utf8 == "é\r\nx".encode()
