"""Logging: stderr and window/logMessage, never stdout (stdout is the LSP channel)."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr at `level`, unless logging is set up already (the CLI's --log-file, --log-level)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    # pygls logs every message it sends at INFO: keep that for debugging sessions only.
    if root.getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("pygls").setLevel(logging.WARNING)


class LspLogHandler(logging.Handler):
    """Forwards dglsp's log records to the client as window/logMessage (from any thread)."""

    def __init__(self, server: LanguageServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.INFO)
        self._server = server
        self._loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        try:
            params = types.LogMessageParams(
                type=_LEVELS.get(record.levelno, types.MessageType.Log), message=self.format(record)
            )
            if _on_loop(self._loop):
                self._server.window_log_message(params)
            elif not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._server.window_log_message, params)
        except Exception:
            self.handleError(record)


def attach_lsp_logging(server: LanguageServer) -> LspLogHandler:
    """Start forwarding to the client (after `initialize`: nothing may be sent before)."""
    handler = LspLogHandler(server, asyncio.get_running_loop())
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("dglsp").addHandler(handler)
    return handler


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
