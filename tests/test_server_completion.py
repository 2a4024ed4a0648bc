"""The language server over real stdio with a ScriptedEngine: completions, edits, cancellation.

Each test starts `python -m dglsp.testing.scripted_server` through pytest-lsp (the
`scripted_lsp` fixture in conftest.py); `session.state()` shows what the engine saw.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled

FAST = {
    "rules": [
        {"when": "total = ad", "middle": "d(1, 2)"},
        {"when": "name = ", "middle": "len(name)"},
        {"when": "def greet", "middle": " * 2"},
    ]
}
# A slow request for "a = slow_" and a fast one for the same document at the end of line 1:
# only the second request's prompt has line 0 and line 1 next to each other (no hole between).
SLOW = {
    "rules": [
        {"when": "slow_\nb = fast_", "middle": "1"},
        {"when": "a = slow_", "middle": "x" * 50, "steps": 50, "step_delay_ms": 40},
        {"when": "other = ", "middle": "42"},
    ]
}
SLOW_TEXT = "a = slow_\nb = fast_\n"


def units(text: str, encoding: str) -> int:
    """Length of `text` in LSP column units."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def offset(text: str, position: types.Position, encoding: str) -> int:
    """An independent position -> offset conversion (texts here end lines with \\n only)."""
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: position.line])
    line, count = lines[position.line], 0
    for index, char in enumerate(line):
        if count == position.character:
            return start + index
        count += units(char, encoding)
    assert count == position.character, f"column {position.character} is not a character boundary"
    return start + len(line)


def apply(text: str, range_: types.Range, new_text: str, encoding: str) -> str:
    return (
        text[: offset(text, range_.start, encoding)] + new_text + text[offset(text, range_.end, encoding) :]
    )


def change(start: tuple[int, int], end: tuple[int, int], new: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=types.Position(line=start[0], character=start[1]),
            end=types.Position(line=end[0], character=end[1]),
        ),
        text=new,
    )


def end_of(text: str, line: int, encoding: str) -> tuple[int, int]:
    return line, units(text.split("\n")[line], encoding)


async def until(session, predicate, timeout: float = 5.0) -> dict:
    """Poll the server's state until predicate(state) holds."""
    deadline = time.monotonic() + timeout
    while True:
        state = await session.state()
        if predicate(state):
            return state
        assert time.monotonic() < deadline, f"timed out; state: {json.dumps(state)[:2000]}"
        await asyncio.sleep(0.02)


def texts(result: types.InlineCompletionList) -> list[str]:
    return [item.insert_text for item in result.items]


def requests(state: dict, engine: int = -1) -> list[dict]:
    return state["engines"][engine]["requests"]


@pytest.mark.parametrize(
    ("offered", "negotiated"),
    [(["utf-16", "utf-8"], "utf-8"), (None, "utf-16")],
    ids=["utf-8-offered", "nothing-offered"],
)
async def test_sync_and_inline_completion_in_the_negotiated_encoding(scripted_lsp, offered, negotiated):
    session = await scripted_lsp(FAST, encodings=offered)
    capabilities = session.capabilities
    assert capabilities.inline_completion_provider is not None
    assert capabilities.completion_provider is not None
    assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert session.encoding == negotiated

    # A partly typed word ("ad") after non-BMP characters: the range starts at the word.
    text = 'label = "😀😀"; total = ad\nprint(total)\n'
    session.open("file:///w/a.py", text)
    line, character = end_of(text, 0, negotiated)
    result = await session.inline("file:///w/a.py", line, character)
    [item] = result.items
    assert item.insert_text == "add(1, 2)"
    assert item.range.start == types.Position(line=0, character=character - 2)
    assert item.range.end == types.Position(line=0, character=character)
    assert apply(text, item.range, item.insert_text, negotiated) == text.replace("= ad\n", "= add(1, 2)\n")

    # Nothing typed at the cursor: an empty range at the cursor, after a 4-byte / 2-unit emoji.
    text = 'name = "😀"; y = \n'
    session.open("file:///w/b.py", text)
    line, character = end_of(text, 0, negotiated)
    [item] = (await session.inline("file:///w/b.py", line, character)).items
    assert item.range.start == item.range.end == types.Position(line=0, character=character)
    assert apply(text, item.range, item.insert_text, negotiated) == 'name = "😀"; y = len(name)\n'

    # This client shows inline completions, so textDocument/completion stays out of the way.
    listed = await session.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///w/b.py"),
            position=types.Position(line=line, character=character),
        )
    )
    assert list(listed.items) == []
    assert len(requests(await session.state())) == 2  # no engine run for it either
    assert session.client.progress_reports == {}  # the client did not offer work-done progress

    # Incremental changes, converted with the negotiated encoding, reach the prompt.
    uri = "file:///w/c.py"
    session.open(uri, 'def f():\n    s = "😀" # 😀 😀\n    return \n')
    after_emoji = units('    s = "😀"', negotiated)
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                change((1, after_emoji), (1, after_emoji), ' + "b"'),  # mid-line, after an emoji
                change((0, 4), (0, 5), "greet"),  # replace a word
                change((2, 11), (2, 11), "s"),  # applies to the text after the two above
            ],
        )
    )
    edited = 'def greet():\n    s = "😀" + "b" # 😀 😀\n    return s\n'
    [item] = (await session.inline(uri, *end_of(edited, 2, negotiated))).items
    assert item.insert_text == "s * 2"  # the typed "s" is part of the replaced word
    prompt = requests(await session.state())[-1]["prompt"]
    assert edited.rstrip("\n") in prompt
    assert "def f()" not in prompt


