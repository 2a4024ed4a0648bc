"""The autoregressive baseline: greedy decoding with a KV cache on a causal Gemma 4 of the
same geometry (see `dglsp.model.configs.causal_config`), random weights, same prompt.

The loop is written out rather than calling `generate()` so that it produces exactly N
tokens (random weights would stop at any EOS) and so that prefill and per-token times are
measured apart. No host synchronisation happens between tokens, as in a tuned decoder.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Decoded:
    prefill_ms: float
    decode_ms: float  # the N - 1 forward passes after prefill (prefill yields the first token)
    tokens: int


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def greedy(model, prompt_ids: Sequence[int], tokens: int) -> Decoded:
    from transformers import DynamicCache

    device = model.device
    cache = DynamicCache(config=model.config)
    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
    _sync(device)
    started = time.perf_counter()
    logits = model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1).logits
    next_id = logits[:, -1].argmax(dim=-1, keepdim=True)
    _sync(device)
    prefilled = time.perf_counter()
    for _ in range(tokens - 1):
        logits = model(input_ids=next_id, past_key_values=cache, use_cache=True).logits
        next_id = logits[:, -1].argmax(dim=-1, keepdim=True)
    _sync(device)
    done = time.perf_counter()
    return Decoded((prefilled - started) * 1000, (done - prefilled) * 1000, tokens)
