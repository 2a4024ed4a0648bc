"""textDocument/didOpen, didChange, didClose: our own Documents, updated incrementally.

Our Document is the only up-to-date copy of the text (pygls' is not updated after didOpen:
see server/lsp_protocol.py). Each change range is converted with the negotiated encoding
against our text (its line index, kept in step edit by edit), change by change, as the client
meant it. A change records its tree edit; the parse waits until a request needs the tree.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from dglsp.documents import Document, PositionError
from dglsp.documents.encoding import LineIndex
from dglsp.languages import language_for_lsp_id

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

log = logging.getLogger(__name__)


def did_open(ls: DglspServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    ls.state.scheduler.cancel(item.uri, "the document was reopened")
    ls.state.documents[item.uri] = Document(
        item.uri, language_for_lsp_id(item.language_id), item.version, item.text
    )


def did_change(ls: DglspServer, params: types.DidChangeTextDocumentParams) -> None:
    uri, version = params.text_document.uri, params.text_document.version
    document = ls.state.documents.get(uri)
    if document is None:
        log.warning("didChange for %s, which is not open: ignored", uri)
        return
    # A request still running for the old text would answer for text that is gone.
    ls.state.scheduler.cancel(uri, "the document changed")
    encoding = ls.state.client.encoding
    try:
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start, end = _offsets(document.line_index, change.range, encoding)
                document.apply_change(start, end, change.text, version)
            else:
                document.replace_all(change.text, version)
    except Exception:
        log.exception("applying a change to %s failed", uri)


def did_close(ls: DglspServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.state.scheduler.cancel(uri, "the document was closed")
    ls.state.documents.pop(uri, None)


def _offsets(lines: LineIndex, range_: types.Range, encoding: str) -> tuple[int, int]:
    def offset(position: types.Position) -> int:
        try:
            return lines.position_to_offset(position.line, position.character, encoding)
        except PositionError as error:  # the client is out of step; do what pygls does
            log.warning("change range outside the document (%s): clamped", error)
            return lines.position_to_offset(position.line, position.character, encoding, clamp=True)

    start, end = offset(range_.start), offset(range_.end)
    return min(start, end), max(start, end)
