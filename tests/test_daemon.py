"""`dglsp serve` as a real process, driven through DaemonEngine (and a raw socket where needed).

Most tests run the daemon around a ScriptedEngine (`python -m dglsp.daemon --scripted`): no
torch, starts in a fraction of a second, and its status lists every request it ran, so a
test sees what happened on the daemon's side (steps run, cancelled or not, run order). The
last test runs two real `dglsp --stdio` language servers on the tiny model.

Every test gets its own DGLSP_RUNTIME_DIR, and every daemon it started is killed afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from dglsp.config import Settings
from dglsp.engine import wire
from dglsp.engine.base import Cancelled, CancelToken, EngineError, EngineState, InfillRequest
from dglsp.engine.daemon_client import RESTART_MESSAGE, DaemonEngine, connect_if_running
from dglsp.testing.daemons import kill_daemons

OOM = "The GPU ran out of memory for this completion; try a smaller contextBudget."
SCRIPT = {
    "steps": 4,
    "step_delay_ms": 5,
    "rules": [
        {"when": "add(", "middle": "return a + b"},
        {"when": "slow", "middle": "x" * 40, "steps": 200, "step_delay_ms": 30},
        {"when": "fair", "middle": "ok", "steps": 3, "step_delay_ms": 40},
        {"when": "burst", "middle": "last", "steps": 20, "step_delay_ms": 20},
        {"when": "OOM", "error": OOM},
    ],
}


# --- fixtures ---


@pytest.fixture
def runtime(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short runtime dir of our own (socket paths are limited to 107 bytes)."""
    path = tmp_path_factory.mktemp("rt")
    monkeypatch.setenv("DGLSP_RUNTIME_DIR", str(path))
    yield path
    kill_daemons(path)


def _script(runtime: Path, **changes: object) -> Path:
    path = runtime / f"script-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({**SCRIPT, **changes}), encoding="utf-8")
    return path


@pytest.fixture
async def engines(runtime: Path) -> AsyncIterator:
    """`make(script=None, **settings)`: a DaemonEngine (engine "auto" unless given) on a scripted daemon."""
    made: list[DaemonEngine] = []

    def make(script: Path | None = None, **settings: object) -> DaemonEngine:
        values = {"engine": "auto", "model": "scripted", "device": "cpu", **settings}
        engine = DaemonEngine(Settings(**values), serve_args=["--scripted", str(script or _script(runtime))])
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()


def _serve(runtime: Path, socket: Path, script: Path, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "dglsp.daemon",
        "--scripted",
        str(script),
        "--socket",
        str(socket),
        *extra,
    ]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


async def _until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def served(runtime: Path) -> AsyncIterator[Path]:
    """A scripted daemon started by hand on its own socket (what `dglsp serve` does)."""
    socket = runtime / "engine.sock"
    process = _serve(runtime, socket, _script(runtime))
    await _until(socket.exists, what="the daemon's socket")
    yield socket
    process.kill()
    process.wait()


async def _drafts(engine, request: InfillRequest, cancel: CancelToken | None = None) -> list:
    return [draft async for draft in engine.infill(request, cancel)]


def _slow(tag: str) -> InfillRequest:
    """A request that would run 200 steps of 30 ms (6 s) unless stopped."""
    return InfillRequest(f"slow {tag}", steps=200)


async def _records(engine: DaemonEngine, tag: str) -> list[dict]:
    """The daemon's own record of the requests whose prompt contains `tag`, in run order."""
    status = await engine.daemon_status()
    return [r for r in status["engine"]["requests"] if tag in r["prompt"]]


# --- starting, sharing, permissions ---


