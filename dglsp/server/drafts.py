"""`dglsp/draft` notifications for one completion request (specified in docs/protocol.md).

The pipeline reports a draft after every denoising step; `DraftSender.on_draft` turns it into
an edit on the cursor's line and sends it if it changes what the client would show. The
final draft is sent by the request path (`finish`) with the very edit the response carries,
so the two never disagree. Just before anything goes out, the request must still be live
(not cancelled or superseded) and the document still at the snapshot's version.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from lsprotocol import types

from dglsp import protocol
from dglsp.documents import Snapshot, offset_to_position
from dglsp.documents.encoding import Encoding
from dglsp.engine.base import CancelToken
from dglsp.pipeline import DraftUpdate
from dglsp.server.edits import Edit, single_line_edit

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

log = logging.getLogger(__name__)


class DraftSender:
    """Sends the drafts of one request; create it with `for_request` (None: no drafts wanted)."""

    def __init__(
        self,
        ls: DglspServer,
        snapshot: Snapshot,
        position: types.Position,
        cursor: int,
        request_id: protocol.RequestId | None,
    ) -> None:
        self._ls = ls
        self._snapshot = snapshot
        self._position = protocol.Position(position.line, position.character)
        self._cursor = cursor
        self._request_id = request_id
        self._encoding = cast(Encoding, ls.state.client.encoding)  # negotiated in initialize
        self.token: CancelToken | None = None  # the scheduler's token, once the job has one
        self._shown: Edit | None = None  # what the client shows now (None: nothing)
        self._step = 0
        self._total_steps = 0
        self.ran = False  # the pipeline reported at least one draft (the model ran)

    @classmethod
    def for_request(
        cls, ls: DglspServer, snapshot: Snapshot, position: types.Position, cursor: int
    ) -> DraftSender | None:
        if not ls.state.settings.drafts:
            return None
        # pygls keeps the id of the request being handled in a context variable.
        return cls(ls, snapshot, position, cursor, ls.protocol.msg_id)

    def on_draft(self, update: DraftUpdate) -> None:
        """The pipeline's on_draft callback."""
        self.ran = True
        self._step, self._total_steps = update.step, update.total_steps
        if update.final:
            return  # `finish` sends the final draft, with the response's edit
        edit = self._visible(
            single_line_edit(self._snapshot.text, update.start, update.end, update.text, self._cursor)
        )
        if edit == self._shown:
            return  # would not change what the client shows
        if self._send(edit, final=False):
            self._shown = edit

    def finish(self, edit: Edit | None) -> None:
        """Send the final draft: `edit` is what the response carries (None: nothing).

        Called once the scheduler returned this request's result, so the request is current;
        its token is not consulted (an engine may trip it while winding down).
        """
        if self.ran:
            self._send(self._visible(edit), final=True)

    def _visible(self, edit: Edit | None) -> Edit | None:
        """None for an edit that would leave the text as it is."""
        if edit is None or edit.text == self._snapshot.text[edit.start : edit.end]:
            return None
        return edit

    def _live(self, final: bool) -> bool:
        state = self._ls.state
        if not state.settings.drafts:
            return False
        if not final and self.token is not None and self.token.cancelled:
            return False
        document = state.documents.get(self._snapshot.uri)
        return document is not None and document.version == self._snapshot.version

    def _send(self, edit: Edit | None, *, final: bool) -> bool:
        if not self._live(final):
            return False
        text = self._snapshot.text
        start, end = (edit.start, edit.end) if edit is not None else (self._cursor, self._cursor)
        params = protocol.DraftParams(
            text_document=protocol.VersionedDocument(self._snapshot.uri, self._snapshot.version),
            position=self._position,
            range=protocol.Range(self._at(text, start), self._at(text, end)),
            step=self._step,
            total_steps=self._total_steps,
            text=edit.text if edit is not None else "",
            final=final,
            request_id=self._request_id,
        )
        self._ls.protocol.notify(protocol.DRAFT, params.to_json())
        return True

    def _at(self, text: str, offset: int) -> protocol.Position:
        return protocol.Position(*offset_to_position(text, offset, self._encoding))
