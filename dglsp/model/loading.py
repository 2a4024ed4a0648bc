"""Find a DiffusionGemma checkpoint, choose a device, check it fits, load it.

Every failure is a `ModelUnavailable` whose message says what is wrong and what to do: the
server shows it in the editor and the CLI prints it. dglsp never downloads weights by itself
(52 GB behind a keystroke would be a surprise): a Hugging Face id must already be in the
local cache, or the setting must name a local directory.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dglsp.engine.base import ModelUnavailable

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Activations, the KV cache and the allocator's slack on top of the weights.
MEMORY_HEADROOM = 1.2
# Below this size a model runs in float32 on the CPU (faster there); above, bfloat16 halves it.
CPU_FLOAT32_LIMIT_BYTES = 2 * 1024**3
# How the mixture-of-experts layers run (transformers' `experts_implementation`); "auto" picks.
EXPERTS = ("auto", "eager", "batched_mm", "grouped_mm")
# The `dtype` setting: the weights' and activations' precision; "fp8" stores the layers' weights
# in FP8 (dglsp.model.fp8) and computes in bfloat16 on CUDA, float32 on the CPU.
DTYPES = ("auto", "bfloat16", "float32", "fp8")


def looks_like_path(name: str) -> bool:
    """A Hugging Face id is 'org/name'; anything absolute, relative or with more parts is a path."""
    if name.startswith(("/", ".", "~")) or name.count("/") != 1 or "\\" in name:
        return True
    return Path(name).expanduser().exists()


def human_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def resolve_model(name: str) -> Path:
    """The local directory holding the model `name` (a directory or a cached Hugging Face id)."""
    if not name:
        raise ModelUnavailable("No model is set. Set the `model` setting (or --model) to a model directory.")
    if looks_like_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise ModelUnavailable(
                f"Model directory {path} does not exist. Set the `model` setting (or --model) to a "
                "directory in save_pretrained layout (config.json, *.safetensors, tokenizer files)."
            )
        if not (path / "config.json").is_file():
            raise ModelUnavailable(
                f"{path} is not a model directory: it has no config.json. Point the `model` setting "
                "(or --model) at the folder written by save_pretrained."
            )
        path = path.resolve()
    else:
        path = _cached_snapshot(name)
    _check_model_type(path)
    return path


def _cached_snapshot(repo_id: str) -> Path:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise ModelUnavailable(
            f"The model {repo_id} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}). "
            f"dglsp does not download weights by itself: run `hf download {repo_id}` "
            "(DiffusionGemma is about 52 GB), or set the `model` setting (or --model) to a local "
            "model directory. `dglsp doctor` checks the setup."
        ) from None


def _check_model_type(path: Path) -> None:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"Cannot read {path / 'config.json'}: {error}") from None
    model_type = config.get("model_type")
    if model_type != "diffusion_gemma":
        raise ModelUnavailable(
            f"{path} holds a '{model_type}' model; dglsp needs a DiffusionGemma checkpoint "
            "(model_type 'diffusion_gemma')."
        )


def estimate_model_bytes(path: Path) -> int:
    """Bytes of weights on disk (the memory the weights need in their stored dtype)."""
    return sum(f.stat().st_size for f in path.iterdir() if f.suffix in WEIGHT_SUFFIXES)


def choose_device(setting: str = "auto"):
    """The torch.device for a `device` setting ("auto", "cpu", "cuda", "cuda:N")."""
    import torch

    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(setting)
    except RuntimeError:
        raise ModelUnavailable(f"Unknown device '{setting}'. Use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ModelUnavailable(
                f"The device setting asks for {setting}, but torch sees no CUDA device (torch "
                f"{torch.__version__}, {build}). Install a CUDA build of torch, or set device to cpu."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ModelUnavailable(
                f"There is no {setting}: torch sees {torch.cuda.device_count()} CUDA device(s)."
            )
    elif device.type != "cpu":
        raise ModelUnavailable(f"Device '{setting}' is not supported. Use auto, cpu, cuda or cuda:N.")
    return device


def choose_dtype(device, weight_bytes: int):
    """The working dtype "auto" picks: bfloat16 on CUDA; on the CPU float32 for small models
    (faster there) and bfloat16 for large ones (half the memory)."""
    import torch

    if device.type == "cuda":
        return torch.bfloat16
    return torch.float32 if weight_bytes <= CPU_FLOAT32_LIMIT_BYTES else torch.bfloat16


@dataclass(frozen=True)
class Precision:
    """What a `dtype` setting means on a device: the dtype of activations and of every weight
    left unquantised, and whether the layers' weights are stored in FP8."""

    compute: Any  # torch.dtype
    fp8: bool = False

    @property
    def name(self) -> str:
        return "fp8" if self.fp8 else str(self.compute).removeprefix("torch.")


