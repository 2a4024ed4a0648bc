"""Checking a /v1/completions body the way vLLM 0.33 does for DiffusionGemma.

vLLM answers HTTP 400 to `suffix`, a `temperature` other than 1.0, `seed`, `min_p`,
`min_tokens`, `logit_bias`, `bad_words`, `allowed_token_ids` and structured outputs
(facts/diffusiongemma.md). The status and the error JSON's shape are vLLM's; the message
texts are ours (vLLM's are not recorded), except the one for `suffix`. What vLLM accepts but
this server cannot do (several prompts, logprobs, stop strings, ...) is a 400 that says
"not supported by this server".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dglsp.engine.openai_compat import wire

SUFFIX_MESSAGE = "suffix is only supported for models with FIM completion rendering"
STRUCTURED_OUTPUT_FIELDS = (
    "structured_outputs",
    "guided_json",
    "guided_regex",
    "guided_choice",
    "guided_grammar",
    "guided_whitespace_pattern",
)


class ApiError(Exception):
    """An error answer: {"error": {"message", "type", "param", "code"}} with HTTP `status`."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param

    def payload(self) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.status}
        }


def not_supported(what: str, param: str | None = None) -> ApiError:
    return ApiError(400, f"{what} is not supported by this server (dglsp.openai_server)", param=param)


@dataclass(frozen=True)
class CompletionParams:
    prompt: str
    model: str | None = None
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    # vllm_xargs
    canvas_length: int | None = None
    max_steps: int | None = None
    seed_canvas: tuple[int, ...] | None = None
    pinned: tuple[int, ...] = ()
    read_only: bool = False
    # dglsp extensions
    drafts: bool = False
    seed: int | None = None
    entropy_bound: float | None = None


def parse_completion(body: Any, *, served_canvas: int, vocab_size: int | None = None) -> CompletionParams:
    """The parameters of one completion request, or ApiError (400) for what vLLM would refuse."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    _reject_diffusion_400s(body)
    _reject_unsupported(body)
    xargs = body.get("vllm_xargs") or {}
    if not isinstance(xargs, dict):
        raise ApiError(400, "vllm_xargs must be an object", param="vllm_xargs")
    canvas_length = _int(xargs, wire.CANVAS_LENGTH, 1, served_canvas)
    width = canvas_length or served_canvas
    seed_canvas = _ids(xargs, wire.SEED_CANVAS, vocab_size)
    if seed_canvas is not None and len(seed_canvas) != width:
        raise ApiError(
            400,
            f"{wire.SEED_CANVAS} must hold exactly the request's canvas width ({width}) token ids, "
            f"got {len(seed_canvas)}",
            param=wire.SEED_CANVAS,
        )
    pinned = _ids(xargs, wire.PINNED, width) or ()
    if pinned and seed_canvas is None:
        raise ApiError(400, f"{wire.PINNED} needs {wire.SEED_CANVAS}", param=wire.PINNED)
    if len(set(pinned)) != len(pinned):
        raise ApiError(400, f"{wire.PINNED} lists a position twice", param=wire.PINNED)
    entropy_bound = xargs.get(wire.ENTROPY_BOUND)
    if entropy_bound is not None and (not _is_number(entropy_bound) or entropy_bound <= 0):
        raise ApiError(400, f"{wire.ENTROPY_BOUND} must be a number > 0", param=wire.ENTROPY_BOUND)
    options = body.get("stream_options") or {}
    return CompletionParams(
        prompt=_prompt(body.get("prompt")),
        model=_optional(body, "model", str),
        stream=bool(_optional(body, "stream", bool)),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        max_tokens=_int(body, "max_tokens", 1, None),
        canvas_length=canvas_length,
        max_steps=_int(xargs, wire.MAX_STEPS, 1, 4096),
        seed_canvas=seed_canvas,
        pinned=pinned,
        read_only=bool(_optional(xargs, wire.READ_ONLY, bool)),
        drafts=bool(_optional(xargs, wire.DRAFTS, bool)),
        seed=_int(xargs, wire.SEED, 0, 2**63 - 1),
        entropy_bound=float(entropy_bound) if entropy_bound is not None else None,
    )


def _reject_diffusion_400s(body: dict[str, Any]) -> None:
    """vLLM's 400s for DiffusionGemma."""
    if body.get("suffix") is not None:
        raise ApiError(400, SUFFIX_MESSAGE, param="suffix")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1.0:
        raise ApiError(
            400,
            f"temperature must be 1.0 for diffusion models (got {temperature!r}): the sampler's "
            "temperature schedule comes from the model's generation_config",
            param="temperature",
        )
    if body.get("seed") is not None:
        raise ApiError(400, "seed is not supported for diffusion models", param="seed")
    for name in ("min_p", "min_tokens"):
        if body.get(name) not in (None, 0):
            raise ApiError(400, f"{name} is not supported for diffusion models", param=name)
    for name in ("logit_bias", "bad_words", "allowed_token_ids"):
        if body.get(name) is not None and body.get(name) != {} and body.get(name) != []:
            raise ApiError(400, f"{name} is not supported for diffusion models", param=name)
    response_format = body.get("response_format")
    structured = [name for name in STRUCTURED_OUTPUT_FIELDS if body.get(name) is not None]
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        structured.append("response_format")
    if structured:
        raise ApiError(400, "structured outputs are not supported for diffusion models", param=structured[0])


def _reject_unsupported(body: dict[str, Any]) -> None:
    """What vLLM may do but this server cannot: one prompt, one choice, text only."""
    for name, allowed in (("n", (None, 1)), ("best_of", (None, 1)), ("echo", (None, False))):
        if body.get(name) not in allowed:
            raise not_supported(f"{name}={body.get(name)!r}", name)
    for name in ("logprobs", "prompt_logprobs", "prompt_embeds"):
        if body.get(name) is not None:
            raise not_supported(name, name)
    for name in ("stop", "stop_token_ids"):
        if body.get(name):
            raise not_supported(name, name)


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        if value is None:
            raise ApiError(400, "prompt is required", param="prompt")
        raise not_supported("a prompt that is not one string (token ids, several prompts)", "prompt")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional(source: dict[str, Any], name: str, kind: type) -> Any:
    value = source.get(name)
    if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
        raise ApiError(400, f"{name} must be a {kind.__name__}", param=name)
    return value


def _int(source: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = _optional(source, name, int)
    if value is not None and (value < low or (high is not None and value > high)):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ApiError(400, f"{name} must be {bound}, got {value}", param=name)
    return value


def _ids(source: dict[str, Any], name: str, limit: int | None) -> tuple[int, ...] | None:
    """A list of ints in [0, limit) (any size when limit is None)."""
    value = source.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ApiError(400, f"{name} must be a list of integers", param=name)
    if any(v < 0 or (limit is not None and v >= limit) for v in value):
        raise ApiError(400, f"{name} holds a value outside [0, {limit})", param=name)
    return tuple(value)
