"""LSP positions <-> str offsets in utf-8 / utf-16 / utf-32, and the incremental line index."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dglsp.documents import PositionError, offset_to_position, position_to_offset
from dglsp.documents.encoding import ENCODINGS, LineIndex, line_index

# Characters whose widths differ per encoding: ASCII, 2-byte (é), 3-byte CJK (中), 4-byte emoji
# (😀, a surrogate pair in utf-16), and all three kinds of line break.
ALPHABET = ["a", "b", " ", "é", "中", "😀", "\n", "\r", "\r\n"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join)

FAST = settings(max_examples=150, deadline=None)
CODECS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}
UNITS = {"utf-8": 1, "utf-16": 2, "utf-32": 4}


def reference_offset(text: str, line: int, column: int, encoding: str) -> int:
    """Slow, obviously right: split the lines, then grow the prefix while it fits in `column`."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    contents = re.split(r"\r\n|\r|\n", text)
    content = contents[line]
    k = 0
    while k < len(content) and len(content[: k + 1].encode(CODECS[encoding])) // UNITS[encoding] <= column:
        k += 1
    return starts[line] + k


def test_ascii_positions():
    text = "one\ntwo\nthree"
    assert position_to_offset(text, 0, 0) == 0
    assert position_to_offset(text, 1, 2) == 6
    assert position_to_offset(text, 2, 5) == len(text)
    assert offset_to_position(text, 6) == (1, 2)
    assert offset_to_position(text, len(text)) == (2, 5)


@pytest.mark.parametrize(
    ("encoding", "column_of_b"),
    [("utf-8", 5), ("utf-16", 3), ("utf-32", 2)],
)
def test_emoji_widths(encoding, column_of_b):
    text = "a😀b"  # 😀 is 4 utf-8 bytes, 2 utf-16 units, 1 code point
    assert position_to_offset(text, 0, column_of_b, encoding) == 2
    assert offset_to_position(text, 2, encoding) == (0, column_of_b)
    assert offset_to_position(text, 3, encoding) == (0, column_of_b + 1)


def test_column_inside_a_character_rounds_down():
    text = "a😀b"
    assert position_to_offset(text, 0, 2, "utf-16") == 1  # between the two surrogates
    for column in (2, 3, 4):  # inside the 4 utf-8 bytes
        assert position_to_offset(text, 0, column, "utf-8") == 1
    cjk = "中文x"
    assert position_to_offset(cjk, 0, 4, "utf-8") == 1
    assert position_to_offset(cjk, 0, 6, "utf-8") == 2
    assert position_to_offset(cjk, 0, 2, "utf-16") == 2


def test_all_line_breaks_end_lines():
    text = "a\r\nb\rc\nd"
    assert [position_to_offset(text, line, 0) for line in range(4)] == [0, 3, 5, 7]
    assert line_index(text).line_count == 4
    assert offset_to_position(text, 5) == (2, 0)
    # An offset between "\r" and "\n" belongs to the line the break ends.
    assert offset_to_position(text, 2) == (0, 1)


def test_trailing_break_makes_an_empty_last_line():
    text = "x\n"
    assert position_to_offset(text, 1, 0) == 2
    with pytest.raises(PositionError):
        position_to_offset(text, 2, 0)


def test_line_past_the_end():
    with pytest.raises(PositionError, match="line 5 is past the end of a document with 2 lines"):
        position_to_offset("a\nb", 5, 0)


def test_column_past_the_end():
    with pytest.raises(PositionError, match=r"column 4 is past the end of line 1 \(length 3 utf-16"):
        position_to_offset("a\nb😀\nc", 1, 4)
    with pytest.raises(PositionError, match=r"length 5 utf-8"):
        position_to_offset("a\nb😀\nc", 1, 6, "utf-8")


def test_negative_and_out_of_range_offsets():
    with pytest.raises(PositionError, match="negative"):
        position_to_offset("abc", 0, -1)
    with pytest.raises(PositionError, match="outside a document of length 3"):
        offset_to_position("abc", 4)
    with pytest.raises(PositionError):
        offset_to_position("abc", -1)


def test_clamp():
    text = "ab\r\ncd😀\n"
    assert position_to_offset(text, 0, 99, clamp=True) == 2  # before the "\r\n"
    assert position_to_offset(text, 1, 99, clamp=True) == 7  # "cd😀" is 3 code points
    assert position_to_offset(text, 7, 0, clamp=True) == len(text)
    assert position_to_offset(text, -1, -3, clamp=True) == 0


def test_unknown_encoding():
    with pytest.raises(ValueError, match="unknown position encoding"):
        position_to_offset("a", 0, 0, "latin-1")  # type: ignore[arg-type]


@FAST
@given(texts, st.sampled_from(ENCODINGS))
def test_round_trip(text, encoding):
    for offset in range(len(text) + 1):
        if text[offset - 1 : offset + 1] == "\r\n":
            continue  # not a position: inside a line break
        line, column = offset_to_position(text, offset, encoding)
        assert position_to_offset(text, line, column, encoding) == offset


@FAST
@given(texts, st.sampled_from(ENCODINGS), st.data())
def test_matches_reference(text, encoding, data):
    contents = re.split(r"\r\n|\r|\n", text)
    line = data.draw(st.integers(0, len(contents) - 1))
    column = data.draw(st.integers(0, 12))
    if column > len(contents[line].encode(CODECS[encoding])) // UNITS[encoding]:
        with pytest.raises(PositionError):
            position_to_offset(text, line, column, encoding)
    else:
        assert position_to_offset(text, line, column, encoding) == reference_offset(
            text, line, column, encoding
        )


def starts(index: LineIndex) -> list[int]:
    return [index.line_start(i) for i in range(index.line_count)]


