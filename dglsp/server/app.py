"""The language server: one routing table from LSP methods to handler modules.

`create_server` builds it around a ServerState; `serve_stdio` runs it on stdin/stdout.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer

from dglsp import __version__
from dglsp.config import Settings
from dglsp.engine.base import Engine
from dglsp.server.handlers import commands, completion, configuration, inline_completion, lifecycle, text_sync
from dglsp.server.lsp_protocol import DglspProtocol
from dglsp.server.state import EngineFactory, ServerState
from dglsp.server.status import StatusBoard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    method: str
    handler: Callable[..., Any]
    options: Any = None  # advertised in the initialize result (pygls builds it from these)


ROUTES: tuple[Route, ...] = (
    Route(types.INITIALIZE, lifecycle.initialize),
    Route(types.INITIALIZED, lifecycle.initialized),
    Route(types.SHUTDOWN, lifecycle.shutdown),
    Route(types.TEXT_DOCUMENT_DID_OPEN, text_sync.did_open),
    Route(types.TEXT_DOCUMENT_DID_CHANGE, text_sync.did_change),
    Route(types.TEXT_DOCUMENT_DID_CLOSE, text_sync.did_close),
    # Without explicit options pygls does not advertise inlineCompletionProvider at all.
    Route(
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        inline_completion.inline_completion,
        types.InlineCompletionOptions(),
    ),
    Route(
        types.TEXT_DOCUMENT_COMPLETION, completion.completion, types.CompletionOptions(resolve_provider=False)
    ),
    Route(types.WORKSPACE_DID_CHANGE_CONFIGURATION, configuration.did_change_configuration),
)


class DglspServer(LanguageServer):
    def __init__(self, state: ServerState) -> None:
        super().__init__(
            "dglsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=DglspProtocol,
        )
        self.state = state
        self.status = StatusBoard(self)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # A failed request was already answered with an error. For anything else pygls would
        # pop up "Error in server"; log it instead: our handlers show what users must see.
        if source is not FeatureRequestError:
            log.error("%s: %s", getattr(source, "__name__", source), error)


def default_engine_factory(settings: Settings) -> Engine:
    from dglsp.engine import create_engine  # torch is imported when the engine loads, not here

    return create_engine(settings)


def create_server(settings: Settings, engine_factory: EngineFactory | None = None) -> DglspServer:
    server = DglspServer(ServerState(settings, engine_factory or default_engine_factory))
    for route in ROUTES:
        server.feature(route.method, route.options)(route.handler)
    for name, handler in commands.COMMANDS.items():  # advertised in executeCommandProvider
        server.command(name)(handler)
    return server


def serve_stdio(server: LanguageServer) -> None:
    """Serve on stdin/stdout, with stray writes to stdout (prints, C libraries) sent to stderr."""
    lsp_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, lsp_out)
