"""dglsp/draft notifications (docs/protocol.md) and cancellation by a document version change.

Most tests run the real server over stdio with a ScriptedEngine (the `scripted_lsp` fixture):
step k of n reveals the first ceil(k * len(middle) / n) characters of the scripted middle, so
the drafts a client must see are known exactly. The client records drafts and responses in
the order it reads them from the pipe.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from lsp_client import plain
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from dglsp import protocol
from dglsp.config import Settings
from dglsp.documents import Document
from dglsp.pipeline import DraftUpdate
from dglsp.server.drafts import DraftSender
from dglsp.server.state import ServerState

SCRIPT = {
    "steps": 4,
    "rules": [
        {"when": "def add(", "middle": "return a + b"},
        {"when": "total = ad", "middle": "d(1, 2)"},
        # 6 steps reveal "a", "a", "a", "ab", "ab", "ab": two distinct drafts, then the final.
        {"when": "pair = ", "middle": "ab", "steps": 6},
        {"when": "a = slow_", "middle": "x" * 50, "steps": 50, "step_delay_ms": 40},
    ],
}
ADD = "def add(a, b):\n    \n"  # the cursor at (1, 4): nothing typed before it


class Recorder:
    """Drafts and responses in the order the client read them (one reader thread: no races)."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.events: list[tuple[str, Any]] = []

        def on_draft(params: Any) -> None:  # pygls tags the handler: a plain function, not a method
            self.events.append(("draft", protocol.DraftParams.from_json(plain(params))))

        client.feature(protocol.DRAFT)(on_draft)

    @property
    def drafts(self) -> list[protocol.DraftParams]:
        return [value for kind, value in self.events if kind == "draft"]

    def request(self, method: str, params: Any, msg_id: str) -> asyncio.Future:
        future: Future = self.client.protocol.send_request(method, params, msg_id=msg_id)
        future.add_done_callback(lambda _: self.events.append(("response", msg_id)))
        return asyncio.wrap_future(future)

    def inline(self, uri: str, line: int, character: int, msg_id: str) -> asyncio.Future:
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
        return self.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id)


def lsp_range(draft: protocol.DraftParams) -> types.Range:
    start, end = draft.range.start, draft.range.end
    return types.Range(
        start=types.Position(line=start.line, character=start.character),
        end=types.Position(line=end.line, character=end.character),
    )


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_drafts_arrive_in_step_order_and_end_with_the_response_text(scripted_lsp):
    session = await scripted_lsp(SCRIPT, init_options={"drafts": True})
    recorder = Recorder(session.client)
    uri = "file:///w/add.py"
    session.open(uri, ADD)

    result = await recorder.inline(uri, 1, 4, msg_id="inline-1")

    [item] = result.items
    assert item.insert_text == "return a + b"
    drafts = recorder.drafts
    assert [(d.step, d.total_steps, d.text, d.final) for d in drafts] == [
        (1, 4, "ret", False),
        (2, 4, "return", False),
        (3, 4, "return a ", False),
        (4, 4, "return a + b", True),
    ]
    assert [kind for kind, _ in recorder.events] == ["draft"] * 4 + ["response"]
    for draft in drafts:
        assert draft.request_id == "inline-1"
        assert draft.text_document == protocol.VersionedDocument(uri, 1)
        assert draft.position == protocol.Position(1, 4)
        assert lsp_range(draft) == item.range

    # Steps that reveal nothing new send nothing; the final draft is always sent.
    session.open("file:///w/pair.py", "pair = \n")
    result = await recorder.inline("file:///w/pair.py", 0, 7, msg_id="inline-2")
    [item] = result.items
    later = [(d.step, d.text, d.final) for d in recorder.drafts if d.request_id == "inline-2"]
    assert later == [(1, "a", False), (4, "ab", False), (6, "ab", True)]
    assert item.insert_text == "ab"
    assert recorder.events[-1] == ("response", "inline-2")


async def test_a_request_with_nothing_to_suggest_ends_with_an_empty_final_draft(scripted_lsp):
    session = await scripted_lsp(SCRIPT, init_options={"drafts": True})
    recorder = Recorder(session.client)
    session.open("file:///w/none.py", "x = 1\n")  # no rule: the scripted middle is ""

    result = await recorder.inline("file:///w/none.py", 0, 5, msg_id="none")

    assert list(result.items) == []
    [final] = recorder.drafts  # nothing to show until the end
    assert final.final and final.text == ""
    assert final.range == protocol.Range(protocol.Position(0, 5), protocol.Position(0, 5))