def choose_precision(device, weight_bytes: int, setting: str = "auto") -> Precision:
    """The Precision for a `dtype` setting: auto (see `choose_dtype`), bfloat16, float32, or fp8
    (FP8 weights; bfloat16 activations on CUDA, float32 on the CPU, where bfloat16 is slow)."""
    import torch

    setting = (setting or "auto").strip().lower()
    if setting not in DTYPES:
        raise ModelUnavailable(f"Unknown dtype '{setting}'. Use {', '.join(DTYPES)}.")
    if setting == "fp8":
        return Precision(torch.bfloat16 if device.type == "cuda" else torch.float32, fp8=True)
    if setting == "auto":
        return Precision(choose_dtype(device, weight_bytes))
    return Precision(getattr(torch, setting))


def dtype_of(model) -> str:
    """The precision a loaded model runs in: "fp8" when its layers hold FP8 weights, else the
    dtype of its weights ("bfloat16", "float32")."""
    from dglsp.model.fp8 import is_fp8

    return "fp8" if is_fp8(model) else str(model.dtype).removeprefix("torch.")


@dataclass(frozen=True)
class MemoryCheck:
    needed_bytes: int
    free_bytes: int | None  # None when unknown

    @property
    def fits(self) -> bool:
        return self.free_bytes is None or self.needed_bytes <= self.free_bytes


def memory_check(path: Path, device, dtype: str = "auto") -> MemoryCheck:
    """How much memory loading `path` on `device` with the `dtype` setting needs and how much is
    free there. FP8 on CUDA needs the FP8 layers plus the rest in bfloat16 (each weight is
    quantised on the GPU as it arrives); on the CPU the whole model is first loaded unquantised."""
    import torch

    stored = estimate_model_bytes(path)
    precision = choose_precision(device, stored, dtype)
    stored_dtype_size = _stored_dtype_size(path)
    in_memory = stored * precision.compute.itemsize // stored_dtype_size if stored_dtype_size else stored
    if precision.fp8 and device.type == "cuda":
        share = fp8_share(path)
        in_memory = int(in_memory * (1 - share) + in_memory * share / precision.compute.itemsize)
    needed = int(in_memory * MEMORY_HEADROOM)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return MemoryCheck(needed, free)
    return MemoryCheck(needed, available_ram_bytes())


def fp8_share(path: Path) -> float:
    """The share of a checkpoint's weights (by count) that FP8 conversion stores in one byte:
    the layers' 2-D and 3-D weights except the router's (dglsp.model.fp8), read from the
    safetensors headers; 0 when they cannot be read."""
    from safetensors import safe_open

    total = quantised = 0
    try:
        for file in sorted(path.glob("*.safetensors")):
            with safe_open(file, "pt") as tensors:
                for name in tensors.keys():  # noqa: SIM118 (safe_open is not a dict)
                    shape = tensors.get_slice(name).get_shape()
                    count = 1
                    for size in shape:
                        count *= size
                    total += count
                    in_layers = "language_model.layers." in name or "decoder.layers." in name
                    if in_layers and len(shape) >= 2 and ".router." not in name:
                        quantised += count
    except (OSError, ValueError):
        return 0.0
    return quantised / total if total else 0.0


