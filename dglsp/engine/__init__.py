"""Engines: in-process transformers (`inprocess.InProcessEngine`); more come with the daemon."""

from __future__ import annotations

from dglsp.engine.base import (
    Cancelled,
    CancelToken,
    Draft,
    Engine,
    EngineError,
    EngineState,
    InfillRequest,
    ModelUnavailable,
    Progress,
    ProgressCallback,
    Tokenizer,
)

__all__ = [
    "CancelToken",
    "Cancelled",
    "Draft",
    "Engine",
    "EngineError",
    "EngineState",
    "InfillRequest",
    "ModelUnavailable",
    "Progress",
    "ProgressCallback",
    "Tokenizer",
    "create_engine",
    "engine_kind",
]


def engine_kind(setting: str) -> str:
    """'inprocess', 'http' (an OpenAI-compatible server) or 'daemon' ('auto' or a socket path)."""
    setting = (setting or "inprocess").strip()
    if setting == "inprocess":
        return "inprocess"
    if setting.startswith(("http://", "https://")):
        return "http"
    return "daemon"


def create_engine(settings) -> Engine:
    """The engine the settings ask for. Engines import torch lazily: the server starts fast."""
    kind = engine_kind(settings.engine)
    if kind == "http":
        from dglsp.engine.openai_compat import OpenAICompatibleEngine

        return OpenAICompatibleEngine(settings)
    if kind == "daemon":
        from dglsp.engine.daemon_client import DaemonEngine

        return DaemonEngine(settings)
    from dglsp.engine.inprocess import InProcessEngine

    return InProcessEngine(settings.model, settings.device, experts=settings.experts, dtype=settings.dtype)
