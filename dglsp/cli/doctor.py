"""`dglsp doctor`: what works here, and what to do about what does not.

Fast by design: it reads file sizes, configs and the tokenizer, never the model weights.
Exit 0 when everything a completion needs works (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dglsp import __version__
from dglsp.cli.common import EXIT_FAILED, EXIT_OK, add_model_flags, settings_from_args
from dglsp.config import Settings

if TYPE_CHECKING:
    import torch

Status = Literal["ok", "warn", "fail"]
GIB = 1024**3


@dataclass
class Check:
    name: str
    status: Status
    summary: str
    fix: str = ""  # what to do, for warn and fail
    details: dict[str, Any] = field(default_factory=dict)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check torch, CUDA, the model, the tokenizer and the grammars",
        description="Report what works here and how to fix what does not. Never loads model weights.",
    )
    add_model_flags(parser, suppress=True)
    parser.add_argument("--json", action="store_true", help="print the checks as one JSON object")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    checks = collect(settings)
    ok = not any(check.status == "fail" for check in checks)
    if args.json:
        report = {"ok": ok, "version": __version__, "checks": [asdict(check) for check in checks]}
        print(json.dumps(report, indent=2))
    else:
        _print_text(checks, ok)
    return EXIT_OK if ok else EXIT_FAILED


def collect(settings: Settings) -> list[Check]:
    checks = [Check("dglsp", "ok", __version__), _check_python()]
    torch_check = _check_torch()
    checks.append(torch_check)
    if torch_check.status != "fail":  # these need torch
        checks.append(_check_transformers())
        checks.append(_check_cuda())
        device_check, device = _check_device(settings.device, settings.dtype)
        checks.append(device_check)
        choice = _choose_model(settings)
        if choice.reason is not None:
            checks.append(
                Check(
                    "model choice",
                    "warn",
                    choice.notice("--model (the `model` setting in an editor)") or "",
                    "Put DiffusionGemma in the Hugging Face cache on a machine with a large GPU, "
                    "or set --model to another DiffusionGemma-architecture model.",
                )
            )
        model_check, path = _check_model(choice.settings.model)
        checks.append(model_check)
        if path is not None:
            if device is not None:
                checks.append(_check_memory(path, device, choice.settings.dtype))
            checks.append(_check_tokenizer(path))
    checks.extend(_check_grammars())
    return checks


def _choose_model(settings: Settings):
    """What the server and `complete` would load: the bundled model may stand in for the default."""
    from dglsp.engine.model_choice import choose_model

    return choose_model(settings)


def _check_python() -> Check:
    # pip refuses to install dglsp on Python < 3.11 (requires-python), so this only reports.
    return Check("python", "ok", f"{platform.python_version()} ({sys.executable})")


def _check_torch() -> Check:
    try:
        import torch
    except ImportError as error:
        return Check(
            "torch",
            "fail",
            f"not importable: {error}",
            "pip install torch==2.13.0 (CPU), or the CUDA build for your GPU from pytorch.org first.",
        )
    cuda = torch.version.cuda
    return Check("torch", "ok", f"{torch.__version__} ({'CUDA ' + cuda if cuda else 'CPU-only build'})")


def _check_transformers() -> Check:
    try:
        import transformers
    except ImportError as error:
        fix = "pip install 'transformers>=5.23,<6'"
        return Check("transformers", "fail", f"not importable: {error}", fix)
    try:
        from transformers import DiffusionGemmaForBlockDiffusion  # noqa: F401
    except ImportError:
        return Check(
            "transformers",
            "fail",
            f"{transformers.__version__} has no DiffusionGemma",
            "pip install 'transformers>=5.23,<6' (5.23 is the first release with DiffusionGemma).",
        )
    return Check("transformers", "ok", transformers.__version__)


def _check_cuda() -> Check:
    import torch

    if not torch.cuda.is_available():
        return Check(
            "cuda",
            "warn",
            "no CUDA device: completions run on the CPU, which only suits tiny models",
            "For the released DiffusionGemma, use an NVIDIA GPU with about 60 GB and a CUDA build of "
            "torch (pytorch.org/get-started), installed before dglsp.",
        )
    devices = []
    for index in range(torch.cuda.device_count()):
        entry: dict[str, Any] = {"index": index, "name": torch.cuda.get_device_name(index)}
        try:
            free, total = torch.cuda.mem_get_info(index)
            entry.update(free_bytes=free, total_bytes=total)
        except RuntimeError as error:  # a busy or broken device still gets listed
            entry["error"] = str(error)
        devices.append(entry)
    lines = []
    for d in devices:
        memory = f", {_size(d['free_bytes'])} of {_size(d['total_bytes'])} free" if "free_bytes" in d else ""
        lines.append(f"cuda:{d['index']} {d['name']}{memory}")
    return Check("cuda", "ok", "; ".join(lines), details={"devices": devices})


def _check_device(setting: str, dtype: str = "auto") -> tuple[Check, torch.device | None]:
    from dglsp.engine import ModelUnavailable
    from dglsp.model.loading import choose_device, choose_precision

    try:
        device = choose_device(setting)
    except ModelUnavailable as error:
        return Check("device", "fail", f"device setting {setting!r} cannot be used", str(error)), None
    # "auto" depends on the model's size (float32 or bfloat16 on a CPU): named once the model is known.
    precision = "auto" if dtype == "auto" else choose_precision(device, 0, dtype).name
    details = {"device": str(device), "dtype": precision}
    summary = f"{device}, dtype {precision} (setting {setting!r})"
    return Check("device", "ok", summary, details=details), device


def _check_model(name: str) -> tuple[Check, Path | None]:
    from dglsp.engine import ModelUnavailable
    from dglsp.model.loading import estimate_model_bytes, resolve_model

    try:
        path = resolve_model(name)
    except ModelUnavailable as error:
        return Check("model", "fail", f"{name}: not found or not usable", str(error), {"model": name}), None
    size = estimate_model_bytes(path)
    details = {"model": name, "path": str(path), "bytes_on_disk": size}
    if size == 0:
        return (
            Check(
                "model",
                "fail",
                f"{path} has no weight files",
                "The directory needs *.safetensors files as written by save_pretrained.",
                details,
            ),
            None,
        )
    return Check("model", "ok", f"{path} ({_size(size)} of weights)", details=details), path


def _check_memory(path: Path, device: torch.device, dtype: str = "auto") -> Check:
    from dglsp.engine import ModelUnavailable
    from dglsp.model.loading import check_fits, choose_precision, estimate_model_bytes, memory_check

    where = "GPU memory" if device.type == "cuda" else "RAM"
    try:
        needed = memory_check(path, device, dtype)
        check_fits(path, device, dtype)
        precision = choose_precision(device, estimate_model_bytes(path), dtype).name
    except ModelUnavailable as error:
        return Check("memory", "fail", f"the model does not fit in {where} on {device}", str(error))
    except RuntimeError as error:  # e.g. mem_get_info on a device in a bad state
        return Check("memory", "warn", f"cannot measure free memory on {device}: {error}")
    details = {
        "device": str(device),
        "dtype": precision,
        "needed_bytes": needed.needed_bytes,
        "free_bytes": needed.free_bytes,
    }
    free = "unknown" if needed.free_bytes is None else _size(needed.free_bytes)
    summary = f"needs about {_size(needed.needed_bytes)} as {precision}, {free} {where} free"
    return Check("memory", "ok", summary, details=details)


def _check_tokenizer(path: Path) -> Check:
    from dglsp.engine import ModelUnavailable
    from dglsp.model.tokenizer import load_tokenizer

    try:
        tokenizer = load_tokenizer(path)
    except ModelUnavailable as error:
        return Check(
            "tokenizer",
            "fail",
            f"cannot load the tokenizer from {path}",
            f"{error}. The model directory needs the tokenizer files save_pretrained writes "
            "(tokenizer.json, tokenizer_config.json).",
        )
    return Check("tokenizer", "ok", f"{len(tokenizer.hf)} tokens", details={"vocab_size": len(tokenizer.hf)})


def _check_grammars() -> list[Check]:
    """One check per language: the tree-sitter grammar loads and its query file compiles.
    A missing grammar is a warning: that language still completes, with a window of lines."""
    import tree_sitter

    from dglsp.languages import LANGUAGES, grammar, grammars_dir

    checks = []
    directory = grammars_dir()
    for name, info in LANGUAGES.items():
        query_file = directory / f"{name}.scm"
        details = {"module": info.module, "query": str(query_file) if query_file.is_file() else None}
        try:
            language = grammar(name)
        except Exception as error:  # ImportError, or an ABI mismatch from tree-sitter
            checks.append(
                Check(
                    f"grammar:{name}",
                    "warn",
                    f"grammar {info.module} does not load ({error}); {name} falls back to a window of lines",
                    f"pip install {info.module.replace('_', '-')} (reinstalling dglsp installs it)",
                    details,
                )
            )
            continue
        if not query_file.is_file():
            checks.append(
                Check(
                    f"grammar:{name}",
                    "warn",
                    f"no query file {query_file}; {name} falls back to a window of lines",
                    "Reinstall dglsp: the query files ship inside the package (dglsp/grammars).",
                    details,
                )
            )
            continue
        try:
            tree_sitter.Query(language, query_file.read_text(encoding="utf-8"))
        except Exception as error:  # QueryError and friends: the .scm does not match the grammar
            checks.append(
                Check(
                    f"grammar:{name}",
                    "warn",
                    f"{query_file.name} does not compile against {info.module}: {error}",
                    "This is a dglsp bug; please report it with `dglsp doctor --json`.",
                    details,
                )
            )
            continue
        checks.append(Check(f"grammar:{name}", "ok", f"{info.module} + {query_file.name}", details=details))
    return checks


def _size(n: int) -> str:
    if n >= GIB:
        return f"{n / GIB:.1f} GiB"
    return f"{n / 1024**2:.1f} MiB"


def _print_text(checks: list[Check], ok: bool) -> None:
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"{check.status:<4}  {check.name:<{width}}  {check.summary}")
        if check.fix and check.status != "ok":
            print(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    print()
    if ok:
        print("Everything a completion needs works here.")
    else:
        print("Completions cannot work here yet: see the 'fail' lines above.")
