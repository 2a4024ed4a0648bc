"""dglsp.openai_server on the wire: vLLM's API for DiffusionGemma, read with plain urllib and sockets.

The server runs in a background thread on an ephemeral loopback port with a ScriptedEngine
behind it, so every test sees exactly what reached the engine.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from dglsp.openai_server import Defaults
from dglsp.openai_server.validation import SUFFIX_MESSAGE
from dglsp.testing.scripted_engine import Script, ScriptedEngine

MIDDLE = "return a + b"


def scripted(**script: Any) -> ScriptedEngine:
    script.setdefault("rules", [{"when": "def add", "middle": MIDDLE}])
    return ScriptedEngine(Script.from_dict(script))


def call(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body); POST when there is a body."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def stream(url: str, body: dict[str, Any]) -> list[Any]:
    """The `data:` payloads of a streamed completion, JSON-decoded ('[DONE]' stays a string)."""
    request = urllib.request.Request(
        url + "/completions", data=json.dumps({**body, "stream": True}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        lines = response.read().decode().split("\n")
    payloads = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    return [payload if payload == "[DONE]" else json.loads(payload) for payload in payloads]


def test_models_lists_the_engine_with_dglsp_extension(serve):
    url = serve(scripted(canvas_length=24))
    status, listing = call(url + "/models")
    assert status == 200 and listing["object"] == "list"
    [entry] = listing["data"]
    assert entry["id"] == "scripted" and entry["object"] == "model"
    assert entry["canvas_length"] == 24
    assert entry["dglsp"]["model_type"] == "diffusion_gemma" and entry["dglsp"]["drafts"] is True


def test_vllm_mode_lists_a_plain_model(serve):
    url = serve(scripted(), extensions=False, served_model_name="google/diffusiongemma-26B-A4B-it")
    [entry] = call(url + "/models")[1]["data"]
    assert entry["id"] == "google/diffusiongemma-26B-A4B-it" and entry["owned_by"] == "vllm"
    assert "dglsp" not in entry and "canvas_length" not in entry


def test_stream_is_one_content_chunk_per_canvas_then_done(serve):
    engine = scripted(steps=4)
    url = serve(engine)
    events = stream(url, {"prompt": "def add(a, b):\n    "})
    assert events[-1] == "[DONE]"
    [chunk] = events[:-1]  # like vLLM: the committed canvas only, no denoising drafts
    assert chunk["object"] == "text_completion" and chunk["id"].startswith("cmpl-")
    [choice] = chunk["choices"]
    assert choice["text"] == MIDDLE and choice["finish_reason"] == "stop"
    assert "dglsp_draft" not in choice
    assert engine.requests[0].steps_run == 4


def test_drafts_extension_streams_every_step(serve):
    engine = scripted(steps=4)
    url = serve(engine)
    events = stream(url, {"prompt": "def add(", "vllm_xargs": {"dglsp_drafts": True}})
    chunks = [event["choices"][0] for event in events[:-1]]
    assert [c["dglsp_draft"]["step"] for c in chunks] == [1, 2, 3, 4]
    assert [c["dglsp_draft"]["text"] for c in chunks] == ["ret", "return", "return a ", MIDDLE]
    assert [c["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    # A plain OpenAI client concatenates `text`: draft chunks add nothing to it.
    assert "".join(c["text"] for c in chunks) == MIDDLE


def test_drafts_extension_is_ignored_in_vllm_mode(serve):
    url = serve(scripted(steps=4), extensions=False, served_model_name="dg")
    events = stream(url, {"prompt": "def add(", "vllm_xargs": {"dglsp_drafts": True}})
    assert len(events) == 2 and events[0]["choices"][0]["text"] == MIDDLE


def test_non_stream_answer(serve):
    url = serve(scripted())
    status, answer = call(url + "/completions", {"model": "scripted", "prompt": ["def add("]})
    assert status == 200 and answer["object"] == "text_completion" and answer["model"] == "scripted"
    assert answer["choices"][0]["text"] == MIDDLE and answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("suffix", "\n    return x"),
        ("temperature", 0.2),
        ("seed", 1),
        ("min_p", 0.1),
        ("min_tokens", 2),
        ("logit_bias", {"5": 10}),
        ("bad_words", ["foo"]),
        ("allowed_token_ids", [1, 2]),
        ("guided_json", {"type": "object"}),
        ("response_format", {"type": "json_object"}),
    ],
)
def test_rejects_what_vllm_rejects_for_diffusion_gemma(serve, field, value):
    engine = scripted()
    url = serve(engine)
    status, answer = call(url + "/completions", {"prompt": "def add(", "max_tokens": 16, field: value})
    assert status == 400
    error = answer["error"]
    assert error["type"] == "BadRequestError" and error["code"] == 400 and error["param"] == field
    assert error["message"]
    if field == "suffix":
        assert error["message"] == SUFFIX_MESSAGE
    assert engine.requests == []  # refused before the engine saw it


def test_temperature_one_is_accepted(serve):
    status, answer = call(serve(scripted()) + "/completions", {"prompt": "def add(", "temperature": 1.0})
    assert status == 200 and answer["choices"][0]["text"] == MIDDLE


def test_xargs_and_defaults_reach_the_engine(serve):
    engine = scripted()
    url = serve(engine, defaults=Defaults(steps=9, entropy_bound=0.2, seed=3))
    xargs = {
        "diffusion_max_steps": 7,
        "diffusion_canvas_length": 16,
        "dglsp_seed": 5,
        "dglsp_entropy_bound": 0.3,
    }
    assert call(url + "/completions", {"prompt": "a", "vllm_xargs": xargs})[0] == 200
    assert call(url + "/completions", {"prompt": "b"})[0] == 200
    assert call(url + "/completions", {"prompt": "c", "max_tokens": 8})[0] == 200
    given, default, capped = engine.requests
    assert (given.steps, given.canvas_length, given.seed, given.entropy_bound) == (7, 16, 5, 0.3)
    assert (default.steps, default.canvas_length, default.seed, default.entropy_bound) == (9, 32, 3, 0.2)
    assert capped.canvas_length == 8  # one canvas per request: max_tokens caps it


def test_vllm_mode_ignores_dglsp_seed(serve):
    engine = scripted()
    url = serve(engine, extensions=False, served_model_name="dg", defaults=Defaults(seed=3))
    call(url + "/completions", {"prompt": "a", "vllm_xargs": {"dglsp_seed": 5}})
    assert engine.requests[0].seed == 3


@pytest.mark.parametrize(
    ("xargs", "fragment"),
    [
        ({"diffusion_canvas_length": 33}, "between 1 and 32"),
        ({"diffusion_seed_canvas": [5] * 31}, "exactly the request's canvas width (32)"),
        ({"diffusion_canvas_length": 4, "diffusion_seed_canvas": [5] * 3}, "canvas width (4)"),
        ({"diffusion_pinned": [31]}, "needs diffusion_seed_canvas"),
        ({"diffusion_read_only": True}, "not supported by this server"),
        ({"diffusion_max_steps": 0}, "diffusion_max_steps"),
    ],
)
def test_bad_xargs_are_400(serve, xargs, fragment):
    engine = scripted()
    status, answer = call(serve(engine) + "/completions", {"prompt": "a", "vllm_xargs": xargs})
    assert status == 400 and fragment in answer["error"]["message"]
    assert engine.requests == []


@dataclass(frozen=True)
class BareRequest:
    """An engine request without a pinned-suffix strategy."""

    prompt: str
    canvas_length: int = 0
    steps: int = 48
    entropy_bound: float = 0.1
    seed: int = 0


def test_seeded_canvas_without_engine_support_is_400_not_supported(serve):
    url = serve(scripted(), request_type=BareRequest)
    xargs = {"diffusion_canvas_length": 8, "diffusion_seed_canvas": [7] * 8, "diffusion_pinned": [6, 7]}
    status, answer = call(url + "/completions", {"prompt": "a", "vllm_xargs": xargs})
    assert status == 400 and "not supported by this server" in answer["error"]["message"]


def test_unknown_model_is_404_and_unknown_path_too(serve):
    url = serve(scripted())
    status, answer = call(url + "/completions", {"model": "gpt-4", "prompt": "a"})
    assert (
        status == 404 and answer["error"]["type"] == "NotFoundError" and "gpt-4" in answer["error"]["message"]
    )
    assert call(url + "/chat/completions", {"prompt": "a"})[0] == 404


def test_engine_failure_is_500_or_an_error_event(serve):
    url = serve(scripted(rules=[{"when": "BROKEN", "error": "The engine failed: scripted"}]))
    status, answer = call(url + "/completions", {"prompt": "BROKEN"})
    assert status == 500 and answer["error"]["message"] == "The engine failed: scripted"
    events = stream(url, {"prompt": "BROKEN"})
    assert events[0]["error"]["message"] == "The engine failed: scripted" and events[-1] == "[DONE]"


def test_api_key_is_required_when_set(serve):
    url = serve(scripted(), api_key="s3cret")
    assert call(url + "/models") == (401, {"error": "Unauthorized"})
    assert call(url + "/models", headers={"Authorization": "Bearer s3cret"})[0] == 200


def test_client_disconnect_cancels_the_engine_within_a_step(serve):
    engine = scripted(rules=[{"when": "slow", "middle": "x", "steps": 200, "step_delay_ms": 30}])
    url = serve(engine)
    host, port = url.removeprefix("http://").removesuffix("/v1").split(":")
    body = json.dumps({"prompt": "slow", "stream": True, "vllm_xargs": {"diffusion_max_steps": 200}})
    with socket.create_connection((host, int(port)), timeout=10) as client:
        head = f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        client.sendall(head.encode() + body.encode())
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(0.1)  # a few steps run
    closed_at = time.time()
    deadline = time.monotonic() + 5
    while engine.requests[0].ended_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    record = engine.requests[0]
    assert record.outcome == "cancelled" and record.cancel_reason == "client disconnected"
    # The engine stopped at its next step check: one 30 ms step after the close (plus slack
    # for a busy machine), not the 6 s the request would take.
    assert record.ended_at - closed_at < 0.03 + 0.3 and record.steps_run < 20
