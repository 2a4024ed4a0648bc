"""The physical floor: the bytes of weights a step must read over the bandwidth measured now.

A denoising step runs the decoder over every canvas cell, so it reads every dense weight,
the embedding twice (the self-conditioning soft embedding, then the tied output head) and
each expert that at least one cell is routed to. With cells routed uniformly at random,
an expert is hit with probability 1 - (1 - k/E)^cells: a 256-cell canvas hits all 128
experts, a 16-cell one about 64% of them. One autoregressive token reads the dense weights,
exactly k of E experts and the output head.

Bandwidth is (bytes read + bytes written) / time of a large device-to-device tensor copy;
on a CPU that is main-memory bandwidth as torch's copy reaches it, and says so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CUDA_COPY_BYTES = 1024**3  # 1 GiB each way: far beyond any cache
CPU_COPY_BYTES = 256 * 1024**2  # enough to leave the caches, small enough for a shared host


def expert_hit_fraction(tokens: int, top_k: int, num_experts: int) -> float:
    """Expected share of experts at least one of `tokens` tokens is routed to (uniform routing)."""
    if num_experts <= 0:
        return 0.0
    return 1.0 - (1.0 - top_k / num_experts) ** max(0, tokens)


def _split_bytes(module) -> tuple[int, int, int]:
    """(expert bytes, embedding bytes, other bytes) of a module's distinct parameters."""
    seen: set[int] = set()
    experts = embedding = other = 0
    for name, parameter in module.named_parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        size = parameter.numel() * parameter.element_size()
        if ".experts." in f".{name}":
            experts += size
        elif name.endswith("embed_tokens.weight"):
            embedding += size
        else:
            other += size
    return experts, embedding, other


def step_weight_bytes(model, rows: int, width: int) -> dict[str, Any]:
    """Bytes of weights one denoising step reads for a canvas of rows x width cells."""
    text = model.config.text_config
    decoder = model.model.decoder
    experts, embedding, other = _split_bytes(decoder)
    tied = model.lm_head.weight is decoder.embed_tokens.weight
    head = 0 if tied else model.lm_head.weight.numel() * model.lm_head.weight.element_size()
    hit = expert_hit_fraction(rows * width, text.top_k_experts, text.num_experts)
    total = other + 2 * embedding + head + experts * hit
    return {
        "bytes": int(total),
        "expert_hit_fraction": round(hit, 4),
        "dense_bytes": other,
        "embedding_bytes": embedding,
        "expert_bytes": experts,
    }


def token_weight_bytes(causal_model) -> int:
    """Bytes of weights one autoregressive token reads (dense + top-k experts + output head)."""
    text = causal_model.config
    experts, embedding, other = _split_bytes(causal_model.model)
    tied = causal_model.lm_head.weight is causal_model.model.embed_tokens.weight
    head = (
        embedding
        if tied
        else causal_model.lm_head.weight.numel() * causal_model.lm_head.weight.element_size()
    )
    return int(other + head + experts * text.top_k_experts / text.num_experts)


def copy_bandwidth(device: torch.device, repeats: int = 5) -> dict[str, Any]:
    """Bytes per second moved by a large on-device tensor copy, best of `repeats`."""
    import torch

    cuda = device.type == "cuda"
    size = CUDA_COPY_BYTES if cuda else CPU_COPY_BYTES
    source = torch.empty(size, dtype=torch.uint8, device=device).fill_(1)
    target = torch.empty_like(source)
    target.copy_(source)  # warm up (page faults, allocator)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        target.copy_(source)
        _sync(device)
        best = min(best, time.perf_counter() - started)
    del source, target
    if cuda:
        torch.cuda.empty_cache()
    return {
        "bytes_per_s": 2 * size / best,
        "kind": "CUDA device-to-device copy" if cuda else "CPU memory copy (torch, host RAM)",
        "buffer_bytes": size,
        "repeats": repeats,
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
