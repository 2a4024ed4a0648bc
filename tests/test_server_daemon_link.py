"""The language server and its daemon link when the daemon is stuck or gone: nothing may hang.

Daemons here are scripted (`python -m dglsp.daemon --scripted`, no torch) and started by hand
on their own sockets, the way `dglsp serve --socket PATH` is; the language server is the real
`dglsp --stdio` with `engine` set to that path. A stuck daemon is a SIGSTOP-ed one: it keeps
its socket open and answers nothing, like a daemon wedged in a CUDA call.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from lsp_client import dglsp_stdio, own_runtime_dir

from dglsp.config import Settings
from dglsp.engine import daemon_client
from dglsp.engine.base import Cancelled, CancelToken, EngineState, InfillRequest
from dglsp.engine.daemon_client import RESTART_MESSAGE, DaemonEngine

SCRIPT = {
    "steps": 4,
    "step_delay_ms": 5,
    "rules": [
        {"when": "add(", "middle": "return a + b"},
        {"when": "slow", "middle": "x" * 40, "steps": 200, "step_delay_ms": 30},
    ],
}
ADD = "def add(a, b):\n    \n"  # the scripted daemon answers `return a + b` here
SLOW = "def slow(a, b):\n    \n"  # 200 steps of 30 ms unless stopped


@pytest.fixture
def runtime(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from own_runtime_dir(tmp_path_factory, monkeypatch)


@pytest.fixture
async def daemons(runtime: Path) -> AsyncIterator[Callable[..., subprocess.Popen[bytes]]]:
    """`daemon = start(name, **script changes)`: a scripted daemon listening on runtime/NAME.sock."""
    started: list[subprocess.Popen[bytes]] = []

    async def start(name: str, **changes: object) -> subprocess.Popen[bytes]:
        script = runtime / f"{name}.json"
        script.write_text(json.dumps({**SCRIPT, **changes}), encoding="utf-8")
        socket = runtime / f"{name}.sock"
        command = [sys.executable, "-m", "dglsp.daemon", "--scripted", str(script), "--socket", str(socket)]
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        started.append(process)
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert process.poll() is None, f"the scripted daemon {name} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"the scripted daemon {name} did not listen"
            await asyncio.sleep(0.05)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a stopped process ignores SIGTERM until then
            process.kill()
        process.wait()


def _flags(socket: Path) -> tuple[str, ...]:
    return ("--engine", str(socket), "--model", "scripted", "--device", "cpu")


OPTIONS = {"status": True, "debounceMs": 0}


# --- the language server ---


@pytest.mark.slow
async def test_shutdown_is_answered_at_once_while_the_daemon_is_stuck_mid_request(runtime, daemons) -> None:
    daemon = await daemons("stuck")
    async with dglsp_stdio(*_flags(runtime / "stuck.sock"), init_options=OPTIONS) as editor:
        editor.open("file:///w/slow.py", SLOW)
        await editor.wait_for(lambda: editor.statuses and editor.statuses[-1].state == "ready", "ready")
        request = asyncio.ensure_future(editor.inline("file:///w/slow.py", 1, 4))
        await editor.wait_for(lambda: editor.statuses[-1].state == "generating", "the request to run")
        daemon.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.3)
    # Leaving the block answered shutdown (asserted within 10 s there) and saw the server exit.
    assert editor.shutdown_s is not None and editor.shutdown_s < 3.0, editor.shutdown_s
    assert request.done()  # answered (empty) or cancelled with the session, not left pending
    request.exception()


@pytest.mark.slow
async def test_switching_away_from_a_stuck_daemon_completes_promptly(runtime, daemons) -> None:
    stuck = await daemons("stuck")
    await daemons("healthy")
    async with dglsp_stdio(*_flags(runtime / "stuck.sock"), init_options=OPTIONS) as editor:
        editor.open("file:///w/slow.py", SLOW)
        editor.open("file:///w/add.py", ADD)
        await editor.wait_for(lambda: editor.statuses and editor.statuses[-1].state == "ready", "ready")
        request = asyncio.ensure_future(editor.inline("file:///w/slow.py", 1, 4))
        await editor.wait_for(lambda: editor.statuses[-1].state == "generating", "the request to run")
        stuck.send_signal(signal.SIGSTOP)

        started = time.monotonic()
        seen = len(editor.statuses)
        editor.change_settings({"engine": str(runtime / "healthy.sock")})

        def states_since_the_change() -> list[str]:
            # Every status, not only the last: "starting" may last less than one poll.
            return [status.state for status in editor.statuses[seen:]]

        await editor.wait_for(lambda: "starting" in states_since_the_change(), "the restart", timeout=10)
        await editor.wait_for(
            lambda: (
                states_since_the_change()[-1] == "ready"
                and "ready" in states_since_the_change()[states_since_the_change().index("starting") :]
            ),
            "the new engine",
            timeout=10,
        )
        switch_s = time.monotonic() - started
        result = await editor.inline("file:///w/add.py", 1, 4, timeout=10)
        assert [item.insert_text for item in result.items] == ["return a + b"]
        assert list((await request).items) == []  # the stuck request was dropped, not left hanging
        assert editor.client.messages == []
    # Without a bound on the stuck request, the switch waited 10 s for it to drain.
    assert switch_s < 6.0, switch_s


@pytest.mark.slow
async def test_a_lost_daemon_and_its_return_show_in_the_status(runtime, daemons) -> None:
    daemon = await daemons("engine")
    async with dglsp_stdio(*_flags(runtime / "engine.sock"), init_options=OPTIONS) as editor:
        editor.open("file:///w/add.py", ADD)
        assert [i.insert_text for i in (await editor.inline("file:///w/add.py", 1, 4)).items] == [
            "return a + b"
        ]

        daemon.kill()  # nothing in flight: only the engine's own reconnecting can tell
        daemon.wait()
        await editor.wait_for(
            lambda: editor.statuses[-1].state == "loading", "the status to say so", timeout=10
        )
        assert RESTART_MESSAGE.rstrip(".") in editor.statuses[-1].message
        assert list((await editor.inline("file:///w/add.py", 1, 4)).items) == []  # empty meanwhile

        await daemons("engine")  # `dglsp serve --socket` started again on the same path
        await editor.wait_for(lambda: editor.statuses[-1].state == "ready", "ready again", timeout=30)
        assert [i.insert_text for i in (await editor.inline("file:///w/add.py", 1, 4)).items] == [
            "return a + b"
        ]
        assert editor.client.messages == []


async def test_a_test_that_fails_stops_its_server_instead_of_hanging(runtime) -> None:
    # pytest-lsp's client.stop() alone waits forever for a server nobody told to exit.
    started = time.monotonic()
    with pytest.raises(AssertionError, match="the test's own failure"):
        async with dglsp_stdio(*_flags(runtime / "nobody.sock")):
            raise AssertionError("the test's own failure")
    assert time.monotonic() - started < 30


# --- the daemon client ---


async def test_a_cancelled_request_on_a_stuck_daemon_ends_within_the_grace(runtime, daemons) -> None:
    daemon = await daemons("stuck")
    engine = DaemonEngine(Settings(engine=str(runtime / "stuck.sock"), model="scripted", device="cpu"))
    try:
        await engine.start()
        assert engine.state is EngineState.READY, engine.error
        token = CancelToken()
        cancelled_at = 0.0
        with pytest.raises(Cancelled):
            async for draft in engine.infill(InfillRequest("slow"), token):
                if draft.step == 1:
                    daemon.send_signal(signal.SIGSTOP)
                    token.cancel("superseded")
                    cancelled_at = time.monotonic()
        waited = time.monotonic() - cancelled_at
        assert daemon_client.CANCEL_GRACE_S - 0.1 < waited < daemon_client.CANCEL_GRACE_S + 2, waited
    finally:
        closing = time.monotonic()
        await engine.close()
        assert time.monotonic() - closing < 2.0  # no waiting for the stuck daemon to read


async def test_a_daemon_that_stops_answering_while_loading_fails_the_start(
    runtime, daemons, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_client, "START_PING_S", 0.5)
    monkeypatch.setattr(daemon_client, "HELLO_TIMEOUT_S", 1.0)
    monkeypatch.setattr(daemon_client, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(daemon_client, "BACKOFF_S", (0.1,))
    daemon = await daemons("wedged", load_delay_ms=60_000)
    engine = DaemonEngine(Settings(engine=str(runtime / "wedged.sock"), model="scripted", device="cpu"))
    try:
        start = asyncio.ensure_future(engine.start())
        await asyncio.sleep(1.0)  # connected, waiting for a load that takes a minute
        assert not start.done() and engine.state is EngineState.LOADING
        daemon.send_signal(signal.SIGSTOP)
        await asyncio.wait_for(start, 15)
        assert engine.state is EngineState.ERROR
        # The first attempt found it mute mid-load, the second got no hello: both say so.
        assert "could not be started" in engine.error and "did not answer within 1 s" in engine.error
    finally:
        await engine.close()


async def test_a_daemon_given_up_after_a_loss_is_reported_to_the_watcher(
    runtime, daemons, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_client, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(daemon_client, "BACKOFF_S", (0.1,))
    daemon = await daemons("engine")
    engine = DaemonEngine(Settings(engine=str(runtime / "engine.sock"), model="scripted", device="cpu"))
    changes: list[tuple[EngineState, str | None]] = []
    try:
        await engine.start()
        engine.watch(lambda state, message: changes.append((state, message)))
        daemon.kill()
        deadline = time.monotonic() + 10
        while engine.state is not EngineState.ERROR:
            assert time.monotonic() < deadline, f"still {engine.state} after the daemon was killed"
            await asyncio.sleep(0.05)
        states = [state for state, _ in changes]
        assert states == [EngineState.LOADING, EngineState.ERROR], changes
        assert RESTART_MESSAGE.rstrip(".") in changes[0][1]
        assert changes[1][1] == engine.error and "Nothing listens on" in engine.error
    finally:
        await engine.close()


async def test_no_daemon_is_spawned_for_a_model_directory_that_is_not_there(runtime: Path) -> None:
    missing = runtime / "no-such-model"
    engine = DaemonEngine(Settings(engine="auto", model=str(missing), device="cpu"))
    try:
        await engine.start()
        assert engine.state is EngineState.ERROR
        assert f"Model directory {missing} does not exist" in engine.error
        assert list(runtime.glob("*.pid")) == [] and list(runtime.glob("*.log")) == []
    finally:
        await engine.close()
