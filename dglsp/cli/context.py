"""`dglsp context FILE:LINE:COL`: what would be sent to the model, without loading one.

This is how users (and tests) see why a completion happened: the carved span, the prompt's
token counts and the canvas length, computed by the same Pipeline the server uses.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dglsp.cli.common import (
    EXIT_OK,
    add_model_flags,
    chosen_settings,
    cursor_offset,
    load_document,
    parse_location,
    settings_from_args,
)
from dglsp.context_view import render_context


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
    settings = chosen_settings(settings)

    from dglsp.engine import create_engine
    from dglsp.pipeline import Pipeline

    # The engine is created but never started: context needs no weights.
    context = Pipeline(create_engine(settings), settings).context(snapshot, cursor)
    if args.json:
        print(json.dumps(context.to_json(), ensure_ascii=False))
    else:
        print(render_context(str(location.path), snapshot.text, cursor, context), end="")
    return EXIT_OK
