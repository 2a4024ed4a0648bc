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
]


def create_engine(settings) -> Engine:
    """The engine the settings ask for. Imports torch lazily: the server starts fast."""
    from dglsp.engine.inprocess import InProcessEngine

    return InProcessEngine(settings.model, settings.device)
