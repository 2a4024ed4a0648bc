"""The engine's state as a status bar shows it: `dglsp/status` notifications and `dglsp.status`.

One `StatusBoard` per server. The engine host and the request path tell it what happens
(starting, loading progress, ready, a request running, its latency, a failure); it keeps the
latest `StatusParams` and sends it to a client that set the `status` option whenever it
changes. Safe to call from the engine's loading thread: sends hop onto the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import TYPE_CHECKING, Any

from dglsp import protocol
from dglsp.config import Settings
from dglsp.engine import engine_kind

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer


def short_model_name(model: str) -> str:
    """What a status bar has room for: `google/diffusiongemma-26B-A4B-it` -> `diffusiongemma-26B-A4B-it`."""
    stripped = model.rstrip("/\\")
    return re.split(r"[/\\]", stripped)[-1] or model  # a Windows path from the client, too


class StatusBoard:
    def __init__(self, ls: DglspServer) -> None:
        self._ls = ls
        self._running = 0  # completion requests running the model now
        self._loop: asyncio.AbstractEventLoop | None = None
        settings = ls.state.settings
        self._status = protocol.StatusParams(
            state="starting",
            model=short_model_name(settings.model),
            model_path=settings.model,
            engine=engine_kind(settings.engine),
            device=settings.device,
            dtype=settings.dtype,
        )

    @property
    def current(self) -> protocol.StatusParams:
        return self._status

    def starting(self, settings: Settings) -> None:
        """A new engine for `settings` (at start, and after model/device changes)."""
        self._running = 0
        self._set(
            state="starting",
            model=short_model_name(settings.model),
            model_path=settings.model,
            engine=engine_kind(settings.engine),
            device=settings.device,
            dtype=settings.dtype,
            message="Starting the engine",
            percentage=None,
        )

    def loading(self, message: str, percentage: int | None) -> None:
        self._set(state="loading", message=message, percentage=percentage)

    def ready(self) -> None:
        self._set(state="ready", message="", percentage=None)

    def failed(self, message: str) -> None:
        self._set(state="error", message=message, percentage=None)

    def request_started(self) -> None:
        self._running += 1
        if self._status.state == "ready":
            self._set(state="generating", message="")

    def request_finished(self, latency_ms: float | None) -> None:
        """`latency_ms` is None for a request that did not run the model to the end."""
        self._running = max(0, self._running - 1)
        changes: dict[str, Any] = {}
        if latency_ms is not None:
            changes["last_latency_ms"] = round(latency_ms, 1)
        if self._running == 0 and self._status.state == "generating":
            changes["state"] = "ready"
        if changes:
            self._set(**changes)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's event loop; changes reported from other threads are applied there."""
        self._loop = loop

    def _set(self, **changes: Any) -> None:
        if self._loop is not None and not self._on_loop():
            self._loop.call_soon_threadsafe(lambda: self._set(**changes))
            return
        updated = dataclasses.replace(self._status, **changes)
        if updated == self._status:
            return
        self._status = updated
        if self._ls.state.settings.status:
            self._ls.protocol.notify(protocol.STATUS, updated.to_json())

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False
