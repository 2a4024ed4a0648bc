"""workspace/didChangeConfiguration: new settings; a new model or device restarts the engine,
and so does any change while the engine has failed (a retry).

Values merge onto the settings the server started with (command line + initializationOptions),
so a key the user removed goes back to that value. Clients that send no settings in the
notification (they expect a pull) are asked with workspace/configuration for section "dglsp".
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from dglsp.config import merge_settings
from dglsp.engine.model_choice import with_model
from dglsp.server.engine_host import failure_message, needs_restart, restart_engine
from dglsp.server.handlers.lifecycle import settings_message
from dglsp.server.notify import show_once

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

log = logging.getLogger(__name__)

SECTION = "dglsp"


async def did_change_configuration(ls: DglspServer, params: types.DidChangeConfigurationParams) -> None:
    raw: Any = params.settings
    if not raw and ls.state.client.configuration_pull:
        raw = await _pull(ls)
    await apply_settings(ls, raw)


async def apply_settings(ls: DglspServer, raw: Any) -> None:
    state = ls.state
    settings, problems = merge_settings(state.base_settings, raw)
    if problems:
        show_once(ls, types.MessageType.Warning, settings_message(problems))
    old, state.settings = state.settings, settings
    if state.slot is not None and needs_restart(old, settings):
        log.info("model or device changed (%s on %s): restarting the engine", settings.model, settings.device)
        await restart_engine(ls, "the engine is restarting for new settings")
    elif state.slot is not None and state.engine_failed and settings != old:
        # The user may have fixed what made the load fail (copied the model, freed memory):
        # any change of our settings tries again, and a second failure is shown again.
        log.info("settings changed while the engine had failed: trying to load it again")
        state.shown_messages.discard(failure_message(state.slot.engine.error))
        await restart_engine(ls, "the engine is retried for new settings")
    elif state.slot is not None:
        # The engine's model stays (it may be the bundled one standing in for the default).
        pipeline = state.slot.pipeline
        pipeline.settings = with_model(settings, pipeline.settings.model)


async def _pull(ls: DglspServer) -> Any:
    try:
        values = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
        )
    except Exception as error:
        log.warning("workspace/configuration failed: %s", error)
        return None
    return values[0] if values else None
