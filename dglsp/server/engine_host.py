"""Starting, restarting and stopping the engine, with progress and one error message.

The engine loads in the background after `initialized`; requests that arrive meanwhile wait
for it (`ServerState.wait_engine`). A failed load leaves the server running: the user sees
the engine's message once (it says what to do) and completions answer empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lsprotocol import types

from dglsp.config import Settings
from dglsp.engine.base import (
    CancelToken,
    Draft,
    EngineError,
    EngineState,
    InfillRequest,
    Progress,
    ProgressCallback,
)
from dglsp.engine.model_choice import ModelChoice, choose_model
from dglsp.pipeline import Pipeline
from dglsp.server.notify import show_once
from dglsp.server.progress import WorkDoneProgress
from dglsp.server.state import EngineSlot

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

log = logging.getLogger(__name__)

# How long a restart or shutdown waits for a cancelled request to leave the engine.
DRAIN_TIMEOUT_S = 10.0


def start_engine(ls: DglspServer) -> EngineSlot:
    """Create the engine for the current settings and start loading it in the background."""
    state = ls.state
    ls.status.bind_loop(asyncio.get_running_loop())
    try:
        choice = choose_model(state.settings)
    except Exception:  # probing for the default model must never stop the engine from starting
        log.exception("choosing the model failed")
        choice = ModelChoice(state.settings)
    settings = choice.settings
    ls.status.starting(settings)
    notice = choice.notice()
    if notice:
        show_once(ls, types.MessageType.Info, notice)
    try:
        engine = state.engine_factory(settings)
    except Exception as error:  # a broken factory must still become a message, not a crash
        log.exception("creating the engine failed")
        engine = BrokenEngine(settings.model, f"dglsp could not create its engine: {error}")
    slot = EngineSlot(engine, Pipeline(engine, settings))
    state.slot = slot
    slot.loader = asyncio.create_task(_load(ls, slot))
    return slot


async def restart_engine(ls: DglspServer, reason: str) -> EngineSlot:
    """Stop the current engine (its requests answer empty) and load one for the new settings."""
    async with ls.state.engine_lock:
        await stop_engine(ls, reason)
        return start_engine(ls)


async def stop_engine(ls: DglspServer, reason: str, *, wait_for_load: bool = True) -> None:
    """Cancel every request and close the engine.

    A load cannot be interrupted (it runs in the engine's thread). Before a restart it is
    waited for, so two models never sit in (GPU) memory at once; at shutdown it is not.
    """
    state = ls.state
    state.scheduler.cancel_all(reason)
    slot, state.slot = state.slot, None
    if slot is None:
        return
    if slot.loader is not None and not slot.loader.done():
        if wait_for_load:
            await asyncio.shield(slot.loader)
        else:
            slot.loader.cancel()
    try:
        await asyncio.wait_for(state.scheduler.wait_idle(), DRAIN_TIMEOUT_S)
    except TimeoutError:
        log.warning("a cancelled request did not leave the engine within %.0f s", DRAIN_TIMEOUT_S)
    try:
        await slot.engine.close()
    except Exception:
        log.exception("closing the engine failed")


async def _load(ls: DglspServer, slot: EngineSlot) -> None:
    engine = slot.engine
    progress = None
    if ls.state.client.work_done_progress:
        progress = WorkDoneProgress(ls, f"dglsp: loading {engine.model_name}")
        await progress.begin("Starting the engine")

    def on_progress(update: Progress) -> None:  # from the engine's loading thread
        if ls.state.slot is slot:
            ls.status.loading(update.message, update.percentage)
        if progress is not None:
            progress.report(update)

    try:
        await engine.start(on_progress)
    except Exception as error:  # Engine.start should never raise; if it does, it is still a message
        log.exception("engine start raised")
        if engine.state is not EngineState.ERROR:
            slot.engine = BrokenEngine(engine.model_name, f"dglsp: the engine failed to start: {error}")
    finally:
        slot.settled.set()
    failed = slot.engine.state is not EngineState.READY
    if progress is not None:
        progress.end("Failed" if failed else "Ready")
    current = ls.state.slot is slot  # not replaced by a restart meanwhile
    if not failed:
        log.info("engine ready: %s", slot.engine.model_name)
        if current:
            ls.status.ready()
    elif current:
        message = f"dglsp: {slot.engine.error or 'the model could not be loaded'}"
        ls.status.failed(message)
        show_once(ls, types.MessageType.Error, message)


def needs_restart(old: Settings, new: Settings) -> bool:
    """Settings the engine was built from; everything else applies to the next request."""
    return (old.model, old.device, old.engine) != (new.model, new.device, new.engine)


class BrokenEngine:
    """An engine that could not even be created: state ERROR with a message."""

    def __init__(self, model: str, message: str) -> None:
        self._model = model
        self._message = message

    @property
    def state(self) -> EngineState:
        return EngineState.ERROR

    @property
    def error(self) -> str:
        return self._message

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def tokenizer(self) -> None:
        return None

    @property
    def canvas_length(self) -> int:
        return 0

    async def start(self, progress: ProgressCallback | None = None) -> None:
        return None

    async def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        raise EngineError(self._message)
        yield  # an async generator, like every engine's infill

    async def close(self) -> None:
        return None
