"""Infill cases cut out of held-out files, the same list for the same seed on every machine.

A case is a real file with one span removed (the middle): what the model must write back.
The cursor sits where the span started, and the rest of the file is the document the server
sees, so the prompt is whatever dglsp's Pipeline builds there (carving, template, budget).

Kinds:
- `single`: one line of code, from its indentation to its end.
- `multi`: 2 to 5 consecutive lines, from the first one's indentation to the last one's end.
- `body`: the statements of a function-like node (grammars/<language>.scm), as training's
  `body` holes.
Middles longer than MAX_MIDDLE_CHARS (about what a 64-token canvas holds) are not drawn, nor
spans that start inside a comment or a string: the bench measures code, not prose.

Files come from the held-out split only (dglsp.training.data.split_of, the rule the trainer
uses), sorted by key; each (language, kind) has its own random.Random seeded from the seed,
so adding a language or a kind does not change the others' cases.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dglsp.training.data import HELDOUT_FRACTION, SourceFile, code_files, read_code, split_of

KINDS = ("single", "multi", "body")
MAX_MIDDLE_CHARS = 240
MIN_SINGLE_CHARS = 4  # shorter lines are closers (`}`, `)`, `end`): nothing to judge
MULTI_LINES = (2, 5)
ATTEMPTS_PER_CASE = 40
_PROSE_NODES = (
    "comment",
    "line_comment",
    "block_comment",
    "string",
    "string_content",
    "string_literal",
    "raw_string_literal",
)


@dataclass(frozen=True)
class Case:
    id: str  # language/kind/index
    key: str  # the file's path relative to its --data folder
    language: str
    kind: str
    start: int  # the middle is text[start:end] (str offsets)
    end: int
    line: int  # 1-based line of `start`
    middle: str
    file_sha256: str
    text: str = field(repr=False, compare=False)  # the whole original file

    @property
    def document(self) -> str:
        """What the editor holds: the file without the middle; the cursor is at `start`."""
        return self.text[: self.start] + self.text[self.end :]

    def to_json(self) -> dict:
        data = asdict(self)
        del data["text"]
        return data


def heldout_files(
    data_dirs: Iterable[Path | str], heldout_fraction: float = HELDOUT_FRACTION
) -> list[SourceFile]:
    """Held-out code files of the folders, by the trainer's own split rule, sorted by key."""
    files = [
        source
        for directory in data_dirs
        for source in code_files(Path(directory))
        if split_of(source.key, heldout_fraction) == "heldout"
    ]
    return sorted(files, key=lambda f: f.key)


def build_cases(
    files: Sequence[SourceFile],
    per_kind: int,
    seed: int = 0,
    languages: Sequence[str] | None = None,
    kinds: Sequence[str] = KINDS,
) -> list[Case]:
    """Up to `per_kind` cases for each (language, kind); fewer when the files have no more."""
    by_language: dict[str, list[SourceFile]] = {}
    for source in files:
        by_language.setdefault(source.language, []).append(source)
    chosen = sorted(by_language) if languages is None else [name for name in languages if name in by_language]
    texts: dict[str, str | None] = {}
    cases: list[Case] = []
    for language in chosen:
        for kind in kinds:
            cases += _cases_for(by_language[language], language, kind, per_kind, seed, texts)
    return cases


def cases_digest(cases: Sequence[Case]) -> str:
    """sha256 of the case list's JSON: two runs with the same digest judged the same holes."""
    data = json.dumps([case.to_json() for case in cases], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def _cases_for(
    files: list[SourceFile], language: str, kind: str, count: int, seed: int, texts: dict[str, str | None]
) -> list[Case]:
    rng = random.Random(f"quality:{seed}:{language}:{kind}")
    order = sorted(files, key=lambda f: f.key)
    rng.shuffle(order)
    cases: list[Case] = []
    seen: set[tuple[str, int, int]] = set()
    # Round-robin over the files: cases spread over as many files as there are.
    for attempt in range(count * ATTEMPTS_PER_CASE):
        if len(cases) >= count or not order:
            break
        source = order[attempt % len(order)]
        if source.key not in texts:
            texts[source.key] = read_code(source.path)
        text = texts[source.key]
        if not text:
            continue
        span = choose_case_span(kind, text, language, rng)
        if span is None or (source.key, *span) in seen:
            continue
        seen.add((source.key, *span))
        start, end = span
        cases.append(
            Case(
                id=f"{language}/{kind}/{len(cases)}",
                key=source.key,
                language=language,
                kind=kind,
                start=start,
                end=end,
                line=text.count("\n", 0, start) + 1,
                middle=text[start:end],
                file_sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                text=text,
            )
        )
    return cases


def choose_case_span(kind: str, text: str, language: str, rng: random.Random) -> tuple[int, int] | None:
    """[start, end) of a middle of this kind in `text`, or None when this draw found none."""
    if kind == "body":
        from dglsp.training.examples import choose_span

        span = choose_span("body", text, language, rng)
    else:
        lines = _lines(text)
        code = [i for i, (start, end) in enumerate(lines) if text[start:end].strip()]
        if not code:
            return None
        first = code[rng.randrange(len(code))]
        if kind == "single":
            last = first
        elif kind == "multi":
            following = [i for i in code if i >= first][: rng.randint(*MULTI_LINES)]
            if len(following) < MULTI_LINES[0]:
                return None
            last = following[-1]
        else:
            raise ValueError(f"unknown case kind {kind!r}")
        line_start, _ = lines[first]
        indent = len(text[line_start:]) - len(text[line_start:].lstrip(" \t"))
        span = (line_start + indent, lines[last][1])
    if span is None:
        return None
    middle = text[span[0] : span[1]]
    if not middle.strip() or len(middle) > MAX_MIDDLE_CHARS:
        return None
    if kind == "single" and len(middle.strip()) < MIN_SINGLE_CHARS:
        return None
    if _starts_in_prose(text, language, span[0]):
        return None
    return span


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line, end before its line break."""
    spans, offset = [], 0
    for line in text.split("\n"):
        spans.append((offset, offset + len(line)))
        offset += len(line) + 1
    return spans


def _starts_in_prose(text: str, language: str, offset: int) -> bool:
    """The span starts inside a comment or a string (docstrings included)."""
    tree = _tree(text, language)
    if tree is None:
        return False
    byte = len(text[:offset].encode("utf-8", "surrogatepass"))
    node = tree.root_node.descendant_for_byte_range(byte, byte + 1)
    while node is not None:
        if node.type in _PROSE_NODES or (node.type == "expression_statement" and _is_docstring(node)):
            return True
        node = node.parent
    return False


def _is_docstring(node) -> bool:
    return node.named_child_count == 1 and node.named_children[0].type in ("string", "concatenated_string")


_TREES: dict[str, object] = {}


def _tree(text: str, language: str):
    """The file's tree, parsed once per file (cases draw many spans from one file)."""
    key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() + language
    if key not in _TREES:
        from dglsp.documents import Document

        if len(_TREES) > 64:
            _TREES.clear()
        _TREES[key] = Document("file:///case", language, 0, text).tree
    return _TREES[key]
