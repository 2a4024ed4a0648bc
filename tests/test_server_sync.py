"""Incremental sync end to end: the server's own Document is the only up-to-date copy of the
text (pygls' is not updated after didOpen), so random edits in the negotiated encoding,
non-BMP characters and line breaks included, must leave it equal to the client's text."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types

HOLE = "<FILL_HERE>"
PIECES = ["a", "bc", " ", "😀", "é", "字", "\n", "\n  x = 1\n", ""]


def units(text: str, encoding: str) -> int:
    return len(text.encode("utf-8")) if encoding == "utf-8" else len(text.encode("utf-16-le")) // 2


def position(text: str, offset: int, encoding: str) -> types.Position:
    line_start = text.rfind("\n", 0, offset) + 1
    return types.Position(
        line=text.count("\n", 0, offset), character=units(text[line_start:offset], encoding)
    )


@pytest.mark.parametrize("offered", [["utf-8", "utf-16"], ["utf-16"]])
async def test_random_incremental_edits_keep_the_server_text_exact(scripted_lsp, offered):
    session = await scripted_lsp(
        {"default_middle": "z"}, init_options={"windowLines": 1000}, encodings=offered
    )
    encoding = session.encoding
    rng = random.Random(7)
    text = "first line 😀\nsecond é line\n\nthird 字 line\n"
    uri = "file:///w/notes.txt"
    session.open(uri, text, language="plaintext")
    for version in range(2, 42):
        changes = []
        for _ in range(rng.randint(1, 3)):  # several changes per notification, applied in order
            start = rng.randint(0, len(text))
            end = min(len(text), start + rng.choice([0, 0, 1, 2, 5]))
            new = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 2)))
            changes.append(
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=position(text, start, encoding), end=position(text, end, encoding)
                    ),
                    text=new,
                )
            )
            text = text[:start] + new + text[end:]
        session.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=changes,
            )
        )
    end = position(text, len(text), encoding)
    await session.inline(uri, end.line, end.character)
    state = await session.state()
    prompt = state["engines"][-1]["requests"][-1]["prompt"]
    # The whole (small) document is the window around the cursor: it must be exactly our text.
    assert text.rstrip("\n") + HOLE in prompt
