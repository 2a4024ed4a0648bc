"""`dglsp --stdio` ends as the LSP spec says, and at once: exit code 0 after shutdown, 1
without, and no wait for the engine's worker thread (which may be loading a model)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _server(tiny_model_dir) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "dglsp", "--stdio", "--model", str(tiny_model_dir)]
    command += ["--engine", "inprocess", "--device", "cpu"]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize(("shutdown_first", "expected"), [(True, 0), (False, 1)])
def test_exit_ends_the_process_with_the_specified_code(tiny_model_dir, shutdown_first, expected):
    server = _server(tiny_model_dir)
    try:
        assert server.stdin is not None
        messages = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}]
        messages.append({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        if shutdown_first:
            messages.append({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        # The model starts loading on `initialized`; exit arrives while it loads.
        messages.append({"jsonrpc": "2.0", "method": "exit"})
        server.stdin.write(b"".join(_frame(m) for m in messages))
        server.stdin.flush()
        started = time.monotonic()
        assert server.wait(timeout=20) == expected
        assert time.monotonic() - started < 20
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_closed_stdin_ends_the_process(tiny_model_dir):
    """The client went away without `shutdown`: the process ends, with 1 as for `exit`."""
    server = _server(tiny_model_dir)
    try:
        assert server.stdin is not None
        server.stdin.close()
        assert server.wait(timeout=20) == 1
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
