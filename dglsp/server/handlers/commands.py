"""workspace/executeCommand: `dglsp.status` and `dglsp.context` (docs/protocol.md).

Editors use them for a status menu and an "explain context" view: the same state the
`dglsp/status` notifications carry, and the same view `dglsp context FILE:LINE:COL` prints,
for a document the editor has open (with its unsaved text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from dglsp import protocol
from dglsp.context_view import render_context
from dglsp.pipeline import Pipeline
from dglsp.server.completing import cursor_offset

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

# pygls calls a command with the command's arguments spread out and resolves the handler's
# type hints at run time, so `ls` is annotated with a class importable here.


def status(ls: LanguageServer, *arguments: Any) -> dict[str, Any]:
    return cast("DglspServer", ls).status.current.to_json()


def context(ls: LanguageServer, *arguments: Any) -> dict[str, Any]:
    return _context(cast("DglspServer", ls), list(arguments))


COMMANDS = {protocol.STATUS_COMMAND: status, protocol.CONTEXT_COMMAND: context}


def _context(ls: DglspServer, arguments: list[Any]) -> dict[str, Any]:
    try:
        request = protocol.ContextArguments.from_json(arguments[0])
    except (IndexError, KeyError, TypeError, ValueError, AttributeError):
        raise JsonRpcInvalidParams(
            f"{protocol.CONTEXT_COMMAND} takes one argument: "
            '{"textDocument": {"uri": ...}, "position": {"line": ..., "character": ...}}'
        ) from None
    state = ls.state
    document = state.documents.get(request.uri)
    if document is None:
        raise JsonRpcInvalidParams(f"Unknown document {request.uri}: it is not open.")
    snapshot = document.snapshot()
    position = types.Position(request.position.line, request.position.character)
    cursor = cursor_offset(snapshot.text, position, state.client.encoding, request.uri)
    # The running engine's pipeline has the model's tokenizer (exact token counts); before
    # one exists, a pipeline around an engine that is never started estimates them.
    pipeline = state.slot.pipeline if state.slot is not None else _unstarted_pipeline(ls)
    context = pipeline.context(snapshot, cursor)
    return {
        "text": render_context(request.uri, snapshot.text, cursor, context),
        "context": context.to_json(),
    }


def _unstarted_pipeline(ls: DglspServer) -> Pipeline:
    settings = ls.state.settings
    return Pipeline(ls.state.engine_factory(settings), settings)
