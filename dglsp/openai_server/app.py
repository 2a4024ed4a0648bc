"""The OpenAI-compatible API of vLLM 0.33 for DiffusionGemma, in front of any dglsp Engine.

GET /v1/models and POST /v1/completions (JSON or an SSE stream), validated as vLLM does
(validation.py). Like vLLM it streams one content chunk per committed canvas; our engines
commit one canvas per request, so a stream is one content chunk carrying finish_reason, then
`data: [DONE]`. dglsp extensions (docs/remote.md): with `vllm_xargs.dglsp_drafts` every
denoising step also sends a chunk with empty `text` and a `dglsp_draft` field (plain OpenAI
clients, which concatenate `text`, are not confused by it); `dglsp_seed` and
`dglsp_entropy_bound` reach the engine. A client that disconnects cancels its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from dglsp import __version__
from dglsp.engine.base import (
    Cancelled,
    CancelToken,
    Draft,
    Engine,
    EngineError,
    EngineState,
    InfillRequest,
    ProgressCallback,
)
from dglsp.engine.openai_compat import wire
from dglsp.openai_server.http import Connection, HttpRequest, start_server
from dglsp.openai_server.validation import ApiError, CompletionParams, not_supported, parse_completion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Defaults:
    """What a request gets for what it does not set (vLLM takes these from generation_config)."""

    steps: int = 48
    entropy_bound: float = 0.1
    seed: int = 0


class OpenAIServer:
    """Serves one started Engine. `extensions=False` behaves as plain vLLM would: no `dglsp`
    block in /v1/models and dglsp_* xargs ignored (how tests stand in for a real vLLM)."""

    def __init__(
        self,
        engine: Engine,
        *,
        served_model_name: str | None = None,
        root: str | None = None,
        defaults: Defaults = Defaults(),
        extensions: bool = True,
        api_key: str | None = None,
        request_type: type = InfillRequest,
    ) -> None:
        self.engine = engine
        self._name = served_model_name
        self._root = root
        self._defaults = defaults
        self._extensions = extensions
        self._api_key = api_key
        # The engine request class: pinned-suffix requests need its `strategy` field.
        self._request_type = request_type
        self._created = int(time.time())
        self._server: asyncio.Server | None = None

    @property
    def model_name(self) -> str:
        return self._name or self.engine.model_name

    # --- lifecycle ---
    async def start(
        self, host: str = "127.0.0.1", port: int = 8000, progress: ProgressCallback | None = None
    ) -> int:
        """Start the engine (if it is not), then listen. Returns the port (useful with port 0)."""
        if self.engine.state is not EngineState.READY:
            await self.engine.start(progress)
        if self.engine.state is not EngineState.READY:
            raise EngineError(self.engine.error or "the engine did not start")
        self._server = await start_server(self.handle, _error_body, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self.engine.close()

    # --- routing ---
    async def handle(self, request: HttpRequest, connection: Connection) -> None:
        try:
            if self._api_key and request.headers.get("authorization") != f"Bearer {self._api_key}":
                await connection.send_json(401, {"error": "Unauthorized"})  # vLLM's exact answer
                return
            route = (request.method, request.path.rstrip("/"))
            if route == ("GET", "/v1/models"):
                await connection.send_json(200, self.models())
            elif route == ("GET", "/health"):
                await connection.send_json(200, {})
            elif route == ("POST", "/v1/completions"):
                await self._completions(request, connection)
            elif request.path.rstrip("/") in ("/v1/models", "/v1/completions", "/health"):
                raise ApiError(405, "Method Not Allowed", "MethodNotAllowed")
            else:
                raise ApiError(404, f"Not Found: {request.path}", "NotFoundError")
        except ApiError as error:
            await connection.send_json(error.status, error.payload())

    def models(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.model_name,
            "object": "model",
            "created": self._created,
            "owned_by": "dglsp" if self._extensions else "vllm",
            "root": self._root or self.model_name,
            "parent": None,
            "permission": [],
        }
        if self._extensions:
            entry["canvas_length"] = self.engine.canvas_length
            extension: dict[str, Any] = {
                "model_type": "diffusion_gemma",
                "version": __version__,
                "drafts": True,
            }
            hf = getattr(self.engine.tokenizer, "hf", None)
            if hf is not None:
                extension["vocab_size"] = len(hf)
            entry[wire.MODEL_EXTENSION] = extension
        return {"object": "list", "data": [entry]}

    # --- completions ---
    async def _completions(self, http_request: HttpRequest, connection: Connection) -> None:
        try:
            body = json.loads(http_request.body or b"null")
        except ValueError as error:
            raise ApiError(400, f"the request body is not JSON: {error}") from None
        hf = getattr(self.engine.tokenizer, "hf", None)
        params = parse_completion(
            body, served_canvas=self.engine.canvas_length, vocab_size=len(hf) if hf is not None else None
        )
        if params.model is not None and params.model != self.model_name:
            raise ApiError(404, f"The model `{params.model}` does not exist.", "NotFoundError", "model")
        if not self._extensions:
            params = dataclasses.replace(params, drafts=False, seed=None, entropy_bound=None)
        request = self._infill_request(params)
        if self.engine.state is not EngineState.READY:
            raise ApiError(503, self.engine.error or "the engine is not ready", "ServiceUnavailableError")
        cancel = CancelToken()
        connection.watch_disconnect(lambda: cancel.cancel("client disconnected"))
        answer = _Answer(self.model_name, request, params, self._prompt_tokens(params.prompt))
        if params.stream:
            await self._stream(connection, request, cancel, answer)
        else:
            await self._whole(connection, request, cancel, answer)

    async def _whole(
        self, connection: Connection, request: Any, cancel: CancelToken, answer: _Answer
    ) -> None:
        last: Draft | None = None
        try:
            async with contextlib.aclosing(self.engine.infill(request, cancel)) as drafts:
                async for draft in drafts:
                    last = draft
        except Cancelled:
            return  # the client has gone: nobody to answer
        except EngineError as error:
            raise ApiError(500, str(error), "InternalServerError") from None
        if last is None:
            raise ApiError(500, "the engine returned no draft", "InternalServerError")
        await connection.send_json(200, answer.whole(last))

    async def _stream(
        self, connection: Connection, request: Any, cancel: CancelToken, answer: _Answer
    ) -> None:
        await connection.start_stream()

        async def send(payload: Any) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await connection.send_chunk(f"data: {data}\n\n".encode())

        try:
            async with contextlib.aclosing(self.engine.infill(request, cancel)) as drafts:
                async for draft in drafts:
                    if draft.final:
                        await send(answer.chunk(draft))
                    elif answer.params.drafts:
                        await send(answer.draft_chunk(draft))
            if answer.params.include_usage and answer.last is not None:
                await send(answer.usage_chunk())
        except Cancelled:
            return
        except ConnectionError:
            cancel.cancel("client disconnected")
            return
        except EngineError as error:  # as vLLM does: an error event, then the end of the stream
            await send(ApiError(500, str(error), "InternalServerError").payload())
        await send("[DONE]")
        await connection.end_stream()

    def _prompt_tokens(self, prompt: str) -> int:
        tokenizer = self.engine.tokenizer
        return tokenizer.count(prompt) if tokenizer is not None else 0

    def _infill_request(self, params: CompletionParams) -> Any:
        """The engine request: vllm_xargs and dglsp extensions over the server's defaults."""
        if params.read_only:
            raise not_supported(wire.READ_ONLY, wire.READ_ONLY)
        canvas = params.canvas_length or self.engine.canvas_length
        if params.max_tokens is not None:
            canvas = min(canvas, params.max_tokens)  # one canvas per request: max_tokens caps it
        values: dict[str, Any] = {
            "prompt": params.prompt,
            "canvas_length": canvas,
            "steps": params.max_steps or self._defaults.steps,
            "entropy_bound": params.entropy_bound or self._defaults.entropy_bound,
            "seed": self._defaults.seed if params.seed is None else params.seed,
        }
        if params.seed_canvas is not None:
            values |= self._pinned_fields(params.seed_canvas, params.pinned)
        return self._request_type(**values)

    def _pinned_fields(self, seed_canvas: tuple[int, ...], pinned: tuple[int, ...]) -> dict[str, Any]:
        """A seeded canvas whose pinned cells are its tail is the pinned-suffix strategy; the
        engine makes its own noise for the middle cells, so their seed values are not used."""
        fields = {f.name for f in dataclasses.fields(self._request_type)}
        width, cells = len(seed_canvas), len(pinned)
        if "strategy" not in fields:
            raise not_supported(
                f"{wire.SEED_CANVAS} (this engine has no pinned-suffix strategy)", wire.SEED_CANVAS
            )
        if not 0 < cells < width or sorted(pinned) != list(range(width - cells, width)):
            raise not_supported(
                f"{wire.PINNED} other than the last cells of the canvas (a pinned suffix)", wire.PINNED
            )
        suffix_ids = seed_canvas[width - cells :]
        values: dict[str, Any] = {"strategy": "pinned", "canvas_length": width - cells}
        if "suffix_ids" in fields:
            values["suffix_ids"] = suffix_ids
        elif "pinned_suffix" in fields and hasattr(self.engine.tokenizer, "hf"):
            values["pinned_suffix"] = self.engine.tokenizer.hf.decode(list(suffix_ids))
        else:
            raise not_supported(f"{wire.SEED_CANVAS} (this engine cannot read the suffix)", wire.SEED_CANVAS)
        if "middle_lengths" in fields:
            values["middle_lengths"] = (width - cells,)
        return values


