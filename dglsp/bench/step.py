"""One denoising step's own cost, before and after the step optimisations, in one run.

`python -m dglsp.bench.step` times, on synthetic logits of the bundled model's vocabulary and
of a slice of the full-size one (262,144 tokens):

- sampling alone: `dglsp.model.denoise.sample` (softmax, the multinomial draw, argmax, and
  the entropy from log-softmax in one dot product) against the same figures computed as the
  step did before (`reference_sample`: `Categorical(logits).entropy()`), and softmax plus the
  multinomial draw alone, which both keep;
- the whole step (`Canvas.step`) against `ReferenceCanvas.step`, the step as it was, with
  its host synchronisations per step counted for each (`HostReads`).

The forward pass is not part of it: the logits are given (dglsp.bench.profile times the
whole step with the model). The two versions alternate within each repeat, so a busy moment
hits both alike. `--device cuda` runs it on a GPU (the logits and generators there, each
timing between two `torch.cuda.synchronize`), where a whole full-size canvas (262,144 x 256)
is measured too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from types import SimpleNamespace
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from transformers import DynamicCache

from dglsp.bench.stats import summary
from dglsp.model.denoise import (
    Canvas,
    DenoiseSettings,
    Layout,
    StepResult,
    _best_row,
    _settled,
    accept,
    sample,
)

# Tensor methods that read a value back to the host: on CUDA each one waits for the device.
HOST_READ_METHODS = frozenset(
    {"tolist", "item", "__bool__", "__int__", "__index__", "__float__", "cpu", "numpy"}
)
BUNDLED_VOCAB = 8192  # dglsp-small
FULL_VOCAB = 262_144  # the released DiffusionGemma


class HostReads(TorchFunctionMode):
    """Counts the tensor methods that read values back to the host while it is active (on
    the CPU too, where nothing waits). Operations whose output size depends on the data
    (`nonzero`, `unique`, ...) also wait for a CUDA device without such a method: on a GPU,
    `torch.cuda.set_sync_debug_mode("warn")` sees those as well."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in HOST_READ_METHODS:
            self.names.append(name)
        return func(*args, **(kwargs or {}))


