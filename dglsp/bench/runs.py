"""One completion through the server's Pipeline, with the figures a bench needs from it.

`complete_once` runs `Pipeline.complete` exactly as the language server does and adds what
the pipeline does not report itself: when each draft arrived (per-step latency) and the
engine's own figures for the request (`InProcessEngine.last_stats`: prompt tokens, tokens
reused from the prompt KV cache, encode time).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass

from dglsp.config import Settings
from dglsp.documents import Document, Snapshot
from dglsp.engine.inprocess import InProcessEngine
from dglsp.languages import language_for_path
from dglsp.pipeline import DraftUpdate, Pipeline


@dataclass(frozen=True)
class Run:
    total_ms: float  # Pipeline.complete, start to answer
    engine_ms: float  # the engine's stream: encode + steps + hand-over to asyncio
    encode_ms: float  # prefill (the part of the prompt not reused from the cache)
    first_draft_ms: float | None  # from the start of Pipeline.complete
    step_ms: tuple[float, ...]  # time between consecutive drafts
    steps: int
    prompt_tokens: int
    reused_tokens: int
    canvas_length: int

    @property
    def denoise_ms(self) -> float:
        return max(0.0, self.engine_ms - self.encode_ms)


def snapshot_of(name: str, text: str) -> Snapshot:
    """A snapshot as the server holds it for an open file called `name`."""
    from pathlib import Path

    return Document(f"file:///bench/{name}", language_for_path(Path(name)), 1, text).snapshot()


def with_settings(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, **changes)


async def complete_once(engine: InProcessEngine, settings: Settings, snapshot: Snapshot, cursor: int) -> Run:
    pipeline = Pipeline(engine, settings)
    canvas = pipeline.context(snapshot, cursor).prompt.canvas_length
    arrivals: list[float] = []

    def on_draft(draft: DraftUpdate) -> None:
        if not draft.final:
            arrivals.append(time.perf_counter())

    completion = await pipeline.complete(snapshot, cursor, on_draft=on_draft)
    stats = engine.last_stats
    return Run(
        total_ms=completion.elapsed_ms,
        engine_ms=completion.timings.get("engine", 0.0),
        encode_ms=float(stats.get("encode_ms", 0.0)),
        first_draft_ms=completion.timings.get("first_draft"),
        step_ms=tuple((b - a) * 1000 for a, b in itertools.pairwise(arrivals)),
        steps=completion.steps,
        prompt_tokens=int(stats.get("prompt_tokens", 0)),
        reused_tokens=int(stats.get("reused_tokens", 0)),
        canvas_length=canvas,
    )
