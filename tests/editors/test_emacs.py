"""Emacs 28 (Debian emacs-nox) with eglot 1.9 (elpa-eglot), in batch mode, as a real client of
`dglsp --stdio` through editors/emacs/dglsp.el: completion-at-point inserts the infill."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .helpers import REPO, SERVER_SETTINGS, dglsp_command, editor_env, require_tool

EMACS_TEST = Path(__file__).parent / "emacs" / "eglot_completion.el"

pytestmark = pytest.mark.slow


def test_eglot_completion_at_point_inserts_the_infill(
    tiny_model_dir: Path, source_file: Path, tmp_path: Path
) -> None:
    emacs = require_tool("emacs", "apt-get install emacs-nox elpa-eglot (.ci/system-packages)")
    out = tmp_path / "emacs.json"
    env = editor_env(tmp_path)
    env.update(
        DGLSP_TEST_FILE=str(source_file),
        DGLSP_TEST_CMD=json.dumps([*dglsp_command(), "--stdio"]),
        DGLSP_TEST_SETTINGS=json.dumps({**SERVER_SETTINGS, "model": str(tiny_model_dir)}),
        DGLSP_TEST_OUT=str(out),
    )
    # No init file (HOME is empty anyway), but the site start files: they put Debian's
    # elpa-eglot on the load path, as for a user of the package.
    proc = subprocess.run(
        [
            emacs,
            "--batch",
            "--no-init-file",
            "-l",
            str(REPO / "editors" / "emacs" / "dglsp.el"),
            "-l",
            str(EMACS_TEST),
        ],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert out.exists(), f"exit {proc.returncode}:\n{proc.stderr[-4000:]}"
    result = json.loads(out.read_text())
    assert "error" not in result, f"{result['error']}\n{proc.stderr[-4000:]}"
    assert result["major_mode"] == "python-mode" and result["language_id"] == "python"
    assert result["server_command"] == [*dglsp_command(), "--stdio"]
    assert result["completion_provider"] is True
    # dglsp-settings reached the server as initializationOptions.
    assert result["state"] == "ready" and result["model_path"] == str(tiny_model_dir)

    [response] = result["responses"]
    [item] = response["items"]
    edit = item["textEdit"]
    cursor = {"line": result["line"], "character": result["column"]}
    assert edit["range"] == {"start": cursor, "end": cursor}
    assert edit["newText"].strip()
    lines = result["before"].split("\n")
    line = lines[cursor["line"]]
    lines[cursor["line"]] = line[: cursor["character"]] + edit["newText"] + line[cursor["character"] :]
    assert result["after"] == "\n".join(lines)


def test_dglsp_el_byte_compiles_without_warnings(tmp_path: Path) -> None:
    emacs = require_tool("emacs", "apt-get install emacs-nox elpa-eglot (.ci/system-packages)")
    copy = tmp_path / "dglsp.el"
    copy.write_text((REPO / "editors" / "emacs" / "dglsp.el").read_text())
    proc = subprocess.run(
        [
            emacs,
            "--batch",
            "--no-init-file",
            "--eval",
            "(setq byte-compile-error-on-warn t)",
            "-f",
            "batch-byte-compile",
            str(copy),
        ],
        env=editor_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert copy.with_suffix(".elc").exists()
