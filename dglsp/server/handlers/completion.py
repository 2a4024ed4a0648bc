"""textDocument/completion: the same infill as one item, for clients without inline completion.

eglot and Neovim 0.11 show it in their completion menu. A client that declared
`textDocument.inlineCompletion` (VS Code, Neovim 0.12) gets an empty list here: it shows the
infill as ghost text already, and answering both would run the model twice per keystroke,
with each request superseding the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from dglsp.server.completing import Infill, infill_at
from dglsp.server.edits import to_range

if TYPE_CHECKING:
    from dglsp.server.app import DglspServer

LABEL_CHARS = 60


async def completion(ls: DglspServer, params: types.CompletionParams) -> types.CompletionList:
    if ls.state.client.inline_completion:
        return types.CompletionList(is_incomplete=False, items=[])
    infill = await infill_at(ls, params.text_document.uri, params.position)
    if infill is None:
        # Incomplete: typing on must ask again, the infill depends on every character.
        return types.CompletionList(is_incomplete=True, items=[])
    return types.CompletionList(is_incomplete=True, items=[completion_item(infill, ls.state.client.encoding)])


def completion_item(infill: Infill, encoding: str) -> types.CompletionItem:
    edit, text = infill.edit, infill.snapshot.text
    # Clients filter items by the text between the edit's start and the cursor (a partly
    # typed word); a filterText that starts with it keeps our item in the menu.
    typed = text[edit.start : infill.cursor]
    filter_text = edit.text if edit.text.startswith(typed) else typed + edit.text
    multiline = "\n" in edit.text or "\r" in edit.text
    return types.CompletionItem(
        label=_label(edit.text),
        kind=types.CompletionItemKind.Text,
        detail="dglsp infill",
        documentation=types.MarkupContent(kind=types.MarkupKind.PlainText, value=edit.text)
        if multiline
        else None,
        filter_text=filter_text,
        sort_text="0",
        preselect=True,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=to_range(text, edit.start, edit.end, encoding), new_text=edit.text),
    )


def _label(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), text.strip())
    return first if len(first) <= LABEL_CHARS else first[: LABEL_CHARS - 1] + "…"
