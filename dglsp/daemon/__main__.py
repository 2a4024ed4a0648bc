"""`python -m dglsp.daemon`: the daemon without the rest of the CLI.

This is what a language server spawns (the same code as `dglsp serve`), and the test entry:
`--scripted SCRIPT.json` serves a ScriptedEngine (no model, no torch) instead of the model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

from dglsp.config import DEFAULT_MODEL, Dtype, Experts
from dglsp.daemon.main import EXIT_REFUSED, ClaimError, DaemonOptions, run, setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dglsp.daemon", description="dglsp's resident engine")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--socket", type=Path)
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    parser.add_argument(
        "--idle-exit", type=float, metavar="SECONDS", help="stop after this long without clients"
    )
    parser.add_argument("--scripted", type=Path, metavar="SCRIPT", help="serve a ScriptedEngine (tests)")
    parser.add_argument("--experts", choices=get_args(Experts), default="auto")
    parser.add_argument("--dtype", choices=get_args(Dtype), default="auto")
    parser.add_argument("--max-batch", type=int)
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        options = DaemonOptions(
            args.model,
            args.device,
            args.socket,
            args.scripted,
            args.idle_exit,
            max_batch=args.max_batch,
            experts=args.experts,
            dtype=args.dtype,
        )
        return run(options)
    except ClaimError as error:
        print(f"dglsp serve: {error}", file=sys.stderr, flush=True)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
