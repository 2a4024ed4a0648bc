"""The remote engine: DiffusionGemma behind an OpenAI-compatible server (vLLM, or dglsp's own).

`start()` asks `GET /v1/models` what is served and loads the tokenizer for prompt building
locally when the `model` setting names a local copy; `infill()` streams `POST
/v1/completions`. vLLM streams whole committed canvases, so against vLLM there is one draft
per canvas (usually one: the final text); dglsp's own server also streams a draft per
denoising step when asked. Cancelling closes the connection, which aborts the request there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dglsp.engine.base import (
    Cancelled,
    CancelToken,
    Draft,
    EngineError,
    EngineState,
    InfillRequest,
    Progress,
    ProgressCallback,
    Tokenizer,
)
from dglsp.engine.openai_compat import wire
from dglsp.engine.openai_compat.body import PinnedCanvas, completion_body, pinned_request
from dglsp.engine.openai_compat.http import Endpoint, HttpFailure, Response, request
from dglsp.engine.openai_compat.sse import data_events

if TYPE_CHECKING:
    from dglsp.config import Settings

log = logging.getLogger(__name__)

# The bearer token for servers started with --api-key (vLLM's and dglsp's own).
API_KEY_ENV = "DGLSP_API_KEY"


class OpenAICompatibleEngine:
    def __init__(
        self, settings: Settings, *, connect_timeout: float = 10.0, read_timeout: float = 120.0
    ) -> None:
        self._settings = settings
        self._base = wire.api_base(settings.engine)
        self._connect_timeout = connect_timeout
        # A canvas can wait in vLLM's queue behind others: generous, but never forever.
        self._read_timeout = read_timeout
        key = os.environ.get(API_KEY_ENV)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._state = EngineState.STOPPED
        self._error: str | None = None
        self._model_id = ""
        self._tokenizer: Tokenizer | None = None
        self._canvas_length = 0
        self._vocab_size = wire.DEFAULT_VOCAB_SIZE
        self._extensions = False  # the server is dglsp's own: drafts, seed, entropy bound
        self._start_lock = asyncio.Lock()

    # --- Engine protocol: status ---
    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def model_name(self) -> str:
        return f"{self._model_id} at {self._base}" if self._model_id else self._base

    @property
    def tokenizer(self) -> Tokenizer | None:
        return self._tokenizer

    @property
    def canvas_length(self) -> int:
        return self._canvas_length

    @property
    def url(self) -> str:
        return self._base

    # --- connecting ---
    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Never raises. Unlike a local load, a failed start may be retried: the server may come up later."""
        async with self._start_lock:
            if self._state is EngineState.READY:
                return
            self._state, self._error = EngineState.LOADING, None
            try:
                await self._connect(progress or (lambda _progress: None))
            except EngineError as error:
                self._state, self._error = EngineState.ERROR, str(error)
                log.error("remote engine: %s", error)
                return
            except Exception as error:  # still a message in the editor, never a crash
                self._state = EngineState.ERROR
                self._error = (
                    f"Connecting to {self._base} failed unexpectedly: {type(error).__name__}: {error}"
                )
                log.exception("remote engine: unexpected failure")
                return
            self._state = EngineState.READY

    async def _connect(self, progress: ProgressCallback) -> None:
        progress(Progress(f"Connecting to {self._base}", 0))
        entry = await self._served_model()
        self._model_id = str(entry["id"])
        extension = entry.get(wire.MODEL_EXTENSION)
        self._extensions = isinstance(extension, dict)
        if self._extensions and isinstance(extension.get("vocab_size"), int):
            self._vocab_size = extension["vocab_size"]
        progress(Progress("Loading the tokenizer", 50))
        names = [self._settings.model, str(entry.get("root") or ""), self._model_id]
        tokenizer, local_canvas = await asyncio.to_thread(_local_tokenizer, names)
        self._tokenizer = tokenizer
        served_canvas = entry.get("canvas_length")
        self._canvas_length = (
            served_canvas if isinstance(served_canvas, int) and served_canvas > 0 else local_canvas
        )
        if hasattr(tokenizer, "hf"):
            self._vocab_size = len(tokenizer.hf)
        progress(Progress(f"Connected to {self._model_id}", 100))
        log.info("remote engine: %s serves %s (canvas %d)", self._base, self._model_id, self._canvas_length)

    async def _served_model(self) -> dict[str, Any]:
        response = await self._send("GET", "/models", None)
        try:
            if response.status != 200:
                failure = await _describe_failure(response)
                raise EngineError(f"The server at {self._base} answered GET /models with {failure}.")
            try:
                listing = await response.json()
            except HttpFailure as failure:
                raise EngineError(f"{self._base} is not an OpenAI-compatible server: {failure}") from None
        finally:
            response.close()
        entries = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
            raise EngineError(f"{self._base} is not an OpenAI-compatible server: /models lists no models.")
        return _choose_model(entries, self._settings.model, self._base)

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None, cancel: CancelToken | None = None
    ) -> Response:
        try:
            endpoint = Endpoint.parse(self._base)
        except ValueError as error:
            raise EngineError(f"The engine setting is not a usable URL: {error}.") from None
        try:
            return await request(
                endpoint,
                method,
                path,
                body,
                headers=self._headers,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
                should_stop=(lambda: cancel.cancelled) if cancel is not None else (lambda: False),
            )
        except HttpFailure as failure:
            raise EngineError(f"The remote engine is unreachable: {failure}.") from None

    # --- infill ---
    async def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        if self._state is not EngineState.READY:
            raise EngineError(
                self._error or f"The remote engine is not connected (engine {self._state.value})."
            )
        cancel = cancel or CancelToken()
        if cancel.cancelled:
            raise Cancelled(cancel.reason)
        pinned = pinned_request(request, self._tokenizer, self._canvas_length, self._vocab_size)
        body = completion_body(
            request,
            model=self._model_id,
            canvas=self._canvas_length,
            pinned=pinned,
            extensions=self._extensions,
        )
        response = await self._send("POST", "/completions", body, cancel)
        try:
            if response.status != 200:
                raise EngineError(
                    f"The server at {self._base} refused the completion: {await _describe_failure(response)}."
                )
            async with contextlib.aclosing(self._drafts(response, request, pinned)) as stream:
                async for draft in stream:
                    yield draft
                    if cancel.cancelled and not draft.final:
                        raise Cancelled(cancel.reason)
        except HttpFailure as failure:
            raise EngineError(f"The remote engine failed: {failure}.") from None
        except Cancelled:
            raise Cancelled(cancel.reason) from None
        finally:
            # Closing is the cancellation too: vLLM (and dglsp's server) abort a request whose
            # client went away.
            response.close()

    async def _drafts(
        self, response: Response, request: InfillRequest, pinned: PinnedCanvas | None
    ) -> AsyncIterator[Draft]:
        """Drafts from the event stream: the text so far per content chunk, per-step drafts
        from dglsp's extension, and a final draft at finish_reason (or [DONE])."""
        text, chunks = "", 0
        async for data in data_events(response.lines()):
            if data.strip() == "[DONE]":
                break
            choice, extension = self._choice(data)
            if choice is None:
                continue  # a usage-only chunk
            text += choice.get("text") or ""
            finished = choice.get("finish_reason") is not None
            if isinstance(extension, dict) and not extension.get("final") and not finished:
                step, total = int(extension.get("step", 0)), int(extension.get("total_steps", request.steps))
                yield Draft(step, total, _clean(str(extension.get("text", "")), pinned), False)
                continue
            if not choice.get("text") and not finished:
                continue
            chunks += 1
            step, total = chunks, request.steps
            if isinstance(extension, dict):
                step, total = int(extension.get("step", step)), int(extension.get("total_steps", total))
            yield Draft(step, total, _clean(text, pinned), finished)
            if finished:
                return
        else:
            raise EngineError(f"The server at {self._base} closed the completion stream before its end.")
        yield Draft(max(chunks, 1), request.steps, _clean(text, pinned), True)

    def _choice(self, data: str) -> tuple[dict[str, Any] | None, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise EngineError(
                f"The server at {self._base} streamed something that is not JSON: {data[:200]!r}"
            ) from None
        if isinstance(chunk, dict) and "error" in chunk:  # vLLM reports failures inside the stream
            raise EngineError(f"The server at {self._base} failed the completion: {_error_message(chunk)}")
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not choices:
            return None, None
        choice = choices[0]
        return choice, choice.get(wire.DRAFT_FIELD)

    async def close(self) -> None:
        self._state = EngineState.STOPPED


def _clean(text: str, pinned: PinnedCanvas | None) -> str:
    """The middle: cut at a stray end token; without the pinned suffix when the server returned it."""
    text = wire.cut_middle(text)
    if pinned is not None and pinned.suffix_text:
        if text.endswith(pinned.suffix_text):
            return text[: -len(pinned.suffix_text)]
        stripped = pinned.suffix_text.strip()
        if stripped and text.rstrip().endswith(stripped):
            return text.rstrip()[: -len(stripped)]
    return text


def _choose_model(entries: list[dict[str, Any]], wanted: str, base: str) -> dict[str, Any]:
    """The served model named by the `model` setting, else the first DiffusionGemma."""
    for entry in entries:
        if wanted and wanted in (entry.get("id"), entry.get("root")):
            return entry  # named explicitly: trusted even under an unusual name
    for entry in entries:
        if wire.is_diffusion_gemma(entry):
            return entry
    served = ", ".join(str(entry["id"]) for entry in entries) or "no model"
    raise EngineError(
        f"The server at {base} serves {served}, which is not a DiffusionGemma model; dglsp infills "
        "with DiffusionGemma only. Point the `engine` setting at a server running "
        "google/diffusiongemma-26B-A4B-it, or set `model` to the served name if it is a "
        "DiffusionGemma under another name."
    )


def _local_tokenizer(names: list[str]) -> tuple[Tokenizer, int]:
    """The served model's tokenizer and canvas length from a local copy, else estimates."""
    from dglsp.model.loading import resolve_model
    from dglsp.model.tokenizer import load_tokenizer
    from dglsp.prompt import EstimatedTokenizer

    for name in dict.fromkeys(n for n in names if n):
        try:
            path = resolve_model(name)
            return load_tokenizer(path), _configured_canvas(path)
        except Exception as error:  # no usable local copy: the remote engine works without one
            log.info("remote engine: no local tokenizer from %s (%s)", name, error)
    log.info("remote engine: prompts are built with estimated token counts")
    return EstimatedTokenizer(), wire.DEFAULT_CANVAS_LENGTH


def _configured_canvas(path: Path) -> int:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return int(config.get("canvas_length") or wire.DEFAULT_CANVAS_LENGTH)
    except (OSError, ValueError, TypeError):
        return wire.DEFAULT_CANVAS_LENGTH


async def _describe_failure(response: Response) -> str:
    """'HTTP 400 (Bad Request): <the server's message>'."""
    try:
        body = await response.read()
    except (HttpFailure, Cancelled):
        body = b""
    try:
        message = _error_message(json.loads(body))
    except ValueError:
        message = body.decode("utf-8", errors="replace").strip()[:500]
    status = f"HTTP {response.status}" + (f" ({response.reason})" if response.reason else "")
    hint = f"; set {API_KEY_ENV} to the server's API key" if response.status == 401 else ""
    return f"{status}: {message or 'no message'}{hint}"


def _error_message(payload: Any) -> str:
    """The message of vLLM's/OpenAI's {"error": {"message": ...}} (or FastAPI's {"detail": ...})."""
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)
        return str(error or payload.get("detail") or payload)
    return str(payload)
