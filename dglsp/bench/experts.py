"""The engine bench's experts section: the same requests with each MoE implementation.

transformers runs the mixture-of-experts layers one of three ways (`experts_implementation`,
dglsp.model.loading.choose_experts). The section switches the loaded model between them
(same weights), runs the same requests with the same seeds through the engine, and reports
per-step latency and whether each gives the same tokens as eager. The prompt cache is
cleared at each switch, so every implementation encodes the prompts itself.

An implementation that cannot run on the device is skipped with the reason: batched_mm
gathers a copy of the expert weights for every (cell, expert) pair, which at full size does
not fit beside the model.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from dglsp.bench.engines import clear_prompt_cache, model_of
from dglsp.bench.report import human_bytes, p50_p95, table
from dglsp.bench.stats import summary
from dglsp.engine.base import InfillRequest

IMPLEMENTATIONS = ("eager", "batched_mm", "grouped_mm")
# batched_mm's gathered weights may take at most this share of the free memory.
FREE_SHARE = 0.8


def batched_mm_bytes(model, cells: int) -> int:
    """Bytes batched_mm gathers in one MoE layer for `cells` canvas cells: one copy of an
    expert's gate/up and down projections per (cell, chosen expert) pair."""
    config = model.config.get_text_config(decoder=True)
    experts = model.model.decoder.layers[0].experts
    per_expert = (experts.gate_up_proj[0].numel() + experts.down_proj[0].numel()) * experts.down_proj.itemsize
    return cells * config.top_k_experts * per_expert


def free_bytes(device) -> int | None:
    import torch

    from dglsp.model.loading import available_ram_bytes

    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_ram_bytes()


def unavailable(name: str, model, cells: int) -> str | None:
    """Why `name` cannot run here, or None."""
    if name != "batched_mm":
        return None
    needed, free = batched_mm_bytes(model, cells), free_bytes(model.device)
    if free is not None and needed > free * FREE_SHARE:
        return (
            f"its gathered expert weights need about {human_bytes(needed)} per layer for {cells} cells; "
            f"{human_bytes(free)} free on {model.device}"
        )
    return None


async def measure(engine, prompts: list[str], canvas: int, steps: int, repeat: int) -> dict[str, Any]:
    """Each implementation in turn over the same requests; the model ends as it started."""
    import torch

    from dglsp.model.loading import experts_of, grouped_kernel, set_experts

    model = model_of(engine)
    loaded = experts_of(model)
    requests = [
        InfillRequest(prompt, canvas_length=canvas, steps=steps, seed=seed)
        for seed, prompt in enumerate(prompts)
    ]
    rows: list[dict[str, Any]] = []
    reference: list[tuple[int, ...]] | None = None
    try:
        for name in IMPLEMENTATIONS:
            reason = unavailable(name, model, canvas)
            if reason is None:
                set_experts(model, name)
                clear_prompt_cache(engine)
                try:
                    row = await _rows_for(engine, requests, repeat)
                except torch.cuda.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    reason = "ran out of memory"
            if reason is not None:
                rows.append({"experts": name, "skipped": reason})
                continue
            ids = row.pop("ids")
            reference = reference or ids
            rows.append({"experts": name, **row, "same_tokens_as_first": ids == reference})
    finally:
        set_experts(model, loaded)
        clear_prompt_cache(engine)
    return {
        "loaded": loaded,
        "grouped_kernel": grouped_kernel(model.device),
        "canvas_length": canvas,
        "requests": len(requests),
        "reference": next((row["experts"] for row in rows if "skipped" not in row), None),
        "rows": rows,
    }


async def _rows_for(engine, requests: list[InfillRequest], repeat: int) -> dict[str, Any]:
    await _infill(engine, requests[0])  # warm-up, not recorded
    step_ms: list[float] = []
    first_ms: list[float] = []
    total_ms: list[float] = []
    steps: list[int] = []
    ids: list[tuple[int, ...]] = []
    for _ in range(max(1, repeat)):
        for request in requests:
            final, arrivals, started = await _infill(engine, request)
            step_ms += [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
            first_ms.append((arrivals[0] - started) * 1000)
            total_ms.append((arrivals[-1] - started) * 1000)
            steps.append(final.step)
            ids.append(final.token_ids)
    return {
        "step_ms": summary(step_ms) if step_ms else None,
        "first_draft_ms": summary(first_ms),
        "total_ms": summary(total_ms),
        "steps": summary(steps),
        "ids": ids[: len(requests)],
        "same_tokens_every_repeat": all(ids[i] == ids[i % len(requests)] for i in range(len(ids))),
    }


async def _infill(engine, request: InfillRequest):
    """The final draft, when each draft arrived, and when the request started (the first
    draft's time includes the prompt's encoding; per-step times are between drafts)."""
    arrivals: list[float] = []
    final = None
    started = time.perf_counter()
    async for draft in engine.infill(request):
        arrivals.append(time.perf_counter())
        final = draft
    return final, arrivals, started


def render(section: dict[str, Any]) -> str:
    kernel = "torch's grouped kernel" if section["grouped_kernel"] else "transformers' per-expert loop"
    lines = [
        f"Experts implementation: the same {section['requests']} requests (canvas "
        f"{section['canvas_length']}, fixed seeds) with each; the engine loaded {section['loaded']}; "
        f"grouped_mm here runs {kernel}; tokens compared with {section['reference']}",
        table(
            ["experts", "per step", "first draft", "total", "steps", "same tokens", "repeatable"],
            [
                [row["experts"], "skipped: " + row["skipped"], "", "", "", "", ""]
                if "skipped" in row
                else [
                    row["experts"],
                    p50_p95(row["step_ms"]),
                    p50_p95(row["first_draft_ms"]),
                    p50_p95(row["total_ms"]),
                    row["steps"]["p50"],
                    row["same_tokens_as_first"],
                    row["same_tokens_every_repeat"],
                ]
                for row in section["rows"]
            ],
        ),
    ]
    return "\n".join(lines)
