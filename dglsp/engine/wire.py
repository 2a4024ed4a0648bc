"""The resident engine's socket: where it lives and what crosses it (shared by both sides).

`dglsp serve` (dglsp.daemon) listens on a Unix socket; `DaemonEngine` (daemon_client) talks
to it. Both import this module, so the address and the message shapes are defined once.

Address: one daemon per (model, device), at `<runtime dir>/engine-<key>.sock`, where the
runtime dir is $DGLSP_RUNTIME_DIR, else $XDG_RUNTIME_DIR/dglsp, else <tmp>/dglsp-<uid>,
always a directory only this user can enter (0700), the socket itself 0600. Beside the socket:
`.pid` (the running daemon's pid, locked while it runs), `.lock` (clients starting it) and
`.log` (the log of a daemon a client started).

Messages: one JSON object per line (UTF-8, newline-terminated), each with a "type"; requests
carry a client-chosen integer "id" that every answer to them repeats. docs/daemon.md lists
them all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dglsp import __version__
from dglsp.engine.base import Draft, InfillRequest, Progress

# Bump when a message changes meaning; both sides refuse a peer with another number.
PROTOCOL_VERSION = 1
# A prompt is a few thousand tokens; this only stops a runaway peer.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# sun_path is 108 bytes on Linux (104 on macOS), its last one a NUL.
MAX_SOCKET_PATH_BYTES = 103

Message = dict[str, Any]


class WireError(Exception):
    """A message that breaks the protocol (not JSON, missing fields, wrong types)."""


# --- framing ---


def encode(message: Message) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> Message:
    try:
        message = json.loads(line)
    except ValueError as error:
        raise WireError(f"not a JSON message: {error}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise WireError("a message must be a JSON object with a string 'type'")
    return message


def request_id(message: Message) -> int:
    value = message.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise WireError(f"'{message['type']}' needs an integer 'id'")
    return value


# --- hello: both sides check the protocol number ---


def hello(**fields: Any) -> Message:
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "version": __version__,
        "pid": os.getpid(),
        **fields,
    }


def hello_problem(message: Message, peer: str) -> str | None:
    """Why `message` (the peer's hello) rules the peer out, or None. `peer` names it for the user."""
    if message.get("type") != "hello":
        return f"expected a hello from the {peer}, got '{message.get('type')}'"
    theirs = message.get("protocol")
    if theirs != PROTOCOL_VERSION:
        return (
            f"the {peer} speaks protocol {theirs} (dglsp {message.get('version', '?')}), this dglsp "
            f"{__version__} speaks protocol {PROTOCOL_VERSION}: they come from different dglsp "
            "installs. Stop the old `dglsp serve` (its pid is in the .pid file beside its socket) "
            "and restart the editor's language server."
        )
    return None


# --- message bodies ---


def error(message_id: int | None, text: str, kind: str = "engine") -> Message:
    """kind: "engine" (this request failed), "unavailable" (no model) or "protocol"."""
    return {"type": "error", "id": message_id, "message": text, "kind": kind}


_REQUEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "prompt": str,
    "canvas_length": int,
    "steps": int,
    "entropy_bound": (int, float),
    "seed": int,
    "strategy": str,
    "pinned_suffix": str,
    "middle_lengths": list,
    "prompt_ids": list,
}


def request_to_wire(request: InfillRequest) -> Message:
    return dataclasses.asdict(request)


