"""The `dglsp` command as users run it: a real subprocess, real files, real (tiny) models.

Fast tests need no model. Tests marked slow load the tiny random DiffusionGemma from the
`tiny_model_dir` fixture (tests/conftest.py) through the same path users take (`--model DIR`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import dglsp
from dglsp.languages import LANGUAGES

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
STATS = "examples/stats.py"

CONTEXT_KEYS = {"language", "kind", "span", "prefix_tokens", "suffix_tokens", "canvas_length"}
COMPLETE_KEYS = {"text", "range", "steps", "elapsed_ms"}


# --- helpers ---------------------------------------------------------------------------------


def run_dglsp(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """`python -m dglsp ARGS` from the repository root, offline, as a user would run it."""
    environment = dict(os.environ)
    # Importable from a source checkout too; CI installs the package anyway.
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    environment["HF_HUB_OFFLINE"] = "1"
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "dglsp", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def ok_json(result: subprocess.CompletedProcess) -> Any:
    assert result.returncode == 0, f"exit {result.returncode}\nstderr:\n{result.stderr}"
    return json.loads(result.stdout)


def assert_user_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    """Exit `code`, a one-paragraph dglsp message on stderr naming each fragment, no traceback."""
    assert result.returncode == code, f"exit {result.returncode}, wanted {code}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    # Progress lines may come first; the message is the last thing said.
    assert result.stderr.strip().splitlines()[-1].startswith("dglsp: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"


def position_after(path: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) just after the first occurrence of `needle` in the file."""
    text = (REPO / path).read_text(encoding="utf-8")
    offset = text.index(needle) + len(needle)
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def line_of(path: str, needle: str) -> int:
    return position_after(path, needle)[0]


def line_length(path: str, line: int) -> int:
    return len((REPO / path).read_text(encoding="utf-8").split("\n")[line - 1])


def context_json(location: str, *extra: str) -> dict[str, Any]:
    return ok_json(run_dglsp("context", location, "--json", *extra))


# --- the command itself ----------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = run_dglsp("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"dglsp {dglsp.__version__}"


def test_no_arguments_prints_help_and_fails() -> None:
    result = run_dglsp()
    assert result.returncode == 2
    for command in ("--stdio", "complete", "context", "doctor"):
        assert command in result.stdout


def test_stdio_does_not_combine_with_a_command() -> None:
    assert_user_error(run_dglsp("--stdio", "doctor"), 2, "--stdio")


def test_console_script_is_declared() -> None:
    # pip creates the `dglsp` command from this line; `python -m dglsp` runs the same main().
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dglsp = "dglsp\.cli\.main:main"$', pyproject, re.MULTILINE)


def test_installed_console_script_runs() -> None:
    script = Path(sys.executable).parent / ("dglsp.exe" if os.name == "nt" else "dglsp")
    if not script.exists():
        # CI installs the package (.ci/run), so there the command must exist.
        assert not os.environ.get("CI"), f"{script} is missing: pip install -e . did not create it"
        pytest.skip("dglsp is not installed in this environment (pip install -e .)")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"dglsp {dglsp.__version__}"


# --- context ---------------------------------------------------------------------------------


def test_context_json_in_a_python_function() -> None:
    line, column = position_after(STATS, "    ordered = sorted(values)")
    data = context_json(f"{STATS}:{line}:{column}")
    assert data.keys() >= CONTEXT_KEYS
    assert data["language"] == "python"
    assert data["kind"] == "function"
    # The carved span is `median`: from its def line (column 1) to the end of its last line.
    first = line_of(STATS, "def median")
    last = line_of(STATS, "return (ordered[middle - 1] + ordered[middle]) / 2")
    assert data["span"] == {"start": [first, 1], "end": [last, line_length(STATS, last) + 1]}
    assert data["prefix_tokens"] > 0
    assert data["suffix_tokens"] > 0
    assert data["canvas_length"] > 0


