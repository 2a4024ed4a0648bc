"""Fit prefix, suffix and header context into the prompt's token budget.

Trimming starts from the far ends: the prefix loses its first lines, the suffix its last
lines, the context its first lines, so the text nearest the cursor is kept longest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Count = Callable[[str], int]

# Shares of the budget each part may claim when everything does not fit; what one part
# does not use goes to the others (prefix first: it says most about what comes next).
SUFFIX_SHARE = 0.25
CONTEXT_SHARE = 0.15
# More characters than this per budget token cannot fit in any tokenizer: cut before counting.
MAX_CHARS_PER_TOKEN = 8
# When the start of a text must go, it goes in blocks of this many lines, counted from the
# text's own start (for the prefix, the carved function's first line). While the user types
# at the cursor the cut then stays on the same line for a block's worth of growth, so the
# prompt's start, and the encoder cache checkpoint built on it, stays valid.
TRIM_BLOCK_LINES = 8


@dataclass(frozen=True)
class Fitted:
    context: str
    prefix: str
    suffix: str
    context_tokens: int
    prefix_tokens: int
    suffix_tokens: int


def fit_to_budget(
    context: str, prefix: str, suffix: str, available: int, count: Count, count_again: Count | None = None
) -> Fitted:
    """`count_again`, if given, counts the context and the suffix: a count that remembers
    recent texts (they seldom change between keystrokes); `count` does the rest."""
    available = max(0, available)
    context = _tail_chars(context, available * MAX_CHARS_PER_TOKEN)
    prefix = _tail_chars(prefix, available * MAX_CHARS_PER_TOKEN)
    suffix = _head_chars(suffix, available * MAX_CHARS_PER_TOKEN)
    again = count_again or count
    sizes = [again(context), count(prefix), again(suffix)]
    if sum(sizes) <= available:
        return Fitted(context, prefix, suffix, *sizes)

    want_c, want_p, want_s = sizes
    c = min(want_c, int(available * CONTEXT_SHARE))
    s = min(want_s, int(available * SUFFIX_SHARE))
    p = min(want_p, available - c - s)
    s = min(want_s, s + available - c - s - p)  # leftovers: suffix, then context
    c = min(want_c, c + available - c - s - p)

    prefix, p = keep_tail(prefix, p, count)
    suffix, s = keep_head(suffix, s, count)
    context, c = keep_tail(context, c, count)
    return Fitted(context, prefix, suffix, c, p, s)


def keep_tail(text: str, max_tokens: int, count: Count) -> tuple[str, int]:
    """The longest end of `text` (whole lines where possible) within `max_tokens`."""
    return _keep(text, max_tokens, count, from_end=True)


def keep_head(text: str, max_tokens: int, count: Count) -> tuple[str, int]:
    """The longest start of `text` (whole lines where possible) within `max_tokens`."""
    return _keep(text, max_tokens, count, from_end=False)


def _keep(text: str, max_tokens: int, count: Count, from_end: bool) -> tuple[str, int]:
    if max_tokens <= 0 or not text:
        return "", 0
    total = count(text)
    if total <= max_tokens:
        return text, total
    lines = text.splitlines(keepends=True)
    if from_end:
        lines.reverse()
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = count(line)
        if used + cost > max_tokens:
            if not kept:  # even the nearest line is too long: keep part of it
                part = _part_of_line(line, max_tokens, count, from_end)
                return part, count(part)
            break
        kept.append(line)
        used += cost
    if from_end:
        kept.reverse()
        kept = _cut_at_block(lines_total=len(lines), kept=kept)
    result = "".join(kept)
    # Per-line counts can differ slightly from the joined count: drop far lines until it fits.
    used = count(result)
    while used > max_tokens and len(kept) > 1:
        kept = _cut_at_block(len(lines), kept[1:]) if from_end else kept[:-1]
        result = "".join(kept)
        used = count(result)
    return result, used


def _cut_at_block(lines_total: int, kept: list[str]) -> list[str]:
    """Round the first kept line up to a multiple of TRIM_BLOCK_LINES from the text's start."""
    first = lines_total - len(kept)
    if first == 0:
        return kept
    aligned = -(-first // TRIM_BLOCK_LINES) * TRIM_BLOCK_LINES
    return kept[aligned - first :] if aligned < lines_total else kept[-1:]


def _part_of_line(line: str, max_tokens: int, count: Count, from_end: bool) -> str:
    low, high = 0, len(line)  # binary search on the number of characters kept
    while low < high:
        middle = (low + high + 1) // 2
        piece = line[-middle:] if from_end else line[:middle]
        if count(piece) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return (line[-low:] if from_end else line[:low]) if low else ""


def _tail_chars(text: str, limit: int) -> str:
    """At most `limit` characters from the end, dropping whole blocks of lines from the start
    (see TRIM_BLOCK_LINES), so what is left keeps the block boundaries of `text`."""
    if len(text) <= limit:
        return text
    lines = text.splitlines(keepends=True)
    excess = len(text) - limit
    dropped = drop = 0
    while dropped < excess and drop < len(lines):
        dropped += len(lines[drop])
        drop += 1
    drop = -(-drop // TRIM_BLOCK_LINES) * TRIM_BLOCK_LINES
    if drop >= len(lines):
        return text[-limit:]  # the last lines alone are longer than the limit
    return "".join(lines[drop:])


def _head_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]
