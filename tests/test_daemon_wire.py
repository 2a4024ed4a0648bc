"""The daemon's pieces without a process: wire format, socket address, fair queue."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from dglsp.daemon.queue import FairQueue, Job
from dglsp.engine import wire
from dglsp.engine.base import Draft, InfillRequest, Progress


def test_messages_are_json_lines_and_round_trip():
    request = InfillRequest(
        "def f():\n    <|fim_middle|>", canvas_length=16, steps=7, entropy_bound=0.2, seed=3
    )
    pinned = InfillRequest("def f():\n    ", strategy="pinned", pinned_suffix="\n", middle_lengths=(8, 16))
    with_ids = InfillRequest("def f():\n    ", prompt_ids=(5, 6, 7))
    line = wire.encode({"type": "infill", "id": 4, "request": wire.request_to_wire(request)})
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # newlines inside strings are escaped
    message = wire.decode(line)
    assert wire.request_id(message) == 4
    assert wire.request_from_wire(message["request"]) == request
    as_json = wire.decode(wire.encode({"type": "infill", "id": 5, "request": wire.request_to_wire(pinned)}))
    assert wire.request_from_wire(as_json["request"]) == pinned
    as_json = wire.decode(wire.encode({"type": "infill", "id": 6, "request": wire.request_to_wire(with_ids)}))
    assert wire.request_from_wire(as_json["request"]) == with_ids

    draft = Draft(3, 48, "return a + b ✓", final=True, token_ids=(5, 6))
    back = wire.draft_from_wire(wire.decode(wire.encode(wire.draft_to_wire(9, draft))))
    assert back == draft and back.token_ids == (5, 6)
    assert wire.progress_from_wire(wire.progress_to_wire(Progress("Loading", 20))) == Progress("Loading", 20)


@pytest.mark.parametrize(
    "line",
    [b"not json\n", b"[1, 2]\n", b'{"id": 1}\n', b'{"type": 3}\n'],
)
def test_malformed_lines_are_wire_errors(line):
    with pytest.raises(wire.WireError):
        wire.decode(line)


def test_bad_requests_are_wire_errors():
    with pytest.raises(wire.WireError, match="integer 'id'"):
        wire.request_id({"type": "infill", "id": "7"})
    with pytest.raises(wire.WireError, match="prompt"):
        wire.request_from_wire({"steps": 4})
    with pytest.raises(wire.WireError, match="steps"):
        wire.request_from_wire({"prompt": "x", "steps": "many"})
    with pytest.raises(wire.WireError, match="steps"):
        wire.request_from_wire({"prompt": "x", "steps": True})
    with pytest.raises(wire.WireError, match="middle_lengths"):
        wire.request_from_wire({"prompt": "x", "middle_lengths": [8, "16"]})
    with pytest.raises(wire.WireError, match="prompt_ids"):
        wire.request_from_wire({"prompt": "x", "prompt_ids": [1, 2.5]})
    with pytest.raises(wire.WireError, match="prompt_ids"):
        wire.request_from_wire({"prompt": "x", "prompt_ids": "1 2"})
    assert wire.request_from_wire({"prompt": "x"}) == InfillRequest("x")  # defaults fill in


def test_hello_with_another_protocol_is_refused_with_both_versions():
    assert wire.hello_problem(wire.hello(), "daemon") is None
    problem = wire.hello_problem({"type": "hello", "protocol": 99, "version": "9.9"}, "daemon")
    assert problem is not None
    assert "protocol 99" in problem and f"protocol {wire.PROTOCOL_VERSION}" in problem and "9.9" in problem
    assert "expected a hello" in wire.hello_problem({"type": "status"}, "daemon")


def test_runtime_dir_override_xdg_and_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("DGLSP_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    assert wire.runtime_dir() == tmp_path / "rt"
    monkeypatch.delenv("DGLSP_RUNTIME_DIR")
    assert wire.runtime_dir() == tmp_path / "xdg" / "dglsp"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert wire.runtime_dir().name == f"dglsp-{os.getuid()}"


def test_one_socket_per_model_and_device(monkeypatch, tmp_path):
    monkeypatch.setenv("DGLSP_RUNTIME_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    same = wire.default_socket("m", "cpu")
    assert same == wire.default_socket(str(tmp_path / "m"), "CPU ")  # a directory by its absolute path
    assert same.parent == tmp_path and same.suffix == ".sock"
    assert same != wire.default_socket("m", "cuda")
    assert same != wire.default_socket("google/other-model", "cpu")
    files = wire.DaemonFiles.beside(same)
    assert {files.pid.suffix, files.lock.suffix, files.log.suffix} == {".pid", ".lock", ".log"}
    assert files.pid.parent == files.lock.parent == files.log.parent == tmp_path


def test_private_dir_is_made_0700_and_long_socket_paths_are_explained(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    wire.ensure_private_dir(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    wire.ensure_private_dir(tmp_path / "new" / "dir")
    assert stat.S_IMODE((tmp_path / "new" / "dir").stat().st_mode) == 0o700
    with pytest.raises(OSError, match="DGLSP_RUNTIME_DIR"):
        wire.check_socket_path(Path("/tmp") / ("x" * 120) / "engine.sock")


async def test_fair_queue_alternates_between_connections():
    queue = FairQueue()
    for n in (1, 2, 3):
        queue.put(Job(connection=1, id=n, request=InfillRequest(f"A{n}")))
    first = await queue.get()  # A1 runs; then B arrives with three of its own
    for n in (1, 2, 3):
        queue.put(Job(connection=2, id=n, request=InfillRequest(f"B{n}")))
    order = [first] + [await queue.get() for _ in range(5)]
    assert [job.request.prompt for job in order] == ["A1", "B1", "A2", "B2", "A3", "B3"]
    assert len(queue) == 0


async def test_fair_queue_remove_drop_and_wait():
    queue = FairQueue()
    queue.put(Job(1, 1, InfillRequest("a")))
    queue.put(Job(1, 2, InfillRequest("b")))
    queue.put(Job(2, 1, InfillRequest("c")))
    assert (1, 2) in queue
    assert queue.remove(1, 2).request.prompt == "b" and (1, 2) not in queue
    assert queue.remove(1, 2) is None
    assert [job.request.prompt for job in queue.drop(1)] == ["a"]
    assert (await queue.get()).request.prompt == "c"
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # an empty queue waits for the next job
    queue.put(Job(3, 1, InfillRequest("d")))
    assert (await asyncio.wait_for(waiting, 1)).request.prompt == "d"
