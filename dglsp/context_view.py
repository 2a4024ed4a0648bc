"""The human-readable view of a `Context`: what `dglsp context` prints and `dglsp.context` returns.

One renderer for the CLI and the server, so an editor's "explain context" shows exactly what
the command line shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dglsp.documents import offset_to_position

if TYPE_CHECKING:
    from dglsp.pipeline import Context


def render_context(location: str, text: str, cursor: int, context: Context) -> str:
    """`location` names the document (a path or URI); `cursor` is a str offset into `text`."""
    data: dict[str, Any] = context.to_json()
    start, end = data["span"]["start"], data["span"]["end"]
    line, column = offset_to_position(text, cursor, "utf-32")
    estimated = " (estimated: no tokenizer loaded)" if data.get("tokens_estimated") else ""
    rows = [
        ("file", location),
        ("language", data["language"]),
        ("cursor", f"{line + 1}:{column + 1}"),
        ("span", f"{data['kind']}, {start[0]}:{start[1]} to {end[0]}:{end[1]}"),
        ("prefix", f"{data['prefix_tokens']} tokens{estimated}"),
        ("suffix", f"{data['suffix_tokens']} tokens"),
    ]
    if "context_tokens" in data:
        rows.append(("header", f"{data['context_tokens']} tokens"))
    canvas = data["canvas_length"]
    rows.append(("canvas", f"{canvas} cells" if canvas else "the model's own canvas length"))
    lines = [f"{name + ':':<10} {value}" for name, value in rows]
    lines += ["--- prompt", context.prompt.text, "--- end of prompt"]
    return "\n".join(lines) + "\n"