async def test_completion_fallback_returns_one_text_edit_item(scripted_lsp):
    session = await scripted_lsp(FAST, inline=False)  # like eglot or Neovim 0.11
    text = "x = 1\ntotal = ad\n"
    session.open("file:///w/d.py", text)
    result = await session.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///w/d.py"),
            position=types.Position(line=1, character=10),
        )
    )
    assert result.is_incomplete  # every character typed changes the infill: ask again
    [item] = result.items
    assert item.label == "add(1, 2)"
    assert item.filter_text.startswith("ad")  # the typed word, so clients keep the item
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    assert item.kind == types.CompletionItemKind.Text
    assert item.text_edit.new_text == "add(1, 2)"
    assert item.text_edit.range == types.Range(
        start=types.Position(line=1, character=8), end=types.Position(line=1, character=10)
    )

    with pytest.raises(JsonRpcInvalidParams, match="Unknown document"):
        await session.client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri="file:///w/nowhere.py"),
                position=types.Position(line=0, character=0),
            )
        )


async def test_cancel_request_stops_the_engine_within_one_step(scripted_lsp):
    session = await scripted_lsp(SLOW)
    session.open("file:///w/e.py", SLOW_TEXT)
    params = session.inline_params("file:///w/e.py", 0, 9)
    pending = asyncio.wrap_future(
        session.client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="slow-1")
    )
    await until(session, lambda s: requests(s) and requests(s)[0]["steps_run"] >= 1)

    sent = time.time()
    session.client.cancel_request(types.CancelParams(id="slow-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await pending

    state = await until(session, lambda s: requests(s)[0]["outcome"] != "running")
    [record] = requests(state)
    assert record["outcome"] == "cancelled"
    assert record["cancel_reason"] == "cancelled by the client"
    assert record["steps_run"] < 50
    # The engine stopped at its next step boundary: one 40 ms step plus the round trip.
    assert record["ended_at"] - sent < 0.04 + 0.4

    # The server and the engine are free for the next request.
    session.open("file:///w/f.py", "other = \n")
    [item] = (await session.inline("file:///w/f.py", 0, 8)).items
    assert item.insert_text == "42"


async def test_a_newer_request_or_an_edit_cancels_the_running_request(scripted_lsp):
    session = await scripted_lsp(SLOW)
    uri = "file:///w/g.py"
    session.open(uri, SLOW_TEXT)

    # A newer request for the same document supersedes the running one.
    first = asyncio.ensure_future(session.inline(uri, 0, 9))
    await until(session, lambda s: requests(s) and requests(s)[0]["steps_run"] >= 1)
    second = await session.inline(uri, 1, 9)
    assert texts(await first) == []  # superseded: answered empty, not an error
    assert texts(second) == ["fast_1"]
    old, new = requests(await session.state())
    assert old["outcome"] == "cancelled" and "superseded" in old["cancel_reason"]
    assert new["outcome"] == "done"
    assert new["started_at"] >= old["ended_at"]  # one request in the engine at a time

    # An edit of the document cancels the request for the old text.
    third = asyncio.ensure_future(session.inline(uri, 0, 9))
    await until(session, lambda s: len(requests(s)) == 3 and requests(s)[2]["steps_run"] >= 1)
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="a = slow_x\n")],
        )
    )
    assert texts(await third) == []  # answered at once; the engine stops at its next step
    state = await until(session, lambda s: requests(s)[2]["outcome"] != "running")
    record = requests(state)[2]
    assert record["outcome"] == "cancelled" and "changed" in record["cancel_reason"]


async def test_debounce_applies_to_automatic_triggers_only(scripted_lsp):
    session = await scripted_lsp(FAST, init_options={"debounceMs": 300})
    session.open("file:///w/i.py", "total = ad\n")
    session.open("file:///w/j.py", "name = \n")
    typing = [
        asyncio.ensure_future(session.inline("file:///w/i.py", 0, 10, automatic=True)) for _ in range(3)
    ]
    invoked = await session.inline("file:///w/j.py", 0, 7)  # explicit: no debounce

    assert texts(invoked) == ["len(name)"]
    assert not typing[-1].done()  # still waiting out its debounce
    results = [await task for task in typing]
    assert [len(result.items) for result in results] == [0, 0, 1]
    # Only the explicit request and the last automatic one reached the engine.
    assert len(requests(await session.state())) == 2


