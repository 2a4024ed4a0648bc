"""Model size presets for `dglsp train --config`, and the generation config saved with a model.

Both keep DiffusionGemma's layout: mixture-of-experts layers, five sliding-window layers to one
full-attention layer (as in the released model), shared encoder/decoder weights, tied
embeddings. The vision tower is required by the config class but never used for code: it is
shrunk to a few hundred parameters (the default one adds ~166M, facts/diffusiongemma.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from dglsp.model.configs import SMALL_VISION_CONFIG


@dataclass(frozen=True)
class Preset:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    num_experts: int
    top_k_experts: int
    moe_intermediate_size: int
    canvas_length: int  # default; --canvas-length overrides
    context_budget: int  # prompt tokens per training example (the `contextBudget` setting)
    lr: float
    sliding_window: int = 512


PRESETS: dict[str, Preset] = {
    # Tests and smoke runs: a step in tens of milliseconds on one CPU thread.
    "tiny": Preset(1024, 64, 2, 2, 1, 32, 128, 4, 2, 32, canvas_length=32, context_budget=128, lr=3e-3),
    # The bundled model's size: ~10.7M parameters, 21.5 MB of bfloat16 weights.
    "small": Preset(8192, 256, 6, 4, 2, 64, 512, 4, 2, 256, canvas_length=64, context_budget=256, lr=1e-3),
}


def layer_types(num_layers: int) -> list[str]:
    """Five sliding-window layers to one full-attention layer; the last layer is always full."""
    return [
        "full_attention" if (i + 1) % 6 == 0 or i == num_layers - 1 else "sliding_attention"
        for i in range(num_layers)
    ]


def model_config(preset: Preset, vocab_size: int, canvas_length: int):
    from transformers import DiffusionGemmaConfig

    text = {
        "vocab_size": vocab_size,
        "hidden_size": preset.hidden_size,
        "intermediate_size": preset.intermediate_size,
        "num_hidden_layers": preset.num_layers,
        "layer_types": layer_types(preset.num_layers),
        "num_attention_heads": preset.num_heads,
        "num_key_value_heads": preset.num_kv_heads,
        "head_dim": preset.head_dim,
        "global_head_dim": preset.head_dim,
        "num_experts": preset.num_experts,
        "top_k_experts": preset.top_k_experts,
        "moe_intermediate_size": preset.moe_intermediate_size,
        "sliding_window": preset.sliding_window,
        "max_position_embeddings": 8192,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
    }
    return DiffusionGemmaConfig(
        text_config=text, vision_config=dict(SMALL_VISION_CONFIG), canvas_length=canvas_length
    )