@settings(max_examples=300, deadline=None)
@given(texts, st.data())
def test_edited_index_equals_a_fresh_one(text, data):
    index = LineIndex(text)
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(index.text)))
        end = data.draw(st.integers(start, len(index.text)))
        new_text = data.draw(texts)
        expected = index.text[:start] + new_text + index.text[end:]
        index = index.edited(start, end, new_text)
        assert index.text == expected
        assert starts(index) == starts(LineIndex(expected))


def test_edit_merging_a_carriage_return_with_a_newline():
    index = LineIndex("a\rb")
    assert index.line_count == 2
    merged = index.edited(2, 2, "\n")  # "a\r" + "\n" + "b": one "\r\n" break, not two
    assert merged.text == "a\r\nb"
    assert starts(merged) == [0, 3]


def test_line_index_is_cached_per_text():
    text = "x = 1\n" * 50
    assert line_index(text) is line_index(text)


def test_an_equal_text_that_is_another_object_gets_a_right_index():
    text = "x = 1\n" * 50
    index = line_index(text)
    other = "".join(["x = 1\n"] * 50)  # equal, not the same object: looked up by identity
    assert other == text and other is not text
    assert starts(line_index(other)) == starts(index)


@settings(max_examples=200, deadline=None)
@given(texts, st.data())
def test_typing_keeps_a_pending_shift_and_matches_a_fresh_index(text, data):
    """Keystrokes at a moving cursor, sometimes a jump elsewhere: the shifted starts stay right."""
    index = LineIndex(text)
    cursor = data.draw(st.integers(0, len(text)))
    for _ in range(data.draw(st.integers(1, 12))):
        if data.draw(st.booleans()):
            cursor = data.draw(st.integers(0, len(index.text)))
        if data.draw(st.integers(0, 3)) == 0 and cursor > 0:
            index = index.edited(cursor - 1, cursor, "")  # backspace
            cursor -= 1
        else:
            typed = data.draw(st.sampled_from(ALPHABET))
            index = index.edited(cursor, cursor, typed)
            cursor += len(typed)
        fresh = LineIndex(index.text)
        assert starts(index) == starts(fresh)
        for offset in range(0, len(index.text) + 1, 3):
            assert index.line_of(offset) == fresh.line_of(offset)


def test_typing_on_one_line_does_not_rewrite_the_later_starts():
    index = LineIndex("a = 1\n" * 1000)
    typed = index.edited(3, 3, "x")
    typed = typed.edited(4, 4, "y")
    # The starts after the edit are copied as they were, with the shift still pending.
    assert typed._starts[500] == index._starts[500]
    assert typed.line_start(500) == index.line_start(500) + 2
    assert typed.line_of(typed.line_start(999)) == 999


# --- utf-8 byte offsets (what tree-sitter and carving use) ---


def reference_char_offset(text: str, byte: int) -> int:
    """Slow, obviously right: the characters whose utf-8 bytes end at or before `byte`."""
    count = used = 0
    for ch in text:
        used += len(ch.encode("utf-8", "surrogatepass"))
        if used > byte:
            break
        count += 1
    return count


def assert_byte_offsets_right(index: LineIndex) -> None:
    text = index.text
    data = text.encode("utf-8", "surrogatepass")
    for offset in range(len(text) + 1):
        assert index.byte_offset(offset) == len(text[:offset].encode("utf-8", "surrogatepass"))
    for byte in range(len(data) + 1):
        assert index.char_offset(byte) == reference_char_offset(text, byte)
    if re.search(r"\r(?!\n)", text):
        assert index.may_have_lone_carriage_returns  # False would give tree-sitter wrong rows


@settings(max_examples=200, deadline=None)
@given(texts, st.data())
def test_byte_offsets_follow_edits(text, data):
    """Byte starts carried edit by edit (ASCII text turning non-ASCII and back, "\\r\\n" split
    and joined) convert exactly like encoding the text up to the offset."""
    index = LineIndex(text)
    assert_byte_offsets_right(index)
    cursor = data.draw(st.integers(0, len(text)))
    for _ in range(data.draw(st.integers(1, 8))):
        if data.draw(st.booleans()):
            cursor = data.draw(st.integers(0, len(index.text)))
        end = data.draw(st.integers(cursor, min(len(index.text), cursor + 3)))
        typed = data.draw(texts.filter(lambda t: len(t) <= 4))
        index = index.edited(cursor, end, typed)
        cursor += len(typed)
        assert_byte_offsets_right(index)


def test_typing_carries_the_byte_starts_instead_of_rebuilding_them():
    index = LineIndex("é = 1\n" * 1000)
    assert index.byte_offset(6 * 500) == 7 * 500  # builds the byte starts once
    built = index._bstarts
    for i in range(3):
        index = index.edited(3 + i, 3 + i, "中")
    # Still the array built above, copied edit by edit with a pending shift, never rescanned.
    assert index._bstarts is not None and index._bstarts[500] == built[500]
    assert index.byte_offset(index.line_start(500)) == 7 * 500 + 9
    assert index.char_offset(7 * 500 + 9) == index.line_start(500)


def test_crlf_lines_are_tree_sitter_rows_until_a_lone_carriage_return():
    index = LineIndex("a\r\nb\r\n")
    assert not index.may_have_lone_carriage_returns
    typed = index.edited(6, 6, "c\r\n")  # Enter in a CRLF file keeps lines = rows
    assert not typed.may_have_lone_carriage_returns
    split = typed.edited(2, 2, "x")  # "a\rx\nb...": the "\r" now stands alone
    assert split.text == "a\rx\nb\r\nc\r\n" and split.may_have_lone_carriage_returns