@dataclass
class _Answer:
    """The response objects of one completion, in vLLM's shapes."""

    model: str
    request: Any
    params: CompletionParams
    prompt_tokens: int
    id: str = dataclasses.field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))
    last: Draft | None = None

    def _finish_reason(self, draft: Draft) -> str:
        full = draft.token_ids and len(draft.token_ids) >= self.request.canvas_length
        return "length" if full else "stop"

    def _extension(self, draft: Draft) -> dict[str, Any]:
        return {
            "step": draft.step,
            "total_steps": draft.total_steps,
            "text": draft.text,
            "final": draft.final,
        }

    def _envelope(self, choice: dict[str, Any], obj: str = "text_completion") -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def _text_choice(self, draft: Draft) -> dict[str, Any]:
        """The choice carrying the completion text, as vLLM sends it in a chunk or a whole answer."""
        self.last = draft
        return {
            "index": 0,
            "text": draft.text,
            "logprobs": None,
            "finish_reason": self._finish_reason(draft),
            "stop_reason": None,
        }

    def chunk(self, draft: Draft) -> dict[str, Any]:
        choice = self._text_choice(draft)
        if self.params.drafts:
            choice[wire.DRAFT_FIELD] = self._extension(draft)
        return self._envelope(choice)

    def draft_chunk(self, draft: Draft) -> dict[str, Any]:
        choice = {"index": 0, "text": "", "logprobs": None, "finish_reason": None}
        choice[wire.DRAFT_FIELD] = self._extension(draft)
        return self._envelope(choice)

    def usage(self) -> dict[str, int]:
        completion = len(self.last.token_ids) if self.last is not None else 0
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def usage_chunk(self) -> dict[str, Any]:
        return {**self._envelope({}), "choices": [], "usage": self.usage()}

    def whole(self, draft: Draft) -> dict[str, Any]:
        return {**self._envelope(self._text_choice(draft)), "usage": self.usage()}


def _error_body(status: int, message: str) -> dict[str, Any]:
    return ApiError(status, message).payload()
