"""The language server (the only package that imports pygls and lsprotocol).

`run_stdio(settings)` is `dglsp --stdio`. `create_server` + `serve_stdio` let the scripted
test server put its own engine behind the real server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from dglsp.config import Settings
from dglsp.server.app import DglspServer, create_server, serve_stdio
from dglsp.server.logs import configure_logging
from dglsp.server.state import EngineFactory


def run_stdio(settings: Settings, engine_factory: EngineFactory | None = None) -> None:
    """Run the language server on stdin/stdout until the client exits it, then end the
    process at once.

    Python's exit joins the engine's worker thread, which may be minutes into loading a
    model: an editor that sent `exit` (or closed our stdin) must not wait for that.
    """
    configure_logging(logging.INFO)
    server = create_server(settings, engine_factory)
    with contextlib.suppress(SystemExit):  # pygls' exit handler (start_io usually swallows it)
        serve_stdio(server)
    # The LSP exit code: 0 if `shutdown` came first, 1 otherwise (pygls loses its own).
    code = 0 if server.state.shutting_down else 1
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["DglspServer", "create_server", "run_stdio", "serve_stdio"]
