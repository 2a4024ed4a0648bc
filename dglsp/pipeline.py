"""carve -> prompt -> engine -> postprocess: the one completion path.

The language server, `dglsp complete`, `dglsp context` and the benchmarks all go through
`Pipeline`, so what the editor gets is what the CLI shows. Nothing here imports LSP types:
positions are str offsets into the snapshot's text.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dglsp.carve import Region, carve
from dglsp.config import Settings
from dglsp.documents import Snapshot, offset_to_position
from dglsp.engine.base import CancelToken, Engine, EngineError, EngineState, InfillRequest
from dglsp.postprocess import detect_style, finalize, for_draft
from dglsp.prompt import EstimatedTokenizer, Prompt, build_prompt, choose_template, plain_template

log = logging.getLogger(__name__)

# The released DiffusionGemma's canvas, used for `dglsp context` when no model config is at hand.
DEFAULT_CANVAS_LENGTH = 256
# How much text after the cursor post-processing compares the middle's tail with.
SUFFIX_LOOKAHEAD_CHARS = 4000


@dataclass(frozen=True)
class Context:
    """What would be sent to the model for one cursor position."""

    snapshot: Snapshot
    region: Region
    prompt: Prompt
    budget: int

    def to_json(self) -> dict:
        text = self.snapshot.text
        return {
            "language": self.region.language,
            "kind": self.region.kind,
            "span": {"start": _human(text, self.region.start), "end": _human(text, self.region.end)},
            "prefix_tokens": self.prompt.prefix_tokens,
            "suffix_tokens": self.prompt.suffix_tokens,
            "canvas_length": self.prompt.canvas_length,
            "context_tokens": self.prompt.context_tokens,
            "prompt_tokens": self.prompt.total_tokens,
            "budget": self.budget,
            "cursor": _human(text, self.region.cursor),
            "template": self.prompt.template,
            "strategy": "pinned" if self.prompt.template == "plain" else "prompt",
            "tokens_estimated": self.prompt.tokens_estimated,
            "prompt": self.prompt.text,
        }


def _human(text: str, offset: int) -> list[int]:
    """[line, column] as editors show them: 1-based, the column in characters."""
    line, column = offset_to_position(text, offset, "utf-32")
    return [line + 1, column + 1]


@dataclass(frozen=True)
class DraftUpdate:
    """One draft ready to show: same meaning as Completion's text/start/end."""

    step: int
    total_steps: int
    text: str
    start: int
    end: int
    final: bool


@dataclass(frozen=True)
class Completion:
    text: str  # the text to put in place of snapshot.text[start:end]; "" = nothing to suggest
    start: int
    end: int
    steps: int
    elapsed_ms: float
    timings: dict[str, float] = field(default_factory=dict)


class Pipeline:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    # --- what would be sent (no model needed) ---
    def context(self, snapshot: Snapshot, cursor: int) -> Context:
        region = carve(snapshot, cursor, self.settings.window_lines)
        tokenizer = self.engine.tokenizer or _offline_tokenizer(self.settings.model)
        pinned = self.settings.strategy == "pinned"
        template = plain_template(tokenizer) if pinned else choose_template(tokenizer, self.settings.template)
        text = snapshot.text
        prompt = build_prompt(
            context=region.header,
            prefix=text[region.start : region.cursor],
            suffix=text[region.cursor : region.end],
            language=region.language,
            tokenizer=tokenizer,
            template=template,
            budget=self.settings.context_budget,
            canvas_policy=self.settings.canvas_policy,
            canvas_length_setting=self.settings.canvas_length,
            model_canvas=self.engine.canvas_length or _configured_canvas(self.settings.model),
            strategy=self.settings.strategy,
        )
        return Context(snapshot, region, prompt, self.settings.context_budget)

    # --- one completion ---
    async def complete(
        self,
        snapshot: Snapshot,
        cursor: int,
        cancel: CancelToken | None = None,
        on_draft: Callable[[DraftUpdate], None] | None = None,
    ) -> Completion:
        started = time.perf_counter()
        await self._ensure_engine()
        timings: dict[str, float] = {}

        mark = time.perf_counter()
        context = self.context(snapshot, cursor)
        timings["context"] = _ms(mark)

        text = snapshot.text
        start = _word_start(text, cursor)
        typed = text[start:cursor]
        style = detect_style(text)
        settings = self.settings
        # The prompt's ids go along when the engine's own tokenizer made them (not an offline
        # stand-in): then the engine does not encode the prompt a second time.
        own_ids = self.engine.tokenizer is not None and context.prompt.ids
        request = InfillRequest(
            prompt=context.prompt.text,
            canvas_length=context.prompt.canvas_length,
            steps=settings.steps,
            entropy_bound=settings.entropy_bound,
            seed=settings.seed,
            strategy=settings.strategy,
            pinned_suffix=context.prompt.pinned_suffix,
            prompt_ids=context.prompt.ids if own_ids else (),
        )

        mark = time.perf_counter()
        first_draft_ms = None
        last = None
        async for draft in self.engine.infill(request, cancel):
            last = draft
            if first_draft_ms is None:
                first_draft_ms = _ms(started)
            if on_draft is not None and not draft.final:
                on_draft(
                    DraftUpdate(
                        draft.step,
                        draft.total_steps,
                        typed + for_draft(draft.text, style),
                        start,
                        cursor,
                        False,
                    )
                )
        timings["engine"] = _ms(mark)
        if first_draft_ms is not None:
            timings["first_draft"] = first_draft_ms
        if last is None:
            raise EngineError("The engine returned no draft.")

        mark = time.perf_counter()
        after = text[cursor : cursor + SUFFIX_LOOKAHEAD_CHARS].replace("\r\n", "\n")
        middle = finalize(last.text, after, style)
        timings["postprocess"] = _ms(mark)
        final_text = typed + middle if middle else ""
        if on_draft is not None:
            on_draft(DraftUpdate(last.step, last.total_steps, final_text, start, cursor, True))
        return Completion(final_text, start, cursor, last.step, _ms(started), timings)

    async def _ensure_engine(self) -> None:
        if self.engine.state in (EngineState.STOPPED, EngineState.LOADING):
            await self.engine.start()
        if self.engine.state is not EngineState.READY:
            raise EngineError(self.engine.error or "The model could not be loaded.")


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def _word_start(text: str, cursor: int) -> int:
    """Start of the identifier the cursor ends (a partly typed word the completion replaces)."""
    start = cursor
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return start


@functools.lru_cache(maxsize=8)
def _offline_tokenizer(model: str):
    """The model's tokenizer from disk without its weights, else an estimate."""
    try:
        from dglsp.model.loading import resolve_model
        from dglsp.model.tokenizer import load_tokenizer

        return load_tokenizer(resolve_model(model))
    except Exception as error:  # no model here: counts are estimates, and say so
        log.info("context: counting tokens by estimate (%s)", error)
        return EstimatedTokenizer()


@functools.lru_cache(maxsize=8)
def _configured_canvas(model: str) -> int:
    try:
        from dglsp.model.loading import resolve_model

        config = json.loads((resolve_model(model) / "config.json").read_text(encoding="utf-8"))
        return int(config.get("canvas_length") or DEFAULT_CANVAS_LENGTH)
    except Exception:
        return DEFAULT_CANVAS_LENGTH
