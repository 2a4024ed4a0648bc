"""Standard work-done progress (window/workDoneProgress/create, then $/progress begin/report/end)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from dglsp.engine.base import Progress

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

# A client that never answers window/workDoneProgress/create must not hold up the model load.
CREATE_TIMEOUT_S = 2.0

_tokens = itertools.count(1)


class WorkDoneProgress:
    """One progress bar. Safe to call from any thread; silent if the client refused the token."""

    def __init__(self, server: LanguageServer, title: str) -> None:
        self._server = server
        self._title = title
        self._token = f"dglsp/progress/{next(_tokens)}"
        self._open = False
        self._loop = asyncio.get_running_loop()

    async def begin(self, message: str = "") -> None:
        try:
            await asyncio.wait_for(
                self._server.work_done_progress.create_async(self._token), CREATE_TIMEOUT_S
            )
        except Exception as error:  # timeout or an error answer: go on without a progress bar
            log.info("no progress bar (window/workDoneProgress/create: %s)", error or type(error).__name__)
            return
        self._open = True
        self._server.work_done_progress.begin(
            self._token,
            types.WorkDoneProgressBegin(title=self._title, message=message, percentage=0, cancellable=False),
        )

    def report(self, progress: Progress) -> None:
        """An engine ProgressCallback."""
        self._call(self._report, progress)

    def end(self, message: str = "") -> None:
        self._call(self._end, message)

    def _report(self, progress: Progress) -> None:
        if self._open:
            self._server.work_done_progress.report(
                self._token,
                types.WorkDoneProgressReport(message=progress.message, percentage=progress.percentage),
            )

    def _end(self, message: str) -> None:
        if self._open:
            self._open = False
            self._server.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))

    def _call(self, function, argument) -> None:
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            function(argument)
        else:
            self._loop.call_soon_threadsafe(function, argument)