def reference_sample(logits: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """`sample` as the step computed it before: softmax, multinomial, argmax and
    `Categorical(logits).entropy()`, each its own set of passes over the logits."""
    rows, width, vocab = logits.shape
    probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
    sampled = torch.multinomial(probs.view(-1, vocab), 1, generator=generator).view(rows, width)
    entropy = torch.distributions.Categorical(logits=logits).entropy()
    return sampled, logits.argmax(dim=-1), entropy


class ReferenceCanvas(Canvas):
    """The step as it was before the step optimisations (commit 6e79492): the reference
    that `Canvas.step` must match token for token with the same seed."""

    def step(self, logits: torch.Tensor) -> StepResult:
        settings, free, seed = self.settings, self.free, self._seed
        remaining = self.remaining
        logits = self._temperature(None, logits, cur_step=remaining)
        sampled, argmax, entropy = reference_sample(logits, self._generator)
        argmax = torch.where(free, argmax, seed)
        accepted = accept(entropy, free, settings.entropy_bound)
        canvas = torch.where(accepted, sampled, self.tokens)
        canvas = torch.where(free & ~accepted, self._noise(), canvas)
        self.tokens = torch.where(free, canvas, seed)
        self.self_conditioning = logits.to(self._embed_dtype)

        threshold = settings.stability_threshold
        self._history = [*self._history[-threshold:], argmax] if threshold else []
        settled = _settled(argmax, entropy, accepted, free, self._history, settings, self._end)
        best = 0 if self.rows == 1 else int(_best_row(entropy, free, argmax, self._end))
        finished = bool(settled.all()) or remaining == 1
        self.remaining -= 1
        length = self.layout.middle_lengths[best]
        return StepResult(settings.max_steps - remaining + 1, argmax[best, :length].tolist(), best, finished)


def stub_model(vocab: int, device: torch.device | str = "cpu") -> SimpleNamespace:
    """What a Canvas reads from a model (no weights): device, vocabulary, embedding dtype."""
    return SimpleNamespace(
        device=torch.device(device),
        config=SimpleNamespace(text_config=SimpleNamespace(vocab_size=vocab)),
        model=SimpleNamespace(decoder=SimpleNamespace(embed_tokens=SimpleNamespace(weight=torch.zeros(1)))),
    )


def _logits(rows: int, width: int, vocab: int, seed: int) -> torch.Tensor:
    """Peaked like a trained model's: a few likely tokens per cell over a long tail."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, width, vocab, generator=generator) * 2
    peaks = torch.randint(0, vocab, (rows, width, 4), generator=generator)
    return logits.scatter_add(-1, peaks, torch.full(peaks.shape, 12.0))


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a timing covers it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ms(work, device: torch.device | None = None) -> float:
    device = device or torch.device("cpu")
    synchronize(device)
    started = time.perf_counter()
    work()
    synchronize(device)
    return (time.perf_counter() - started) * 1000


def measure_case(
    vocab: int, width: int, rows: int, repeat: int, device: torch.device | str = "cpu"
) -> dict[str, Any]:
    device = torch.device(device)
    # Built on the CPU, then moved: the same logits on every device.
    logits = _logits(rows, width, vocab, seed=0).to(device)
    settings = DenoiseSettings(canvas_length=width, max_steps=48)
    layout = Layout((width,) * rows, ((),) * rows)  # `rows` rows of free cells
    times: dict[str, list[float]] = {"sample": [], "reference_sample": [], "multinomial": []}
    times |= {"step": [], "reference_step": []}
    reads: dict[str, int] = {}
    for index in range(repeat + 1):  # the first round warms up, not recorded

        def seeded(index: int = index) -> torch.Generator:
            return torch.Generator(device=device).manual_seed(index)

        rounds = {
            "reference_sample": lambda: reference_sample(logits, seeded()),
            "sample": lambda: sample(logits, seeded()),
            "multinomial": lambda: torch.multinomial(
                torch.softmax(logits, -1).view(-1, vocab), 1, generator=seeded()
            ),
        }
        for name, work in rounds.items():
            elapsed = _ms(work, device)
            if index:
                times[name].append(elapsed)
        for name, kind in (("reference_step", ReferenceCanvas), ("step", Canvas)):
            canvas = kind(stub_model(vocab, device), DynamicCache(), 16, settings, layout)
            with HostReads() as counted:
                elapsed = _ms(lambda canvas=canvas: canvas.step(logits), device)
            reads[name] = len(counted.names)
            if index:
                times[name].append(elapsed)
    reference = reference_sample(logits, torch.Generator(device=device).manual_seed(0))
    ours = sample(logits, torch.Generator(device=device).manual_seed(0))
    return {
        "vocab": vocab,
        "rows": rows,
        "width": width,
        "logits_bytes": logits.numel() * logits.element_size(),
        "ms": {name: summary(values) for name, values in times.items()},
        "host_reads_per_step": reads,
        "same_draws": bool(torch.equal(reference[0], ours[0]) and torch.equal(reference[1], ours[1])),
        "entropy_max_abs_difference": float((reference[2] - ours[2]).abs().max()),
    }


def run(cases: list[tuple[int, int, int]], repeat: int, device: torch.device | str = "cpu") -> dict[str, Any]:
    return {
        "bench": "step",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "repeat": repeat,
        "cases": [measure_case(vocab, width, rows, repeat, device) for vocab, width, rows in cases],
    }


def default_cases(device: torch.device) -> list[tuple[int, int, int]]:
    """(vocab, cells, rows): the bundled model's whole canvas (64 cells) and 32 cells of a
    full-size vocabulary; on a GPU also a whole full-size canvas (256 cells, 268 MB of
    float32 logits, too slow to repeat on a shared CPU)."""
    cases = [(BUNDLED_VOCAB, 64, 1), (FULL_VOCAB, 32, 1)]
    if device.type == "cuda":
        cases.append((FULL_VOCAB, 256, 1))
    return cases


def parse_device(setting: str) -> torch.device:
    """auto | cpu | cuda | cuda:N as the engine reads it (dglsp.model.loading.choose_device),
    with its message when the device is not there."""
    from dglsp.engine.base import ModelUnavailable
    from dglsp.model.loading import choose_device

    try:
        return choose_device(setting)
    except ModelUnavailable as error:
        raise SystemExit(f"--device {setting}: {error}") from None


def render(report: dict[str, Any]) -> str:
    from dglsp.bench.report import human_bytes, p50_p95, table

    rows = []
    for case in report["cases"]:
        ms = case["ms"]
        rows.append(
            [
                f"{case['vocab']:,} x {case['rows']}x{case['width']}",
                human_bytes(case["logits_bytes"]),
                p50_p95(ms["reference_sample"]),
                p50_p95(ms["sample"]),
                p50_p95(ms["multinomial"]),
                p50_p95(ms["reference_step"]),
                p50_p95(ms["step"]),
                f"{case['host_reads_per_step']['reference_step']} -> {case['host_reads_per_step']['step']}",
                case["same_draws"],
                f"{case['entropy_max_abs_difference']:.1e}",
            ]
        )
    return table(
        [
            "vocab x rows x cells",
            "logits",
            "sampling before",
            "sampling after",
            "softmax + multinomial",
            "step before",
            "step after",
            "host reads",
            "same draws",
            "entropy diff",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> None:
    from dglsp.bench.environment import environment

    parser = argparse.ArgumentParser(prog="python -m dglsp.bench.step", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--device",
        default="auto",
        metavar="D",
        help="auto (default: cuda if there is one), cpu, cuda, cuda:N",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    device = parse_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    with torch.no_grad():
        report = run(default_cases(device), args.repeat, device)
    command = ["python", "-m", "dglsp.bench.step", *(sys.argv[1:] if argv is None else argv)]
    report["environment"] = environment(str(device), command)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        env = report["environment"]
        print(f"device: {env['device']}\ndate: {env['date']}\ncommit: {env['commit']}")
        print(f"command: {env['command']}\nthreads: {report['threads']}\n\n{render(report)}")


if __name__ == "__main__":
    main()
