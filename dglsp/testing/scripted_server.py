"""The real language server over stdio, with a ScriptedEngine instead of a model.

    python -m dglsp.testing.scripted_server --script SCRIPT.json [--settings '{"debounceMs": 0}']

`--script` is a ScriptedEngine script (see scripted_engine.py); `--settings` plays the part
of the command-line flags (the base the client's settings merge onto).

Adds one request for tests, `dglsp/testing/state` (no params), answering
{"settings": {...}, "encoding": "utf-8", "engines": [{"model_name", "state", "closed",
"requests": [RequestRecord, ...]}, ...]} with every engine created so far, oldest first,
so a test can see the prompts sent, cancellations and engine restarts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from typing import Any

from dglsp.config import Settings, merge_settings
from dglsp.server import create_server, serve_stdio
from dglsp.server.app import DglspServer
from dglsp.server.logs import configure_logging
from dglsp.testing.scripted_engine import Script, ScriptedEngine

STATE_REQUEST = "dglsp/testing/state"


def build(script: Script, settings: Settings) -> tuple[DglspServer, list[ScriptedEngine]]:
    engines: list[ScriptedEngine] = []

    def factory(current: Settings) -> ScriptedEngine:
        engine = ScriptedEngine(script, model=current.model)
        engines.append(engine)
        return engine

    server = create_server(settings, factory)

    @server.feature(STATE_REQUEST)
    def testing_state(ls: DglspServer, params: Any) -> dict[str, Any]:
        return {
            "settings": dataclasses.asdict(ls.state.settings),
            "encoding": ls.state.client.encoding,
            "engines": [engine.to_json() for engine in engines],
        }

    return server, engines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dglsp.testing.scripted_server")
    parser.add_argument("--script", required=True, help="a ScriptedEngine script (JSON file)")
    parser.add_argument("--settings", default="{}", help="base settings as JSON (like command-line flags)")
    args = parser.parse_args(argv)

    settings, problems = merge_settings(Settings(), json.loads(args.settings))
    if problems:
        parser.error("; ".join(problems))
    configure_logging(logging.INFO)
    server, _ = build(Script.load(args.script), settings)
    serve_stdio(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
