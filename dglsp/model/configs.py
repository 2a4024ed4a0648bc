"""Config pieces every DiffusionGemma-architecture model dglsp builds shares (the tiny test
model, trained models, benchmark models), so they cannot drift apart."""

from __future__ import annotations

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
