"""The `/v1/completions` request for one InfillRequest, in the form vLLM accepts for DiffusionGemma.

No `suffix`, `temperature` or `seed`: vLLM answers 400 to them for this model. The canvas
width goes in `max_tokens` and `vllm_xargs.diffusion_canvas_length`, the step budget in
`diffusion_max_steps`. The pinned-suffix strategy becomes a seeded canvas: noise for the
middle cells, then the suffix's tokens, with the suffix positions in `diffusion_pinned`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from dglsp.engine.base import EngineError, InfillRequest
from dglsp.engine.openai_compat import wire


@dataclass(frozen=True)
class PinnedCanvas:
    seed_canvas: tuple[int, ...]  # middle noise, then the suffix tokens
    pinned: tuple[int, ...]  # the suffix positions
    suffix_text: str  # the pinned suffix as text: a server may return it after the middle

    @property
    def width(self) -> int:
        return len(self.seed_canvas)


def pinned_canvas(
    suffix_ids: list[int], middle: int, canvas: int, vocab_size: int, seed: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(seed canvas, pinned positions): middle cells of uniform noise (the model's own kind of
    noise) followed by up to PINNED_SUFFIX_CELLS suffix tokens, within the served canvas."""
    cells = min(len(suffix_ids), wire.PINNED_SUFFIX_CELLS, canvas - 1)
    middle = max(1, min(middle, canvas - cells))
    rng = random.Random(seed)
    noise = [rng.randrange(vocab_size) for _ in range(middle)]
    return tuple(noise + list(suffix_ids[:cells])), tuple(range(middle, middle + cells))


def pinned_request(
    request: InfillRequest, tokenizer: Any, canvas: int, vocab_size: int
) -> PinnedCanvas | None:
    """The seeded canvas for a pinned-suffix request; None for the prompt-side strategy.

    Reads the request's optional fields by name (`strategy`, `suffix_ids` or `pinned_suffix`,
    `middle_lengths`), so this works before and after InfillRequest grows them.
    """
    if getattr(request, "strategy", "prompt") != "pinned":
        return None
    suffix_ids = list(getattr(request, "suffix_ids", ()) or ())
    suffix_text = getattr(request, "pinned_suffix", "") or ""
    if not suffix_ids and suffix_text:
        if not hasattr(tokenizer, "encode"):
            raise EngineError(
                "The pinned-suffix strategy on a remote server needs the model's tokenizer here: set "
                "`model` to a local copy of the served model (or a cached Hugging Face id)."
            )
        suffix_ids = list(tokenizer.encode(suffix_text))
    if not suffix_ids:
        return None  # nothing after the cursor: a plain canvas is the same infill
    lengths = getattr(request, "middle_lengths", ()) or ()
    # vLLM runs one canvas per request: the longest middle asked for (the in-process engine
    # tries several side by side and keeps the most confident).
    middle = max(lengths) if lengths else (request.canvas_length or canvas)
    seed_canvas, pinned = pinned_canvas(suffix_ids, middle, canvas, vocab_size, request.seed)
    cells = len(pinned)
    if hasattr(tokenizer, "hf"):
        pinned_text = tokenizer.hf.decode(suffix_ids[:cells])
    else:
        pinned_text = suffix_text if cells == len(suffix_ids) else ""
    return PinnedCanvas(seed_canvas, pinned, pinned_text)


def completion_body(
    request: InfillRequest,
    *,
    model: str,
    canvas: int,
    pinned: PinnedCanvas | None,
    extensions: bool,
) -> dict[str, Any]:
    """The JSON body of POST /v1/completions. `extensions`: the server is dglsp's own."""
    width = pinned.width if pinned else max(1, min(request.canvas_length or canvas, canvas))
    xargs: dict[str, Any] = {wire.CANVAS_LENGTH: width, wire.MAX_STEPS: request.steps}
    if pinned is not None:
        xargs[wire.SEED_CANVAS] = list(pinned.seed_canvas)
        xargs[wire.PINNED] = list(pinned.pinned)
    if extensions:
        xargs |= {wire.DRAFTS: True, wire.SEED: request.seed, wire.ENTROPY_BOUND: request.entropy_bound}
    return {
        "model": model,
        "prompt": request.prompt,
        "max_tokens": width,
        "stream": True,
        # The rendered prompt writes BOS and the template's special tokens inline.
        "add_special_tokens": False,
        # Keep special tokens in the text so a stray turn or FIM token is cut, not skipped,
        # and no space is added around them.
        "skip_special_tokens": False,
        "spaces_between_special_tokens": False,
        "vllm_xargs": xargs,
    }
