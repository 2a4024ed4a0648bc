"""How long a canvas the middle gets.

A canvas much longer than the hole wastes work and, with diffusion, hurts quality (the
model must fill every cell; research in facts/diffusiongemma.md). Without a length
predictor yet, the cursor's surroundings are the signal: text after the cursor on its line
means a short, in-line hole; an empty line (e.g. an empty body) means a long one.
"""

from __future__ import annotations

MID_LINE_CANVAS = 16
LINE_END_CANVAS = 64


def canvas_length_for(
    policy: str, fixed_length: int, model_canvas: int, line_before: str, line_after: str
) -> int:
    """Canvas cells for this request, never more than the model's own canvas."""
    if fixed_length > 0:
        return min(fixed_length, model_canvas)
    if policy == "fixed":
        return model_canvas
    if line_after.strip():
        return min(MID_LINE_CANVAS, model_canvas)
    if line_before.strip():
        return min(LINE_END_CANVAS, model_canvas)
    return model_canvas