async def test_no_drafts_unless_declared_and_didchangeconfiguration_turns_them_on(scripted_lsp):
    session = await scripted_lsp(SCRIPT, config_pull=False)
    recorder = Recorder(session.client)
    uri = "file:///w/add.py"
    session.open(uri, ADD)

    result = await recorder.inline(uri, 1, 4, msg_id="plain")
    assert [item.insert_text for item in result.items] == ["return a + b"]
    assert recorder.events == [("response", "plain")]  # a plain client works unchanged

    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dglsp": {"drafts": True}})
    )
    await recorder.inline(uri, 1, 4, msg_id="with-drafts")
    assert [d.step for d in recorder.drafts] == [1, 2, 3, 4]
    assert recorder.events[-1] == ("response", "with-drafts")


async def test_the_completion_fallback_sends_drafts_too(scripted_lsp):
    session = await scripted_lsp(SCRIPT, init_options={"drafts": True}, inline=False)
    recorder = Recorder(session.client)
    uri = "file:///w/add.py"
    session.open(uri, ADD)
    params = types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=1, character=4)
    )

    result = await recorder.request(types.TEXT_DOCUMENT_COMPLETION, params, msg_id="menu")

    [item] = result.items
    final = recorder.drafts[-1]
    assert final.final and final.request_id == "menu"
    assert (final.text, lsp_range(final)) == (item.text_edit.new_text, item.text_edit.range)
    assert [kind for kind, _ in recorder.events][-2:] == ["draft", "response"]


@pytest.mark.parametrize(
    ("offered", "negotiated"), [(["utf-16", "utf-8"], "utf-8"), (None, "utf-16")], ids=["utf-8", "utf-16"]
)
async def test_draft_positions_are_in_the_negotiated_encoding(scripted_lsp, offered, negotiated):
    session = await scripted_lsp(SCRIPT, init_options={"drafts": True}, encodings=offered)
    assert session.encoding == negotiated
    recorder = Recorder(session.client)
    line = 'label = "\U0001f600 ok"; total = ad'  # a non-BMP character before the cursor
    session.open("file:///w/emoji.py", line + "\n")

    def units(text: str) -> int:
        return len(text.encode("utf-8")) if negotiated == "utf-8" else len(text.encode("utf-16-le")) // 2

    cursor = units(line)
    result = await recorder.inline("file:///w/emoji.py", 0, cursor, msg_id="emoji")

    [item] = result.items
    assert item.insert_text == "add(1, 2)"
    word = protocol.Range(protocol.Position(0, units(line[:-2])), protocol.Position(0, cursor))
    assert recorder.drafts and all(d.range == word for d in recorder.drafts)
    assert all(d.position == protocol.Position(0, cursor) for d in recorder.drafts)
    assert lsp_range(recorder.drafts[-1]) == item.range
    assert [d.text for d in recorder.drafts] == ["add(", "add(1,", "add(1, 2", "add(1, 2)"]


async def test_a_version_change_cancels_the_request_within_one_step_and_stops_drafts(scripted_lsp):
    session = await scripted_lsp(SCRIPT, init_options={"drafts": True})
    recorder = Recorder(session.client)
    uri = "file:///w/slow.py"
    session.open(uri, "a = slow_\n")
    pending = recorder.inline(uri, 0, 9, msg_id="slow")
    await wait_for(lambda: len(recorder.drafts) >= 2)

    sent = time.time()
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="a = slow_x\n")],
        )
    )
    # Answered by the server after it applied the change: every draft read after this
    # answer was sent after the version changed.
    barrier = recorder.request("dglsp/testing/state", None, msg_id="barrier")
    assert list((await pending).items) == []  # answered empty at once, not an error
    [at_change] = plain(await barrier)["engines"][-1]["requests"]
    # Give a server that kept sending several steps' time to show it.
    await asyncio.sleep(0.2)

    state = plain(await session.client.protocol.send_request_async("dglsp/testing/state", None))
    [record] = state["engines"][-1]["requests"]
    assert record["outcome"] == "cancelled" and "changed" in record["cancel_reason"]
    # The engine stopped at its next step boundary: one 40 ms step plus the round trip.
    assert record["ended_at"] - sent < 0.04 + 0.4
    assert record["steps_run"] <= at_change["steps_run"] + 1 < 50  # no more than the step under way

    after_change = recorder.events[recorder.events.index(("response", "barrier")) :]
    assert [kind for kind, _ in after_change if kind == "draft"] == []
    assert all(d.text_document.version == 1 and not d.final for d in recorder.drafts)


