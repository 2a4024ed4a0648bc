"""dglsp's own LSP messages: method names, params as plain dataclasses, and their JSON.

The one place these messages are defined (docs/protocol.md specifies them for client
authors). Plain dataclasses, no pygls or lsprotocol: the server sends `to_json()` and a
client or test reads a message back with `from_json()`. Positions are LSP positions in the
position encoding the server and client negotiated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Server -> client notification: one draft of an in-flight completion request.
DRAFT = "dglsp/draft"

# The initializationOptions (or didChangeConfiguration) key by which a client asks for drafts.
DRAFTS_OPTION = "drafts"

RequestId = int | str


@dataclass(frozen=True)
class Position:
    line: int
    character: int  # in the negotiated position encoding

    def to_json(self) -> dict[str, int]:
        return {"line": self.line, "character": self.character}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Position:
        return cls(int(raw["line"]), int(raw["character"]))


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.to_json(), "end": self.end.to_json()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Range:
        return cls(Position.from_json(raw["start"]), Position.from_json(raw["end"]))


@dataclass(frozen=True)
class VersionedDocument:
    uri: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "version": self.version}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> VersionedDocument:
        return cls(str(raw["uri"]), int(raw["version"]))


@dataclass(frozen=True)
class DraftParams:
    """`dglsp/draft`: replace `range` of the document (at `text_document.version`) with `text`.

    Drafts of one request come in step order; the last has final=True and carries what the
    request's response will carry (text "" with an empty range: nothing to suggest).
    """

    text_document: VersionedDocument
    position: Position  # the request's position, as the client sent it
    range: Range  # on the position's line, like an InlineCompletionItem's range
    step: int  # 1-based denoising step that produced this draft
    total_steps: int  # the step budget; the model may finish in fewer steps
    text: str
    final: bool
    request_id: RequestId | None = None  # the JSON-RPC id of the completion request

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "textDocument": self.text_document.to_json(),
            "position": self.position.to_json(),
            "range": self.range.to_json(),
            "step": self.step,
            "totalSteps": self.total_steps,
            "text": self.text,
            "final": self.final,
        }
        if self.request_id is not None:
            out["requestId"] = self.request_id
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DraftParams:
        return cls(
            text_document=VersionedDocument.from_json(raw["textDocument"]),
            position=Position.from_json(raw["position"]),
            range=Range.from_json(raw["range"]),
            step=int(raw["step"]),
            total_steps=int(raw["totalSteps"]),
            text=str(raw["text"]),
            final=bool(raw["final"]),
            request_id=raw.get("requestId"),
        )


# Server -> client notification: the engine's state, sent on every change to clients that
# set the `status` option.
STATUS = "dglsp/status"

# The initializationOptions (or didChangeConfiguration) key by which a client asks for status.
STATUS_OPTION = "status"

# workspace/executeCommand commands. STATUS_COMMAND takes no arguments and answers a
# StatusParams; CONTEXT_COMMAND takes one ContextArguments and answers a ContextResult.
STATUS_COMMAND = "dglsp.status"
CONTEXT_COMMAND = "dglsp.context"

EngineStateName = str  # "starting" | "loading" | "ready" | "generating" | "error"
ENGINE_STATES = ("starting", "loading", "ready", "generating", "error")


@dataclass(frozen=True)
class StatusParams:
    """`dglsp/status`: what a status bar shows. Sent whenever any field changes."""

    state: EngineStateName
    model: str  # a short name for display: the last part of the model path or id
    model_path: str  # the `model` setting as given
    engine: str  # "inprocess", "daemon" or "http"
    device: str  # the `device` setting
    dtype: str = "auto"  # the `dtype` setting (fp8: FP8 weights)
    message: str = ""  # what is going on, or the error and what to do about it
    percentage: int | None = None  # 0-100 while loading, when known
    last_latency_ms: float | None = None  # the last completion that ran the model

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "model": self.model,
            "modelPath": self.model_path,
            "engine": self.engine,
            "device": self.device,
            "dtype": self.dtype,
            "message": self.message,
            "percentage": self.percentage,
            "lastLatencyMs": self.last_latency_ms,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StatusParams:
        latency = raw.get("lastLatencyMs")
        percentage = raw.get("percentage")
        return cls(
            state=str(raw["state"]),
            model=str(raw["model"]),
            model_path=str(raw["modelPath"]),
            engine=str(raw["engine"]),
            device=str(raw["device"]),
            dtype=str(raw.get("dtype", "auto")),
            message=str(raw.get("message", "")),
            percentage=None if percentage is None else int(percentage),
            last_latency_ms=None if latency is None else float(latency),
        )


@dataclass(frozen=True)
class ContextArguments:
    """The argument of `dglsp.context`: a document the client opened and a position in it."""

    uri: str
    position: Position

    def to_json(self) -> dict[str, Any]:
        return {"textDocument": {"uri": self.uri}, "position": self.position.to_json()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ContextArguments:
        return cls(str(raw["textDocument"]["uri"]), Position.from_json(raw["position"]))
