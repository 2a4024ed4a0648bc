"""FP8 weights (the `dtype` setting "fp8"): float8_e4m3fn with one scale per output channel.

A denoising step is bound by reading the weights (the floor in docs/benchmarks.md is bytes read
over bandwidth), and nearly all of them sit in the transformer layers. `convert_to_fp8` stores
those in one byte per weight, in place, on a loaded DiffusionGemmaForBlockDiffusion:

- converted, in every layer of the decoder (the encoder's layers share the very same tensors, so
  each is quantised once and both use it): the attention projections (q, k, v, o), the dense MLP
  (gate, up, down) and the packed expert weights (`experts.gate_up_proj` and `experts.down_proj`,
  3-D: one matrix per expert, read by transformers' eager / batched_mm / grouped_mm);
- kept in the working dtype: the tied embedding, which is also the output head (read one row
  per token as an embedding, and as the head its error lands straight in every logit: it is
  where quantising hurts most, and only 1.5 of the 52 GB at full size); the norms; the router
  (its 128 x 2816 weights per layer pick the experts, and a small error flips the pick); the
  self-conditioning MLP (outside the layers, three small matrices); the unused vision tower.

Forward:
- 2-D linears (`FP8Linear`): on CUDA with compute capability >= 8.9 (Ada, Hopper) one
  `torch._scaled_mm` with a per-tensor activation scale computed per call, the per-channel weight
  scale applied to its output; everywhere else (the CPU, older GPUs, shapes the kernel refuses)
  the weight is dequantised to the activation dtype in the forward: the same numbers, slower.
- experts (`FP8Experts`): dequantised per call to the activation dtype, then the configured
  experts implementation runs unchanged. This saves memory but not time: the step reads the fp8
  weights and writes and reads a bf16 copy. A fused grouped FP8 kernel (grouped_mm over fp8
  experts with their scales) is the GPU follow-up. Neither GPU path has been measured yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

FP8 = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8).max)  # 448
# A row of zeros gets this scale instead of 0 (0/0 would make NaN weights).
MIN_SCALE = 1e-12
# torch._scaled_mm needs both dimensions of the weight to be multiples of 16.
SCALED_MM_ALIGNMENT = 16


@dataclass(frozen=True)
class Conversion:
    """What `convert_to_fp8` did: distinct tensors stored in FP8, and the bytes of every distinct
    weight of the model before and after (the floor of a step scales with the bytes it reads)."""

    tensors: int
    bytes_before: int
    bytes_after: int
    scaled_mm_layers: int  # 2-D linears that run torch._scaled_mm (0 off CUDA >= 8.9)

    def to_json(self) -> dict[str, int]:
        return {
            "tensors": self.tensors,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "scaled_mm_layers": self.scaled_mm_layers,
        }


def scaled_mm_supported(device) -> bool:
    """Whether `torch._scaled_mm` runs FP8 x FP8 on `device`: CUDA with compute capability 8.9+."""
    device = torch.device(device)
    if device.type != "cuda" or not hasattr(torch, "_scaled_mm"):
        return False
    return tuple(torch.cuda.get_device_capability(device)) >= (8, 9)


def quantise(weight: torch.Tensor, input_dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp8 weight, float32 scale): one scale per output channel, the largest magnitude along
    `input_dim` mapped to FP8's largest value. The scale keeps `input_dim` (size 1) to broadcast."""
    full = weight.detach().float()
    scale = (full.abs().amax(dim=input_dim, keepdim=True) / FP8_MAX).clamp(min=MIN_SCALE)
    return (full / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8), scale


