"""The autoregressive baseline as a dglsp Engine: greedy left-to-right decoding.

Behind the Engine interface, the baseline gets its prompt from the same Pipeline as the
diffusion model (same carving, template and budget; the template is FIM, since its tokenizer
has the FIM tokens) and its answer goes through the same post-processing. It writes one token
at a time with a KV cache, greedily, until an end-of-middle token (EOS, pad, a FIM token) or
the request's canvas length in tokens: the diffusion model's budget for the same case.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import torch

from dglsp.engine.base import CancelToken, Draft, EngineState, InfillRequest, ProgressCallback


class CausalEngine:
    def __init__(self, model: str | Path, device: str = "cpu") -> None:
        self._path = Path(model)
        self._device_setting = device
        self._state = EngineState.STOPPED
        self._error: str | None = None
        self._model = None
        self._tokenizer = None
        self._canvas = 0

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def model_name(self) -> str:
        return self._path.name

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def canvas_length(self) -> int:
        return self._canvas

    async def start(self, progress: ProgressCallback | None = None) -> None:
        if self._state is not EngineState.STOPPED:
            return
        from dglsp.model.loading import choose_device
        from dglsp.model.tokenizer import load_tokenizer
        from dglsp.training.causal_model import canvas_length_of, load_causal_model

        try:
            device = choose_device(self._device_setting)
            self._tokenizer = load_tokenizer(self._path)
            self._model = load_causal_model(self._path, device).eval()
        except Exception as error:  # the bench reports it as this row's failure
            self._state, self._error = EngineState.ERROR, f"cannot load {self._path}: {error}"
            return
        self._canvas = canvas_length_of(self._model) or 64
        self._state = EngineState.READY

    async def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        limit = max(1, min(request.canvas_length or self._canvas, self._canvas))
        ids = greedy_middle(
            self._model,
            self._tokenizer.encode(request.prompt),
            limit,
            self._tokenizer.end_of_middle_ids,
        )
        text = self._tokenizer.decode_middle(ids)
        yield Draft(max(1, len(ids)), limit, text, final=True, token_ids=tuple(ids))

    async def close(self) -> None:
        self._model = None
        self._state = EngineState.STOPPED


@torch.no_grad()
def greedy_middle(model, prompt_ids: list[int], limit: int, end_ids: frozenset[int]) -> list[int]:
    """Up to `limit` greedy tokens after the prompt, stopping before the first end token."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
    out: list[int] = []
    for _ in range(limit):
        logits = model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1).logits
        token = int(logits[0, -1].argmax())
        if token in end_ids:
            break
        out.append(token)
        input_ids = torch.tensor([[token]], dtype=torch.long, device=model.device)
    return out
