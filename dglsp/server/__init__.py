"""The language server (the only package that imports pygls and lsprotocol).

`run_stdio(settings)` is `dglsp --stdio`. `create_server` + `serve_stdio` let the scripted
test server put its own engine behind the real server.
"""

from __future__ import annotations

import logging

from dglsp.config import Settings
from dglsp.server.app import DglspServer, create_server, serve_stdio
from dglsp.server.logs import configure_logging
from dglsp.server.state import EngineFactory


def run_stdio(settings: Settings, engine_factory: EngineFactory | None = None) -> None:
    """Run the language server on stdin/stdout until the client exits it."""
    configure_logging(logging.INFO)
    serve_stdio(create_server(settings, engine_factory))


__all__ = ["DglspServer", "create_server", "run_stdio", "serve_stdio"]
