"""`dglsp complete FILE:LINE:COL`: one infill from the shell, through the server's Pipeline.

Output: the inserted text on stdout (a newline is added on a terminal only, so pipes get the
text exactly). `--json`: {"text", "range", "steps", "elapsed_ms"}. `--stream`: every denoising
draft as it comes, then the final text. Progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

from dglsp.cli.common import (
    EXIT_OK,
    ProgressPrinter,
    add_engine_flag,
    add_model_flags,
    chosen_settings,
    cursor_offset,
    load_document,
    offset_to_line_col,
    parse_location,
    print_error,
    settings_from_args,
)

if TYPE_CHECKING:
    from dglsp.config import Settings
    from dglsp.documents import Snapshot
    from dglsp.pipeline import DraftUpdate


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "complete",
        help="infill the code at FILE:LINE:COL and print it",
        description="Load the model, infill the code at the cursor and print the inserted text.",
    )
    parser.add_argument("location", metavar="FILE:LINE:COL", help="1-based line and column (characters)")
    add_model_flags(parser, suppress=True)
    add_engine_flag(parser, suppress=True)
    parser.add_argument("--steps", type=int, metavar="N", help="most denoising steps (default 48)")
    parser.add_argument("--seed", type=int, metavar="S", help="seed of the starting canvas (default 0)")
    parser.add_argument(
        "--entropy-bound", type=float, metavar="F", help="sampler entropy bound per step (default 0.1)"
    )
    parser.add_argument(
        "--canvas-length", type=int, metavar="N", help="cells in the canvas (default 0: automatic)"
    )
    parser.add_argument("--stream", action="store_true", help="print each denoising draft as it comes")
    parser.add_argument("--json", action="store_true", help="machine-readable output (one object per line)")


def run(args: argparse.Namespace) -> int:
    location = parse_location(args.location)
    settings = settings_from_args(args)
    # Check the file and the position before spending seconds to minutes on the model.
    snapshot = load_document(location.path).snapshot()
    cursor = cursor_offset(snapshot.text, location)
    settings = chosen_settings(settings)
    return asyncio.run(_complete(args, settings, snapshot, cursor))


async def _complete(args: argparse.Namespace, settings: Settings, snapshot: Snapshot, cursor: int) -> int:
    from dglsp.engine import CancelToken, EngineError, EngineState, create_engine
    from dglsp.engine.daemon_client import connect_if_running
    from dglsp.pipeline import Pipeline

    # A one-shot command uses a running `dglsp serve` but never leaves a resident one behind.
    auto = settings.engine.strip() == "auto"
    engine = connect_if_running(settings) if auto else None
    if engine is None:
        engine = create_engine(dataclasses.replace(settings, engine="inprocess") if auto else settings)
    cancel = CancelToken()
    try:
        progress = ProgressPrinter()
        await engine.start(progress)
        progress.done()
        if engine.state is EngineState.ERROR:
            raise EngineError(engine.error or "The model could not be loaded.")
        on_draft = _DraftPrinter(snapshot.text, args.json) if args.stream else None
        pipeline = Pipeline(engine, settings)
        completion = await pipeline.complete(snapshot, cursor, cancel=cancel, on_draft=on_draft)
    finally:
        cancel.cancel("finished")  # stops a loop still running after an interrupt
        await engine.close()

    result = {
        "text": completion.text,
        "range": _range(snapshot.text, completion.start, completion.end),
        "steps": completion.steps,
        "elapsed_ms": round(completion.elapsed_ms, 1),
    }
    if args.json:
        if args.stream:
            result["final"] = True
        print(json.dumps(result, ensure_ascii=False), flush=True)
    elif args.stream:
        _block(f"--- final: {completion.steps} steps, {completion.elapsed_ms:.0f} ms", completion.text)
    else:
        sys.stdout.write(completion.text)
        if sys.stdout.isatty() and not completion.text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    if not completion.text:
        print_error("the model suggested nothing at this position")
    return EXIT_OK


class _DraftPrinter:
    """Prints each draft as the pipeline hands it over (streaming filters already applied)."""

    def __init__(self, text: str, as_json: bool) -> None:
        self._text = text
        self._json = as_json

    def __call__(self, draft: DraftUpdate) -> None:
        if draft.final:
            return  # the final answer is printed after complete() returns, with its step count
        if self._json:
            line = {
                "step": draft.step,
                "total_steps": draft.total_steps,
                "text": draft.text,
                "range": _range(self._text, draft.start, draft.end),
                "final": False,
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
        else:
            _block(f"--- step {draft.step}/{draft.total_steps}", draft.text)


def _block(header: str, text: str) -> None:
    sys.stdout.write(f"{header}\n{text}")
    if not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def _range(text: str, start: int, end: int) -> dict[str, list[int]]:
    return {"start": offset_to_line_col(text, start), "end": offset_to_line_col(text, end)}
