"""Messages the user must see (window/showMessage), each shown once per session."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

log = logging.getLogger(__name__)


def show_once(ls: DglspServer, kind: types.MessageType, message: str) -> bool:
    """Show `message` unless it was shown before; always log it. True if it was shown now."""
    levels = {types.MessageType.Error: logging.ERROR, types.MessageType.Warning: logging.WARNING}
    log.log(levels.get(kind, logging.INFO), "%s", message)
    if message in ls.state.shown_messages:
        return False
    ls.state.shown_messages.add(message)
    ls.window_show_message(types.ShowMessageParams(type=kind, message=message))
    return True