# --- the version guard itself, without the engine (whose own cancellation hides it above) ---


def _sender(drafts: bool = True) -> tuple[DraftSender, list[tuple[str, dict]], ServerState]:
    state = ServerState(Settings(drafts=drafts), engine_factory=lambda settings: None)  # type: ignore[arg-type,return-value]
    document = Document("file:///w/g.py", "python", 1, "x = \n")
    state.documents[document.uri] = document
    sent: list[tuple[str, dict]] = []
    protocol_ = SimpleNamespace(msg_id=7, notify=lambda method, params: sent.append((method, params)))
    ls = SimpleNamespace(state=state, protocol=protocol_)
    sender = DraftSender.for_request(ls, document.snapshot(), types.Position(line=0, character=4), 4)  # type: ignore[arg-type]
    assert sender is not None
    return sender, sent, state


def test_a_draft_computed_for_an_old_version_is_never_sent() -> None:
    sender, sent, state = _sender()
    sender.on_draft(DraftUpdate(1, 4, "1", 4, 4, False))
    state.documents["file:///w/g.py"].apply_change(4, 4, "2", version=2)
    sender.on_draft(DraftUpdate(2, 4, "12", 4, 4, False))  # the engine had it before the change
    sender.finish(None)
    assert [params["text"] for _, params in sent] == ["1"]
    assert sent[0] == (
        protocol.DRAFT,
        {
            "textDocument": {"uri": "file:///w/g.py", "version": 1},
            "position": {"line": 0, "character": 4},
            "range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 4}},
            "step": 1,
            "totalSteps": 4,
            "text": "1",
            "final": False,
            "requestId": 7,
        },
    )
    json.dumps(sent)  # what pygls writes to the pipe


def test_a_cancelled_request_sends_no_more_drafts() -> None:
    from dglsp.engine.base import CancelToken

    sender, sent, _ = _sender()
    sender.token = CancelToken()
    sender.on_draft(DraftUpdate(1, 4, "1", 4, 4, False))
    sender.token.cancel("superseded")
    sender.on_draft(DraftUpdate(2, 4, "12", 4, 4, False))
    sender.on_draft(DraftUpdate(3, 4, "123", 4, 4, False))
    assert [params["text"] for _, params in sent] == ["1"]


def test_no_sender_unless_the_client_asked_for_drafts() -> None:
    state = ServerState(Settings(), engine_factory=lambda settings: None)  # type: ignore[arg-type,return-value]
    document = Document("file:///w/g.py", "python", 1, "x = \n")
    ls = SimpleNamespace(state=state, protocol=SimpleNamespace(msg_id=1))
    assert DraftSender.for_request(ls, document.snapshot(), types.Position(line=0, character=4), 4) is None  # type: ignore[arg-type]


# --- the real in-process engine on the tiny random model ---


@pytest.mark.slow
async def test_real_engine_sends_drafts_then_the_final_text(tiny_model_dir):
    command = [sys.executable, "-m", "dglsp", "--stdio", "--model", str(tiny_model_dir), "--device", "cpu"]
    command += ["--engine", "inprocess"]  # the shared daemon has its own tests (test_daemon.py)
    client = await ClientServerConfig(command).start()
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                initialization_options={"drafts": True, "steps": 8, "canvasPolicy": "fixed"},
            )
        )
        recorder = Recorder(client)
        text = "def add(a, b):\n    return \n"
        item = types.TextDocumentItem(uri="file:///w/a.py", language_id="python", version=1, text=text)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))

        result = await recorder.inline("file:///w/a.py", 1, 11, msg_id="real")

        drafts = recorder.drafts
        assert len(drafts) >= 3, drafts  # at least two drafts as the canvas sharpens, then the final
        assert [d.final for d in drafts] == [False] * (len(drafts) - 1) + [True]
        steps = [d.step for d in drafts]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        assert recorder.events[-1] == ("response", "real")
        final = drafts[-1]
        expected = result.items[0].insert_text if result.items else ""  # random weights: any text
        assert final.text == expected
        await client.shutdown_session()
    finally:
        await client.stop()
