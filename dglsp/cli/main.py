"""The `dglsp` command: `--stdio` (the language server) and the subcommands.

Each subcommand lives in its own module with `add_parser(subparsers)` and `run(args) -> int`.
Heavy imports (torch, transformers, pygls) happen inside the commands, so `--help` and
`--version` stay fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dglsp import __version__
from dglsp.cli import bench, complete, context, doctor, serve, stdio, train
from dglsp.cli.common import (
    EXIT_USAGE,
    CliError,
    add_engine_flag,
    add_model_flags,
    print_error,
    setup_logging,
)
from dglsp.engine import EngineError

_COMMANDS = {
    "bench": bench,
    "complete": complete,
    "context": context,
    "doctor": doctor,
    "serve": serve,
    "train": train,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dglsp",
        description="Inline code completions by infilling the code at the cursor with DiffusionGemma.",
        epilog="Editors start `dglsp --stdio`. Positions are FILE:LINE:COL, 1-based, as editors show them.",
    )
    parser.add_argument("--version", action="version", version=f"dglsp {__version__}")
    parser.add_argument("--stdio", action="store_true", help="run the language server on stdin/stdout")
    add_model_flags(parser)
    add_engine_flag(parser)
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=None,
        help="log verbosity (default: info with --stdio; commands print only their messages)",
    )
    parser.add_argument("--log-file", metavar="PATH", help="write logs to this file instead of stderr")

    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMANDS.values():
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.stdio and args.command:
            raise CliError(f"--stdio runs the language server; it does not combine with '{args.command}'")
        # Commands turn every problem into one message on stderr; their logs would only repeat
        # it, so they log only when asked to.
        setup_logging(args.log_level or ("info" if args.stdio else "off"), args.log_file)
        if args.stdio:
            return stdio.run(args)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return _COMMANDS[args.command].run(args)
    except CliError as error:
        print_error(str(error))
        return error.code
    except EngineError as error:
        # Its message already says what to do (no model, no CUDA, too little memory).
        print_error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
