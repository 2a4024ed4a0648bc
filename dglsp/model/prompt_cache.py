"""Reuse the encoder's KV cache between requests whose prompts start the same way.

Between two keystrokes the prompt changes only near its end (the prompt builder puts the
cursor last), so the encoder needs to run only over the tokens after the shared start.
The cache keeps checkpoints: the encoder state after all but the last `holdback` tokens of
recent prompts. The held-back tail is where typing (and the tokenizer re-merging the
token at the cursor) changes things, so the checkpoint stays valid while the user types.

Checkpoints cost no copy: a DynamicCache layer never writes into its tensors, it rebinds
new ones (torch.cat), so a shallow copy of the layers is a snapshot that later encoding
leaves untouched.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import torch
from transformers import DynamicCache

DEFAULT_CAPACITY = 4  # prompts of several open documents
DEFAULT_HOLDBACK = 32  # tokens at the end of a prompt that typing is likely to change


def snapshot(cache: DynamicCache) -> DynamicCache:
    clone = copy.copy(cache)
    clone.layers = [copy.copy(layer) for layer in cache.layers]
    return clone


@dataclass
class Encoded:
    cache: DynamicCache
    prompt_length: int
    reused_tokens: int  # tokens taken from a checkpoint instead of being encoded


class PromptCache:
    def __init__(self, model, capacity: int = DEFAULT_CAPACITY, holdback: int = DEFAULT_HOLDBACK) -> None:
        self.model = model
        self.capacity = capacity
        self.holdback = holdback
        self._checkpoints: OrderedDict[tuple[int, ...], DynamicCache] = OrderedDict()

    def clear(self) -> None:
        self._checkpoints.clear()

    @torch.no_grad()
    def encode(self, prompt_ids: list[int]) -> Encoded:
        ids = tuple(prompt_ids)
        start, cache = self._best_checkpoint(ids)
        reused = start
        checkpoint_at = len(ids) - self.holdback
        if self.capacity > 0 and checkpoint_at > start:
            self._encode(cache, ids, start, checkpoint_at)
            self._remember(ids[:checkpoint_at], snapshot(cache))
            start = checkpoint_at
        self._encode(cache, ids, start, len(ids))
        return Encoded(cache, len(ids), reused)

    def _best_checkpoint(self, ids: tuple[int, ...]) -> tuple[int, DynamicCache]:
        best: tuple[int, ...] | None = None
        for key in self._checkpoints:
            if len(key) <= len(ids) and ids[: len(key)] == key and (best is None or len(key) > len(best)):
                best = key
        if best is None:
            return 0, DynamicCache(config=self.model.config.get_text_config(decoder=True))
        self._checkpoints.move_to_end(best)
        return len(best), snapshot(self._checkpoints[best])

    def _remember(self, ids: tuple[int, ...], cache: DynamicCache) -> None:
        self._checkpoints[ids] = cache
        self._checkpoints.move_to_end(ids)
        while len(self._checkpoints) > self.capacity:
            self._checkpoints.popitem(last=False)

    def _encode(self, cache: DynamicCache, ids: tuple[int, ...], start: int, end: int) -> None:
        if end <= start:
            return
        device = self.model.device
        input_ids = torch.tensor([ids[start:end]], dtype=torch.long, device=device)
        positions = torch.arange(start, end, dtype=torch.int32, device=device).unsqueeze(0)
        self.model.model.encoder(
            input_ids=input_ids, past_key_values=cache, position_ids=positions, use_cache=True
        )
