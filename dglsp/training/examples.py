"""Training examples: a hole cut out of a real file, prompted exactly as the server would.

One example: choose a middle span in a file (the rest of a line, a piece inside a line, a few
whole lines, a whole function body, or nothing at all), remove it, and ask dglsp's own
Pipeline.context what it would send for a cursor at the hole in that document: the same carving,
template, token budget and canvas length (`prompt.canvas_length`) the server uses. The target
canvas is the middle's tokens, then EOS, then pad to the canvas length; a middle longer than the
canvas keeps its first canvas-length tokens (what one block of the engine would write).

Everything random comes from the `random.Random` handed in, so the same seed builds the same
examples.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from dglsp.config import Settings
from dglsp.documents import Document
from dglsp.model.tokenizer import ModelTokenizer
from dglsp.training.data import SourceFile, read_code

# How often each kind of hole is drawn: what people complete most, plus "nothing to add".
DEFAULT_KINDS: dict[str, float] = {"line": 0.35, "inline": 0.15, "lines": 0.2, "body": 0.15, "empty": 0.15}
MAX_INLINE_CHARS = 40
MAX_SPAN_LINES = 8
_CLOSERS = ")]}>\"',;:"


@dataclass(frozen=True)
class Example:
    key: str  # the source file's key
    language: str
    kind: str
    text: str  # the document the server sees: the file with the middle removed
    cursor: int  # where the middle goes in `text`
    middle: str
    prompt_text: str
    prompt_ids: list[int]
    canvas_ids: list[int]  # the target: middle tokens, EOS, pad; len == the canvas length
    middle_tokens: int  # middle tokens kept in the canvas (before EOS)
    truncated: bool  # the middle did not fit: no EOS in the canvas


@dataclass(frozen=True)
class _PromptOnlyEngine:
    """What Pipeline.context reads from an engine: its tokenizer and canvas length."""

    tokenizer: ModelTokenizer
    canvas_length: int


class ExampleBuilder:
    def __init__(
        self,
        tokenizer: ModelTokenizer,
        model_canvas: int,
        settings: Settings,
        kinds: dict[str, float] | None = None,
    ) -> None:
        from dglsp.pipeline import Pipeline

        self.tokenizer = tokenizer
        self.pipeline = Pipeline(_PromptOnlyEngine(tokenizer, model_canvas), settings)  # type: ignore[arg-type]
        kinds = kinds or DEFAULT_KINDS
        self.kinds = list(kinds)
        self.weights = [kinds[k] for k in self.kinds]
        self.eos_id = tokenizer.hf.eos_token_id
        self.pad_id = tokenizer.pad_id if tokenizer.pad_id is not None else self.eos_id

    def sample(self, files: Sequence[SourceFile], rng: random.Random, count: int) -> list[Example]:
        """`count` examples from random files (files without a usable hole are skipped)."""
        examples: list[Example] = []
        attempts = 0
        while len(examples) < count:
            attempts += 1
            if attempts > 50 * count:
                raise ValueError("no usable training examples in these files (too short or unreadable?)")
            source = files[rng.randrange(len(files))]
            text = read_code(source.path)
            if not text:
                continue
            example = self.random_example(source.key, source.language, text, rng)
            if example is not None:
                examples.append(example)
        return examples

    def random_example(self, key: str, language: str, text: str, rng: random.Random) -> Example | None:
        kind = rng.choices(self.kinds, self.weights)[0]
        span = choose_span(kind, text, language, rng)
        if span is None:
            return None
        return self.example(key, language, text, span[0], span[1], kind)

    def example(self, key: str, language: str, text: str, start: int, end: int, kind: str) -> Example:
        """The example whose middle is text[start:end]."""
        middle = text[start:end]
        document = text[:start] + text[end:]
        snapshot = Document(f"file:///{key}", language, 0, document).snapshot()
        prompt = self.pipeline.context(snapshot, start).prompt
        length = prompt.canvas_length
        middle_ids = self.tokenizer.encode(middle)
        kept = middle_ids[:length]
        canvas = kept + [self.eos_id] + [self.pad_id] * (length - len(kept) - 1)
        return Example(
            key=key,
            language=language,
            kind=kind,
            text=document,
            cursor=start,
            middle=middle,
            prompt_text=prompt.text,
            prompt_ids=self.tokenizer.encode(prompt.text),
            canvas_ids=canvas[:length],
            middle_tokens=len(kept),
            truncated=len(middle_ids) >= length,
        )


# --- choosing the middle ----------------------------------------------------------------------


def choose_span(kind: str, text: str, language: str, rng: random.Random) -> tuple[int, int] | None:
    """[start, end) of the middle for a hole of this kind, or None when the file has none."""
    if kind == "body":
        return _body_span(text, language, rng)
    lines = _code_lines(text)
    if not lines:
        return None
    start, end = lines[rng.randrange(len(lines))]
    indent = start + len(text[start:end]) - len(text[start:end].lstrip())
    if kind == "line":  # the rest of a line, from anywhere after its indentation
        cursor = rng.randrange(indent, end)
        return cursor, end
    if kind == "inline":  # a piece inside a line, with code after it on the line
        last = end - len(text[start:end]) + len(text[start:end].rstrip())
        if last - indent < 2:
            return None
        cursor = rng.randrange(indent, last - 1)
        stop = rng.randrange(cursor + 1, min(last, cursor + MAX_INLINE_CHARS) + 1)
        return (cursor, stop) if text[stop:end].strip() else None
    if kind == "lines":  # from the indentation of one line to the end of a later line
        following = [span for span in lines if span[0] > start]
        if not following:
            return None
        count = rng.randint(1, MAX_SPAN_LINES)
        return indent, following[min(count, len(following)) - 1][1]
    if kind == "empty":  # nothing is missing: the model must answer with EOS at once
        closers = [i for i in range(indent, end) if text[i] in _CLOSERS]
        cursor = end if not closers or rng.random() < 0.7 else rng.choice(closers)
        return cursor, cursor
    raise ValueError(f"unknown example kind {kind!r}")


def _code_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every non-blank line, end before its line break."""
    spans, offset = [], 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((offset, offset + len(line)))
        offset += len(line) + 1
    return spans


def _body_span(text: str, language: str, rng: random.Random) -> tuple[int, int] | None:
    """The statements of a random function-like node (as grammars/<language>.scm names them)."""
    from dglsp.carve.queries import find_around, queries

    query = queries(language)
    if query is None:
        return None
    tree = Document("file:///body", language, 0, text).tree
    if tree is None:
        return None
    data = text.encode("utf-8", "surrogatepass")
    bodies = []
    for node in find_around(query, tree, 0, len(data)).functions:
        body = node.child_by_field_name("body")
        children = list(body.named_children) if body is not None else []
        if children:
            bodies.append((children[0].start_byte, children[-1].end_byte))
    if not bodies:
        return None
    start, end = sorted(bodies)[rng.randrange(len(bodies))]
    if text.isascii():
        return start, end
    # Byte offsets -> str offsets (the text was encoded with surrogatepass, so this is exact).
    before_start, before_end = (data[:byte].decode("utf-8", "surrogatepass") for byte in (start, end))
    return len(before_start), len(before_end)
