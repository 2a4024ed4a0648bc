"""Config pieces every DiffusionGemma-architecture model dglsp builds shares (the tiny test
model, trained models, benchmark models), so they cannot drift apart."""

from __future__ import annotations

from typing import Any

# The config class requires a vision tower, but code never uses it: keep it a few
# thousand parameters (the default one adds ~166M).
SMALL_VISION_CONFIG: dict = {
    "model_type": "gemma4_vision",
    "hidden_size": 8,
    "intermediate_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 1,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "patch_size": 4,
    "position_embedding_size": 16,
}

# dglsp's tokenizers put these first (tiny_model, training.tokenizer).
PAD_ID, EOS_ID, BOS_ID = 0, 1, 2


def generation_config(canvas_length: int):
    """The released checkpoint's sampler defaults, with this model's canvas and token ids."""
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
        DiffusionGemmaGenerationConfig,
        EntropyBoundSamplerConfig,
    )

    return DiffusionGemmaGenerationConfig(
        max_new_tokens=canvas_length,
        max_denoising_steps=48,
        sampler_config=EntropyBoundSamplerConfig(entropy_bound=0.1),
        t_min=0.4,
        t_max=0.8,
        stability_threshold=1,
        confidence_threshold=0.005,
        bos_token_id=BOS_ID,
        pad_token_id=PAD_ID,
        eos_token_id=[EOS_ID],
    )


def causal_config(text_config):
    """The autoregressive twin of a DiffusionGemma text config: transformers' Gemma 4 causal
    model (Gemma4ForCausalLM) with the same layers, heads, experts, vocabulary and window.

    DiffusionGemma's global layers have no value projection (K = V), which is Gemma 4's
    `attention_k_eq_v`; per-layer embeddings (a Gemma 4 feature DiffusionGemma lacks) are off.
    """
    from transformers import Gemma4TextConfig

    sliding, full = layer_shapes(text_config)
    return Gemma4TextConfig(
        vocab_size=text_config.vocab_size,
        hidden_size=text_config.hidden_size,
        intermediate_size=text_config.intermediate_size,
        num_hidden_layers=text_config.num_hidden_layers,
        num_attention_heads=text_config.num_attention_heads,
        num_key_value_heads=sliding.num_key_value_heads,
        head_dim=sliding.head_dim,
        global_head_dim=full.head_dim,
        num_global_key_value_heads=full.num_key_value_heads,
        hidden_activation=text_config.hidden_activation,
        max_position_embeddings=text_config.max_position_embeddings,
        rms_norm_eps=text_config.rms_norm_eps,
        rope_parameters=dict(text_config.rope_parameters),
        sliding_window=text_config.sliding_window,
        layer_types=list(text_config.layer_types),
        final_logit_softcapping=text_config.final_logit_softcapping,
        tie_word_embeddings=True,
        hidden_size_per_layer_input=0,
        attention_k_eq_v=True,
        enable_moe_block=True,
        num_experts=text_config.num_experts,
        top_k_experts=text_config.top_k_experts,
        moe_intermediate_size=text_config.moe_intermediate_size,
        pad_token_id=text_config.pad_token_id,
        eos_token_id=text_config.eos_token_id,
        bos_token_id=text_config.bos_token_id,
    )


def layer_shapes(text_config) -> tuple[Any, Any]:
    """The per-layer configs of a sliding-window and a full-attention layer (heads and head
    size differ between the two, so the global attributes cannot be read)."""
    kinds = list(text_config.layer_types)
    sliding = kinds.index("sliding_attention") if "sliding_attention" in kinds else 0
    full = kinds.index("full_attention")
    return text_config.per_layer_config[sliding], text_config.per_layer_config[full]
