"""textDocument/inlineCompletion (LSP 3.18): the main path, ghost text at the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from dglsp.server.completing import infill_at
from dglsp.server.edits import to_range

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

EMPTY = types.InlineCompletionList(items=[])


async def inline_completion(
    ls: DglspServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    # Debounce only what the editor sends by itself while the user types; an explicit
    # invocation is answered as fast as possible.
    automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
    debounce_s = ls.state.settings.debounce_ms / 1000 if automatic else 0.0
    infill = await infill_at(ls, params.text_document.uri, params.position, debounce_s=debounce_s)
    if infill is None:
        return EMPTY
    edit = infill.edit
    item = types.InlineCompletionItem(
        insert_text=edit.text,
        range=to_range(infill.snapshot.text, edit.start, edit.end, ls.state.client.encoding),
    )
    return types.InlineCompletionList(items=[item])