async def test_bad_input_and_engine_errors_never_stop_the_server(scripted_lsp):
    script = {"rules": [{"when": "BROKEN", "error": "The engine failed: scripted failure"}, *FAST["rules"]]}
    session = await scripted_lsp(script, settings={"languages": ["python"]})
    session.open("file:///w/k.py", "total = ad\n")

    with pytest.raises(JsonRpcInvalidParams, match="Unknown document"):
        await session.inline("file:///w/nowhere.py", 0, 0)
    with pytest.raises(JsonRpcInvalidParams, match="line"):
        await session.inline("file:///w/k.py", 7, 0)  # past the last line
    # Malformed params (no position): the usual JSON-RPC error, not silence.
    with pytest.raises(JsonRpcInvalidParams, match="position"):
        await send_raw(
            session.client,
            {
                "jsonrpc": "2.0",
                "id": "malformed-1",
                "method": types.TEXT_DOCUMENT_INLINE_COMPLETION,
                "params": {"textDocument": {"uri": "file:///w/k.py"}, "context": {"triggerKind": 1}},
            },
        )

    # Binary content and disabled languages: empty, never an error.
    session.open("file:///w/blob.py", "total = ad\0\n")
    assert texts(await session.inline("file:///w/blob.py", 0, 10)) == []
    session.open("file:///w/notes.md", "total = ad\n", language="markdown")
    assert texts(await session.inline("file:///w/notes.md", 0, 10)) == []

    [item] = (await session.inline("file:///w/k.py", 0, 99)).items  # past the line end: its end
    assert item.insert_text == "add(1, 2)"
    assert item.range.end == types.Position(line=0, character=10)
    assert len(requests(await session.state())) == 1  # nothing else reached the engine
    assert session.client.messages == []  # the user was not bothered

    # An engine error: empty answers, one message with the engine's words, still serving.
    session.open("file:///w/l.py", "BROKEN = \n")
    for _ in range(2):
        assert texts(await session.inline("file:///w/l.py", 0, 9)) == []
    assert texts(await session.inline("file:///w/k.py", 0, 10)) == ["add(1, 2)"]
    [message] = session.client.messages
    assert message.type == types.MessageType.Error
    assert "scripted failure" in message.message


async def send_raw(client, payload: dict):
    """Send a request as raw JSON (the typed client cannot send malformed params)."""
    from concurrent.futures import Future

    future: Future = Future()
    client.protocol._request_futures[payload["id"]] = future
    body = json.dumps(payload).encode()
    client.protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return await asyncio.wrap_future(future)


async def test_typing_in_a_large_file_completes_from_the_code_around_the_cursor(scripted_lsp):
    """A 3,000-line file (parsed in windows past 16 KB, dglsp/documents/focus.py): keystrokes
    near the cursor, then an import typed at the top, all reach the prompt."""
    from dglsp.bench.sources import generate

    source = generate("python", 3000)
    session = await scripted_lsp({"rules": [{"when": "for order in orders[:", "middle": "limit]:"}]})
    uri = "file:///w/big.py"
    session.open(uri, source.text)
    text, cursor, version = source.text, source.cursor, 1

    def type_text(typed: str, at: int) -> None:
        nonlocal text, version
        for character in typed:
            line = text.count("\n", 0, at)
            column = at - (text.rfind("\n", 0, at) + 1)
            version += 1
            session.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[change((line, column), (line, column), character)],
                )
            )
            text = text[:at] + character + text[at:]
            at += 1

    for chunk in ("for ", "order in ", "orders[:"):
        type_text(chunk, cursor)
        cursor += len(chunk)
        line = text.count("\n", 0, cursor)
        result = await session.inline(uri, line, cursor - (text.rfind("\n", 0, cursor) + 1))
    [item] = result.items  # the script answers once "orders[:" is typed
    assert item.insert_text == "limit]:"
    prompt = requests(await session.state())[-1]["prompt"]
    function = text.rfind("\ndef ", 0, cursor) + 1
    assert text[function:cursor] in prompt  # the whole function up to the cursor, as typed

    type_text("import zlib\n", 0)
    cursor += len("import zlib\n")
    line = text.count("\n", 0, cursor)
    [item] = (await session.inline(uri, line, cursor - (text.rfind("\n", 0, cursor) + 1))).items
    assert item.insert_text == "limit]:"
    assert "import zlib" in requests(await session.state())[-1]["prompt"]
