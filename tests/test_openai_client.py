"""The remote engine (OpenAICompatibleEngine) against real HTTP servers on loopback.

dglsp's own server stands in for vLLM: with `extensions=False` it speaks only vLLM's API
(no drafts, no seed), which is what the client sees from a real vLLM; with extensions it
streams a draft per step. A ScriptedEngine behind it makes texts exact and shows what the
server-side engine did.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from typing import Any

import pytest

from dglsp.config import Settings
from dglsp.engine import Cancelled, CancelToken, EngineError, EngineState, InfillRequest, create_engine
from dglsp.engine.openai_compat import OpenAICompatibleEngine
from dglsp.engine.openai_compat.body import pinned_canvas
from dglsp.prompt import EstimatedTokenizer
from dglsp.testing.scripted_engine import Script, ScriptedEngine

MIDDLE = "return a + b"
RELEASED = "google/diffusiongemma-26B-A4B-it"
SLOW = {"when": "slow", "middle": "x", "steps": 200, "step_delay_ms": 30}


def scripted(**script: Any) -> ScriptedEngine:
    script.setdefault("rules", [{"when": "def add", "middle": MIDDLE}, SLOW])
    return ScriptedEngine(Script.from_dict(script))


async def connected(url: str, model: str = "not/a-local-model", **options: Any) -> OpenAICompatibleEngine:
    engine = OpenAICompatibleEngine(Settings(engine=url, model=model), **options)
    await engine.start()
    return engine


async def drafts(engine: OpenAICompatibleEngine, request: InfillRequest, cancel=None) -> list:
    return [draft async for draft in engine.infill(request, cancel)]


async def ended(record, timeout: float = 5.0) -> None:
    """Wait until the server-side engine has finished (or given up on) a request."""
    deadline = time.monotonic() + timeout
    while record.ended_at is None and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_create_engine_returns_the_remote_engine_for_urls():
    for url in ("http://127.0.0.1:9/v1", "http://127.0.0.1:9", "http://127.0.0.1:9/v1/"):
        engine = create_engine(Settings(engine=url, model="m"))
        assert isinstance(engine, OpenAICompatibleEngine)
        assert engine.url == "http://127.0.0.1:9/v1"


async def test_start_learns_the_served_model_and_canvas(serve):
    url = serve(scripted(canvas_length=24))
    engine = await connected(url)
    assert engine.state is EngineState.READY, engine.error
    assert engine.model_name.startswith("scripted") and engine.canvas_length == 24
    assert isinstance(engine.tokenizer, EstimatedTokenizer)  # no local copy of the model


async def test_dglsp_server_streams_every_draft_and_the_exact_text(serve):
    server_engine = scripted(steps=4)
    engine = await connected(serve(server_engine))
    got = await drafts(
        engine, InfillRequest("def add(", steps=4, seed=7, entropy_bound=0.3, canvas_length=16)
    )
    assert [(d.step, d.total_steps, d.text, d.final) for d in got] == [
        (1, 4, "ret", False),
        (2, 4, "return", False),
        (3, 4, "return a ", False),
        (4, 4, MIDDLE, True),
    ]
    [record] = server_engine.requests
    assert (record.seed, record.entropy_bound, record.steps, record.canvas_length) == (7, 0.3, 4, 16)


async def test_vllm_like_server_gives_one_final_canvas(serve):
    server_engine = scripted(steps=4)
    url = serve(server_engine, extensions=False, served_model_name=RELEASED)
    engine = await connected(url)
    assert engine.state is EngineState.READY, engine.error
    assert engine.canvas_length == 256  # vLLM does not say; the released model's canvas
    got = await drafts(engine, InfillRequest("def add(", steps=6, seed=9, canvas_length=16))
    assert [(d.text, d.final) for d in got] == [(MIDDLE, True)]
    [record] = server_engine.requests
    # Steps and canvas travel in vllm_xargs; the seed cannot (vLLM answers 400 to `seed`).
    assert (record.steps, record.canvas_length, record.seed) == (6, 16, 0)


async def test_stray_end_tokens_are_cut(serve):
    rules = [
        {"when": "fim", "middle": "x = 1<|fim_prefix|>def junk():"},
        {"when": "turn", "middle": "y = 2\n<turn|>\n<|turn>user"},
    ]
    engine = await connected(serve(scripted(rules=rules), extensions=False, served_model_name=RELEASED))
    assert (await drafts(engine, InfillRequest("fim", canvas_length=16)))[-1].text == "x = 1"
    assert (await drafts(engine, InfillRequest("turn", canvas_length=16)))[-1].text == "y = 2\n"


async def test_cancel_between_drafts_stops_the_server_engine_within_a_step(serve):
    server_engine = scripted()
    engine = await connected(serve(server_engine))
    cancel, seen = CancelToken(), []
    with pytest.raises(Cancelled):
        async for draft in engine.infill(InfillRequest("slow", steps=200), cancel):
            seen.append(draft)
            if len(seen) == 2:
                cancel.cancel("superseded")
    cancelled_at = time.time()
    assert len(seen) == 2
    record = server_engine.requests[0]
    await ended(record)
    assert record.outcome in ("cancelled", "abandoned") and record.steps_run < 20
    # One 30 ms step after the connection closed (plus slack for a busy machine), not 6 s.
    assert record.ended_at - cancelled_at < 0.03 + 0.3


async def test_cancel_while_waiting_for_a_vllm_canvas(serve):
    server_engine = scripted()
    engine = await connected(serve(server_engine, extensions=False, served_model_name=RELEASED))
    cancel = CancelToken()
    asyncio.get_running_loop().call_later(0.2, cancel.cancel, "superseded")
    started = time.monotonic()
    with pytest.raises(Cancelled, match="superseded"):
        await drafts(engine, InfillRequest("slow", steps=200, canvas_length=8), cancel)
    assert time.monotonic() - started < 1.0  # not the 6 s the canvas would take
    record = server_engine.requests[0]
    await ended(record)
    assert record.outcome == "cancelled" and record.steps_run < 20


async def test_consumer_leaving_early_aborts_the_server_request(serve):
    server_engine = scripted()
    engine = await connected(serve(server_engine))
    stream = engine.infill(InfillRequest("slow", steps=200))
    await anext(stream)
    await stream.aclose()
    record = server_engine.requests[0]
    await ended(record)
    assert record.ended_at is not None and record.steps_run < 20


async def test_server_refusal_is_a_clear_engine_error(serve):
    @dataclass(frozen=True)
    class BareRequest:  # an engine without the pinned-suffix strategy
        prompt: str
        canvas_length: int = 0
        steps: int = 48
        entropy_bound: float = 0.1
        seed: int = 0

    url = serve(scripted(), request_type=BareRequest)
    engine = await connected(url)
    request = PinnedRequest("def add(", canvas_length=8, strategy="pinned", suffix_ids=(11, 12))
    with pytest.raises(EngineError) as raised:
        await drafts(engine, request)
    message = str(raised.value)
    assert url in message and "HTTP 400" in message and "not supported by this server" in message


async def test_engine_failure_on_the_server_is_an_engine_error(serve):
    rules = [{"when": "BROKEN", "error": "The engine failed: scripted"}]
    engine = await connected(serve(scripted(rules=rules)))
    with pytest.raises(EngineError, match="The engine failed: scripted"):
        await drafts(engine, InfillRequest("BROKEN"))


async def test_unreachable_server_is_state_error_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = await connected(url)
    assert engine.state is EngineState.ERROR
    assert url in engine.error and "cannot connect" in engine.error
    with pytest.raises(EngineError, match="cannot connect"):
        await drafts(engine, InfillRequest("x"))


async def test_a_server_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections (the backlog does) and says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        engine = await connected(url, read_timeout=0.3)
    assert engine.state is EngineState.ERROR
    assert url in engine.error and "timed out" in engine.error


async def test_http_errors_at_start_are_shown(serve):
    url = serve(scripted()).removesuffix("/v1") + "/api"  # a wrong path: /api/v1/models
    engine = await connected(url)
    assert engine.state is EngineState.ERROR
    assert "HTTP 404" in engine.error and "/api/v1" in engine.error


async def test_a_model_that_is_not_diffusion_gemma_is_refused_unless_named(serve):
    url = serve(scripted(), extensions=False, served_model_name="meta-llama/Llama-3.1-8B")
    engine = await connected(url)
    assert engine.state is EngineState.ERROR
    assert "not a DiffusionGemma" in engine.error and "meta-llama/Llama-3.1-8B" in engine.error
    named = await connected(url, model="meta-llama/Llama-3.1-8B")  # the user says it is one
    assert named.state is EngineState.READY


async def test_api_key_from_the_environment(serve, monkeypatch):
    url = serve(scripted(), api_key="s3cret")
    refused = await connected(url)
    assert (
        refused.state is EngineState.ERROR
        and "HTTP 401" in refused.error
        and "DGLSP_API_KEY" in refused.error
    )
    monkeypatch.setenv("DGLSP_API_KEY", "s3cret")
    assert (await connected(url)).state is EngineState.READY


# --- pinned suffix: a seeded canvas with pinned cells (vLLM's infill primitive) ---


@dataclass(frozen=True)
class PinnedRequest(InfillRequest):
    """InfillRequest with the pinned-suffix fields (whether or not the real one has them yet)."""

    strategy: str = "prompt"
    pinned_suffix: str = ""
    suffix_ids: tuple[int, ...] = ()
    middle_lengths: tuple[int, ...] = ()


def test_pinned_canvas_is_middle_noise_then_the_suffix():
    seed_canvas, pinned = pinned_canvas(list(range(100, 140)), middle=16, canvas=64, vocab_size=50, seed=1)
    assert len(seed_canvas) == 16 + 32  # the suffix is cut to 32 cells, as in-process
    assert pinned == tuple(range(16, 48)) and seed_canvas[16:] == tuple(range(100, 132))
    assert all(0 <= cell < 50 for cell in seed_canvas[:16])
    assert pinned_canvas([7, 8], middle=100, canvas=10, vocab_size=50, seed=1)[1] == (
        8,
        9,
    )  # within the canvas


@dataclass(frozen=True)
class TextPinnedRequest:
    """An engine request that takes the pinned suffix as text (as the in-process engine does)."""

    prompt: str
    canvas_length: int = 0
    steps: int = 48
    entropy_bound: float = 0.1
    seed: int = 0
    strategy: str = "prompt"
    pinned_suffix: str = ""
    middle_lengths: tuple[int, ...] = ()


class RecordingEngine(ScriptedEngine):
    """A ScriptedEngine that keeps the request objects and has a real tokenizer."""

    def __init__(self, script: Script, tokenizer: Any) -> None:
        super().__init__(script)
        self.seen: list[Any] = []
        self._model_tokenizer = tokenizer

    @property
    def tokenizer(self) -> Any:
        return self._model_tokenizer

    def infill(self, request, cancel=None):
        self.seen.append(request)
        return super().infill(request, cancel)


async def test_pinned_suffix_travels_as_a_seeded_canvas(serve, tiny_model_dir):
    from dglsp.model.tokenizer import load_tokenizer

    suffix = "\n    return total\n"
    # The server returns the canvas text, pinned suffix included (as vLLM does without an EOS).
    script = Script.from_dict({"rules": [{"when": "def f", "middle": "total = a + b" + suffix}]})
    server_engine = RecordingEngine(script, load_tokenizer(tiny_model_dir))
    url = serve(server_engine, request_type=TextPinnedRequest)
    engine = await connected(url, model=str(tiny_model_dir))
    request = PinnedRequest("def f(a, b):\n    ", canvas_length=16, strategy="pinned", pinned_suffix=suffix)
    got = await drafts(engine, request)
    assert got[-1].text == "total = a + b"  # the middle only
    [seen] = server_engine.seen
    assert seen.strategy == "pinned" and seen.pinned_suffix == suffix
    assert seen.canvas_length == 16 and seen.middle_lengths == (16,)


async def test_pinned_suffix_ids_reach_an_engine_that_takes_ids(serve):
    server_engine = RecordingEngine(Script.from_dict({"default_middle": "y"}), EstimatedTokenizer())
    engine = await connected(serve(server_engine, request_type=PinnedRequest))
    request = PinnedRequest("z = ", canvas_length=8, strategy="pinned", suffix_ids=(11, 12, 13))
    assert (await drafts(engine, request))[-1].text == "y"
    [seen] = server_engine.seen
    assert (seen.strategy, seen.suffix_ids, seen.canvas_length) == ("pinned", (11, 12, 13), 8)
