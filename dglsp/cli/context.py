"""`dglsp context FILE:LINE:COL`: what would be sent to the model, without loading one.

This is how users (and tests) see why a completion happened: the carved span, the prompt's
token counts and the canvas length, computed by the same Pipeline the server uses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dglsp.cli.common import (
    EXIT_OK,
    add_model_flags,
    cursor_offset,
    load_document,
    offset_to_line_col,
    parse_location,
    settings_from_args,
)

if TYPE_CHECKING:
    from dglsp.pipeline import Context


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "context",
        help="show what would be sent to the model at FILE:LINE:COL (no model needed)",
        description="Show the carved span, the prompt and its size in tokens. Loads no model.",
    )
    parser.add_argument("location", metavar="FILE:LINE:COL", help="1-based line and column (characters)")
    add_model_flags(parser, suppress=True)
    parser.add_argument("--json", action="store_true", help="print Context.to_json() as one JSON object")


def run(args: argparse.Namespace) -> int:
    location = parse_location(args.location)
    settings = settings_from_args(args)
    snapshot = load_document(location.path).snapshot()
    cursor = cursor_offset(snapshot.text, location)

    from dglsp.engine import create_engine
    from dglsp.pipeline import Pipeline

    # The engine is created but never started: context needs no weights.
    context = Pipeline(create_engine(settings), settings).context(snapshot, cursor)
    data = context.to_json()
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print_summary(location.path, snapshot.text, cursor, data, context)
    return EXIT_OK


def _print_summary(path: Path, text: str, cursor: int, data: dict[str, Any], context: Context) -> None:
    start, end = data["span"]["start"], data["span"]["end"]
    line, column = offset_to_line_col(text, cursor)
    estimated = " (estimated: no tokenizer loaded)" if data.get("tokens_estimated") else ""
    rows = [
        ("file", str(path)),
        ("language", data["language"]),
        ("cursor", f"{line}:{column}"),
        ("span", f"{data['kind']}, {start[0]}:{start[1]} to {end[0]}:{end[1]}"),
        ("prefix", f"{data['prefix_tokens']} tokens{estimated}"),
        ("suffix", f"{data['suffix_tokens']} tokens"),
    ]
    if "context_tokens" in data:
        rows.append(("header", f"{data['context_tokens']} tokens"))
    canvas = data["canvas_length"]
    rows.append(("canvas", f"{canvas} cells" if canvas else "the model's own canvas length"))
    for name, value in rows:
        print(f"{name + ':':<10} {value}")
    print("--- prompt")
    print(context.prompt.text)
    print("--- end of prompt")
