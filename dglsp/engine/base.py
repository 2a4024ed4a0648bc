"""The Engine interface: something that turns a prompt into a stream of drafts of the middle.

One interface, one class per engine (in-process transformers now; the resident daemon and an
OpenAI-compatible server later). Nothing here knows about LSP: the server, the CLI and the
benchmarks all drive engines through `Engine.infill`.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class EngineError(Exception):
    """A failure the user must see: its message says what happened and what to do."""


class ModelUnavailable(EngineError):
    """The model cannot be loaded here (not found, not enough memory, no CUDA, broken files)."""


class Cancelled(Exception):
    """The request was cancelled between two denoising steps."""


class EngineState(enum.Enum):
    STOPPED = "stopped"
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"


@dataclass(frozen=True)
class InfillRequest:
    """One infill. `prompt` is the rendered prompt text (special tokens written inline)."""

    prompt: str
    canvas_length: int = 0  # 0: the model's own canvas length
    steps: int = 48
    entropy_bound: float = 0.1
    seed: int = 0
    # "prompt": prefix and suffix in the prompt, the canvas is all middle.
    # "pinned": the prompt ends at the cursor; the canvas is the middle followed by
    # `pinned_suffix` held fixed every step, one batch row per length in `middle_lengths`.
    strategy: str = "prompt"
    pinned_suffix: str = ""
    middle_lengths: tuple[int, ...] = ()
    # `prompt` already encoded by the engine's own tokenizer (the pipeline counted it with
    # them): an engine that encodes prompts may use these ids instead. Empty: encode `prompt`.
    prompt_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Draft:
    """The middle as it stands after one denoising step.

    `text` is already cut at the end of the middle (the first end-of-middle token).
    The last draft of a request has final=True and is the request's answer.
    """

    step: int  # 1-based number of the step that produced this draft
    total_steps: int  # the step budget (the loop may stop earlier)
    text: str
    final: bool = False
    token_ids: tuple[int, ...] = field(default=(), compare=False, repr=False)


class CancelToken:
    """Thread-safe flag checked by engines between two denoising steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class Progress:
    """Work-done progress for long work (model loading): `percentage` is None when unknown."""

    message: str
    percentage: int | None = None


ProgressCallback = Callable[[Progress], None]


@runtime_checkable
class Tokenizer(Protocol):
    """What prompt building needs from the model's tokenizer."""

    def count(self, text: str) -> int: ...

    def has_token(self, token: str) -> bool: ...


@runtime_checkable
class Engine(Protocol):
    @property
    def state(self) -> EngineState: ...

    @property
    def error(self) -> str | None:
        """The user-facing message when state is ERROR."""
        ...

    @property
    def model_name(self) -> str: ...

    @property
    def tokenizer(self) -> Tokenizer | None:
        """Available once the engine is READY (or as soon as the tokenizer alone is loaded)."""
        ...

    @property
    def canvas_length(self) -> int:
        """The model's own canvas (block) length."""
        ...

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Load the model. Never raises: failures set state=ERROR and `error`."""
        ...

    def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        """Stream drafts; the last has final=True. Raises Cancelled when cancelled,
        EngineError (with a user-facing message) when the engine cannot serve."""
        ...

    async def close(self) -> None: ...
