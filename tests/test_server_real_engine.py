"""`dglsp --stdio` as editors start it, with a real engine on the tiny model: in-process, and the
shared daemon (engine "auto") after another language server already started it.

The scripted tests cover the server's logic; this one covers the wiring they replace: the
CLI's run_stdio, the default engine factory, progress reported from the engine's loading
thread, and a model switch that closes a real engine, reports the new one's failure, and
recovers when the setting is put back.

The daemon variant is the regression test for a hang: a language server that attaches to a
daemon another one loaded sees no loading progress, an assertion that expected some failed,
and pytest-lsp's `client.stop()` then waited forever for a server nobody told to exit.
tests/lsp_client.py now bounds every wait, and the test expects what a warm daemon does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lsp_client import Editor, dglsp_stdio, own_runtime_dir
from lsprotocol import types

from dglsp.config import Settings
from dglsp.engine.daemon_client import connect_if_running

pytestmark = pytest.mark.slow

URI = "file:///w/a.py"
TEXT = "def add(a, b):\n    return \n"


@pytest.fixture
def runtime(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from own_runtime_dir(tmp_path_factory, monkeypatch)


@pytest.mark.parametrize("engine", ["inprocess", "auto"])
async def test_dglsp_stdio_loads_the_model_completes_switches_to_a_bad_model_and_back(
    engine: str, tiny_model_dir: Path, runtime: Path
) -> None:
    flags = ("--model", str(tiny_model_dir), "--device", "cpu", "--engine", engine)
    options = {"steps": 4, "status": True}
    if engine == "auto":
        # Another editor window starts the daemon and loads the model first.
        async with dglsp_stdio(*flags, init_options=options) as first:
            first.open(URI, TEXT)
            assert isinstance(await first.inline(URI, 1, 11), types.InlineCompletionList)
            assert "loading" in _states(first) and first.client.messages == []
        assert len(list(runtime.glob("*.sock"))) == 1, "the first window started no daemon"

    async with dglsp_stdio(*flags, init_options=options) as editor:
        editor.open(URI, TEXT)
        # Random weights: the text is noise (often dropped by post-processing); what counts is
        # that the request waited for the load and came back without an error.
        assert isinstance(await editor.inline(URI, 1, 11), types.InlineCompletionList)
        [reports] = editor.client.progress_reports.values()
        assert [r.kind for r in (reports[0], reports[-1])] == ["begin", "end"]
        assert reports[-1].message == "Ready"
        assert editor.client.messages == []
        # The status bar's view of the same start (in-process: reported from the loading thread).
        states = _states(editor)
        assert states[0] == "starting" and "ready" in states
        if engine == "inprocess":
            assert "loading" in states, states
        else:  # attached to the first window's daemon, whose model was loaded once
            assert (await _daemon_status(tiny_model_dir))["loads"] == 1
        assert editor.statuses[-1].engine == ("inprocess" if engine == "inprocess" else "daemon")
        assert editor.statuses[-1].model == tiny_model_dir.name
        assert editor.statuses[-1].last_latency_ms is not None

        missing = tiny_model_dir.parent / "no-such-model"
        editor.change_settings({"model": str(missing)})
        await editor.wait_for(
            lambda: editor.client.messages, "an error message after switching to a missing model"
        )
        [message] = editor.client.messages
        assert message.type == types.MessageType.Error and str(missing) in message.message
        assert list((await editor.inline(URI, 1, 11)).items) == []
        assert editor.statuses[-1].state == "error" and str(missing) in editor.statuses[-1].message
        if engine == "auto":  # no daemon was started just to fail on a directory that is not there
            assert len(list(runtime.glob("*.pid"))) == 1

        # Putting the model back loads it again: a failed load is not final for the server.
        editor.change_settings({"model": str(tiny_model_dir)})
        await editor.wait_for(lambda: editor.statuses[-1].state == "ready", "ready after switching back")
        latency = editor.statuses[-1].last_latency_ms
        assert isinstance(await editor.inline(URI, 1, 11), types.InlineCompletionList)
        await editor.wait_for(
            lambda: editor.statuses[-1].last_latency_ms != latency, "the model to run after switching back"
        )
        assert len(editor.client.messages) == 1
    assert editor.shutdown_s is not None and editor.shutdown_s < 5


def _states(editor: Editor) -> list[str]:
    return [status.state for status in editor.statuses]


async def _daemon_status(model: Path) -> dict:
    probe = connect_if_running(Settings(engine="auto", model=str(model), device="cpu"))
    assert probe is not None, "no daemon answers for the model"
    try:
        await probe.start()
        return await probe.daemon_status()
    finally:
        await probe.close()
