"""The request path both completion handlers share: snapshot, schedule, complete, re-check.

Every way a request can fail to produce a suggestion ends here as None (the handlers answer
with an empty result), except the client's own mistakes (unknown document, position outside
it), which are InvalidParams errors, and `$/cancelRequest`, which pygls answers with
RequestCancelled when our CancelledError propagates.

A client that asked for drafts gets them (drafts.py) while the model runs; the final draft,
with the response's own edit, goes out just before the response.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from dglsp.documents import Document, PositionError, Snapshot, offset_to_position, position_to_offset
from dglsp.engine.base import Cancelled, CancelToken, EngineError, EngineState
from dglsp.pipeline import Completion
from dglsp.server.drafts import DraftSender
from dglsp.server.edits import Edit, single_line_edit
from dglsp.server.notify import show_once
from dglsp.server.state import ENGINE_WAIT_S

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

log = logging.getLogger(__name__)


def cursor_offset(text: str, position: types.Position, encoding: str, uri: str) -> int:
    """The str offset of `position`; a line past the end of the document is InvalidParams.

    A column past the end of its line means the line's end, as the LSP spec says.
    """
    try:
        return position_to_offset(text, position.line, position.character, encoding)
    except PositionError as error:
        last_line, _ = offset_to_position(text, len(text), encoding)
        if position.line <= last_line:
            return position_to_offset(text, position.line, position.character, encoding, clamp=True)
        raise JsonRpcInvalidParams(
            f"Position {position.line}:{position.character} in {uri}: {error}"
        ) from None


@dataclass(frozen=True)
class Infill:
    snapshot: Snapshot
    cursor: int
    completion: Completion
    edit: Edit  # the completion as a single-line edit


async def infill_at(
    ls: DglspServer, uri: str, position: types.Position, *, debounce_s: float = 0.0
) -> Infill | None:
    state = ls.state
    document = state.documents.get(uri)
    if document is None:
        raise JsonRpcInvalidParams(
            f"Unknown document {uri}: it was not opened with textDocument/didOpen, or it was closed."
        )
    snapshot = document.snapshot()
    cursor = cursor_offset(snapshot.text, position, state.client.encoding, uri)
    if document.is_binary:
        log.debug("no completion in %s: binary content", uri)
        return None
    if not state.settings.language_enabled(snapshot.language):
        log.debug("no completion in %s: language %r is not enabled", uri, snapshot.language)
        return None
    if state.engine_failed:
        return None  # the load error was shown once already
    drafts = DraftSender.for_request(ls, snapshot, position, cursor)

    async def work(token: CancelToken) -> Completion | None:
        slot = state.slot
        if slot is None or slot.engine.state is not EngineState.READY:
            failed = state.engine_failed
            why = "failed to load" if failed else f"is still loading after {ENGINE_WAIT_S:.0f} s"
            log.info("no completion in %s: the model %s", uri, why)
            return None
        if drafts is not None:
            drafts.token = token  # a cancelled or superseded job sends no more drafts
        on_draft = drafts.on_draft if drafts is not None else None
        ls.status.request_started()
        started = time.perf_counter()
        latency_ms = None
        try:
            completion = await slot.pipeline.complete(snapshot, cursor, token, on_draft)
            latency_ms = (time.perf_counter() - started) * 1000
            return completion
        finally:
            ls.status.request_finished(latency_ms)

    try:
        completion = await state.scheduler.run(uri, work, debounce=debounce_s, ready=state.wait_engine)
    except Cancelled as cancelled:  # superseded, or the document changed under it
        log.debug("completion in %s cancelled: %s", uri, cancelled)
        return None
    except EngineError as error:
        show_once(ls, types.MessageType.Error, f"dglsp: {error}")
        if state.engine_failed:  # the engine itself is gone, not just this one request
            ls.status.failed(f"dglsp: {error}")
        return None
    except Exception as error:  # a bug must not take the server down; the log has the traceback
        log.exception("completion in %s failed", uri)
        show_once(ls, types.MessageType.Error, f"dglsp: completion failed ({type(error).__name__}: {error})")
        return None

    infill = _checked(state.documents.get(uri), snapshot, cursor, completion)
    if drafts is not None:
        drafts.finish(infill.edit if infill is not None else None)  # before the response goes out
    return infill


def _checked(
    current: Document | None, snapshot: Snapshot, cursor: int, completion: Completion | None
) -> Infill | None:
    """The completion as an Infill, unless it is empty, stale or cannot be shown."""
    if completion is None or not completion.text:
        return None
    uri = snapshot.uri
    if current is None or current.version != snapshot.version:
        log.debug("dropping a completion for %s version %s: the document changed", uri, snapshot.version)
        return None
    edit = single_line_edit(snapshot.text, completion.start, completion.end, completion.text, cursor)
    if edit is None:
        log.warning("dropping a completion whose edit spans several lines (%r)", completion)
        return None
    if edit.text == snapshot.text[edit.start : edit.end]:
        return None  # the suggestion is already there
    return Infill(snapshot, cursor, completion, edit)
