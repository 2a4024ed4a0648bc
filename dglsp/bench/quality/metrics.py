"""How good one completion is: exact match, edit similarity, syntax validity.

The prediction is the middle the completion puts at the cursor (what the editor would insert,
after dglsp's post-processing). Trailing whitespace is ignored when comparing middles (a line
break before the suffix's own is invisible in the result); everything else counts.

Syntax validity: the file with the prediction in place has no more tree-sitter ERROR or
MISSING nodes than the file with the true middle. An empty prediction is never valid: the
editor would show nothing, which is not a completion (its share is reported on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from dglsp.bench.quality.cases import Case


@dataclass(frozen=True)
class Score:
    exact: bool
    edit_similarity: float  # 1 - Levenshtein distance / length of the longer middle
    syntax_valid: bool
    empty: bool


def score(case: Case, prediction: str) -> Score:
    wanted, got = case.middle.rstrip(), prediction.rstrip()
    empty = not prediction.strip()
    valid = False
    if not empty:
        filled = case.text[: case.start] + prediction + case.text[case.end :]
        valid = syntax_errors(filled, case.language) <= syntax_errors(case.text, case.language)
    return Score(got == wanted, edit_similarity(got, wanted), valid, empty)


def prediction_of(case: Case, text: str, start: int, end: int) -> str:
    """The middle a completion (text replacing document[start:end]) puts at the cursor.

    The pipeline may replace the word typed before the cursor (start < cursor): the part of
    its text that re-types that word is not new."""
    typed = case.document[start:end]
    if not text:
        return ""
    return text[len(typed) :] if text.startswith(typed) else text


def edit_similarity(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of characters)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def syntax_errors(text: str, language: str) -> int:
    """ERROR and MISSING nodes in the file's tree-sitter tree (0 without a grammar)."""
    from dglsp.documents import Document

    tree = Document("file:///syntax", language, 0, text).tree
    if tree is None or not tree.root_node.has_error:
        return 0
    count = 0
    cursor = tree.walk()
    while True:
        node = cursor.node
        if node.is_error or node.is_missing:
            count += 1
        # Only subtrees with an error hold one: skip the clean ones.
        if node.has_error and cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return count
