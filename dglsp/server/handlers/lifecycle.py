"""initialize, initialized, shutdown."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability

from dglsp.config import merge_settings
from dglsp.server.engine_host import SHUTDOWN_DRAIN_S, start_engine, stop_engine
from dglsp.server.logs import attach_lsp_logging
from dglsp.server.notify import show_once
from dglsp.server.state import ClientInfo

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

log = logging.getLogger(__name__)


def initialize(ls: DglspServer, params: types.InitializeParams) -> None:
    """Remember what the client supports and apply its initializationOptions.

    pygls builds the InitializeResult itself (capabilities from the routing table); the
    position encoding was negotiated before this runs (see lsp_protocol.py).
    """
    state = ls.state
    capabilities = params.capabilities
    encoding = ls.workspace.position_encoding or types.PositionEncodingKind.Utf16
    state.client = ClientInfo(
        encoding=getattr(encoding, "value", encoding),
        work_done_progress=bool(get_capability(capabilities, "window.work_done_progress", False)),
        inline_completion=get_capability(capabilities, "text_document.inline_completion") is not None,
        configuration_pull=bool(get_capability(capabilities, "workspace.configuration", False)),
    )
    settings, problems = merge_settings(state.base_settings, params.initialization_options)
    state.base_settings = state.settings = settings
    state.startup_problems = problems
    log.info("client %s, position encoding %s", _client_name(params), state.client.encoding)


async def initialized(ls: DglspServer, params: types.InitializedParams) -> None:
    attach_lsp_logging(ls)
    if ls.state.startup_problems:
        show_once(ls, types.MessageType.Warning, settings_message(ls.state.startup_problems))
    start_engine(ls)


async def shutdown(ls: DglspServer, params: None) -> None:
    # Answered within about SHUTDOWN_DRAIN_S + CLOSE_TIMEOUT_S whatever the engine is doing.
    ls.state.shutting_down = True
    await stop_engine(ls, "the server is shutting down", wait_for_load=False, drain_s=SHUTDOWN_DRAIN_S)


def settings_message(problems: list[str]) -> str:
    return "dglsp settings: " + "; ".join(problems)


def _client_name(params: types.InitializeParams) -> str:
    info = params.client_info
    return f"{info.name} {info.version or ''}".strip() if info else "unknown"