def test_context_token_counts_follow_the_cursor() -> None:
    """Moving the cursor down inside one function moves text from the suffix to the prefix."""
    earlier = position_after(STATS, "    ordered = sorted(values)")
    later = position_after(STATS, "        return ordered[middle]")
    a = context_json("{}:{}:{}".format(STATS, *earlier))
    b = context_json("{}:{}:{}".format(STATS, *later))
    assert a["span"] == b["span"]
    assert b["prefix_tokens"] > a["prefix_tokens"]
    assert b["suffix_tokens"] < a["suffix_tokens"]
    assert a["cursor"] == list(earlier) and b["cursor"] == list(later)


def test_context_outside_any_function_is_a_window() -> None:
    data = context_json(f"{STATS}:{line_of(STATS, 'from collections.abc import Sequence')}:1")
    assert data["kind"] == "window"
    assert data["language"] == "python"
    assert data["span"]["start"][0] >= 1


@pytest.mark.parametrize(
    ("path", "language", "cursor_after", "function_start"),
    [
        (
            "examples/debounce.js",
            "javascript",
            "setTimeout(() => {\n    ",
            "    timer = setTimeout",
        ),
        (
            "examples/stack.rs",
            "rust",
            "items are stored.\n        ",
            "    /// Pushes",
        ),
        ("examples/wordcount.go", "go", "'()\"))\n\t\t", "func Count"),
    ],
)
def test_context_in_other_languages(path: str, language: str, cursor_after: str, function_start: str) -> None:
    line, column = position_after(path, cursor_after)
    data = context_json(f"{path}:{line}:{column}")
    assert data["language"] == language
    assert data["kind"] == "function"
    # Spans start at column 1 of the function's first line (doc comments and decorators belong
    # to the function where the grammar attaches them; allow either for Rust's /// comment).
    start_line = data["span"]["start"][0]
    assert data["span"]["start"][1] == 1
    assert start_line in (line_of(path, function_start), line_of(path, function_start) + 1)
    assert start_line < line <= data["span"]["end"][0]
    assert data["prefix_tokens"] > 0 and data["suffix_tokens"] > 0


def test_context_counts_columns_in_characters(tmp_path: Path) -> None:
    """Columns count characters: 'é' and '😀' are one column each, whatever their UTF-8/16 width."""
    source = tmp_path / "wide.py"
    source.write_text('def f():\n    s = "é😀x"\n    return s\n', encoding="utf-8")
    data = context_json(f"{source}:2:13")  # just before the closing quote
    assert data["cursor"] == [2, 13]
    assert data["span"]["end"] == [3, 13]
    past = run_dglsp("context", f"{source}:2:15")
    assert_user_error(past, 2, "line 2", "13 characters")


def test_context_text_summary_shows_the_prompt() -> None:
    line, column = position_after(STATS, "    ordered = sorted(values)")
    result = run_dglsp("context", f"{STATS}:{line}:{column}")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^language:\s+python$", result.stdout, re.MULTILINE)
    assert re.search(r"^span:\s+function, \d+:1 to \d+:\d+$", result.stdout, re.MULTILINE)
    prompt = result.stdout.split("--- prompt\n", 1)[1]
    assert "ordered = sorted(values)" in prompt
    assert "return (ordered[middle - 1] + ordered[middle]) / 2" in prompt  # the suffix


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        (STATS, "FILE:LINE:COL"),
        (f"{STATS}:0:1", "line"),
        (f"{STATS}:1:0", "column"),
        (f"{STATS}:x:1", "line"),
        (f"{STATS}:1:-3", "column"),
        (f"{STATS}:999:1", "past the end of the file"),
        (f"{STATS}:1:999", "past the end of line 1"),
        ("examples/no-such-file.py:1:1", "no such file"),
        ("examples:1:1", "directory"),
    ],
)
@pytest.mark.parametrize("command", ["context", "complete"])
def test_bad_location_is_a_clear_error(command: str, location: str, fragment: str) -> None:
    # --model /nonexistent: complete must reject the position before it even looks for a model.
    assert_user_error(run_dglsp(command, location, "--model", "/nonexistent"), 2, fragment)


