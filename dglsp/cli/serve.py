"""`dglsp serve`: the resident engine in the foreground (see docs/daemon.md).

It loads the model once and serves every editor window of this user over a Unix socket
that only this user can open. Editors' language servers (engine setting "auto") connect to
it, or start it themselves when none runs; running it by hand shows its log on stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

from dglsp.cli.common import CliError, add_model_flags, chosen_settings, settings_from_args, setup_logging
from dglsp.config import Experts


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the resident engine: load the model once, serve every editor window",
        description=(
            "Load the model and serve infill requests from this user's language servers over a "
            "Unix socket (mode 0600, in a directory only you can enter). Stops on Ctrl-C or SIGTERM "
            "and removes its socket."
        ),
    )
    add_model_flags(parser, suppress=True)
    parser.add_argument(
        "--socket",
        metavar="PATH",
        type=Path,
        help="listen here instead of the default socket for the model and device "
        "(editors then set engine to this path)",
    )
    parser.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="stop after this long without any connected editor (default: run until stopped)",
    )
    parser.add_argument(
        "--experts",
        choices=get_args(Experts),
        default="auto",
        help="how the mixture-of-experts layers run (default auto: grouped_mm); same text, different speed",
    )
    parser.add_argument(
        "--max-batch",
        type=_positive,
        metavar="N",
        help="requests from different windows that share one denoising pass at most "
        "(default: 4 on a GPU, 1 on the CPU; 1 runs them strictly one at a time)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=argparse.SUPPRESS,
        help="log verbosity on stderr (default: info)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from dglsp.daemon.main import ClaimError, DaemonOptions
    from dglsp.daemon.main import run as serve

    # A foreground server logs by default (commands are silent unless asked).
    setup_logging(args.log_level or "info", args.log_file)
    settings = chosen_settings(settings_from_args(args))
    try:
        options = DaemonOptions(
            settings.model,
            settings.device,
            args.socket,
            idle_exit_s=args.idle_exit,
            max_batch=args.max_batch,
            experts=args.experts,
            dtype=settings.dtype,
        )
        return serve(options)
    except ClaimError as error:
        raise CliError(str(error)) from None
