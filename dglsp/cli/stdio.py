"""`dglsp --stdio`: the language server, as editors start it."""

from __future__ import annotations

import argparse

from dglsp.cli.common import EXIT_OK, settings_from_args


def run(args: argparse.Namespace) -> int:
    # Settings from flags are the base; the client's initializationOptions and
    # workspace/didChangeConfiguration apply on top of them inside the server.
    settings = settings_from_args(args)
    from dglsp.server import run_stdio  # pygls is imported only when the server runs

    run_stdio(settings)
    return EXIT_OK
