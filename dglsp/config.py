"""Settings shared by the language server and the CLI.

Small typed dataclasses with defaults, read with cattrs from `initializationOptions`,
`workspace/didChangeConfiguration` or command-line flags. A bad value never stops the
server: it is reported (the caller shows the problems to the user) and the default is kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import cattrs

DEFAULT_MODEL = "google/diffusiongemma-26B-A4B-it"

Strategy = Literal["prompt", "pinned"]  # suffix in the prompt, or pinned in the canvas after the middle
CanvasPolicy = Literal["auto", "fixed"]
# transformers' experts_implementation for the MoE layers; auto: grouped_mm (dglsp.model.loading)
Experts = Literal["auto", "eager", "batched_mm", "grouped_mm"]
# Precision of the weights and activations (dglsp.model.loading.choose_precision). auto: bfloat16
# on CUDA, float32 (small models) or bfloat16 on the CPU; fp8: the layers' weights in FP8.
Dtype = Literal["auto", "bfloat16", "float32", "fp8"]


@dataclass
class Settings:
    """Everything a user can set. Names are the keys of initializationOptions (camelCase there)."""

    model: str = DEFAULT_MODEL
    device: str = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
    experts: Experts = "auto"  # how the mixture-of-experts layers run; same text, different speed
    dtype: Dtype = "auto"  # fp8: FP8 weights, about half the memory, a small quality cost
    # Where the model runs: "inprocess" (inside this server), "auto" (the user's resident
    # `dglsp serve`, started when none runs), a socket path, or an OpenAI-compatible URL.
    engine: str = "auto"
    strategy: Strategy = "prompt"
    canvas_policy: CanvasPolicy = "auto"  # auto: short canvas mid-line, the model's canvas otherwise
    canvas_length: int = 0  # 0: the model's own canvas length (config.canvas_length)
    steps: int = 48
    entropy_bound: float = 0.1
    seed: int = 0
    debounce_ms: int = 150
    context_budget: int = 2048  # prompt tokens: prefix + suffix + header context
    # Enabled languages by dglsp name (see dglsp.languages); "*" enables every language,
    # including ones without a grammar (they get a window of lines as context).
    languages: list[str] = field(default_factory=lambda: ["*"])
    window_lines: int = 60  # lines around the cursor when no function encloses it
    drafts: bool = False  # set by clients that render dglsp/draft notifications
    status: bool = False  # set by clients that show dglsp/status notifications (a status bar)
    template: str = ""  # "" = from the model's tokenizer; else a template with {prefix} {suffix} {context}

    def validate(self) -> list[str]:
        """Problems with the values (types are checked by cattrs before)."""
        problems = []
        if self.steps < 1 or self.steps > 1024:
            problems.append(f"steps must be between 1 and 1024, got {self.steps}")
        if not self.entropy_bound > 0:
            problems.append(f"entropyBound must be > 0, got {self.entropy_bound}")
        if self.canvas_length < 0 or self.canvas_length > 4096:
            problems.append(f"canvasLength must be between 0 and 4096, got {self.canvas_length}")
        if self.context_budget < 64:
            problems.append(f"contextBudget must be at least 64 tokens, got {self.context_budget}")
        if self.debounce_ms < 0:
            problems.append(f"debounceMs must be >= 0, got {self.debounce_ms}")
        if self.window_lines < 1:
            problems.append(f"windowLines must be >= 1, got {self.window_lines}")
        if self.template and ("{prefix}" not in self.template or "{suffix}" not in self.template):
            problems.append("template must contain {prefix} and {suffix}")
        return problems

    def language_enabled(self, language: str) -> bool:
        return "*" in self.languages or language in self.languages


_FIELD_NAMES = {f.name for f in dataclasses.fields(Settings)}
_converter = cattrs.Converter(forbid_extra_keys=False)


def _snake(key: str) -> str:
    out = []
    for ch in key:
        if ch.isupper():
            out.append("_")
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def merge_settings(base: Settings, raw: Any) -> tuple[Settings, list[str]]:
    """Apply user-supplied values (camelCase or snake_case keys) on top of `base`.

    Each bad value is skipped with a message; unknown keys are reported too, so a typo
    in an editor's settings does not go unnoticed. Accepts the value wrapped in a
    {"dglsp": {...}} section, as editors send from workspace/didChangeConfiguration.
    """
    problems: list[str] = []
    if raw is None:
        return base, problems
    if isinstance(raw, dict) and isinstance(raw.get("dglsp"), dict):
        raw = raw["dglsp"]
    if not isinstance(raw, dict):
        return base, [f"settings must be an object, got {type(raw).__name__}"]

    values = dataclasses.asdict(base)
    for key, value in raw.items():
        name = _snake(key)
        if name not in _FIELD_NAMES:
            problems.append(f"unknown setting '{key}' (ignored)")
            continue
        if value is None:
            continue
        trial = dict(values, **{name: value})
        try:
            candidate = _converter.structure(trial, Settings)
        except Exception as error:  # cattrs raises ClassValidationError / ValueError / TypeError
            problems.append(f"setting '{key}': {_describe(error)} (kept {values[name]!r})")
            continue
        wrong = [p for p in candidate.validate() if p not in base.validate()]
        if wrong:
            problems.extend(f"{p} (kept {values[name]!r})" for p in wrong)
            continue
        values = dataclasses.asdict(candidate)
    return Settings(**values), problems


def _describe(error: Exception) -> str:
    if isinstance(error, cattrs.ClassValidationError):
        leaves = [str(e) for e in error.exceptions]
        return "; ".join(leaves) or str(error)
    return str(error)
