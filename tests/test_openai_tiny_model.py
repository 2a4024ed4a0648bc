"""The real engine behind the API: `python -m dglsp.openai_server --model DIR` as a subprocess,
the remote engine as its client, and the in-process engine as the reference."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dglsp.config import Settings
from dglsp.engine import EngineState, InfillRequest, create_engine
from dglsp.engine.openai_compat import OpenAICompatibleEngine

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PROMPT = "<bos><|fim_suffix|>\n<|fim_prefix|>def add(a, b):\n    return<|fim_middle|>"


@pytest.fixture(scope="module")
def server_url(tiny_model_dir, tmp_path_factory):
    """The tiny model served by the CLI on an ephemeral port (default host), stopped afterwards."""
    environment = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "dglsp.openai_server", "--model", str(tiny_model_dir)]
    log = tmp_path_factory.mktemp("openai-server") / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [*command, "--port", "0", "--device", "cpu"],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = process.stdout.readline()  # printed once the model is loaded and the port bound
        match = re.search(r"serving (.+) at (http://\S+/v1)", line)
        assert match, f"unexpected first line {line!r} (exit {process.poll()}): {log.read_text()}"
        assert match.group(1) == str(tiny_model_dir)
        yield match.group(2)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def test_binds_loopback_by_default(server_url):
    assert server_url.startswith("http://127.0.0.1:")


async def test_remote_infill_equals_the_in_process_engine(server_url, tiny_model_dir):
    remote = create_engine(Settings(engine=server_url, model=str(tiny_model_dir)))
    assert isinstance(remote, OpenAICompatibleEngine)
    await remote.start()
    assert remote.state is EngineState.READY, remote.error
    assert remote.canvas_length == 32 and remote.tokenizer.has_token("<|fim_middle|>")

    local = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir), device="cpu"))
    await local.start()
    assert local.state is EngineState.READY, local.error

    request = InfillRequest(PROMPT, canvas_length=16, steps=4, seed=7)
    over_http = [draft async for draft in remote.infill(request)]
    in_process = [draft async for draft in local.infill(request)]
    assert [(d.step, d.text, d.final) for d in over_http] == [(d.step, d.text, d.final) for d in in_process]
    assert over_http[-1].final and over_http[-1].text  # a random model writes noise, not nothing

    other_seed = [
        draft async for draft in remote.infill(InfillRequest(PROMPT, canvas_length=16, steps=4, seed=8))
    ]
    assert other_seed[-1].text != over_http[-1].text  # the seed reached the server's engine
    await local.close()
