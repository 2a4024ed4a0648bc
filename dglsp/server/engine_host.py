"""Starting, restarting and stopping the engine, with progress and one error message.

The engine loads in the background after `initialized`; requests that arrive meanwhile wait
for it (`ServerState.wait_engine`). A failed load leaves the server running: the user sees
the engine's message once (it says what to do) and completions answer empty. An engine that
changes state later by itself (the daemon client losing and restarting its daemon) is
watched, so the status and the messages follow it.

Restarts and shutdown are bounded: an editor must never wait on an engine that is stuck.
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

# How long a restart waits for a cancelled request to leave the engine.
DRAIN_TIMEOUT_S = 10.0
# At shutdown the process is about to exit: requests get a moment to end, not the editor's patience.
SHUTDOWN_DRAIN_S = 1.0
# Closing an engine (a socket, a worker thread) must not hold up a restart or a shutdown.
CLOSE_TIMEOUT_S = 2.0


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


async def restart_engine(ls: DglspServer, reason: str) -> EngineSlot | None:
    """Stop the current engine (its requests answer empty) and load one for the new settings.

    None if the server began shutting down meanwhile: no engine (no daemon) is started then.
    """
    state = ls.state
    async with state.engine_lock:
        slot = state.slot
        # A model loading in this process is waited for; one loading elsewhere (the daemon) is not.
        wait_for_load = slot is None or getattr(slot.engine, "loads_in_process", True)
        await stop_engine(ls, reason, wait_for_load=wait_for_load)
        if state.shutting_down:
            return None
        return start_engine(ls)


async def stop_engine(
    ls: DglspServer, reason: str, *, wait_for_load: bool = True, drain_s: float = DRAIN_TIMEOUT_S
) -> None:
    """Cancel every request and close the engine.

    A load in this process cannot be interrupted (it runs in the engine's thread). Before a
    restart it is waited for, so two models never sit in (GPU) memory at once; at shutdown,
    and for an engine whose model lives elsewhere, it is cancelled.
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
        await asyncio.wait_for(state.scheduler.wait_idle(), drain_s)
    except TimeoutError:
        log.warning("a cancelled request did not leave the engine within %.0f s", drain_s)
    try:
        await asyncio.wait_for(slot.engine.close(), CLOSE_TIMEOUT_S)
    except TimeoutError:
        log.warning("closing the engine took more than %.0f s; going on without it", CLOSE_TIMEOUT_S)
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
    except asyncio.CancelledError:  # stopped before it settled (a restart, shutdown): close the bar
        if progress is not None:
            progress.end("Cancelled")
        raise
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
        watch = getattr(slot.engine, "watch", None)  # engines that change state by themselves
        if callable(watch):
            watch(lambda state, message: _engine_changed(ls, slot, state, message))
    elif current:
        _report_failure(ls, slot.engine.error)


def _engine_changed(ls: DglspServer, slot: EngineSlot, state: EngineState, message: str | None) -> None:
    """The engine changed by itself after its load (its daemon was lost, came back, was given up)."""
    if ls.state.slot is not slot:
        return
    if state is EngineState.LOADING:
        ls.status.loading(message or "Restarting the engine", None)
    elif state is EngineState.READY:
        log.info("engine ready again: %s", slot.engine.model_name)
        ls.status.ready()
    elif state is EngineState.ERROR:
        _report_failure(ls, message)


def failure_message(error: str | None) -> str:
    """What the user is shown when the engine failed with `error`."""
    return f"dglsp: {error or 'the model could not be loaded'}"


def _report_failure(ls: DglspServer, error: str | None) -> None:
    message = failure_message(error)
    ls.status.failed(message)
    show_once(ls, types.MessageType.Error, message)


def needs_restart(old: Settings, new: Settings) -> bool:
    """Settings the engine was built from; everything else applies to the next request."""
    built_from = ("model", "device", "engine", "experts", "dtype")
    return any(getattr(old, name) != getattr(new, name) for name in built_from)


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
