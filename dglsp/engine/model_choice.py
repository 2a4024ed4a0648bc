"""The bundled model, dglsp-small, and when it stands in for DiffusionGemma.

A newcomer without the 52 GB DiffusionGemma weights, or without a GPU that holds them,
still gets completions: when the `model` setting is left at its default and the released
model cannot run here, dglsp loads the small DiffusionGemma-architecture model shipped in
the package (docs/models/dglsp-small.md) and says so once, naming the setting that selects
the real model. A model the user set explicitly is never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from dglsp.config import DEFAULT_MODEL, Settings
from dglsp.engine.base import ModelUnavailable

log = logging.getLogger(__name__)

BUNDLED_NAME = "dglsp-small"
# Inside the package, so a wheel carries it.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models" / BUNDLED_NAME
# Where a packager keeps the model outside the package (and where tests put a tiny one);
# set but empty: no bundled model (the default then fails with its own message).
BUNDLED_DIR_ENV = "DGLSP_BUNDLED_MODEL"


def bundled_model_dir() -> Path | None:
    """The bundled model's directory, or None if this installation has none."""
    override = os.environ.get(BUNDLED_DIR_ENV)
    if override == "":
        return None
    path = Path(override).expanduser().resolve() if override else BUNDLED_DIR
    return path if (path / "config.json").is_file() else None


@dataclass(frozen=True)
class ModelChoice:
    settings: Settings  # the settings to build the engine from (model may be the bundled dir)
    reason: str | None = None  # why the bundled model stands in (None: it does not)

    def notice(self, setting: str = "the `model` setting") -> str | None:
        """What to tell the user once; `setting` names how they select the model where they are."""
        if self.reason is None:
            return None
        return (
            f"dglsp: using the bundled small model {BUNDLED_NAME}, because {DEFAULT_MODEL} "
            f"{self.reason}. Its completions are far weaker; set {setting} to a DiffusionGemma "
            "directory or cached Hugging Face id to use the real model."
        )


def choose_model(settings: Settings) -> ModelChoice:
    """`settings` as they are, or with the bundled model when the default cannot run here."""
    if settings.model != DEFAULT_MODEL or _remote(settings.engine):
        return ModelChoice(settings)
    bundled = bundled_model_dir()
    if bundled is None:
        return ModelChoice(settings)  # the normal "not in the cache" message will follow
    why = default_model_unusable(settings.device, settings.dtype)
    if why is None:
        return ModelChoice(settings)
    log.info("using the bundled model %s: %s %s", BUNDLED_NAME, DEFAULT_MODEL, why)
    return ModelChoice(with_model(settings, str(bundled)), why)


def with_model(settings: Settings, model: str) -> Settings:
    """`settings` for an engine running `model` (after a choice, or for new settings later)."""
    chosen = dataclasses.replace(settings, model=model)
    bundled = bundled_model_dir()
    if bundled is not None and model == str(bundled) and settings.context_budget == Settings.context_budget:
        # Left at the default, which suits DiffusionGemma: give the small model prompts of the
        # size it was trained on instead (positions it never saw only add noise).
        budget = trained_context_budget(bundled)
        if budget:
            chosen = dataclasses.replace(chosen, context_budget=budget)
    return chosen


def trained_context_budget(model_dir: Path) -> int | None:
    """The prompt budget a `dglsp train` model was trained with (its training.json), if known."""
    try:
        options = json.loads((model_dir / "training.json").read_text(encoding="utf-8"))["options"]
        return int(options["context_budget"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def default_model_unusable(device_setting: str, dtype: str = "auto") -> str | None:
    """Why the released DiffusionGemma cannot run here (words after its name), or None if it can."""
    from dglsp.model.loading import choose_device, memory_check, resolve_model

    try:
        path = resolve_model(DEFAULT_MODEL)  # the local cache only: dglsp never downloads
    except ModelUnavailable:
        return "is not in the local Hugging Face cache"
    try:
        device = choose_device(device_setting)
    except ModelUnavailable as error:
        return f"cannot use the device setting {device_setting!r} ({error})"
    if device.type != "cuda":
        return "needs a CUDA GPU and none is in use"
    check = memory_check(path, device, dtype)
    if not check.fits:
        return "does not fit in the GPU's free memory"
    return None


def _remote(engine_setting: str) -> bool:
    """An OpenAI-compatible server serves its own model; dglsp's choice does not apply."""
    from dglsp.engine import engine_kind

    return engine_kind(engine_setting) == "http"