async def test_concurrent_clients_share_one_daemon_and_one_load(runtime: Path, engines) -> None:
    script = _script(runtime, load_delay_ms=2400, load_progress=["a", "b", "c"])
    clients = [engines(script) for _ in range(3)]
    seen: list[list[str]] = [[] for _ in clients]
    await asyncio.gather(*(c.start(lambda p, i=i: seen[i].append(p.message)) for i, c in enumerate(clients)))

    assert [c.state for c in clients] == [EngineState.READY] * 3, [c.error for c in clients]
    assert len({c.daemon_pid for c in clients}) == 1
    status = await clients[0].daemon_status()
    assert status["loads"] == 1 and status["clients"] == 3 and status["state"] == "ready"
    # The lock let exactly one of them spawn: one daemon ever listened, none was refused.
    log = next(runtime.glob("*.log")).read_text()
    assert log.count("listening on") == 1 and "already runs" not in log
    # Progress reached every client as it came, not only the one whose `start` began the
    # load: a client joining mid-load is sent the latest report, then each later one.
    for messages in seen:
        assert len(messages) >= 2 and messages[-1] == "c", seen
    assert clients[0].canvas_length == 32 and "scripted" in clients[0].model_name


async def test_socket_0600_in_a_0700_dir(runtime: Path, engines) -> None:
    runtime.chmod(0o755)  # as a pre-existing directory might be
    engine = engines()
    await engine.start()
    assert engine.state is EngineState.READY, engine.error
    assert engine.socket_path.parent == runtime
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    info = engine.socket_path.stat()
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    for path in runtime.glob("engine-*"):
        if not path.name.endswith(".sock"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_a_second_daemon_on_the_same_socket_refuses(runtime: Path, served: Path) -> None:
    first_pid = int(wire.DaemonFiles.beside(served).pid.read_text())
    second = _serve(runtime, served, _script(runtime))
    _, stderr = second.communicate(timeout=30)
    assert second.returncode == 2
    assert "already runs" in stderr and str(served) in stderr and f"pid {first_pid}" in stderr
    assert served.exists()  # the running daemon's socket is untouched


async def test_sigterm_stops_cleanly_and_removes_the_socket(runtime: Path) -> None:
    socket = runtime / "own.sock"
    process = _serve(runtime, socket, _script(runtime))
    try:
        await _until(socket.exists, what="the socket")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert not socket.exists()
        # A daemon killed outright leaves its socket behind; the next one replaces it.
        process = _serve(runtime, socket, _script(runtime))
        await _until(socket.exists, what="the socket")
        process.kill()
        process.wait()
        assert socket.exists()
        process = _serve(runtime, socket, _script(runtime))
        engine = DaemonEngine(Settings(engine=str(socket), model="scripted"))
        await _until(lambda: wire.DaemonFiles.beside(socket).pid.read_text().strip() == str(process.pid))
        await engine.start()
        assert engine.state is EngineState.READY and engine.daemon_pid == process.pid
        await engine.close()
    finally:
        process.kill()
        process.wait()


async def test_idle_exit_stops_the_daemon_once_no_client_is_left(runtime: Path, engines) -> None:
    socket = runtime / "idle.sock"
    process = _serve(runtime, socket, _script(runtime), "--idle-exit", "0.5")
    try:
        await _until(socket.exists, what="the socket")
        engine = engines(engine=str(socket))
        await engine.start()
        await asyncio.sleep(1.0)
        assert process.poll() is None  # a connected client keeps it alive
        await engine.close()
        assert process.wait(timeout=10) == 0
        assert not socket.exists()
    finally:
        process.kill()
        process.wait()


async def test_a_socket_setting_connects_only_with_a_clear_error(runtime: Path, engines) -> None:
    socket = runtime / "nobody.sock"
    engine = engines(engine=str(socket))
    await engine.start()
    assert engine.state is EngineState.ERROR
    assert f"Nothing listens on {socket}" in engine.error and "dglsp serve --socket" in engine.error
    assert list(runtime.glob("*.pid")) == []  # nothing was spawned


async def test_connect_if_running_never_spawns(runtime: Path, engines) -> None:
    settings = Settings(engine="auto", model="scripted", device="cpu")
    assert connect_if_running(settings) is None
    assert list(runtime.glob("*.pid")) == []
    assert connect_if_running(Settings(engine="inprocess")) is None

    running = engines()
    await running.start()
    found = connect_if_running(settings)
    assert isinstance(found, DaemonEngine)
    await found.start()
    assert found.state is EngineState.READY and found.daemon_pid == running.daemon_pid
    await found.close()
    assert isinstance(connect_if_running(Settings(engine=str(runtime / "x.sock"))), DaemonEngine)


async def test_load_failure_is_a_permanent_error_with_the_daemons_message(runtime: Path, engines) -> None:
    missing = "Model directory /nowhere does not exist. Set the `model` setting (or --model)."
    script = _script(runtime, load_error=missing)
    engine = engines(script)
    await engine.start()
    assert engine.state is EngineState.ERROR and engine.error == missing

    # The daemon stays up and retries the load when the next window starts: fixing the
    # model (here: the script) needs no daemon restart.
    script.write_text(json.dumps(SCRIPT), encoding="utf-8")
    again = engines(script)
    await again.start()
    assert again.state is EngineState.READY, again.error
    status = await again.daemon_status()
    assert status["loads"] >= 2 and status["state"] == "ready"  # loaded again, same daemon


async def test_version_mismatch_is_a_clear_error_on_both_sides(runtime: Path, served: Path) -> None:
    # The daemon refuses a client that speaks another protocol...
    reader, writer = await asyncio.open_unix_connection(str(served))
    writer.write(wire.encode({"type": "hello", "protocol": 999, "version": "9.0"}))
    answer = wire.decode(await asyncio.wait_for(reader.readline(), 10))
    assert answer["type"] == "error" and answer["kind"] == "protocol"
    assert "protocol 999" in answer["message"] and f"protocol {wire.PROTOCOL_VERSION}" in answer["message"]
    assert await asyncio.wait_for(reader.readline(), 10) == b""  # and hangs up
    writer.close()

    # ...and the client refuses a daemon that does.
    async def old_daemon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(wire.encode({"type": "hello", "protocol": 0, "version": "0.0.1", "pid": 1}))
        await writer.drain()

    socket = runtime / "old.sock"
    server = await asyncio.start_unix_server(old_daemon, str(socket))
    engine = DaemonEngine(Settings(engine=str(socket), model="scripted"))
    try:
        await engine.start()
        assert engine.state is EngineState.ERROR
        assert "protocol 0" in engine.error and "0.0.1" in engine.error and "different dglsp" in engine.error
    finally:
        await engine.close()
        server.close()


# --- requests ---


async def test_drafts_arrive_in_order_and_end_with_final(served: Path, engines) -> None:
    engine = engines(engine=str(served))
    await engine.start()
    drafts = await _drafts(engine, InfillRequest("def add(a, b):", steps=48))
    assert [d.step for d in drafts] == [1, 2, 3, 4]
    assert [d.final for d in drafts] == [False, False, False, True]
    assert drafts[-1].text == "return a + b"
    assert all(later.text.startswith(d.text) for d, later in itertools.pairwise(drafts))


async def test_cancel_stops_within_one_step_and_frees_the_model(served: Path, engines) -> None:
    engine = engines(engine=str(served))
    await engine.start()
    tag = uuid.uuid4().hex
    token = CancelToken()
    seen = []
    with pytest.raises(Cancelled, match="superseded"):
        async for draft in engine.infill(_slow(tag), token):
            seen.append(draft.step)
            if draft.step == 2:
                token.cancel("superseded")
    assert seen == [1, 2]  # nothing after the cancel reaches the consumer
    [record] = await _records(engine, tag)
    assert record["outcome"] == "cancelled" and record["cancel_reason"] == "superseded"
    assert record["steps_run"] <= 3, record  # the step after the cancel at most

    # A queued request cancelled before its turn never reaches the model.
    running = asyncio.ensure_future(_drafts(engine, _slow(f"{tag} running")))
    await asyncio.sleep(0.1)
    queued_token = CancelToken()
    queued = asyncio.ensure_future(_drafts(engine, InfillRequest(f"add( {tag} queued"), queued_token))
    await asyncio.sleep(0.1)
    queued_token.cancel("gone")
    with pytest.raises(Cancelled):
        await asyncio.wait_for(queued, 5)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await asyncio.sleep(0.2)
    assert [r["prompt"] for r in await _records(engine, f"{tag} queued")] == []
    # The model is free again at once.
    assert (await asyncio.wait_for(_drafts(engine, InfillRequest("add(")), 3))[-1].final


async def test_a_burst_of_superseding_requests_ends_with_only_the_last_answered(
    served: Path, engines
) -> None:
    engine = engines(engine=str(served))
    await engine.start()
    tag = uuid.uuid4().hex
    tokens: list[CancelToken] = []
    tasks = []
    for n in range(50):  # each keystroke's request supersedes the one before
        if tokens:
            tokens[-1].cancel("superseded")
        tokens.append(CancelToken())
        request = InfillRequest(f"burst {tag} {n}", steps=20)
        tasks.append(asyncio.ensure_future(_drafts(engine, request, tokens[-1])))
        await asyncio.sleep(0.005)
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(isinstance(r, Cancelled) for r in results[:-1]), results
    assert results[-1][-1].final and results[-1][-1].text == "last"
    records = await _records(engine, tag)
    assert records[-1]["prompt"].endswith(" 49") and records[-1]["outcome"] == "done"
    # The ones that reached the model at all were stopped, long before their 20 steps (how soon
    # depends on the machine: a loaded CI core has delayed a cancel by 10 steps of 20 ms).
    for record in records[:-1]:
        assert record["outcome"] == "cancelled" and record["steps_run"] < 15, record


async def test_a_client_that_disconnects_has_its_requests_dropped(served: Path, engines) -> None:
    tag = uuid.uuid4().hex
    reader, writer = await asyncio.open_unix_connection(str(served))
    writer.write(wire.encode(wire.hello()))
    assert wire.decode(await reader.readline())["type"] == "hello"
    for n in (1, 2):  # the first runs, the second waits behind it
        request = wire.request_to_wire(_slow(f"{tag} {n}"))
        writer.write(wire.encode({"type": "infill", "id": n, "request": request}))
    while wire.decode(await reader.readline())["type"] != "draft":
        pass
    writer.close()  # gone mid-request

    watcher = engines(engine=str(served))
    await watcher.start()
    deadline = time.monotonic() + 10
    while (records := await _records(watcher, tag))[0]["outcome"] == "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert [r["prompt"] for r in records] == [f"slow {tag} 1"]  # the queued one never ran
    assert records[0]["outcome"] == "cancelled" and records[0]["cancel_reason"] == "client disconnected"
    assert records[0]["steps_run"] < 50  # stopped long before its 200 steps


async def test_requests_from_two_clients_take_turns(served: Path, engines) -> None:
    first, second = engines(engine=str(served)), engines(engine=str(served))
    await asyncio.gather(first.start(), second.start())
    tag = uuid.uuid4().hex
    started = asyncio.Event()

    async def run(engine: DaemonEngine, name: str) -> None:
        async for _ in engine.infill(InfillRequest(f"fair {tag} {name}")):
            started.set()

    a_jobs = [asyncio.ensure_future(run(first, f"A{n}")) for n in (1, 2, 3)]
    await started.wait()  # A1 runs, A2 and A3 wait; now B queues three
    b_jobs = [asyncio.ensure_future(run(second, f"B{n}")) for n in (1, 2, 3)]
    await asyncio.wait_for(asyncio.gather(*a_jobs, *b_jobs), 30)
    order = [r["prompt"].split()[-1][0] for r in await _records(first, tag)]
    assert order == ["A", "B", "A", "B", "A", "B"]  # not A A A B B B


async def test_an_engine_that_batches_runs_that_many_requests_at_once(runtime: Path, engines) -> None:
    """With max_batch 2 the daemon hands the engine two requests at a time (the in-process
    engine then shares each denoising pass between them); a third waits for a free place."""
    script = _script(runtime, max_batch=2)
    first, second = engines(script), engines(script)
    await asyncio.gather(first.start(), second.start())
    tag = uuid.uuid4().hex
    await asyncio.wait_for(
        asyncio.gather(
            _drafts(first, InfillRequest(f"fair {tag} A1")),
            _drafts(second, InfillRequest(f"fair {tag} B1")),
            _drafts(first, InfillRequest(f"fair {tag} A2")),
        ),
        30,
    )
    records = await _records(first, tag)
    assert [r["outcome"] for r in records] == ["done"] * 3
    first_two, third = records[:2], records[2]
    overlapped = max(r["started_at"] for r in first_two) < min(r["ended_at"] for r in first_two)
    assert overlapped, records  # the first two ran side by side
    assert third["started_at"] >= min(r["ended_at"] for r in first_two)  # the third waited
    status = await first.daemon_status()
    assert status["max_batch"] == 2 and status["running_count"] == 0


async def test_out_of_memory_fails_one_request_and_the_daemon_keeps_serving(served: Path, engines) -> None:
    engine = engines(engine=str(served))
    await engine.start()
    pid = engine.daemon_pid
    with pytest.raises(EngineError, match="ran out of memory"):
        await _drafts(engine, InfillRequest("OOM"))
    assert engine.state is EngineState.READY
    assert (await _drafts(engine, InfillRequest("add(")))[-1].text == "return a + b"
    assert (await engine.daemon_status())["pid"] == pid


# --- crash safety ---


async def test_a_killed_daemon_fails_the_request_clearly_and_comes_back(runtime: Path, engines) -> None:
    engine = engines()
    await engine.start()
    old_pid = engine.daemon_pid
    with pytest.raises(EngineError) as failure:
        async for draft in engine.infill(_slow("")):
            if draft.step == 1:
                os.kill(old_pid, signal.SIGKILL)
    assert RESTART_MESSAGE.rstrip(".") in str(failure.value)
    # Not ERROR: the language server treats that as final. It answers empty meanwhile.
    assert engine.state is EngineState.LOADING
    with pytest.raises(EngineError, match="restarting"):
        await _drafts(engine, InfillRequest("add("))

    await _until(lambda: engine.state is not EngineState.LOADING, timeout=30, what="the restart")
    assert engine.state is EngineState.READY, engine.error
    assert engine.daemon_pid != old_pid
    assert (await _drafts(engine, InfillRequest("add(")))[-1].text == "return a + b"


# --- the real thing: two language servers, one daemon, the tiny model ---


@pytest.mark.slow
async def test_two_stdio_language_servers_share_one_daemon(runtime: Path, tiny_model_dir: Path) -> None:
    command = [sys.executable, "-m", "dglsp", "--stdio", "--model", str(tiny_model_dir), "--device", "cpu"]
    options = {"engine": "auto", "steps": 2}

    async def editor() -> object:
        client = await ClientServerConfig(command, server_env=dict(os.environ)).start()
        await client.initialize_session(
            types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
        )
        return client

    clients = await asyncio.gather(editor(), editor())
    try:
        text = "def add(a, b):\n    return \n"
        for client in clients:
            item = types.TextDocumentItem(uri="file:///w/a.py", language_id="python", version=1, text=text)
            client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri="file:///w/a.py"),
            position=types.Position(line=1, character=11),
        )
        results = await asyncio.gather(*(c.text_document_inline_completion_async(params) for c in clients))
        assert all(isinstance(r, types.InlineCompletionList) for r in results)
        assert [c.messages for c in clients] == [[], []]

        settings = Settings(engine="auto", model=str(tiny_model_dir), device="cpu")
        probe = connect_if_running(settings)
        assert probe is not None, "no daemon answers on the default socket"
        await probe.start()
        status = await probe.daemon_status()
        await probe.close()
        # One model load in one daemon served both editors' requests.
        assert status["loads"] == 1 and status["clients"] == 3 and status["served"] >= 2
        log = next(runtime.glob("*.log"))
        assert log.read_text().count("listening on") == 1

        # The daemon dies: the editors keep getting answers (empty while it restarts), and
        # once one daemon is back (both servers respawn it through the lock) they are served.
        os.kill(status["pid"], signal.SIGKILL)
        result = await asyncio.wait_for(clients[0].text_document_inline_completion_async(params), 10)
        assert isinstance(result, types.InlineCompletionList)
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the editors were not served after the restart"
            await asyncio.gather(*(c.text_document_inline_completion_async(params) for c in clients))
            probe = connect_if_running(settings)
            if probe is not None:
                await probe.start()
                status = await probe.daemon_status()
                await probe.close()
                if status["served"] >= 2:
                    break
            await asyncio.sleep(0.2)
        assert log.read_text().count("listening on") == 2  # one new daemon, not one per editor
        # A request that met the dead daemon told its editor why (once); nothing else was shown.
        shown = [m.message for c in clients for m in c.messages]
        assert all(RESTART_MESSAGE.rstrip(".") in message for message in shown), shown
    finally:
        for client in clients:
            await client.shutdown_session()
            await client.stop()