def request_from_wire(raw: Any) -> InfillRequest:
    if not isinstance(raw, dict):
        raise WireError("'infill' needs a 'request' object")
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(InfillRequest):
        if spec.name not in raw:
            continue  # the dataclass default
        value = raw[spec.name]
        expected = _REQUEST_TYPES.get(spec.name)  # a field added later travels as plain JSON
        if expected is not None and (isinstance(value, bool) or not isinstance(value, expected)):
            raise WireError(f"request field '{spec.name}' has the wrong type ({type(value).__name__})")
        if isinstance(value, list):  # JSON arrays come back as the frozen dataclass's tuples
            if spec.name in ("middle_lengths", "prompt_ids") and not all(_is_int(item) for item in value):
                raise WireError(f"request field '{spec.name}' must be a list of integers")
            value = tuple(value)
        values[spec.name] = value
    if "prompt" not in values:
        raise WireError("an infill request needs a 'prompt'")
    return InfillRequest(**values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def draft_to_wire(message_id: int, draft: Draft) -> Message:
    return {
        "type": "draft",
        "id": message_id,
        "step": draft.step,
        "total_steps": draft.total_steps,
        "text": draft.text,
        "final": draft.final,
        "token_ids": list(draft.token_ids),
    }


def draft_from_wire(message: Message) -> Draft:
    try:
        return Draft(
            step=int(message["step"]),
            total_steps=int(message["total_steps"]),
            text=str(message["text"]),
            final=bool(message["final"]),
            token_ids=tuple(int(i) for i in message.get("token_ids", ())),
        )
    except (KeyError, TypeError, ValueError) as problem:
        raise WireError(f"a malformed draft: {problem!r}") from None


def progress_to_wire(progress: Progress) -> Message:
    return {"type": "progress", "message": progress.message, "percentage": progress.percentage}


def progress_from_wire(message: Message) -> Progress:
    percentage = message.get("percentage")
    return Progress(str(message.get("message", "")), percentage if isinstance(percentage, int) else None)


# --- where the socket lives ---


def runtime_dir() -> Path:
    """The per-user directory for sockets, locks and logs (not created here)."""
    override = os.environ.get("DGLSP_RUNTIME_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "dglsp"
    return Path(tempfile.gettempdir()) / f"dglsp-{os.getuid()}"


def model_identity(model: str) -> str:
    """The model setting as the daemon key sees it: a directory by its absolute path."""
    from dglsp.model.loading import looks_like_path

    if looks_like_path(model):
        return str(Path(model).expanduser().resolve())
    return model


def default_socket(model: str, device: str) -> Path:
    """The socket of the daemon for this (model, device): one resident model per pair."""
    key = f"{model_identity(model)}\0{(device or 'auto').strip().lower()}"
    return runtime_dir() / f"engine-{hashlib.sha256(key.encode()).hexdigest()[:12]}.sock"


@dataclass(frozen=True)
class DaemonFiles:
    """The files beside one socket."""

    socket: Path
    pid: Path  # the running daemon's pid; flock-ed by it for as long as it runs
    lock: Path  # flock-ed by a client while it checks, spawns and waits for the daemon
    log: Path  # stderr of a daemon a client spawned

    @classmethod
    def beside(cls, socket: Path) -> DaemonFiles:
        base = socket.with_suffix("") if socket.suffix == ".sock" else socket
        return cls(
            socket,
            base.with_name(base.name + ".pid"),
            base.with_name(base.name + ".lock"),
            base.with_name(base.name + ".log"),
        )


def check_socket_path(path: Path) -> None:
    """A clear error for a path the kernel would reject with 'AF_UNIX path too long'."""
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        raise OSError(
            f"the socket path {path} is {size} bytes; Unix sockets allow {MAX_SOCKET_PATH_BYTES}. "
            "Set DGLSP_RUNTIME_DIR (or --socket) to a shorter directory."
        )


def ensure_private_dir(path: Path) -> None:
    """Create `path` as 0700, or make sure an existing one is ours and 0700.

    The directory is what keeps other users away from the socket: in a shared temp dir
    someone else could have created it first, so a foreign owner is refused.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is not a directory; dglsp keeps its engine socket there")
    if info.st_uid != os.getuid():
        raise OSError(
            f"{path} belongs to another user (uid {info.st_uid}); dglsp will not put its socket "
            "there. Set DGLSP_RUNTIME_DIR to a directory of yours."
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
