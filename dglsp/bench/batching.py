"""`bench engine`'s batching section: N windows asking at once, one at a time vs batched.

N concurrent requests (different holes and seeds, cold prompts) run twice: with the engine's
`max_batch` at 1 (each waits for the one before: the old single lane) and at N (they share
every denoising pass). Both give the same texts (same seeds), so the same steps: what
differs is only how the passes are shared. Figures per N: wall time until all N answered,
each request's own latency, and the speed-up of the wall time. This is what tells whether
batching pays on a device (measured, not assumed: `default_max_batch`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dglsp.bench.engines import clear_prompt_cache
from dglsp.bench.stats import summary
from dglsp.engine.base import InfillRequest

DEFAULT_SIZES = (1, 2, 4)
CANVAS = 32  # a line or two: the common completion


async def measure(
    engine, prompts: list[str], canvas: int, steps: int, repeat: int, sizes=DEFAULT_SIZES
) -> list[dict[str, Any]]:
    configured = engine.max_batch
    rows = []
    try:
        for size in sizes:
            requests = [
                InfillRequest(prompts[i % len(prompts)], canvas_length=canvas, steps=steps, seed=i)
                for i in range(size)
            ]
            modes: dict[str, dict[str, list[float]]] = {}
            texts: dict[str, list[str]] = {}
            for mode, max_batch in (("one_at_a_time", 1), ("batched", size)):
                engine.max_batch = max_batch
                await _together(engine, requests)  # warm-up, not recorded
                walls, latencies = [], []
                for _ in range(max(1, repeat)):
                    wall, each, texts[mode] = await _together(engine, requests)
                    walls.append(wall)
                    latencies += each
                modes[mode] = {"wall": walls, "latency": latencies}
            one, batched = modes["one_at_a_time"], modes["batched"]
            speedup = summary(one["wall"])["p50"] / max(summary(batched["wall"])["p50"], 1e-9)
            rows.append(
                {
                    "requests": size,
                    "canvas_length": canvas,
                    "one_at_a_time": {"wall_ms": summary(one["wall"]), "latency_ms": summary(one["latency"])},
                    "batched": {
                        "wall_ms": summary(batched["wall"]),
                        "latency_ms": summary(batched["latency"]),
                    },
                    "speedup": round(speedup, 3),
                    "same_texts": texts["one_at_a_time"] == texts["batched"],
                }
            )
    finally:
        engine.max_batch = configured
    return rows


async def _together(engine, requests: list[InfillRequest]) -> tuple[float, list[float], list[str]]:
    """Send every request at once; (wall ms, each request's latency ms, final texts)."""
    clear_prompt_cache(engine)  # every window's request is new to the engine
    started = time.perf_counter()

    async def one(request: InfillRequest) -> tuple[float, str]:
        text = ""
        async for draft in engine.infill(request):
            text = draft.text
        return (time.perf_counter() - started) * 1000, text

    results = await asyncio.gather(*(one(request) for request in requests))
    wall = (time.perf_counter() - started) * 1000
    return wall, [latency for latency, _ in results], [text for _, text in results]


def render(rows: list[dict[str, Any]]) -> str:
    from dglsp.bench.report import p50_p95, table

    return "\n".join(
        [
            "Batching: N requests at once (different holes and seeds), one at a time vs sharing every "
            "denoising pass; wall = until all N answered",
            table(
                [
                    "requests",
                    "canvas",
                    "wall, one at a time",
                    "wall, batched",
                    "speed-up",
                    "latency, one at a time",
                    "latency, batched",
                    "same texts",
                ],
                [
                    [
                        row["requests"],
                        row["canvas_length"],
                        p50_p95(row["one_at_a_time"]["wall_ms"]),
                        p50_p95(row["batched"]["wall_ms"]),
                        f"{row['speedup']:.2f}x",
                        p50_p95(row["one_at_a_time"]["latency_ms"]),
                        p50_p95(row["batched"]["latency_ms"]),
                        row["same_texts"],
                    ]
                    for row in rows
                ],
            ),
        ]
    )
