"""Post-processing filters; negative cases are shapes real model output takes."""

from __future__ import annotations

import pytest

from dglsp.postprocess import DocumentStyle, detect_style, finalize, for_draft
from dglsp.postprocess.filters import drop_repeated_suffix, match_indentation, strip_code_fences

SPACES = DocumentStyle("\n", "    ")


@pytest.mark.parametrize(
    ("middle", "suffix", "expected"),
    [
        # The editor auto-closed the bracket: accepting `b)` would duplicate it.
        ("a, b)", ")\nx = 1", "a, b"),
        ('name"]', '"]', "name"),
        # The model ends by rewriting the line already below the cursor.
        ("total += x\n    return total", "\n    return total\n", "total += x"),
        ("a = 1\n    return a\n", "\n\n    return a\n", "a = 1"),
        # Nothing repeats: nothing is dropped.
        ("x + 1", "\nprint(y)", "x + 1"),
        # The whole middle is what already follows: nothing to suggest.
        (")", ")", ""),
    ],
)
def test_drops_the_tail_that_repeats_the_suffix(middle, suffix, expected):
    assert finalize(middle, suffix, SPACES) == expected


def test_trailing_line_break_is_dropped_when_the_line_already_ends():
    assert finalize("return x\n", "\nprint(1)", SPACES) == "return x"
    # Text after the cursor on its line: a line break before it is the model's choice.
    assert finalize("pass\n    ", "x = 1", SPACES) == "pass\n"


def test_code_fences_from_chat_models_are_removed():
    assert strip_code_fences("```python\nreturn 1\n```") == "return 1"
    assert strip_code_fences("```\nreturn 1") == "return 1"
    assert strip_code_fences("return 1") == "return 1"


def test_indentation_follows_the_document():
    tabs = DocumentStyle("\n", "\t")
    assert match_indentation("if x:\n    y()\n        z()", tabs) == "if x:\n\ty()\n\t\tz()"
    two = DocumentStyle("\n", "  ")
    assert match_indentation("if x:\n    y()", two) == "if x:\n  y()"
    assert match_indentation("if x:\n\ty()", SPACES) == "if x:\n    y()"


def test_line_endings_follow_the_document():
    crlf = DocumentStyle("\r\n", "    ")
    assert finalize("a = 1\n    b = 2", "\r\nz", crlf) == "a = 1\r\n    b = 2"
    assert for_draft("a\nb", crlf) == "a\r\nb"


def test_detect_style():
    assert detect_style("def f():\n\tif x:\n\t\treturn 1\n").indent == "\t"
    assert detect_style("if x:\n  y = 1\n  if z:\n    w = 2\n").indent == "  "
    assert detect_style("a\r\nb\r\n").newline == "\r\n"
    assert detect_style("").indent == "    "


def test_whitespace_only_middle_means_nothing_to_suggest():
    assert finalize("   \n  ", "", SPACES) == ""


def test_repeated_lines_need_real_content():
    # Blank lines on both sides are not a repetition worth removing text for.
    assert drop_repeated_suffix("x = 1\n", "\n\n") == "x = 1\n"
