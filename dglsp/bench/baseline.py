"""The two references the engine bench sets our latency against (issue 9's one table):

- the floor: the bytes of weights a step reads over the copy bandwidth measured in the same
  run (see dglsp.bench.floor);
- the autoregressive baseline: a causal Gemma 4 of the same geometry, random weights, greedy
  decoding with a KV cache, from the same prompt ids, producing the same numbers of tokens.

The baseline model is built only after the diffusion model is gone, so a GPU that holds one
full-size model can run both.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from dglsp.bench import floor as floor_math
from dglsp.bench.stats import summary


@dataclass(frozen=True)
class Kept:
    """What the baseline needs from the diffusion phase (never the model itself)."""

    text_config: Any
    dtype: Any
    device: Any
    prompt_ids: list[int]
    middles: list[dict[str, Any]]


def weight_bytes(model) -> int:
    from dglsp.bench.models import unique_bytes

    return unique_bytes(model)


def geometry(text_config) -> dict[str, Any]:
    from dglsp.model.configs import layer_shapes

    keys = (
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_experts",
        "top_k_experts",
        "moe_intermediate_size",
        "sliding_window",
    )
    sliding, full = layer_shapes(text_config)
    return {
        **{key: getattr(text_config, key, None) for key in keys},
        "kv_heads_sliding": sliding.num_key_value_heads,
        "kv_heads_full": full.num_key_value_heads,
        "head_dim_sliding": sliding.head_dim,
        "head_dim_full": full.head_dim,
    }


def floor(model, device, middles: list[int]) -> dict[str, Any]:
    """Bandwidth measured now, and the bytes one step reads for each middle length."""
    bandwidth = floor_math.copy_bandwidth(device)
    steps = {}
    for tokens in middles:
        read = floor_math.step_weight_bytes(model, rows=1, width=tokens)
        steps[str(tokens)] = {**read, "step_ms": round(read["bytes"] / bandwidth["bytes_per_s"] * 1000, 4)}
    return {
        "bandwidth_bytes_per_s": round(bandwidth["bytes_per_s"]),
        "bandwidth_kind": bandwidth["kind"],
        "buffer_bytes": bandwidth["buffer_bytes"],
        "assumption": "experts hit with uniform routing: 1 - (1 - k/E)^cells; embedding read twice per step",
        "by_middle": steps,
    }


def measure(kept: Kept, repeat: int) -> dict[str, Any]:
    """Greedy decoding on the causal twin for each middle length of the diffusion runs."""
    import torch

    from dglsp.bench.autoregressive import greedy
    from dglsp.bench.models import build_random_causal, unique_bytes
    from dglsp.model.configs import causal_config

    if kept.device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(kept.device)
    model = build_random_causal(kept.text_config, kept.device, kept.dtype)
    try:
        bandwidth = floor_math.copy_bandwidth(kept.device)
        token_bytes = floor_math.token_weight_bytes(model)
        greedy(model, kept.prompt_ids, 2)  # warm-up
        rows = {}
        for row in kept.middles:
            tokens = row["tokens"]
            runs = [greedy(model, kept.prompt_ids, tokens) for _ in range(max(1, repeat))]
            rows[str(tokens)] = {
                "prefill_ms": summary(r.prefill_ms for r in runs),
                "decode_ms": summary(r.decode_ms for r in runs),
                "total_ms": summary(r.prefill_ms + r.decode_ms for r in runs),
                "token_ms": summary(r.decode_ms / max(1, tokens - 1) for r in runs),
                "floor_decode_ms": round((tokens - 1) * token_bytes / bandwidth["bytes_per_s"] * 1000, 4),
            }
        memory = (
            torch.cuda.max_memory_allocated(kept.device) if kept.device.type == "cuda" else None
        )  # on a CPU the process peak already covers it
        return {
            "model": "transformers Gemma4ForCausalLM (exact match: Gemma 4 text model with MoE blocks, "
            "attention_k_eq_v, no per-layer embeddings)",
            "config": causal_config(kept.text_config).to_diff_dict(),
            "weight_bytes": unique_bytes(model),
            "token_weight_bytes": token_bytes,
            "bandwidth_bytes_per_s": round(bandwidth["bytes_per_s"]),
            "prompt_tokens": len(kept.prompt_ids),
            "decoding": "greedy argmax, DynamicCache, exactly N tokens (no EOS stop), no host sync per token",
            "by_middle": rows,
            "peak_cuda_bytes": memory,
        }
    finally:
        del model
        gc.collect()
        if kept.device.type == "cuda":
            torch.cuda.empty_cache()


def table(
    middles: list[dict[str, Any]], floor_report: dict[str, Any], ar: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Issue 9's table: ours, floor, AR and the ratios, one row per middle length (p50s)."""
    rows = []
    for row in middles:
        key = str(row["tokens"])
        steps = row["steps"]["p50"]
        step_ms = (row["step_ms"] or {}).get("p50") or row["denoise_ms"]["p50"] / max(1, steps)
        floor_ms = floor_report["by_middle"][key]["step_ms"] * steps
        out = {**row, "floor_denoise_ms": round(floor_ms, 4)}
        ratios = {"ours_over_floor": _ratio(row["denoise_ms"]["p50"], floor_ms)}
        if ar is not None:
            baseline = ar["by_middle"][key]
            out["ar_total_ms"] = baseline["total_ms"]["p50"]
            out["ar_decode_ms"] = baseline["decode_ms"]["p50"]
            ratios["ours_over_ar_total"] = _ratio(row["total_ms"]["p50"], baseline["total_ms"]["p50"])
            ratios["ours_over_ar_decode"] = _ratio(row["denoise_ms"]["p50"], baseline["decode_ms"]["p50"])
            # Steps at which our denoising would cost what AR decoding of these tokens costs.
            ratios["break_even_steps"] = _ratio(baseline["decode_ms"]["p50"], step_ms)
        rows.append({**out, "ratios": ratios})
    return rows


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None