def test_binary_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"x = 1\n\x00\x01\x02")
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"name = '\xe9'\n")
    assert_user_error(run_dglsp("context", f"{binary}:1:1"), 2, "binary")
    assert_user_error(run_dglsp("complete", f"{latin}:1:1"), 2, "not UTF-8")


def test_bad_flag_value_names_the_flag() -> None:
    assert_user_error(run_dglsp("complete", f"{STATS}:1:1", "--steps", "0"), 2, "--steps")
    assert_user_error(run_dglsp("complete", f"{STATS}:1:1", "--entropy-bound", "-1"), 2, "--entropy-bound")


# --- no model --------------------------------------------------------------------------------


def test_complete_with_a_missing_model_says_what_to_do() -> None:
    result = run_dglsp("complete", f"{STATS}:27:29", "--model", "/nonexistent/model")
    assert_user_error(result, 2, "/nonexistent/model", "does not exist", "--model")
    assert result.stdout == ""


def test_readme_quick_start_completes_with_the_bundled_model(tmp_path: Path) -> None:
    """The README's main-job command, on a machine without DiffusionGemma (an empty HF cache):
    the bundled model answers, and says so; without it, the no-model message and exit 2."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quick_start, re.DOTALL)
    assert len(commands) == 2, commands
    assert commands[1] == "bash .ci/run"
    main_job = commands[0].split(" && ")
    assert main_job[0] == "pip install torch==2.13.0"
    assert main_job[-1].startswith("dglsp complete examples/")
    args = main_job[-1].split()[1:]
    # The position in the README is inside a function of an existing example.
    assert context_json(args[1])["kind"] == "function"
    empty_cache = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    packaged = {**empty_cache, "DGLSP_BUNDLED_MODEL": str(REPO / "dglsp" / "models" / "dglsp-small")}
    result = run_dglsp(*args, env=packaged)
    assert result.returncode == 0, result.stderr
    assert "using the bundled small model dglsp-small" in result.stderr and "--model" in result.stderr
    assert "Model ready" in result.stderr  # it loaded and ran; its text is not checked (docs/models)
    result = run_dglsp(*args, env={**empty_cache, "DGLSP_BUNDLED_MODEL": ""})
    assert_user_error(result, 2, "google/diffusiongemma-26B-A4B-it", "hf download")


def test_doctor_with_a_missing_model_fails_with_a_fix() -> None:
    result = run_dglsp("doctor", "--json", "--model", "/nonexistent/model")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    model = _check(report, "model")
    assert model["status"] == "fail"
    assert "/nonexistent/model" in model["fix"] and "--model" in model["fix"]
    # Nothing after the model can be checked, and nothing pretends it was.
    assert not any(c["name"] in ("memory", "tokenizer") for c in report["checks"])


def test_doctor_text_shows_the_fix_under_the_failure() -> None:
    result = run_dglsp("doctor", "--model", "/nonexistent/model")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if re.match(r"fail\s+model\s", line))
    assert lines[index + 1].strip().startswith("fix: ")
    assert "Traceback" not in result.stderr


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [check for check in report["checks"] if check["name"] == name]
    assert len(matches) == 1, f"no single {name!r} check in {report['checks']}"
    return matches[0]


# --- with the tiny model ---------------------------------------------------------------------


def _stats_cursor() -> str:
    line, column = position_after(STATS, "    ordered = sorted(values)")
    return f"{STATS}:{line}:{column}"


@pytest.mark.slow
def test_doctor_with_the_tiny_model(tiny_model_dir: Path) -> None:
    result = run_dglsp("doctor", "--json", "--model", str(tiny_model_dir), "--device", "cpu")
    report = ok_json(result)
    assert report["ok"] is True
    assert report["version"] == dglsp.__version__
    for check in report["checks"]:
        assert check.keys() >= {"name", "status", "summary", "fix", "details"}
        assert check["status"] in ("ok", "warn", "fail")
        if check["status"] != "ok":
            assert check["fix"], check
    model = _check(report, "model")
    assert model["status"] == "ok"
    assert Path(model["details"]["path"]) == tiny_model_dir.resolve()
    assert 0 < model["details"]["bytes_on_disk"] < 100 * 1024**2
    assert _check(report, "memory")["status"] == "ok"
    assert _check(report, "tokenizer")["status"] == "ok"
    assert _check(report, "device")["details"]["device"] == "cpu"
    assert {"torch", "transformers", "cuda", "python", "dglsp"} <= {c["name"] for c in report["checks"]}
    for language in LANGUAGES:
        assert _check(report, f"grammar:{language}")["status"] == "ok"


@pytest.mark.slow
def test_doctor_reports_the_dtype_setting(tiny_model_dir: Path) -> None:
    reports = {
        dtype: ok_json(
            run_dglsp("doctor", "--json", "--model", str(tiny_model_dir), "--device", "cpu", "--dtype", dtype)
        )
        for dtype in ("float32", "fp8")
    }
    for dtype, report in reports.items():
        assert _check(report, "device")["details"]["dtype"] == dtype
        assert _check(report, "memory")["details"]["dtype"] == _check(report, "device")["details"]["dtype"]
        assert f"as {_check(report, 'device')['details']['dtype']}" in _check(report, "memory")["summary"]


@pytest.mark.slow
def test_doctor_device_that_is_not_there(tiny_model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the check is for machines without it")
    result = run_dglsp("doctor", "--json", "--model", str(tiny_model_dir), "--device", "cuda")
    assert result.returncode == 1
    device = _check(json.loads(result.stdout), "device")
    assert device["status"] == "fail" and "cpu" in device["fix"]


@pytest.mark.slow
def test_complete_json_with_the_tiny_model(tiny_model_dir: Path) -> None:
    location = _stats_cursor()
    result = run_dglsp("complete", location, "--json", "--model", str(tiny_model_dir), "--steps", "6")
    data = ok_json(result)
    assert data.keys() == COMPLETE_KEYS
    assert isinstance(data["text"], str)
    assert 1 <= data["steps"] <= 6
    assert data["elapsed_ms"] > 0
    # The cursor ends `)`, no partly typed word: the infill is inserted at the cursor.
    cursor = [int(n) for n in location.split(":")[1:]]
    assert data["range"] == {"start": cursor, "end": cursor}


@pytest.mark.slow
def test_complete_replaces_a_partly_typed_word(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "typed.py"
    source.write_text("def area(width, height):\n    return wid\n", encoding="utf-8")
    args = ("--json", "--model", str(tiny_model_dir), "--steps", "4")
    data = ok_json(run_dglsp("complete", f"{source}:2:15", *args))
    assert data["range"] == {"start": [2, 12], "end": [2, 15]}
    assert data["text"] == "" or data["text"].startswith("wid")


@pytest.mark.slow
def test_complete_stream_prints_drafts_then_the_final_text(tiny_model_dir: Path) -> None:
    model = ("--model", str(tiny_model_dir), "--seed", "3", "--steps", "8")
    streamed = run_dglsp("complete", _stats_cursor(), "--stream", *model)
    assert streamed.returncode == 0, streamed.stderr
    headers = re.findall(r"^--- step (\d+)/(\d+)$", streamed.stdout, re.MULTILINE)
    assert len(headers) >= 1
    steps = [int(step) for step, _ in headers]
    assert steps == sorted(steps) and all(int(total) == 8 for _, total in headers)
    finals = re.findall(r"^--- final: (\d+) steps, \d+ ms$", streamed.stdout, re.MULTILINE)
    assert len(finals) == 1
    assert int(finals[0]) >= steps[-1]
    final_text = streamed.stdout.split(f"--- final: {finals[0]} steps", 1)[1].split("\n", 1)[1]

    # Same seed, same text: the streamed final is the --json answer.
    plain = ok_json(run_dglsp("complete", _stats_cursor(), "--json", *model))
    assert final_text.rstrip("\n") == plain["text"].rstrip("\n")
    assert int(finals[0]) == plain["steps"]


@pytest.mark.slow
def test_complete_stream_json_is_one_object_per_line(tiny_model_dir: Path) -> None:
    args = ("--stream", "--json", "--model", str(tiny_model_dir), "--steps", "8")
    result = run_dglsp("complete", _stats_cursor(), *args)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    drafts, final = lines[:-1], lines[-1]
    assert len(drafts) >= 1
    for draft in drafts:
        assert draft.keys() == {"step", "total_steps", "text", "range", "final"}
        assert draft["final"] is False
    assert final.keys() == COMPLETE_KEYS | {"final"}
    assert final["final"] is True
    assert final["steps"] >= drafts[-1]["step"]


@pytest.mark.slow
def test_complete_reports_loading_progress_on_stderr(tiny_model_dir: Path) -> None:
    result = run_dglsp("complete", _stats_cursor(), "--json", "--model", str(tiny_model_dir), "--steps", "2")
    assert result.returncode == 0, result.stderr
    # Not a terminal: one plain line per stage, and stdout stays pure JSON.
    assert len(result.stderr.strip().splitlines()) >= 2
    assert "\r" not in result.stderr
    json.loads(result.stdout)


@pytest.mark.slow
def test_context_with_the_tiny_model_counts_real_tokens(tiny_model_dir: Path) -> None:
    estimated = context_json(_stats_cursor(), "--model", "/nonexistent")
    counted = context_json(_stats_cursor(), "--model", str(tiny_model_dir))
    assert estimated["tokens_estimated"] is True
    assert counted["tokens_estimated"] is False
    assert counted["span"] == estimated["span"]
    assert counted["prefix_tokens"] > 0 and counted["suffix_tokens"] > 0


# --- the language server's flags ------------------------------------------------------------


@pytest.mark.slow
async def test_stdio_flags_reach_the_server(tmp_path: Path) -> None:
    """--model reaches the engine (its failure is shown in the editor), --log-file gets the logs."""
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig

    log_file = tmp_path / "dglsp.log"
    missing = tmp_path / "no-such-model"
    command = [sys.executable, "-m", "dglsp", "--stdio", "--model", str(missing)]
    command += ["--log-level", "debug", "--log-file", str(log_file)]
    environment = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    client = await ClientServerConfig(command, server_env=environment).start()
    try:
        await client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
        deadline = time.monotonic() + 60
        while not client.messages:
            assert time.monotonic() < deadline, "no message about the missing model"
            await asyncio.sleep(0.05)
        [message] = client.messages
        assert message.type == types.MessageType.Error
        assert str(missing) in message.message
        await client.shutdown_session()
    finally:
        await client.stop()
    logs = log_file.read_text(encoding="utf-8")
    assert " DEBUG " in logs  # --log-level debug
    assert str(missing) in logs


def test_complete_with_an_unreachable_remote_engine_names_the_url(tiny_model_dir: Path) -> None:
    # Port 9 (discard) has no HTTP server here: the engine flag must reach the engine choice.
    url = "http://127.0.0.1:9/v1"
    result = run_dglsp("complete", _stats_cursor(), "--engine", url, "--model", str(tiny_model_dir))
    assert result.returncode == 2
    assert "127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr


def test_complete_does_not_leave_a_daemon_behind(tiny_model_dir: Path, tmp_path: Path) -> None:
    runtime = tmp_path / "rt"
    result = run_dglsp(
        "complete",
        _stats_cursor(),
        "--model",
        str(tiny_model_dir),
        "--steps",
        "2",
        env={"DGLSP_RUNTIME_DIR": str(runtime)},
    )
    assert result.returncode == 0, result.stderr
    # With no dglsp serve running, the one-shot command ran the model in-process.
    assert not runtime.exists() or (not any(runtime.glob("*.pid")) and not any(runtime.glob("*.sock")))
