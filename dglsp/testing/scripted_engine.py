"""An Engine without a model: scripted loading, scripted drafts, and a record of every request.

The test double for everything above the engine (the pipeline, the language server, editor
tests). It implements `dglsp.engine.base.Engine` exactly as a model engine does: it loads
(optionally slowly, with progress, or failing with a message), streams one draft per step,
checks the CancelToken between steps and raises Cancelled, and raises EngineError when told.

Script (JSON object; every key optional):

    {
      "model_name": "scripted",     # default: the model named in the settings
      "canvas_length": 32,
      "load_delay_ms": 0,           # how long start() takes
      "load_progress": ["Reading weights", "Warming up"],   # reported evenly during the load
      "load_error": null,           # a message: start() ends in state ERROR with it
      "steps": 4,                   # drafts per request (capped by the request's steps)
      "step_delay_ms": 0,           # sleep per step (the engine checks cancellation after each)
      "rules": [                    # first rule whose "when" occurs in the prompt wins
        {"when": "def add(", "middle": "return a + b"},
        {"when": "slow_", "middle": "x", "steps": 50, "step_delay_ms": 40},
        {"when": "BROKEN", "error": "The engine failed: scripted"}
      ],
      "default_middle": ""          # when no rule matches ("" = nothing to suggest)
    }

Step k of n reveals the first ceil(k * len(middle) / n) characters of the middle; the last
draft has final=True.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dglsp.engine.base import (
    Cancelled,
    CancelToken,
    Draft,
    EngineError,
    EngineState,
    InfillRequest,
    Progress,
    ProgressCallback,
)


@dataclass(frozen=True)
class Rule:
    when: str = ""  # a substring of the prompt; "" matches every prompt
    middle: str = ""
    error: str | None = None  # raise EngineError(error) instead of answering
    steps: int | None = None  # override the script's steps / step_delay_ms for this rule
    step_delay_ms: int | None = None


@dataclass(frozen=True)
class Script:
    model_name: str | None = None
    canvas_length: int = 32
    load_delay_ms: int = 0
    load_progress: tuple[str, ...] = ()
    load_error: str | None = None
    steps: int = 4
    step_delay_ms: int = 0
    rules: tuple[Rule, ...] = ()
    default_middle: str = ""
    max_batch: int = 1  # requests the daemon may run at once on this engine

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Script:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown script keys: {', '.join(unknown)}")
        values = dict(raw)
        values["rules"] = tuple(Rule(**rule) for rule in raw.get("rules", ()))
        values["load_progress"] = tuple(raw.get("load_progress", ()))
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> Script:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def middle_for(self, prompt: str) -> Rule:
        for rule in self.rules:
            if rule.when in prompt:
                return rule
        return Rule(middle=self.default_middle)


@dataclass
class RequestRecord:
    """What the engine saw of one infill and how it ended."""

    prompt: str
    canvas_length: int
    steps: int
    entropy_bound: float
    seed: int
    started_at: float  # time.time(), comparable across processes on one machine
    steps_run: int = 0
    outcome: str = "running"  # running | done | cancelled | error | abandoned
    cancel_reason: str = ""
    ended_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ApproxTokenizer:
    """Counts about four characters per token; knows no special tokens."""

    def count(self, text: str) -> int:
        return math.ceil(len(text) / 4)

    def has_token(self, token: str) -> bool:
        return False


@dataclass
class ScriptedEngine:
    script: Script = field(default_factory=Script)
    model: str = "scripted"  # the settings' model, used when the script names none
    requests: list[RequestRecord] = field(default_factory=list)
    closed: bool = False
    _state: EngineState = EngineState.STOPPED
    _error: str | None = None
    _tokenizer: ApproxTokenizer = field(default_factory=ApproxTokenizer)
    _loading: asyncio.Task[None] | None = None

    # --- Engine protocol ---
    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def model_name(self) -> str:
        return self.script.model_name or self.model

    @property
    def tokenizer(self) -> ApproxTokenizer | None:
        return self._tokenizer if self._state is EngineState.READY else None

    @property
    def canvas_length(self) -> int:
        return self.script.canvas_length

    @property
    def max_batch(self) -> int:
        return self.script.max_batch

    async def start(self, progress: ProgressCallback | None = None) -> None:
        # A second start() while loading (the pipeline does this) waits for the same load.
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load(progress))
        await asyncio.shield(self._loading)

    async def _load(self, progress: ProgressCallback | None) -> None:
        self._state = EngineState.LOADING
        messages = self.script.load_progress or ("Loading",)
        pause = self.script.load_delay_ms / 1000 / len(messages)
        for index, message in enumerate(messages):
            if progress is not None:
                progress(Progress(message, round(100 * index / len(messages))))
            await asyncio.sleep(pause)
        if self.script.load_error:
            self._state, self._error = EngineState.ERROR, self.script.load_error
        else:
            self._state = EngineState.READY

    async def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        if self._state is not EngineState.READY:
            raise EngineError(self._error or f"The model is not loaded (engine {self._state.value}).")
        record = RequestRecord(
            request.prompt,
            request.canvas_length,
            request.steps,
            request.entropy_bound,
            request.seed,
            started_at=time.time(),
        )
        self.requests.append(record)
        rule = self.script.middle_for(request.prompt)
        total = max(1, min(rule.steps or self.script.steps, request.steps))
        delay = (self.script.step_delay_ms if rule.step_delay_ms is None else rule.step_delay_ms) / 1000
        try:
            if rule.error is not None:
                record.outcome = "error"
                raise EngineError(rule.error)
            for step in range(1, total + 1):
                await asyncio.sleep(delay)
                if cancel is not None and cancel.cancelled:
                    record.outcome, record.cancel_reason = "cancelled", cancel.reason
                    raise Cancelled(cancel.reason)
                record.steps_run = step
                shown = rule.middle[: math.ceil(step * len(rule.middle) / total)]
                final = step == total
                if final:
                    record.outcome = "done"
                yield Draft(step, total, shown, final=final)
        finally:
            if record.outcome == "running":  # the consumer stopped iterating early
                record.outcome = "abandoned"
            record.ended_at = time.time()

    async def close(self) -> None:
        self.closed = True
        self._state = EngineState.STOPPED

    def to_json(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "state": self._state.value,
            "closed": self.closed,
            "requests": [record.to_json() for record in self.requests],
        }
