"""Focused parsing of large documents (dglsp/documents/focus.py): carving from a parse of the
imports and the statements around the cursor gives what carving from the whole file gives, and
typing near the cursor never parses the whole file again."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
import tree_sitter
from hypothesis import given, settings
from hypothesis import strategies as st
from parse_helpers import CountingParser, counting, shape

from dglsp.bench.sources import generate
from dglsp.carve import Region, carve
from dglsp.carve.queries import find_around, queries
from dglsp.documents import Document, Snapshot
from dglsp.documents import focus as focus_module
from dglsp.documents.focus import EDGE_GUARD_BYTES, END, WINDOW_MARGIN_BYTES, choose_window
from dglsp.languages import grammar

REPO = Path(__file__).resolve().parents[1]
LARGE = {language: generate(language, 3000) for language in ("python", "javascript")}


class CountingWindowParser(CountingParser):
    """Counts the window parses of a document (its parser's ranges are set before each)."""

    @property
    def included_ranges(self):
        return self.parser.included_ranges

    @included_ranges.setter
    def included_ranges(self, ranges):
        self.parser.included_ranges = ranges


def carve_whole(snapshot: Snapshot, cursor: int) -> Region:
    """Carving from a fresh parse of the whole text: what focused parsing must reproduce."""
    data = snapshot.text.encode("utf-8", "surrogatepass")
    tree = tree_sitter.Parser(grammar(snapshot.language)).parse(data)
    return carve(Snapshot(snapshot.uri, snapshot.version, snapshot.language, snapshot.text, tree), cursor)


def enclosing_has_error(snapshot: Snapshot, cursor: int) -> bool:
    """Whether, in the whole file, a function around the cursor holds a syntax error: then
    tree-sitter's recovery may stretch it to the end of the file, and a window ends it sooner."""
    data = snapshot.text.encode("utf-8")
    tree = tree_sitter.Parser(grammar(snapshot.language)).parse(data)
    at = len(snapshot.text[:cursor].encode("utf-8"))
    q = queries(snapshot.language)
    assert q is not None
    found = find_around(q, tree, max(at - 1, 0), at + 1)
    return tree.root_node.has_error and any(node.has_error for node in found.functions)


def assert_same_region(snapshot: Snapshot, cursor: int) -> None:
    focused, whole = carve(snapshot, cursor), carve_whole(snapshot, cursor)
    if focused == whole:
        return
    # Only where the code around the cursor does not parse may the two differ, and only in how
    # far the unfinished function reaches: its start, kind and header are the same.
    assert enclosing_has_error(snapshot, cursor), (focused, whole)
    assert (focused.kind, focused.start, focused.header) == (whole.kind, whole.start, whole.header)
    assert cursor <= focused.end <= whole.end


def type_at(doc: Document, cursor: int, typed: str) -> int:
    for character in typed:
        doc.apply_change(cursor, cursor, character, doc.version + 1)
        cursor += len(character)
        assert_same_region(doc.snapshot(), cursor)
    return cursor


# --- choosing a window ---


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_a_window_is_whole_lines_around_the_cursor_plus_the_imports(language):
    source = generate(language, 4000)
    data = source.text.encode("utf-8")
    tree = tree_sitter.Parser(grammar(language)).parse(data)
    at = len(source.text[: source.cursor].encode("utf-8"))
    head_end = data.index(b"\n\n")  # the generated files start with their imports
    window = choose_window(tree, data, at, head_end)

    assert window.cut_start and window.cut_end
    head, around = window.ranges
    assert head.start_byte == 0 and head.end_byte == head_end + 1  # the imports, their break included
    assert window.start <= at - WINDOW_MARGIN_BYTES and window.end >= at + WINDOW_MARGIN_BYTES
    assert around.end_byte - around.start_byte < len(data) // 4
    for r in window.ranges:  # whole lines, with tree-sitter's points
        assert r.start_byte == 0 or data[r.start_byte - 1] == ord("\n")
        assert data[r.end_byte - 1] == ord("\n")
        assert r.start_point == (data.count(b"\n", 0, r.start_byte), 0)
        assert r.end_point == (data.count(b"\n", 0, r.end_byte), 0)
    # Whole statements: none is cut by the window's edges.
    for kid in tree.root_node.children:
        assert not kid.start_byte < around.start_byte < kid.end_byte
        assert not kid.start_byte < around.end_byte - 1 < kid.end_byte
    assert window.holds(at)
    assert not window.holds(window.start + EDGE_GUARD_BYTES - 1)
    assert not window.holds(window.end - EDGE_GUARD_BYTES + 1)
    assert not window.holds(len(data) - 1)


def test_a_window_near_the_top_or_bottom_reaches_the_file_edge():
    source = generate("python", 4000)
    data = source.text.encode("utf-8")
    tree = tree_sitter.Parser(grammar("python")).parse(data)
    top = choose_window(tree, data, 10, data.index(b"\n\n"))
    assert (top.ranges[0].start_byte, top.cut_start, top.cut_end) == (0, False, True)
    assert len(top.ranges) == 1  # the head and the window are one range
    assert top.holds(0) and top.holds(10)
    bottom = choose_window(tree, data, len(data), data.index(b"\n\n"))
    assert (bottom.end, bottom.cut_end) == (END, False)  # text typed at the end is parsed too
    assert bottom.holds(len(data)) and bottom.holds(len(data) + 100)


def test_a_file_that_is_one_statement_is_windowed_inside_it():
    body = "".join(f"  function f{i}(a) {{\n    return a + {i};\n  }}\n" for i in range(1500))
    text = f"(function () {{\n{body}}})();\n"
    data = text.encode()
    tree = tree_sitter.Parser(grammar("javascript")).parse(data)
    at = len(data) // 2
    window = choose_window(tree, data, at, 0)
    opening, around, closing = ((r.start_byte, r.end_byte) for r in window.ranges)
    assert data[slice(*opening)] == b"(function () {\n"
    assert (data[closing[0] :], closing[1]) == (b"})();\n", END)
    assert window.index == 1 and window.cut_start and window.cut_end and window.holds(at)
    assert around[0] <= at - WINDOW_MARGIN_BYTES and around[1] >= at + WINDOW_MARGIN_BYTES
    assert around[1] - around[0] < len(data) // 4


# --- documents parsing windows ---


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_typing_in_a_large_file_parses_the_whole_file_once(language):
    source = generate(language, 3000)
    assert len(source.text) > focus_module.FOCUS_MIN_BYTES
    doc = Document(f"file:///big.{language}", language, 0, source.text)
    whole = counting(doc)
    cursor = type_at(doc, source.cursor, source.typed)
    # The first request parsed the whole file and chose a window; every later one parsed the window.
    assert whole.parses == 1
    tree = doc.snapshot().tree_at(cursor)
    assert tree is not None and len(tree.included_ranges) == 2
    assert tree.root_node.end_byte < len(doc.text)  # the window, not the file
    assert doc.snapshot().tree_at(cursor) is tree  # asked again: no parse at all


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_requests_after_several_keystrokes_parse_only_the_window(language):
    source = generate(language, 3000)
    doc = Document(f"file:///big.{language}", language, 0, source.text)
    cursor = source.cursor
    doc.snapshot().tree_at(cursor)
    whole = counting(doc)
    typed = source.typed
    for chunk in (typed[:5], typed[5:7], typed[7:20], typed[20:]):  # superseded keystrokes between
        for character in chunk:
            doc.apply_change(cursor, cursor, character, doc.version + 1)
            cursor += 1
        assert_same_region(doc.snapshot(), cursor)
    assert whole.parses == 0


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_jumping_away_chooses_a_new_window(language):
    source = generate(language, 3000)
    doc = Document(f"file:///big.{language}", language, 0, source.text)
    whole = counting(doc)
    rng = random.Random(7)
    comment = "# note\n" if language == "python" else "// note\n"
    for step in range(25):
        text = doc.text
        # A comment line at the start of a random line: the file stays valid.
        line_start = text.rfind("\n", 0, rng.randrange(len(text))) + 1
        doc.apply_change(line_start, line_start, comment, doc.version + 1)
        cursor = line_start + len(comment) - 1 if step % 2 else rng.randrange(len(doc.text))
        assert_same_region(doc.snapshot(), cursor)
    assert 1 <= whole.parses <= 25


def test_an_import_typed_at_the_top_reaches_the_header_without_a_whole_parse():
    source = generate("python", 3000)
    doc = Document("file:///big.py", "python", 0, source.text)
    doc.snapshot().tree_at(source.cursor)
    whole = counting(doc)
    doc.apply_change(0, 0, "import zlib\n", 1)
    cursor = source.cursor + len("import zlib\n")
    region = carve(doc.snapshot(), cursor)
    assert "import zlib" in region.header.splitlines()
    assert region == carve_whole(doc.snapshot(), cursor)
    # An edit between the imports and the window moves the window without parsing it.
    middle = doc.text.index("\n\n\n", len(doc.text) // 8) + 1
    doc.apply_change(middle, middle, "LIMIT = 3\n", 2)
    assert_same_region(doc.snapshot(), cursor + len("LIMIT = 3\n"))
    assert whole.parses == 0


def test_older_snapshots_still_get_their_own_region():
    source = generate("javascript", 3000)
    doc = Document("file:///big.js", "javascript", 0, source.text)
    cursor = source.cursor
    snapshots = []
    for character in source.typed[:12]:
        doc.apply_change(cursor, cursor, character, doc.version + 1)
        cursor += 1
        snapshots.append((doc.snapshot(), cursor))
        doc.snapshot().tree_at(cursor)
    for snapshot, at in reversed(snapshots):  # asked for out of order, after newer versions
        assert_same_region(snapshot, at)


def test_non_ascii_text_keeps_byte_and_character_offsets_apart():
    source = generate("python", 3000)
    text = source.text.replace('"""', '"""é中😀 ', 200)  # multi-byte characters in docstrings
    cursor = text.index("\n\n", text.index("def ", len(text) // 2)) - 1
    doc = Document("file:///big.py", "python", 0, text)
    type_at(doc, cursor, "    total = sum(len(x) for x in '中😀')\n")


def test_a_tree_around_the_cursor_asked_for_from_threads_is_parsed_once():
    source = generate("python", 3000)
    doc = Document("file:///big.py", "python", 0, source.text)
    doc.snapshot().tree_at(source.cursor)
    doc.apply_change(source.cursor, source.cursor, "x", 1)
    snapshot = doc.snapshot()
    recording = CountingWindowParser(doc._parsing.focus_parser)
    doc._parsing._focus_parser = recording  # type: ignore[assignment]
    trees = []
    threads = [
        threading.Thread(target=lambda: trees.append(snapshot.tree_at(source.cursor + 1))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recording.parses == 1 and len(trees) == 4 and all(tree is trees[0] for tree in trees)


def test_small_documents_parse_whole():
    text = generate("python", 200).text
    assert len(text) < focus_module.FOCUS_MIN_BYTES
    doc = Document("file:///small.py", "python", 0, text)
    tree = doc.snapshot().tree_at(len(text) // 2)
    assert tree is doc.tree and tree.root_node.end_byte == len(text.encode())


def test_real_code_carves_the_same_anywhere():
    """This repository's own modules, one after another: decorators, nested classes, comments,
    strings. Edits and cursors all over the file, mostly near the last one, as when editing."""
    parts, size = [], 0
    for path in sorted((REPO / "dglsp").rglob("*.py")):
        parts.append(path.read_text(encoding="utf-8"))
        size += len(parts[-1])
        if size > 250_000:
            break
    doc = Document("file:///all.py", "python", 0, "\n\n".join(parts))
    whole = counting(doc)
    rng = random.Random(3)
    cursor = rng.randrange(len(doc.text))
    requests = 60
    for _ in range(requests):
        text = doc.text
        far = rng.random() < 0.15
        cursor = rng.randrange(len(text)) if far else min(len(text), cursor + rng.randrange(400))
        # A space at the end of the cursor's line (valid wherever no backslash ends the line).
        line_end = text.find("\n", cursor)
        if line_end > 0 and text[line_end - 1] != "\\":
            doc.apply_change(line_end, line_end, " ", doc.version + 1)
            cursor = line_end + 1
        snapshot = doc.snapshot()
        assert carve(snapshot, cursor) == carve_whole(snapshot, cursor)
    assert whole.parses < requests // 2  # windows served the nearby cursors


def test_minified_code_on_one_line_is_one_uncut_window():
    text = ";".join(f"function f{i}(a){{return a+{i}}}" for i in range(3000)) + ";"
    data = text.encode()
    tree = tree_sitter.Parser(grammar("javascript")).parse(data)
    window = choose_window(tree, data, len(data) - 5, 0)
    assert [(r.start_byte, r.end_byte) for r in window.ranges] == [(0, END)]
    assert window.holds(len(data) - 5)  # near the end of the file, yet no new window each time


FRAGMENTS = [*"(){}[]:;,.=<>\"'`#/*x1 \t", "\n", "\r\n", "    ", "return ", "def ", "é", "中", "😀", "//"]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["python", "javascript"]), st.data())
def test_retyping_code_with_typos_ends_where_a_fresh_parse_of_the_window_does(language, data):
    """Delete a span near the cursor and type it back in chunks, typos made and undone, with
    requests in between: the window's tree then equals a fresh parse of the same ranges, and
    carving equals carving from the whole file."""
    source = LARGE[language]
    text = source.text
    doc = Document(f"file:///big.{language}", language, 0, text)
    doc.snapshot().tree_at(source.cursor)
    start = data.draw(st.integers(source.cursor - 600, source.cursor + 600))
    end = data.draw(st.integers(start, start + 60))
    doc.apply_change(start, end, "", 1)
    at = start
    while at < end:
        if data.draw(st.booleans()):
            typo = data.draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map("".join))
            doc.apply_change(at, at, typo, doc.version + 1)
            if data.draw(st.booleans()):
                carve(doc.snapshot(), at + len(typo))  # a request while the code is broken
            doc.apply_change(at, at + len(typo), "", doc.version + 1)
        chunk = text[at : at + data.draw(st.integers(1, 6))][: end - at]
        doc.apply_change(at, at, chunk, doc.version + 1)
        at += len(chunk)
        if data.draw(st.booleans()):
            carve(doc.snapshot(), at)
    assert doc.text == text
    snapshot = doc.snapshot()
    tree = snapshot.tree_at(at)
    assert carve(snapshot, at) == carve_whole(snapshot, at)
    held = doc._slot._focus
    assert held is not None and held.tree is tree  # the window served, not a whole parse
    fresh = tree_sitter.Parser(grammar(language), included_ranges=list(held.window.ranges))
    assert shape(tree) == shape(fresh.parse(snapshot.utf8))


def big_java_class(methods: int = 1500) -> str:
    members = "".join(
        f"    /** Adds {i}. */\n    public int add{i}(int a) {{\n"
        f"        int b = a + {i};\n        return b * 2;\n    }}\n\n"
        for i in range(methods)
    )
    return f"package demo;\n\nimport java.util.List;\n\npublic class Big\n    extends Base {{\n{members}}}\n"


def big_python_class(methods: int = 1500) -> str:
    members = "".join(
        f"    @staticmethod\n    def add{i}(a: int) -> int:\n        b = a + {i}\n        return b * 2\n\n"
        for i in range(methods)
    )
    return f'import os\n\n\nclass Big(Base):\n    """Adds."""\n\n{members}\nLIMIT = 3\n'


def big_describe_block(tests: int = 1200) -> str:
    body = "".join(
        f"  it('adds {i}', () => {{\n    const b = add(1, {i});\n    expect(b).toBe({i + 1});\n  }});\n\n"
        for i in range(tests)
    )
    return f"import {{ add }} from './add.js';\n\ndescribe('add', () => {{\n{body}}});\n"


BIG_STATEMENTS = {
    "java": big_java_class,
    "python": big_python_class,
    "javascript": big_describe_block,
}


@pytest.mark.parametrize("language", sorted(BIG_STATEMENTS))
def test_typing_inside_one_huge_statement_parses_a_window_of_it(language):
    text = BIG_STATEMENTS[language]()
    marker = {"java": "return b * 2;", "python": "return b * 2", "javascript": "expect(b)"}[language]
    cursor = text.index(marker, len(text) // 2) + len(marker)
    typed = {"java": " + 1;", "python": " + 1", "javascript": ".not;"}[language]
    doc = Document(f"file:///big.{language}", language, 0, text)
    whole = counting(doc)
    cursor = type_at(doc, cursor, typed)
    assert whole.parses == 1
    tree = doc.snapshot().tree_at(cursor)
    assert tree is not None and len(tree.included_ranges) >= 3  # imports, the opening lines, the run, ...
    region = carve(doc.snapshot(), cursor)
    assert region.kind == "function" and typed.strip(" ;") in doc.text[region.start : region.end]
    # Far away in the same statement: a new window, the same region as from the whole file.
    for far in (len(text) // 10, len(text) * 9 // 10):
        assert_same_region(doc.snapshot(), doc.text.index(marker, far) + len(marker))
