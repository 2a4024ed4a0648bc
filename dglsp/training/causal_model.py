"""The autoregressive baseline's model: a transformers causal LM of DiffusionGemma's size.

The causal twin of a DiffusionGemma text config (`dglsp.model.configs.causal_config`: Gemma 4's
causal LM with the same layers, heads, experts, vocabulary and attention window) has about the
same number of parameters: it lacks only the decoder's self-conditioning MLP and the unused
vision stub. It saves with save_pretrained, so a trained baseline is a plain model directory.

The canvas length the baseline was trained for (its longest middle) is kept in its config as
`dglsp_canvas_length`, so the quality bench gives it the same token budget as the diffusion
model's canvas.
"""

from __future__ import annotations

from pathlib import Path

import torch

CANVAS_ATTRIBUTE = "dglsp_canvas_length"


def causal_model_config(preset_name: str, vocab_size: int, canvas_length: int):
    """The Gemma 4 causal config twin of the diffusion preset `preset_name`."""
    from dglsp.model.configs import BOS_ID, EOS_ID, PAD_ID, causal_config
    from dglsp.training.presets import PRESETS, model_config

    diffusion = model_config(PRESETS[preset_name], vocab_size, canvas_length)
    config = causal_config(diffusion.get_text_config())
    config.pad_token_id, config.eos_token_id, config.bos_token_id = PAD_ID, EOS_ID, BOS_ID
    setattr(config, CANVAS_ATTRIBUTE, canvas_length)
    return config


def build_causal_model(preset_name: str, vocab_size: int, canvas_length: int, seed: int):
    from transformers import Gemma4ForCausalLM

    torch.manual_seed(seed)
    model = Gemma4ForCausalLM(causal_model_config(preset_name, vocab_size, canvas_length))
    model.generation_config = causal_generation_config()
    return model


def causal_generation_config():
    from transformers import GenerationConfig

    from dglsp.model.configs import BOS_ID, EOS_ID, PAD_ID

    return GenerationConfig(bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)


def load_causal_model(path: Path | str, device: torch.device | str = "cpu", dtype=torch.float32):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)


def canvas_length_of(model) -> int | None:
    value = getattr(model.config, CANVAS_ATTRIBUTE, None)
    return int(value) if value else None


def parameter_counts(model) -> tuple[int, int]:
    """(total, active per token): distinct parameters, and those minus the experts a token's
    router does not pick (num_experts - top_k of them in every mixture-of-experts layer)."""
    seen: dict[int, tuple[str, int]] = {}
    for name, parameter in model.named_parameters():
        seen.setdefault(id(parameter), (name, parameter.numel()))
    total = sum(count for _, count in seen.values())
    config = model.config.get_text_config(decoder=True)
    experts, top_k = getattr(config, "num_experts", 0) or 0, getattr(config, "top_k_experts", 0) or 0
    expert_weights = sum(count for name, count in seen.values() if ".experts." in name)
    inactive = expert_weights * (experts - top_k) // experts if experts else 0
    return total, total - inactive
