"""Realistic source files of a given length, with a place to type, for the benchmarks.

`generate(language, lines)` returns a deterministic file of exactly `lines` lines: imports,
then functions, classes, dataclasses and constants with docstrings and comments (the mix a
real module has, so tree-sitter, carving and the tokenizer see ordinary code), with one
function in the middle whose body has an empty line: the cursor, where the user types.

Also the example files' holes (examples/README.md) used by the engine bench.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("python", "javascript")
EXTENSIONS = {"python": ".py", "javascript": ".js"}

_NOUNS = (
    "order", "invoice", "customer", "record", "session", "report", "metric", "payload", "token",
    "account", "message", "segment", "bucket", "window", "event", "sample", "profile", "ticket",
)  # fmt: skip
_VERBS = (
    "load", "parse", "merge", "filter", "update", "render", "validate", "collect", "resolve",
    "encode", "schedule", "normalize", "summarize", "split", "index", "export", "compare",
)  # fmt: skip


@dataclass(frozen=True)
class Source:
    language: str
    text: str
    cursor: int  # str offset where the user types (end of an indented empty line)
    typed: str  # what the user types there, one character per keystroke


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(_VERBS), rng.choice(_NOUNS)


def _python_block(rng: random.Random, index: int) -> list[str]:
    verb, noun = _name(rng)
    kind = index % 4
    if kind == 0:
        limit = rng.randint(2, 99)
        return [
            f"def {verb}_{noun}s_{index}({noun}s: list[dict], limit: int = {limit}) -> list[dict]:",
            f'    """{verb.capitalize()} up to `limit` {noun}s, skipping the ones without an id."""',
            "    result = []",
            f"    for {noun} in {noun}s:",
            f'        if not {noun}.get("id"):',
            "            continue  # incomplete rows come from the legacy import",
            f"        result.append({noun})",
            "        if len(result) >= limit:",
            "            break",
            "    return result",
            "",
            "",
        ]
    if kind == 1:
        cls = f"{noun.capitalize()}{verb.capitalize()}Cache{index}"
        return [
            f"class {cls}:",
            f'    """Keeps {noun}s in memory and {verb}s them on demand."""',
            "",
            "    def __init__(self, capacity: int = 128) -> None:",
            "        self.capacity = capacity",
            f"        self.items: dict[str, {noun.capitalize()}] = {{}}",
            "",
            f"    def add(self, key: str, value: {noun.capitalize()}) -> None:",
            "        if len(self.items) >= self.capacity:",
            "            self.items.pop(next(iter(self.items)))",
            "        self.items[key] = value",
            "",
            f"    def {verb}(self, key: str) -> {noun.capitalize()} | None:",
            "        return self.items.get(key)",
            "",
            "",
        ]
    if kind == 2:
        return [
            "@dataclass(frozen=True)",
            f"class {noun.capitalize()}{index}:",
            "    name: str",
            f"    size: int = {rng.randint(0, 512)}",
            "    tags: tuple[str, ...] = ()",
            "",
            "    @property",
            "    def label(self) -> str:",
            '        return f"{self.name} ({self.size})"',
            "",
            "",
        ]
    return [
        f"# {verb.capitalize()} settings for {noun}s; tuned on the staging data.",
        f"{noun.upper()}_{verb.upper()}_LIMIT_{index} = {rng.randint(10, 10_000)}",
        f'{noun.upper()}_{verb.upper()}_PREFIX_{index} = "{noun[:3]}-{index}"',
        "",
        "",
    ]


def _javascript_block(rng: random.Random, index: int) -> list[str]:
    verb, noun = _name(rng)
    kind = index % 3
    if kind == 0:
        return [
            "/**",
            f" * {verb.capitalize()} up to `limit` {noun}s, skipping the ones without an id.",
            " */",
            f"function {verb}{noun.capitalize()}s{index}({noun}s, limit = {rng.randint(2, 99)}) {{",
            "  const result = [];",
            f"  for (const {noun} of {noun}s) {{",
            f"    if (!{noun}.id) continue; // incomplete rows come from the legacy import",
            f"    result.push({noun});",
            "    if (result.length >= limit) break;",
            "  }",
            "  return result;",
            "}",
            "",
        ]
    if kind == 1:
        return [
            f"class {noun.capitalize()}{verb.capitalize()}Cache{index} {{",
            "  constructor(capacity = 128) {",
            "    this.capacity = capacity;",
            "    this.items = new Map();",
            "  }",
            "",
            "  add(key, value) {",
            "    if (this.items.size >= this.capacity) {",
            "      this.items.delete(this.items.keys().next().value);",
            "    }",
            "    this.items.set(key, value);",
            "  }",
            "",
            f"  {verb}(key) {{",
            "    return this.items.get(key);",
            "  }",
            "}",
            "",
        ]
    return [
        f"// {verb.capitalize()} settings for {noun}s; tuned on the staging data.",
        f"export const {noun.upper()}_{verb.upper()}_LIMIT_{index} = {rng.randint(10, 10_000)};",
        f"const {verb}{noun.capitalize()}{index} = (x) => x * {rng.randint(2, 9)};",
        "",
    ]


_HEADERS = {
    "python": [
        '"""Order processing: loading, validation and reports (generated for dglsp benchmarks)."""',
        "",
        "from __future__ import annotations",
        "",
        "import json",
        "import logging",
        "from collections.abc import Iterable",
        "from dataclasses import dataclass",
        "",
        "log = logging.getLogger(__name__)",
        "",
        "",
    ],
    "javascript": [
        "// Order processing: loading, validation and reports (generated for dglsp benchmarks).",
        "import { readFile } from 'node:fs/promises';",
        "import path from 'node:path';",
        "",
    ],
}

_HOLES = {
    "python": (
        [
            "def summarize_orders(orders: list[dict], limit: int = 10) -> dict[str, float]:",
            '    """Totals per customer over the first `limit` orders."""',
            "    totals: dict[str, float] = {}",
            "    ",
            "    return totals",
            "",
            "",
        ],
        "for order in orders[:limit]:",
    ),
    "javascript": (
        [
            "function summarizeOrders(orders, limit = 10) {",
            "  const totals = {};",
            "  ",
            "  return totals;",
            "}",
            "",
        ],
        "for (const order of orders.slice(0, limit)) {",
    ),
}

_FILLERS: dict[str, Callable[[int], str]] = {
    "python": lambda i: f"FILLER_{i} = {i}",
    "javascript": lambda i: f"export const FILLER_{i} = {i};",
}
_BLOCKS = {"python": _python_block, "javascript": _javascript_block}


def generate(language: str, lines: int, seed: int = 0) -> Source:
    """A file of exactly `lines` lines (at least the header and the hole function)."""
    if language not in LANGUAGES:
        raise ValueError(f"no generator for {language!r} (expected one of {', '.join(LANGUAGES)})")
    rng = random.Random(seed)
    header = _HEADERS[language]
    hole, typed = _HOLES[language]
    before = _fill(language, rng, max(0, (lines - len(header) - len(hole)) // 2), start=0)
    after = _fill(language, rng, lines - len(header) - len(hole) - len(before), start=len(before))
    body = [*header, *before, *hole, *after][: max(lines, len(header) + len(hole))]
    text = "\n".join(body) + "\n"
    hole_line = len(header) + len(before) + next(i for i, line in enumerate(hole) if not line.strip())
    cursor = sum(len(line) + 1 for line in body[:hole_line]) + len(body[hole_line])
    return Source(language, text, cursor, typed)


def _fill(language: str, rng: random.Random, count: int, start: int) -> list[str]:
    """`count` lines of whole blocks, after as many one-line constants as it takes."""
    blocks: list[str] = []
    index = start
    while True:
        block = _BLOCKS[language](rng, index)
        if len(blocks) + len(block) > count:
            break
        blocks.extend(block)
        index += 1
    filler = _FILLERS[language]
    return [*(filler(start * 1000 + i) for i in range(count - len(blocks))), *blocks]


# --- the example files (examples/README.md) ---

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
# The holes examples/README.md names: file, 1-based line, 1-based column.
EXAMPLE_HOLES = (("stats.py", 27, 29), ("debounce.js", 12, 5), ("stack.rs", 21, 9), ("wordcount.go", 16, 3))


def example_text(name: str) -> str:
    path = EXAMPLES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the engine bench runs on the repository's examples/ directory"
        )
    return path.read_text(encoding="utf-8")


def offset_of(text: str, line: int, column: int) -> int:
    """The str offset of a 1-based line and column (characters)."""
    lines = text.split("\n")
    return sum(len(previous) + 1 for previous in lines[: line - 1]) + column - 1
