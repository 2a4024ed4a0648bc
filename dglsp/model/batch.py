"""Several requests' canvases through the model in one forward pass.

One denoising step reads every weight whatever the canvas holds, so on a GPU (memory-bound)
two canvases in one pass cost about as much as one: concurrent requests from several
windows share the weight reads. Each request keeps its own prompt, canvas width, settings
and random generator (dglsp.model.denoise.Canvas); only the forward pass is shared.

Packing: every request's prompt KV is padded to the longest along the sequence and stacked
along the batch, canvases are padded to the widest, and one 4-D boolean mask per layer type
hides the padding (prompt slots past a request's prompt, canvas cells past its width). The
decoder takes such a dict as given (transformers' `create_diffusion_decoder_attention_mask`
returns a dict of 4-D masks unchanged), and its attention concatenates [cache, canvas]
keys, so the mask's columns are the padded cache followed by the padded canvas.

A packed cache is a copy of the prompts' KV: it is built when the batch's membership
changes, not every step (`PackedBatch`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache

from dglsp.model.denoise import Canvas
from dglsp.model.prompt_cache import snapshot

# Attention implementations whose 4-D mask semantics we build for: sdpa takes a boolean
# mask (True = attend), eager an additive one.
PACKABLE_ATTENTION = ("sdpa", "eager")


def can_pack(model) -> bool:
    return getattr(model.config, "_attn_implementation", None) in PACKABLE_ATTENTION


class PackedBatch:
    """The packed cache, masks and positions of a fixed set of canvases."""

    def __init__(self, model, canvases: Sequence[Canvas]) -> None:
        self.canvases = tuple(canvases)
        self.rows = [canvas.rows for canvas in canvases]
        self.width = max(canvas.width for canvas in canvases)
        device = canvases[0].free.device
        self.cache, key_lengths = _pack_caches([canvas.cache for canvas in canvases], self.rows)
        layer_types = model.config.get_text_config(decoder=True).layer_types
        widths = torch.tensor(
            [canvas.width for canvas, rows in zip(canvases, self.rows, strict=True) for _ in range(rows)],
            device=device,
        )
        dtype = model.model.decoder.embed_tokens.weight.dtype
        additive = model.config._attn_implementation == "eager"
        self.masks = {}
        for layer_type in set(layer_types):
            lengths = key_lengths[layer_types.index(layer_type)].to(device)
            self.masks[layer_type] = _mask(lengths, widths, self.width, additive, dtype)
        self.positions = torch.cat(
            [
                torch.arange(c.prompt_length, c.prompt_length + self.width, dtype=torch.int32, device=device)
                .unsqueeze(0)
                .expand(c.rows, -1)
                for c in canvases
            ]
        )

    def forward(self, model) -> list[torch.Tensor]:
        """One pass for every canvas; each gets its own logits, (rows, width, vocab)."""
        tokens = torch.cat([_pad_cells(c.tokens, self.width, 0) for c in self.canvases])
        conditioning, conditioned = self._self_conditioning(model)
        logits = model(
            decoder_input_ids=tokens,
            self_conditioning_logits=conditioning,
            self_conditioning_mask=conditioned,
            past_key_values=self.cache,
            decoder_attention_mask=self.masks,
            decoder_position_ids=self.positions,
        ).logits
        out, start = [], 0
        for canvas in self.canvases:
            out.append(logits[start : start + canvas.rows, : canvas.width])
            start += canvas.rows
        return out

    def _self_conditioning(self, model) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The previous step's logits per row; rows at their first step get none (masked),
        exactly as a canvas alone passes None at its first step."""
        if all(c.self_conditioning is None for c in self.canvases):
            return None, None
        vocab = model.config.text_config.vocab_size
        like = next(c.self_conditioning for c in self.canvases if c.self_conditioning is not None)
        parts, flags = [], []
        for canvas in self.canvases:
            conditioned = canvas.self_conditioning is not None
            if conditioned:
                parts.append(_pad_cells(canvas.self_conditioning, self.width, 0.0))
            else:
                parts.append(like.new_zeros(canvas.rows, self.width, vocab))
            # Filled on the device: a tensor built from a host list would be a copy to the
            # device on every pass, and on CUDA such a copy waits for the stream.
            flags.append(torch.full((canvas.rows,), conditioned, dtype=torch.bool, device=like.device))
        return torch.cat(parts), torch.cat(flags)


def _pad_cells(tensor: torch.Tensor, width: int, value) -> torch.Tensor:
    """Pad dimension 1 (the canvas cells) to `width`."""
    missing = width - tensor.shape[1]
    if missing == 0:
        return tensor
    pad_shape = (tensor.shape[0], missing, *tensor.shape[2:])
    return torch.cat([tensor, tensor.new_full(pad_shape, value)], dim=1)


def _pack_caches(
    caches: Sequence[DynamicCache], rows: Sequence[int]
) -> tuple[DynamicCache, list[torch.Tensor]]:
    """Stack the caches along the batch, each layer right-padded along the sequence.

    Returns the packed cache and, per layer, each batch row's number of real key slots.
    """
    packed = snapshot(caches[0])
    key_lengths = []
    for index, layer in enumerate(packed.layers):
        layers = [cache.layers[index] for cache in caches]
        longest = max(part.keys.shape[-2] for part in layers)
        layer.keys = torch.cat([_pad_sequence(part.keys, longest) for part in layers])
        layer.values = torch.cat([_pad_sequence(part.values, longest) for part in layers])
        key_lengths.append(
            torch.tensor(
                [part.keys.shape[-2] for part, count in zip(layers, rows, strict=True) for _ in range(count)]
            )
        )
    return packed, key_lengths


def _pad_sequence(tensor: torch.Tensor, length: int) -> torch.Tensor:
    missing = length - tensor.shape[-2]
    if missing == 0:
        return tensor
    shape = (*tensor.shape[:-2], missing, tensor.shape[-1])
    return torch.cat([tensor, tensor.new_zeros(shape)], dim=-2)


def _mask(
    key_lengths: torch.Tensor, widths: torch.Tensor, width: int, additive: bool, dtype: torch.dtype
) -> torch.Tensor:
    """(batch, 1, width, cache + width): each row sees its own prompt slots and canvas cells."""
    cache_length = int(key_lengths.max())
    slots = torch.arange(cache_length, device=key_lengths.device)
    cells = torch.arange(width, device=key_lengths.device)
    keys = torch.cat([slots[None, :] < key_lengths[:, None], cells[None, :] < widths[:, None]], dim=1)
    mask = keys[:, None, None, :].expand(-1, 1, width, -1)
    if not additive:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
