"""The training batch computes what the engine computes, and the loss is built as designed."""

from __future__ import annotations

import pytest
import torch

from dglsp.model.denoise import encode_prompt
from dglsp.training.batch import collate
from dglsp.training.examples import Example
from dglsp.training.objective import ObjectiveSettings, canvas_logits, corrupt, diffusion_loss, encode
from dglsp.training.presets import PRESETS, model_config

VOCAB = 512
PAD, EOS = 0, 1


def _example(prompt: list[int], middle: list[int], canvas: int) -> Example:
    kept = middle[:canvas]
    ids = (kept + [EOS] + [PAD] * canvas)[:canvas]
    return Example("k", "python", "line", "", 0, "", "", prompt, ids, len(kept), len(middle) >= canvas)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    preset = PRESETS["tiny"]
    config = model_config(preset, VOCAB, canvas_length=16)
    # A window shorter than the prompts: the cache's sliding layers drop old entries, as in the engine.
    config.text_config.sliding_window = 6
    from transformers import DiffusionGemmaForBlockDiffusion

    return DiffusionGemmaForBlockDiffusion(config).eval()


def _examples() -> list[Example]:
    g = torch.Generator().manual_seed(1)

    def ids(n: int) -> list[int]:
        return torch.randint(3, VOCAB, (n,), generator=g).tolist()

    return [_example(ids(5), ids(3), 8), _example(ids(19), ids(20), 16), _example(ids(11), [], 4)]


def test_padded_batch_gives_each_example_the_engines_logits(model):
    examples = _examples()
    batch = collate(examples, PAD, pad_weight=0.25)
    canvas = torch.randint(3, VOCAB, batch.target.shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        batched = canvas_logits(model, batch, encode(model, batch), canvas)
        for row, example in enumerate(examples):
            length, start = len(example.canvas_ids), len(example.prompt_ids)
            cache = encode_prompt(model, example.prompt_ids)  # dglsp.model.denoise, as the engine runs it
            positions = torch.arange(start, start + length, dtype=torch.int32).unsqueeze(0)
            alone = model(
                decoder_input_ids=canvas[row : row + 1, :length],
                past_key_values=cache,
                decoder_position_ids=positions,
            ).logits[0]
            torch.testing.assert_close(batched[row, :length], alone, atol=1e-4, rtol=1e-4)


def test_weights_count_padding_less_and_ignore_cells_outside_the_canvas():
    batch = collate(_examples(), PAD, pad_weight=0.25)
    assert batch.weights[0].tolist() == [1.0] * 4 + [0.25] * 4 + [0.0] * 8  # 3 tokens + EOS, pad, outside
    assert batch.weights[1].tolist() == [1.0] * 16  # truncated: every cell is middle
    assert batch.weights[2].tolist() == [1.0] + [0.25] * 3 + [0.0] * 12  # empty middle: EOS first
    assert batch.tokens == 5 + 19 + 11 + 8 + 16 + 4 and batch.canvas_tokens == 28


def test_corruption_is_uniform_noise_at_a_rate_per_example():
    target = torch.zeros(64, 256, dtype=torch.long)
    noisy = corrupt(target, VOCAB, torch.Generator().manual_seed(0))
    changed = (noisy != 0).float().mean(dim=1)
    assert changed.min() < 0.2 and changed.max() > 0.8  # rates differ per example
    assert noisy.max() > VOCAB * 0.9  # any vocabulary id, not a mask token
    same = corrupt(target, VOCAB, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, same)


def test_loss_trains_encoder_decoder_and_self_conditioning(model):
    batch = collate(_examples(), PAD, pad_weight=0.25)
    model.zero_grad()
    prompt_embeddings = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        prompt_embeddings.append(output)

    hook = model.model.encoder.language_model.embed_tokens.register_forward_hook(keep)
    try:
        loss = diffusion_loss(
            model, batch, torch.Generator().manual_seed(0), ObjectiveSettings(self_conditioning_rate=1.0)
        )
    finally:
        hook.remove()
    assert 0 < loss.item() < 20
    loss.backward()
    decoder = model.model.decoder
    assert decoder.self_conditioning.gate_proj.weight.grad.abs().sum() > 0
    assert decoder.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
    # The loss reaches the prompt through the encoder's cache: the prompt's embeddings get a gradient,
    # on real tokens only (left padding is masked out).
    grad = prompt_embeddings[0].grad
    assert grad.shape[:2] == batch.prompt_ids.shape
    real = batch.prompt_mask.bool()
    assert grad[real].abs().sum() > 0
    assert grad[~real].abs().sum() == 0
    model.zero_grad()
