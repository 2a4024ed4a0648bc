"""pygls' protocol with three changes dglsp needs.

1. Position encoding: pygls 2.1 takes the *client's* first choice among utf-8/16/32. dglsp
   prefers utf-8 whenever the client offers it (no utf-16 surrogate arithmetic, and byte
   columns are what tree-sitter uses), so the offer is reordered before pygls chooses.
   pygls then sets up its workspace with that encoding and advertises it; our handlers read
   the negotiated value back from `ls.workspace.position_encoding`.
2. Malformed params: pygls 2.1 fails to structure such a request in its reader loop, logs
   it and never answers, so the client waits forever. Here the request gets the usual
   JSON-RPC InvalidParams error with cattrs' description of what is wrong.
3. One copy of each document: pygls keeps its own and, on every didChange, re-splits the
   whole text into lines and rewrites them (1.2 ms per keystroke at 10,000 lines, measured
   with `dglsp bench overhead`). dglsp's `Document` is the copy that counts (handlers/
   text_sync.py), so pygls' is filled at didOpen and not updated after that.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

log = logging.getLogger(__name__)

PREFERRED_ENCODINGS = (types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16)


class _Answered:
    """Stands in for a request that was already answered with an error."""

    jsonrpc = "2.0"


_ANSWERED = _Answered()


class DglspProtocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        prefer_utf8(params.capabilities)
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        # pygls' version also updates its workspace copy; ours only hands over to the handler.
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if not ("id" in data and "method" in data):
                raise  # a notification or response: pygls logs it, nobody waits for an answer
            reason = _describe(error.__cause__) if error.__cause__ is not None else error.message
            message = f"Invalid params for {data['method']}: {reason}"
            log.warning("%s (request %s)", message, data["id"])
            code = error.code
            self._send_response(data["id"], error=type(error)(message, code).to_response_error())
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        if message is _ANSWERED:
            return
        super().handle_message(message)


def prefer_utf8(capabilities: types.ClientCapabilities) -> None:
    """Move utf-8 to the front of the client's offer (the order is only a preference)."""
    general = capabilities.general
    if general is None or not general.position_encodings:
        return
    offered = list(general.position_encodings)
    ranked = sorted(offered, key=lambda e: PREFERRED_ENCODINGS.index(e) if e in PREFERRED_ENCODINGS else 99)
    general.position_encodings = ranked


def _describe(error: BaseException) -> str:
    if isinstance(error, cattrs.ClassValidationError):
        return "; ".join(cattrs.transform_error(error)) or str(error)
    return str(error) or type(error).__name__


__all__ = ["DglspProtocol", "JsonRpcInvalidParams", "prefer_utf8"]
