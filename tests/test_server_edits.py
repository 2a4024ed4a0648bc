"""Completion -> LSP edit: single-line ranges, encodings, and the completion-menu item."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types

from dglsp.documents import Snapshot
from dglsp.pipeline import Completion
from dglsp.server.completing import Infill
from dglsp.server.edits import Edit, single_line_edit, to_range
from dglsp.server.handlers.completion import completion_item


def test_an_edit_on_the_cursor_line_is_kept() -> None:
    text = "total = ad\n"
    assert single_line_edit(text, 8, 10, "add(1, 2)", 10) == Edit(8, 10, "add(1, 2)")


def test_an_edit_reaching_into_other_lines_is_trimmed_to_the_cursor_line() -> None:
    text = "if x:\n    pass\n"
    # Replaces "x:\n    pa" with "x:\n    pass_through": the unchanged start is trimmed
    # just far enough to begin on the cursor's line.
    cursor = text.index("pass") + 2
    edit = single_line_edit(text, 3, cursor, "x:\n    pass_through", cursor)
    assert edit == Edit(text.index("    pass"), cursor, "    pass_through")


def test_an_edit_that_really_spans_lines_is_dropped() -> None:
    text = "a = 1\nb = \n"
    assert single_line_edit(text, 0, 10, "x = 2\nb = 3", 10) is None


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_line_break_ends_the_cursor_line(newline: str) -> None:
    text = f"a = 1{newline}b = {newline}c = 3"
    cursor = text.index("b = ") + 4
    assert single_line_edit(text, cursor, cursor, "2", cursor) == Edit(cursor, cursor, "2")
    assert single_line_edit(text, 0, cursor, "a = 9" + newline + "b = 2", cursor) is None


@given(
    before=st.text(alphabet="ab\n😀é", max_size=12),
    word=st.text(alphabet="xy", max_size=3),
    after=st.text(alphabet="cd\n😀", max_size=12),
    middle=st.text(alphabet="zq😀 ", min_size=1, max_size=6),
)
def test_applying_the_edit_gives_the_same_text(before: str, word: str, after: str, middle: str) -> None:
    text = before + word + after
    cursor = len(before + word)
    start = len(before)
    edit = single_line_edit(text, start, cursor, word + middle, cursor)
    if "\n" in word + middle:
        return
    assert edit is not None
    assert text[: edit.start] + edit.text + text[edit.end :] == before + word + middle + after


def test_ranges_count_units_of_the_negotiated_encoding() -> None:
    text = 'x = "😀"; y = ab'
    cursor = len(text)
    start = cursor - 2
    for encoding, column in (("utf-8", len(text[:start].encode())), ("utf-16", start + 1), ("utf-32", start)):
        assert to_range(text, start, cursor, encoding).start == types.Position(line=0, character=column)


def _infill(text: str, cursor: int, start: int, new_text: str) -> Infill:
    snapshot = Snapshot("file:///a.py", 1, "python", text, None)
    completion = Completion(new_text, start, cursor, 4, 1.0)
    return Infill(snapshot, cursor, completion, Edit(start, cursor, new_text))


def test_completion_item_keeps_the_typed_word_in_its_filter_text() -> None:
    item = completion_item(_infill("total = ad", 10, 8, "add(1, 2)"), "utf-16")
    assert (item.label, item.filter_text, item.text_edit.new_text) == ("add(1, 2)", "add(1, 2)", "add(1, 2)")
    assert item.documentation is None
    assert item.insert_text_format == types.InsertTextFormat.PlainText


def test_completion_item_for_a_multi_line_infill() -> None:
    text = "def f():\n    "
    item = completion_item(_infill(text, len(text), len(text), "\n    x = 1\n    return x"), "utf-8")
    assert item.label == "x = 1"  # the first line with something on it
    assert item.documentation.value == "\n    x = 1\n    return x"
    assert item.filter_text == "\n    x = 1\n    return x"
