"""Model geometries for `dglsp bench engine --config`, built with random weights on the device.

- `tiny`: dglsp.testing.tiny_model's config, written to a temporary directory and loaded
  through the real loading path (the engine bench does that, not this module).
- `small`: the bundled model's size (dglsp.training.presets "small", ~10.7M parameters).
- `full`: the released DiffusionGemma's text config (facts/diffusiongemma.md): 30 layers,
  hidden 2816, 128 experts x 704 (top 8), vocab 262,144, canvas 256; about 50.5 GB in bf16.

Random weights never touch the host: the model is built on the meta device, each distinct
tensor is then allocated once on the target device (tied encoder/decoder weights stay one
tensor, so the full config needs 50.5 GB, not twice that) and transformers' own
initialisation fills them. The vision tower the config class requires is shrunk to a few
hundred parameters: code completion never runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dglsp.engine.base import ModelUnavailable
from dglsp.model.configs import SMALL_VISION_CONFIG, causal_config

if TYPE_CHECKING:
    import torch

CONFIGS = ("tiny", "small", "full")
# Activations, KV caches and the allocator's slack on top of the weights.
MEMORY_HEADROOM = 1.2

# The released checkpoint's text config (google/diffusiongemma-26B-A4B-it).
FULL_TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": 262_144,
    "hidden_size": 2816,
    "intermediate_size": 2112,
    "num_hidden_layers": 30,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "num_global_key_value_heads": 2,
    "head_dim": 256,
    "global_head_dim": 512,
    "num_experts": 128,
    "top_k_experts": 8,
    "moe_intermediate_size": 704,
    "sliding_window": 1024,
    "max_position_embeddings": 262_144,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "bos_token_id": 2,
}
FULL_CANVAS_LENGTH = 256


def diffusion_config(name: str):
    """The DiffusionGemmaConfig of a named geometry ('small' or 'full')."""
    if name == "small":
        from dglsp.training.presets import PRESETS, model_config

        preset = PRESETS["small"]
        return model_config(preset, preset.vocab_size, preset.canvas_length)
    if name == "full":
        from transformers import DiffusionGemmaConfig

        return DiffusionGemmaConfig(
            text_config=dict(FULL_TEXT_CONFIG),
            vision_config=dict(SMALL_VISION_CONFIG),
            canvas_length=FULL_CANVAS_LENGTH,
        )
    raise ValueError(f"no in-memory geometry named {name!r} (expected small or full)")


def on_meta(model_class, config, dtype: torch.dtype):
    """The model with every tensor on the meta device: shapes without memory."""
    import torch

    with torch.device("meta"):
        return model_class._from_config(config, dtype=dtype)


def unique_bytes(model) -> int:
    """Bytes of the model's distinct parameters (tied tensors counted once)."""
    seen: dict[int, int] = {}
    for parameter in model.parameters():
        seen.setdefault(id(parameter), parameter.numel() * parameter.element_size())
    return sum(seen.values())


@dataclass(frozen=True)
class MemoryNeed:
    needed_bytes: int
    free_bytes: int | None  # None: unknown

    @property
    def fits(self) -> bool:
        return self.free_bytes is None or self.needed_bytes <= self.free_bytes


def memory_need(weight_bytes: int, device: torch.device) -> MemoryNeed:
    import torch

    from dglsp.model.loading import available_ram_bytes

    needed = int(weight_bytes * MEMORY_HEADROOM)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return MemoryNeed(needed, free)
    return MemoryNeed(needed, available_ram_bytes())


def check_memory(what: str, weight_bytes: int, device: torch.device) -> None:
    """Refuse, with the numbers and what to do, when the weights cannot fit on the device."""
    from dglsp.model.loading import human_bytes

    need = memory_need(weight_bytes, device)
    if need.fits:
        return
    where = "GPU memory is free" if device.type == "cuda" else "RAM is available"
    hint = (
        "Run it on a GPU with enough free memory (`--device cuda`), or use `--config small`."
        if device.type == "cpu"
        else "Free GPU memory or use a larger GPU."
    )
    raise ModelUnavailable(
        f"{what} needs about {human_bytes(need.needed_bytes)} ({human_bytes(weight_bytes)} of weights "
        f"plus {MEMORY_HEADROOM - 1:.0%} headroom) but only {human_bytes(need.free_bytes or 0)} of "
        f"{where} on {device}. {hint}"
    )


def materialize_random(model, device: torch.device):
    """Give each distinct meta tensor real memory on `device`, then initialise them all with
    transformers' own `_init_weights` (random normal weights, ones for norms, RoPE tables)."""
    import torch

    replaced: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for name, parameter in list(module._parameters.items()):
            if parameter is None:
                continue
            if id(parameter) not in replaced:
                replaced[id(parameter)] = torch.nn.Parameter(
                    torch.empty_like(parameter, device=device), requires_grad=False
                )
            module._parameters[name] = replaced[id(parameter)]
        for name, buffer in list(module._buffers.items()):
            if buffer is None:
                continue
            if id(buffer) not in replaced:
                replaced[id(buffer)] = torch.empty_like(buffer, device=device)
            module._buffers[name] = replaced[id(buffer)]
        module._is_hf_initialized = False  # built on meta: nothing was initialised yet
    model.initialize_weights()
    # transformers 5.23's _init_weights sets the decoder layers' `layer_scalar` to ones but not
    # the encoder's (DiffusionGemmaEncoderTextLayer): the constructor's ones are lost on meta,
    # and uninitialised memory there made random-weight runs NaN now and then.
    for module in model.modules():
        scalar = module._buffers.get("layer_scalar")
        if scalar is not None:
            torch.nn.init.ones_(scalar)
    return model.eval()


def build_random(model_class, config, device: torch.device, dtype: torch.dtype, what: str):
    """A model of `config` with random `dtype` weights on `device`, after a memory check."""
    meta = on_meta(model_class, config, dtype)
    check_memory(what, unique_bytes(meta), device)
    return materialize_random(meta, device)


def build_random_diffusion(name: str, device: torch.device, dtype: torch.dtype | None = None):
    """DiffusionGemmaForBlockDiffusion of geometry `name` with random weights on `device`.
    `dtype` None: what the engine would pick for weights of that size there."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    from dglsp.model.loading import choose_dtype

    config = diffusion_config(name)
    if dtype is None:
        estimate = unique_bytes(on_meta(DiffusionGemmaForBlockDiffusion, config, torch.bfloat16))
        dtype = choose_dtype(device, estimate)
    return build_random(
        DiffusionGemmaForBlockDiffusion, config, device, dtype, f"The {name} DiffusionGemma config"
    )


def build_random_causal(text_config, device: torch.device, dtype: torch.dtype):
    """The autoregressive baseline (Gemma4ForCausalLM, see `causal_config`), random weights."""
    from transformers import Gemma4ForCausalLM

    return build_random(
        Gemma4ForCausalLM, causal_config(text_config), device, dtype, "The autoregressive baseline"
    )


def random_weights_tokenizer():
    """The tiny model's tokenizer (FIM tokens, ids 0/1/2 = pad/eos/bos) for random-weight
    models: prompts only need valid ids below the model's vocabulary size."""
    from dglsp.model.tokenizer import ModelTokenizer
    from dglsp.testing.tiny_model import build_tokenizer

    return ModelTokenizer(build_tokenizer(), eos_ids=[1])