def check_fits(path: Path, device, dtype: str = "auto") -> None:
    check = memory_check(path, device, dtype)
    if check.fits:
        return
    where = "GPU memory" if device.type == "cuda" else "free RAM"
    hint = (
        "Close other GPU programs, or use a larger GPU."
        if device.type == "cuda"
        else "No CUDA GPU is in use: DiffusionGemma needs a GPU with about 60 GB; set `model` to a "
        "smaller DiffusionGemma-architecture model to run on the CPU."
    )
    raise ModelUnavailable(
        f"The model at {path} needs about {human_bytes(check.needed_bytes)} but only "
        f"{human_bytes(check.free_bytes or 0)} of {where} is available on {device}. {hint}"
    )


def _stored_dtype_size(path: Path) -> int:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    name = config.get("dtype") or config.get("torch_dtype") or config.get("text_config", {}).get("dtype")
    return {"float32": 4, "bfloat16": 2, "float16": 2, "float8_e4m3fn": 1}.get(str(name), 0)


def available_ram_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def choose_experts(setting: str = "auto") -> str:
    """The experts implementation for an `experts` setting.

    "auto" is grouped_mm on every device. Its cost per layer is one grouped matrix product per
    projection over the tokens sorted by expert, each hit expert's weights read once: torch's
    grouped kernel on CUDA (compute capability 8.0+) and on the CPU (torch > 2.8), else
    transformers' fallback, a loop of one product per hit expert after a single host sync. The
    others lose on every device: eager runs the same per-expert products but syncs with the
    host once per hit expert (128 experts x 30 layers a step at full size), and batched_mm
    gathers a copy of the weights for every (token, expert) pair, about 24 GB per layer for a
    256-cell canvas at full size. Measured on the CPU with dglsp-small (docs/benchmarks.md):
    grouped_mm 64 ms a step, eager 70, batched_mm 623.
    """
    setting = (setting or "auto").strip().lower()
    if setting not in EXPERTS:
        raise ModelUnavailable(f"Unknown experts implementation '{setting}'. Use {', '.join(EXPERTS)}.")
    return "grouped_mm" if setting == "auto" else setting


def grouped_kernel(device) -> bool:
    """Whether torch has a grouped matrix product kernel for `device` (transformers' rule in
    integrations/moe.py `_can_use_grouped_mm`); without one, grouped_mm runs its per-expert loop."""
    import torch

    has_kernel = hasattr(torch.nn.functional, "grouped_mm") or hasattr(torch, "_grouped_mm")
    if device.type == "cuda":
        return has_kernel and torch.cuda.get_device_capability(device) >= (8, 0)
    return has_kernel and device.type == "cpu"


def set_experts(model, setting: str = "auto") -> str:
    """Switch the model's experts implementation (weights stay as they are); returns its name."""
    implementation = choose_experts(setting)
    model.set_experts_implementation(implementation)
    return implementation


def experts_of(model) -> str:
    """The experts implementation the model's MoE layers dispatch to."""
    return model.config.get_text_config(decoder=True)._experts_implementation


def load_model(path: Path, device, dtype, experts: str = "auto", fp8: bool = False):
    """Load the weights (already resolved and checked) onto `device` in eval mode, in `dtype`,
    with the experts implementation `experts` asks for (see `choose_experts`). `fp8`: then
    store the layers' weights in FP8 (dglsp.model.fp8), each quantised on `device`."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion
    from transformers.utils import logging as transformers_logging

    # Its tqdm bar would land in the editor's log once per load; we report progress ourselves.
    transformers_logging.disable_progress_bar()
    try:
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(
            path, dtype=dtype, experts_implementation=choose_experts(experts)
        )
        if fp8:
            from dglsp.model.fp8 import convert_to_fp8

            conversion = convert_to_fp8(model, device)
            log.info(
                "FP8 weights: %d tensors, %s of weights -> %s",
                conversion.tensors,
                human_bytes(conversion.bytes_before),
                human_bytes(conversion.bytes_after),
            )
        model = model.to(device).eval()
    except torch.cuda.OutOfMemoryError:
        raise ModelUnavailable(
            f"Ran out of GPU memory while loading {path} onto {device}. Free GPU memory or use a larger GPU."
        ) from None
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ModelUnavailable(f"Cannot load the model at {path}: {error}") from None
    return model
