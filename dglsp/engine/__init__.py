"""Engines: in-process transformers (`inprocess.InProcessEngine`); more come with the daemon."""

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
]
