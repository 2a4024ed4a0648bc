"""The engine a bench drives: the server's InProcessEngine, loaded one of three ways.

- `--model DIR` (or an id in the local cache): the real loading path, unchanged.
- `--config tiny`: the tiny test model written to a temporary directory, then the real path.
- `--config small|full --random-weights`: `PrebuiltEngine`, an InProcessEngine whose load
  step builds random weights directly on the device (52 GB of files could neither be written
  nor read here). Everything after loading (the worker thread, the prompt KV cache, the
  denoising loop, drafts, cancellation) is InProcessEngine's own code.

The bench also needs two things InProcessEngine keeps private: the model (for the weight
bytes a step reads and the stopping comparison) and the prompt cache (cleared for cold
prefill). Both are reached here only, through `model_of` and `clear_prompt_cache`.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dglsp.engine.base import EngineError, EngineState
from dglsp.engine.inprocess import InProcessEngine, default_max_batch


class PrebuiltEngine(InProcessEngine):
    """InProcessEngine with a model built in memory instead of loaded from files."""

    def __init__(
        self,
        name: str,
        device: str,
        build: Callable[[], tuple[Any, Any]],
        experts: str = "auto",
        dtype: str = "auto",
    ) -> None:
        """`build`: the model in its working dtype and the tokenizer; `dtype` fp8 then converts
        the model's layers to FP8 on its device, as the loading path does."""
        super().__init__(name, device, experts=experts, dtype=dtype)
        self._build = build

    def _load(self, report) -> None:
        from dglsp.model.loading import set_experts
        from dglsp.model.prompt_cache import PromptCache

        report(f"Building {self._model_setting} with random weights", 0)
        model, tokenizer = self._build()
        if self._dtype_setting == "fp8":
            from dglsp.model.fp8 import convert_to_fp8

            convert_to_fp8(model, model.device)
        set_experts(model, self._experts_setting)
        self._tokenizer, self._model = tokenizer, model
        self.max_batch = self._max_batch_setting or default_max_batch(model.device)
        self._prompt_cache = PromptCache(model)
        report("Model ready", 100)


def model_of(engine: InProcessEngine):
    return engine._model


def clear_prompt_cache(engine: InProcessEngine) -> None:
    cache = engine._prompt_cache
    if cache is not None:
        cache.clear()


@dataclass(frozen=True)
class EngineChoice:
    model: str | None  # a directory or cached id: the real loading path
    config: str | None  # tiny | small | full
    random_weights: bool
    device: str  # auto | cpu | cuda | cuda:N
    experts: str = "auto"  # the MoE layers' implementation (dglsp.model.loading.choose_experts)
    dtype: str = "auto"  # the `dtype` setting (dglsp.model.loading.choose_precision)


def describe(choice: EngineChoice) -> str:
    if choice.model:
        return choice.model
    suffix = " (random weights)" if choice.random_weights or choice.config == "tiny" else ""
    return f"--config {choice.config}{suffix}"


@asynccontextmanager
async def opened_engine(choice: EngineChoice) -> AsyncIterator[InProcessEngine]:
    """A started engine (state READY) for the choice; its temporary files go afterwards."""
    with tempfile.TemporaryDirectory(prefix="dglsp-bench-") as scratch:
        engine = _create(choice, Path(scratch))
        try:
            await engine.start()
            if engine.state is not EngineState.READY:
                raise EngineError(engine.error or "The model could not be loaded.")
            yield engine
        finally:
            await engine.close()  # frees the model and the prompt cache for the baseline


def _create(choice: EngineChoice, scratch: Path) -> InProcessEngine:
    if choice.model:
        return InProcessEngine(choice.model, choice.device, experts=choice.experts, dtype=choice.dtype)
    if choice.config == "tiny":
        from transformers.utils import logging as transformers_logging

        from dglsp.testing.tiny_model import write_tiny_model

        transformers_logging.disable_progress_bar()  # save_pretrained's bar would land in the report
        tiny = write_tiny_model(scratch / "tiny", seed=0)
        return InProcessEngine(str(tiny), choice.device, experts=choice.experts, dtype=choice.dtype)
    if not choice.random_weights:
        raise EngineError(
            f"No weights for --config {choice.config} here: add --random-weights (random weights "
            "built on the device), or point --model at a model directory."
        )
    name = choice.config or "small"

    def build() -> tuple[Any, Any]:
        from dglsp.bench.models import build_random_diffusion, random_weights_tokenizer
        from dglsp.model.loading import choose_device, choose_precision

        device = choose_device(choice.device)
        # auto: what the engine picks for weights of that size (build_random_diffusion's None)
        compute = None if choice.dtype == "auto" else choose_precision(device, 0, choice.dtype).compute
        return build_random_diffusion(name, device, compute), random_weights_tokenizer()

    return PrebuiltEngine(f"{name} (random weights)", choice.device, build, choice.experts, choice.dtype)
