"""Bench reports: one JSON object per run, with its provenance, and a readable rendering.

A report is plain JSON (dicts, lists, numbers, strings), so `--json` output, files written
with `--output` and what `read_report` returns are the same thing. Every report has
`schema`, `bench` and `environment` (device, date, commit, versions, command line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = "dglsp-bench/1"
REQUIRED = ("schema", "bench", "environment")
ENVIRONMENT_FIELDS = ("device", "date", "commit", "versions", "command")


def envelope(bench: str, environment: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, **body, "bench": bench, "environment": environment}


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.write_text(dumps(report) + "\n", encoding="utf-8")


def read_report(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in REQUIRED if key not in report]
    missing += [
        f"environment.{key}" for key in ENVIRONMENT_FIELDS if key not in report.get("environment", {})
    ]
    if missing:
        raise ValueError(f"{path} is not a dglsp bench report: missing {', '.join(missing)}")
    if report["schema"] != SCHEMA:
        raise ValueError(f"{path} has schema {report['schema']!r}; this dglsp reads {SCHEMA!r}")
    return report


# --- readable rendering ---


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into docs/benchmarks.md)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(_align(c, w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells
    ]
    return "\n".join(lines)


def p50_p95(figure: dict[str, Any] | None, digits: int = 2) -> str:
    if not figure:
        return "-"
    return f"{figure['p50']:.{digits}f} / {figure['p95']:.{digits}f}"


def human_bytes(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def header(report: dict[str, Any]) -> str:
    env = report["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    lines = [
        f"dglsp bench {report['bench']}",
        f"device:  {env['device']}",
        f"date:    {env['date']}",
        f"commit:  {env.get('commit') or 'unknown (not a git checkout)'}",
        f"command: {env['command']}",
        f"versions: {versions}",
    ]
    if env.get("torch_threads") is not None:
        lines.append(f"torch threads: {env['torch_threads']}")
    if env.get("load_average"):
        lines.append(f"load average (1/5/15 min) at start: {env['load_average']}")
    return "\n".join(lines)


def _align(cell: str, width: int) -> str:
    """Numbers to the right, words to the left."""
    return cell.rjust(width) if cell[:1].isdigit() or cell[:1] in "-." else cell.ljust(width)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 0.01 else f"{value:.2f}"
    return str(value)