def dequantise(weight: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return weight.to(dtype) * scale.to(dtype)


def scaled_linear(
    x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """x @ (weight * scale).T with torch._scaled_mm: x is quantised per call with one scale for
    the whole tensor (dynamic), the product comes out in x's dtype and the per-channel weight
    scale multiplies its columns (the per-tensor form runs on compute capability 8.9 and 9.0; the
    row-wise form, which would fuse that multiply, is Hopper-only in some torch builds)."""
    flat = x.reshape(-1, x.shape[-1])
    x_scale = (flat.abs().amax().float() / FP8_MAX).clamp(min=MIN_SCALE)
    x_fp8 = (flat.float() / x_scale).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    unit = torch.ones((), dtype=torch.float32, device=x.device)
    out = torch._scaled_mm(x_fp8, weight.t(), scale_a=x_scale, scale_b=unit, out_dtype=x.dtype)
    out = out * scale.reshape(1, -1).to(out.dtype)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight.shape[0])


class FP8Linear(nn.Module):
    """nn.Linear with an FP8 weight and a float32 scale per output channel."""

    def __init__(
        self, weight: nn.Parameter, scale: nn.Parameter, bias: nn.Parameter | None, scaled_mm: bool
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.weight = weight  # Parameters, so that a tied copy stays one tensor through .to(device)
        self.weight_scale = scale
        self.bias = bias
        self.scaled_mm = scaled_mm  # chosen at conversion: device and shape allow the kernel

    def uses_scaled_mm(self, x: torch.Tensor) -> bool:
        return self.scaled_mm and x.device.type == "cuda"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.uses_scaled_mm(x):
            return scaled_linear(x, self.weight, self.weight_scale, self.bias)
        return nn.functional.linear(x, dequantise(self.weight, self.weight_scale, x.dtype), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, scaled_mm={self.scaled_mm}"


class FP8Experts(nn.Module):
    """The packed expert weights in FP8 around the model's own experts module, which keeps its
    routing-independent code (transformers' eager / batched_mm / grouped_mm, chosen by the config)
    and gets its two weights back, dequantised to the activation dtype, for each call."""

    def __init__(self, experts: nn.Module, gate_up: tuple[nn.Parameter, nn.Parameter], down) -> None:
        super().__init__()
        del experts.gate_up_proj, experts.down_proj  # read from here from now on
        self.implementation = experts
        self.gate_up_proj, self.gate_up_proj_scale = gate_up
        self.down_proj, self.down_proj_scale = down

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        inner, dtype = self.implementation, hidden_states.dtype
        # Plain attributes for the length of one call (the model runs on one thread at a time).
        inner.gate_up_proj = dequantise(self.gate_up_proj, self.gate_up_proj_scale, dtype)
        inner.down_proj = dequantise(self.down_proj, self.down_proj_scale, dtype)
        try:
            return inner(hidden_states, *args, **kwargs)
        finally:
            del inner.gate_up_proj, inner.down_proj


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the model's distinct parameters (a tied tensor counts once)."""
    seen: set[int] = set()
    total = 0
    for parameter in model.parameters():
        if id(parameter) not in seen:
            seen.add(id(parameter))
            total += parameter.numel() * parameter.element_size()
    return total


def is_fp8(model: nn.Module) -> bool:
    return any(isinstance(module, FP8Linear | FP8Experts) for module in model.modules())


def conversion_of(model: nn.Module) -> Conversion | None:
    """The Conversion `convert_to_fp8` recorded on the model; None if it was not converted."""
    return getattr(model, "_dglsp_fp8", None)


def layer_stacks(model: nn.Module) -> list[nn.ModuleList]:
    """The transformer layers: the decoder's, and the encoder's (which share their weights)."""
    inner = getattr(model, "model", model)
    decoder = getattr(getattr(inner, "decoder", None), "layers", None)
    if not isinstance(decoder, nn.ModuleList):
        raise ValueError(f"{type(model).__name__} has no decoder layers: FP8 needs a DiffusionGemma")
    stacks = [decoder]
    encoder = getattr(getattr(getattr(inner, "encoder", None), "language_model", None), "layers", None)
    if isinstance(encoder, nn.ModuleList):
        stacks.append(encoder)
    return stacks


def _frozen(tensor: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(tensor, requires_grad=False)


def _quantised_expert_weight(weight: torch.Tensor, device, input_dim: int):
    """Quantised one expert at a time on `device`: the float32 copy stays one expert big."""
    out = torch.empty(weight.shape, dtype=FP8, device=device)
    scale_shape = list(weight.shape)
    scale_shape[input_dim] = 1
    scale = torch.empty(scale_shape, dtype=torch.float32, device=device)
    for index in range(weight.shape[0]):
        out[index], scale[index] = quantise(weight[index].to(device), input_dim)
    return _frozen(out), _frozen(scale)


def convert_to_fp8(model: nn.Module, device=None, scaled_mm: bool | None = None) -> Conversion:
    """Store the layers' linear and expert weights in FP8, in place (see the module docstring).

    Each weight is quantised on `device` (default: where it is), so a model loaded on the CPU
    for a GPU never needs its unquantised weights on the GPU; move the rest with `model.to`
    afterwards (never `model.to(dtype)`: it would turn the FP8 weights back into that dtype).
    `scaled_mm` None: use torch._scaled_mm where `device` supports it."""
    before = weight_bytes(model)
    target = torch.device(device) if device is not None else None
    if scaled_mm is None:
        scaled_mm = target is not None and scaled_mm_supported(target)
    done: dict[int, tuple[nn.Parameter, nn.Parameter]] = {}  # id(original weight) -> fp8, scale
    fast_layers = 0

    def quantised(weight: torch.Tensor, input_dim: int, experts: bool):
        if id(weight) not in done:
            where = target or weight.device
            if experts:
                done[id(weight)] = _quantised_expert_weight(weight, where, input_dim)
            else:
                q, scale = quantise(weight.to(where), input_dim)
                done[id(weight)] = _frozen(q), _frozen(scale)
        return done[id(weight)]

    with torch.no_grad():
        for stack in layer_stacks(model):
            for layer in stack:
                for name, module in list(layer.named_modules()):
                    parent_name, _, attribute = name.rpartition(".")
                    parent = layer.get_submodule(parent_name) if parent_name else layer
                    if isinstance(module, nn.Linear) and "router" not in name.split("."):
                        weight, scale = quantised(module.weight, -1, experts=False)
                        fast = scaled_mm and all(n % SCALED_MM_ALIGNMENT == 0 for n in weight.shape)
                        bias = module.bias
                        if bias is not None and target is not None:
                            bias = _frozen(bias.detach().to(target))
                        setattr(parent, attribute, FP8Linear(weight, scale, bias, fast))
                        fast_layers += fast
                    elif _is_packed_experts(module):
                        # (experts, out, in), or (experts, in, out) when transposed
                        input_dim = -2 if getattr(module, "is_transposed", False) else -1
                        gate_up = quantised(module.gate_up_proj, input_dim, experts=True)
                        down = quantised(module.down_proj, input_dim, experts=True)
                        setattr(parent, attribute, FP8Experts(module, gate_up, down))
    if not done:
        raise ValueError(f"{type(model).__name__}: no linear or expert weights found to convert to FP8")
    conversion = Conversion(len(done), before, weight_bytes(model), fast_layers)
    model._dglsp_fp8 = conversion
    return conversion


def _is_packed_experts(module: nn.Module) -> bool:
    weights = [getattr(module, name, None) for name in ("gate_up_proj", "down_proj")]
    return all(isinstance(w, nn.Parameter) and w.dim() == 3 for w in weights)
