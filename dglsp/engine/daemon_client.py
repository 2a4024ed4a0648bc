"""DaemonEngine: the Engine that runs on the user's resident `dglsp serve`, over its socket.

settings.engine "auto": connect to the daemon for (model, device) in the runtime dir; if none
answers, start one detached (`python -m dglsp.daemon`, its own session, its log beside the
socket) and connect once it listens. "Check, spawn, wait" runs under an flock on the `.lock`
file, so language servers starting together end up with one daemon. A socket path: connect
only. The wire format is dglsp.engine.wire; docs/daemon.md has the whole picture.

Crash safety: when the connection drops (the daemon died), requests in flight raise
EngineError (RESTART_MESSAGE), the state goes back to LOADING (not ERROR: the server treats
ERROR as final and stops asking) and the daemon is reconnected or respawned with backoff.
Only a failure a restart cannot fix (the model is missing, the daemon speaks another
protocol, the daemon keeps dying) ends in ERROR. `watch(listener)` tells the language server
about these changes after its first start, so the editor's status and messages follow them.

Never hang the language server: a cancelled request waits at most CANCEL_GRACE_S for the
daemon to confirm, a daemon that stops answering while it loads is pinged and counted as lost,
and closing aborts the socket instead of waiting for a stuck daemon to read what is queued.

Prompt building needs token counts on this side: the tokenizer is loaded here from the
model directory the daemon reports (tokenizer files only, no weights).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dglsp
from dglsp.engine import wire
from dglsp.engine.base import (
    Cancelled,
    CancelToken,
    Draft,
    EngineError,
    EngineState,
    InfillRequest,
    ModelUnavailable,
    Progress,
    ProgressCallback,
    Tokenizer,
)

if TYPE_CHECKING:
    from dglsp.config import Settings

# listener(state, message): see DaemonEngine.watch.
StateListener = Callable[[EngineState, str | None], None]

log = logging.getLogger(__name__)

RESTART_MESSAGE = "The dglsp engine stopped; restarting it."
# Waits before each reconnect attempt; the last one repeats.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# Attempts in a row that may fail (about a minute with BACKOFF_S) before the engine is ERROR.
MAX_ATTEMPTS = 8
# Python and dglsp's imports on a busy machine; the model loads after the socket is up.
SPAWN_TIMEOUT_S = 60.0
HELLO_TIMEOUT_S = 10.0
# While waiting for `start` (a real model loads for minutes), ask for the daemon's status when
# nothing came for this long; a daemon that does not answer within HELLO_TIMEOUT_S is lost.
START_PING_S = 10.0
# After sending `cancel`, how long a request waits for the daemon to confirm before it gives up
# on it (a stopped or wedged daemon never confirms; the server must move on, or shut down).
CANCEL_GRACE_S = 2.0
# A daemon we spawned stops after this long without any client: closing every editor
# eventually frees the GPU, while an editor restarting its language server finds it loaded.
SPAWNED_IDLE_EXIT_S = 1800
# How often a waiting infill looks at its CancelToken (a threading flag, not awaitable).
CANCEL_POLL_S = 0.01
LOG_KEEP_BYTES = 5 * 1024 * 1024

_LOST = object()  # put into every open stream when the connection drops
# Spawned daemons outlive us; their Popen objects are kept so they are reaped, not warned about.
_SPAWNED: list[subprocess.Popen[bytes]] = []


class _Lost(Exception):
    """The connection to the daemon ended."""


class _NotListening(Exception):
    """Nothing accepts connections on the socket."""


class _Permanent(EngineError):
    """A failure that another attempt would not fix."""


class _Connection:
    """One socket to the daemon: sends requests, routes answers to per-request queues."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hello: wire.Message,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.hello = hello
        self.lost = False
        self.on_progress = on_progress
        self.on_lost: Callable[[_Connection], None] | None = None
        self._reader = reader
        self._writer = writer
        self._streams: dict[int, asyncio.Queue[Any]] = {}
        self._ids = itertools.count(1)
        self._task = asyncio.create_task(self._read_all(), name="dglsp-daemon-client-read")

    @classmethod
    async def open(cls, path: Path, on_progress: ProgressCallback | None = None) -> _Connection:
        """Connect and exchange hellos. `on_progress` gets the daemon's load progress from the
        first message on (a client connecting mid-load is sent the latest report at once)."""
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=wire.MAX_MESSAGE_BYTES)
        except (FileNotFoundError, ConnectionRefusedError) as error:
            raise _NotListening(str(error)) from None
        try:
            writer.write(wire.encode(wire.hello()))
            try:
                line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
            except TimeoutError:
                raise _Lost(f"the daemon on {path} did not answer within {HELLO_TIMEOUT_S:.0f} s") from None
            if not line:
                raise _Lost(f"the daemon on {path} closed the connection before saying hello")
            answer = wire.decode(line)
            if answer.get("type") == "error":
                raise _Permanent(str(answer.get("message")))
            problem = wire.hello_problem(answer, f"dglsp serve on {path}")
            if problem is not None:
                raise _Permanent(problem)
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer, answer, on_progress)

    def next_id(self) -> int:
        return next(self._ids)

    def open_stream(self, message_id: int) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        if self.lost:
            queue.put_nowait(_LOST)
        self._streams[message_id] = queue
        return queue

    def close_stream(self, message_id: int) -> None:
        self._streams.pop(message_id, None)

    def send(self, message: wire.Message) -> None:
        if not self.lost:
            self._writer.write(wire.encode(message))

    async def call(self, message: wire.Message, ping_s: float | None = None) -> wire.Message:
        """Send a request that has one answer (status, start) and return the answer.

        `ping_s`: while no answer came for that long, check that the daemon still answers a
        `status` at once; if it does not within HELLO_TIMEOUT_S, raise _Lost.
        """
        message_id = self.next_id()
        queue = self.open_stream(message_id)
        try:
            self.send({**message, "id": message_id})
            while True:
                try:
                    answer = await asyncio.wait_for(queue.get(), ping_s)
                    break
                except TimeoutError:
                    await self._ping()
        finally:
            self.close_stream(message_id)
        if answer is _LOST:
            raise _Lost("the daemon closed the connection")
        return answer

    async def _ping(self) -> None:
        try:
            await asyncio.wait_for(self.call({"type": "status"}), HELLO_TIMEOUT_S)
        except TimeoutError:
            raise _Lost(f"the daemon stopped answering (no status within {HELLO_TIMEOUT_S:.0f} s)") from None

    async def close(self) -> None:
        """Drop the connection now: a graceful close would wait for a stuck daemon to read."""
        self._task.cancel()
        self._writer.transport.abort()
        with contextlib.suppress(Exception):  # after an abort this is one turn of the loop
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    async def _read_all(self) -> None:
        try:
            while line := await self._reader.readline():
                self._route(wire.decode(line))
        except (ConnectionError, OSError, ValueError, wire.WireError) as error:
            log.warning("connection to the dglsp engine broke: %s", error)
        finally:
            self.lost = True
            for queue in self._streams.values():
                queue.put_nowait(_LOST)
            if self.on_lost is not None:
                self.on_lost(self)

    def _route(self, message: wire.Message) -> None:
        if message["type"] == "progress":
            if self.on_progress is not None:
                self.on_progress(wire.progress_from_wire(message))
            return
        queue = self._streams.get(message.get("id"))  # type: ignore[arg-type]
        if queue is not None:
            queue.put_nowait(message)
        elif message["type"] == "error":
            log.warning("the dglsp engine says: %s", message.get("message"))
        # Else: a late answer to a request whose consumer left; nobody wants it.


class DaemonEngine:
    """The Engine protocol over the daemon's socket (see the module docstring)."""

    def __init__(self, settings: Settings, *, spawn: bool = True, serve_args: Sequence[str] = ()) -> None:
        """`spawn=False`: never start a daemon (one-shot commands). `serve_args`: extra
        arguments for a spawned daemon (tests pass `--scripted SCRIPT`)."""
        target = (settings.engine or "auto").strip()
        self._auto = target == "auto"
        self._model = settings.model
        if self._auto:
            self._socket = wire.default_socket(settings.model, settings.device)
        else:
            self._socket = Path(target).expanduser().absolute()
        self._files = wire.DaemonFiles.beside(self._socket)
        self._spawn = spawn and self._auto
        self._serve_command = [
            sys.executable,
            "-m",
            "dglsp.daemon",
            *("--model", wire.model_identity(settings.model), "--device", settings.device),
            *("--socket", str(self._socket)),
            *("--idle-exit", str(SPAWNED_IDLE_EXIT_S)),
            # The daemon is shared per model and device: the first window's experts and dtype win.
            *(("--experts", settings.experts) if settings.experts != "auto" else ()),
            *(("--dtype", settings.dtype) if settings.dtype != "auto" else ()),
            *serve_args,
        ]
        self._state = EngineState.STOPPED
        self._error: str | None = None
        self._status: wire.Message = {}
        self._tokenizer: Tokenizer | None = None
        self._tokenizer_model: str | None = None
        self._connection: _Connection | None = None
        self._starting: asyncio.Task[None] | None = None
        self._progress: ProgressCallback | None = None
        self._listener: StateListener | None = None
        self._closed = False

    # The model lives in the daemon: closing this client while it starts frees nothing, so a
    # restart of the language server's engine need not wait for the daemon's load.
    loads_in_process = False

    # --- Engine protocol: status ---
    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def model_name(self) -> str:
        return str(self._status.get("model_name") or Path(self._model).name or self._model)

    @property
    def tokenizer(self) -> Tokenizer | None:
        return self._tokenizer

    @property
    def canvas_length(self) -> int:
        return int(self._status.get("canvas_length") or 0)

    # --- beyond the protocol: for `dglsp doctor`, logs and tests ---
    @property
    def socket_path(self) -> Path:
        return self._socket

    @property
    def daemon_pid(self) -> int | None:
        return self._status.get("pid")

    def watch(self, listener: StateListener | None) -> None:
        """Call `listener(state, message)` whenever the state changes from now on: the daemon
        was lost (LOADING, then its load progress), is back (READY) or was given up (ERROR)."""
        self._listener = listener

    async def daemon_status(self) -> wire.Message:
        """The daemon's status message now (state, pid, loads, clients, ...)."""
        connection = self._connection
        if connection is None:
            raise EngineError(self._error or "Not connected to the dglsp engine.")
        try:
            return await connection.call({"type": "status"})
        except _Lost:
            raise EngineError(self._restart_message()) from None

    # --- starting ---
    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Connect (or spawn) and wait for the daemon's model. Never raises."""
        if self._state in (EngineState.READY, EngineState.ERROR) or self._closed:
            return
        if self._starting is None or self._starting.done():
            self._progress = progress
            self._state = EngineState.LOADING
            self._starting = asyncio.create_task(self._bring_up(first=True))
        await asyncio.shield(self._starting)

    async def _bring_up(self, first: bool) -> None:
        """Attach to a daemon whose model is loaded; retry transient failures with backoff."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt > 0 or not first:
                await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            try:
                await self._attach()
                return
            except _NotListening:
                problem = self._nothing_listens()
                if first and attempt == 0 and not self._spawn:
                    self._fail(problem)
                    return
            except _Permanent as error:
                self._fail(str(error))
                return
            except (_Lost, EngineError, OSError, TimeoutError, wire.WireError) as error:
                problem = str(error) or type(error).__name__
            except Exception as error:  # a bug must become a message, not a dead task
                log.exception("starting the dglsp engine failed")
                problem = f"{type(error).__name__}: {error}"
            log.warning("dglsp engine attempt %d/%d: %s", attempt + 1, MAX_ATTEMPTS, problem)
        self._fail(f"The dglsp engine could not be started ({problem}). {self._log_hint()}".strip())

    async def _attach(self) -> None:
        _reap()
        connection = await self._connect_or_spawn()
        try:
            answer = await connection.call({"type": "start"}, ping_s=START_PING_S)
            if answer.get("type") == "error":
                raise _Permanent(str(answer.get("message")))
            if answer.get("state") == "error":
                raise _Permanent(str(answer.get("error") or "The model could not be loaded."))
            if answer.get("state") != "ready":
                raise _Lost(f"the daemon answered start with state {answer.get('state')!r}")
            await self._load_tokenizer(str(answer.get("model") or self._model))
            connection.on_lost = self._lost
            if connection.lost:
                raise _Lost("the daemon closed the connection")
        except BaseException:
            await connection.close()
            raise
        self._status = answer
        self._connection = connection
        self._set_state(EngineState.READY, None)
        log.info(
            "dglsp engine ready: %s, daemon pid %s on %s", self.model_name, self.daemon_pid, self._socket
        )

    async def _connect_or_spawn(self) -> _Connection:
        if self._auto:
            try:
                wire.check_socket_path(self._socket)
                wire.ensure_private_dir(self._socket.parent)
            except OSError as error:
                raise _Permanent(str(error)) from None
        try:
            return await _Connection.open(self._socket, self._report_progress)
        except _NotListening:
            if not self._spawn:
                raise
        # A model directory that is not there would only fail in the daemon, which would then
        # idle for SPAWNED_IDLE_EXIT_S: say so now (the same check and message), spawn nothing.
        problem = await asyncio.to_thread(_model_problem, self._model)
        if problem is not None:
            raise _Permanent(problem)
        async with _file_lock(self._files.lock, SPAWN_TIMEOUT_S + HELLO_TIMEOUT_S):
            try:  # another language server may have started it while we waited for the lock
                return await _Connection.open(self._socket, self._report_progress)
            except _NotListening:
                pass
            child = self._spawn_daemon()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SPAWN_TIMEOUT_S
            while True:
                await asyncio.sleep(0.05)
                try:
                    return await _Connection.open(self._socket, self._report_progress)
                except _NotListening:
                    if child.poll() is not None:
                        raise EngineError(
                            f"dglsp serve exited with code {child.returncode} before listening: "
                            f"{_log_tail(self._files.log)}"
                        ) from None
                    if loop.time() > deadline:
                        raise EngineError(
                            f"dglsp serve (pid {child.pid}) did not listen on {self._socket} "
                            f"within {SPAWN_TIMEOUT_S:.0f} s"
                        ) from None

    def _spawn_daemon(self) -> subprocess.Popen[bytes]:
        _keep_log_small(self._files.log)
        env = dict(os.environ)
        # The daemon must run this very dglsp, wherever it was imported from.
        package_root = str(Path(dglsp.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        with open(self._files.log, "ab") as log_file:
            os.chmod(self._files.log, 0o600)
            child = subprocess.Popen(
                self._serve_command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                cwd=self._socket.parent,
                env=env,
                start_new_session=True,  # not in the editor's process group: survives its signals
                close_fds=True,
            )
        _SPAWNED.append(child)
        log.info("started dglsp serve (pid %d) for %s; its log: %s", child.pid, self._model, self._files.log)
        return child

    async def _load_tokenizer(self, model: str) -> None:
        if self._tokenizer_model != model:
            self._tokenizer = await asyncio.to_thread(_local_tokenizer, model)
            self._tokenizer_model = model

    def _report_progress(self, progress: Progress) -> None:
        if self._state is not EngineState.LOADING:
            return
        if self._progress is not None:
            self._progress(progress)
        elif self._listener is not None:  # a respawned daemon loading after a loss
            self._listener(EngineState.LOADING, progress.message)

    # --- losing the daemon ---
    def _lost(self, connection: _Connection) -> None:
        if connection is not self._connection or self._closed:
            return
        self._connection = None
        log.warning("the dglsp engine (pid %s) stopped; restarting it", self.daemon_pid)
        self._progress = None
        self._set_state(EngineState.LOADING, self._restart_message())
        self._starting = asyncio.create_task(self._bring_up(first=False))

    def _fail(self, message: str) -> None:
        log.error("dglsp engine: %s", message)
        self._set_state(EngineState.ERROR, message)

    def _set_state(self, state: EngineState, message: str | None) -> None:
        self._state = state
        self._error = message if state is EngineState.ERROR else None
        if self._listener is not None and not self._closed:
            try:
                self._listener(state, message)
            except Exception:  # the listener's bug must not stop a restart
                log.exception("reporting the engine's state failed")

    def _nothing_listens(self) -> str:
        if self._auto:
            return f"no dglsp serve runs for {self._model} (socket {self._socket})"
        return (
            f"Nothing listens on {self._socket} (the engine setting). Start the engine there with "
            f'`dglsp serve --socket {self._socket}`, or set engine to "auto".'
        )

    def _restart_message(self) -> str:
        return RESTART_MESSAGE if not self._auto else f"{RESTART_MESSAGE[:-1]} (log: {self._files.log})."

    def _log_hint(self) -> str:
        return f"Its log: {self._files.log}." if self._auto else ""

    # --- infill ---
    async def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> AsyncIterator[Draft]:
        connection = self._connection
        if self._state is not EngineState.READY or connection is None:
            if self._state is EngineState.LOADING and self._status:
                raise EngineError("The dglsp engine is restarting; completions resume when it is back.")
            raise EngineError(self._error or f"The model is not loaded (engine {self._state.value}).")
        message_id = connection.next_id()
        queue = connection.open_stream(message_id)
        connection.send({"type": "infill", "id": message_id, "request": wire.request_to_wire(request)})
        loop = asyncio.get_running_loop()
        give_up_at: float | None = None  # set when our cancel is sent
        ended = False
        try:
            while True:
                if cancel is not None and cancel.cancelled and give_up_at is None:
                    connection.send({"type": "cancel", "id": message_id, "reason": cancel.reason})
                    give_up_at = loop.time() + CANCEL_GRACE_S
                wait: float | None = CANCEL_POLL_S if cancel is not None else None
                if give_up_at is not None:
                    wait = give_up_at - loop.time()
                    if wait <= 0:
                        log.warning("the dglsp engine did not confirm a cancel within %.0f s", CANCEL_GRACE_S)
                        raise Cancelled(cancel.reason if cancel else "cancelled")
                try:
                    message = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    continue
                if message is _LOST:
                    ended = True
                    if self._closed:  # we hung up ourselves (a restart or shutdown)
                        raise Cancelled("the engine was closed")
                    raise EngineError(self._restart_message())
                kind = message["type"]
                if kind == "draft":
                    draft = wire.draft_from_wire(message)
                    ended = draft.final
                    if give_up_at is not None:  # stale drafts after our cancel; the final one ends it
                        if draft.final:
                            raise Cancelled(cancel.reason if cancel else "cancelled")
                        continue
                    yield draft
                    if draft.final:
                        return
                elif kind == "cancelled":
                    ended = True
                    raise Cancelled(str(message.get("reason") or "cancelled"))
                elif kind == "error":
                    ended = True
                    raise EngineError(str(message.get("message")))
        finally:
            connection.close_stream(message_id)
            if not ended and give_up_at is None:  # the consumer left early: free the model at the next step
                connection.send({"type": "cancel", "id": message_id, "reason": "consumer stopped"})

    async def close(self) -> None:
        """Disconnect. The daemon keeps running for the other windows."""
        self._closed = True
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self._state = EngineState.STOPPED


def connect_if_running(settings: Settings) -> DaemonEngine | None:
    """The engine for a one-shot command (`dglsp complete`): never leaves a daemon behind.

    engine "auto": a DaemonEngine if the user's daemon answers now (it will not spawn one),
    else None (run in-process). A socket path: a DaemonEngine for it. Anything else: None.
    """
    from dglsp.engine import engine_kind

    target = (settings.engine or "").strip()
    if engine_kind(target) != "daemon":
        return None
    if target != "auto":
        return DaemonEngine(settings)
    path = wire.default_socket(settings.model, settings.device)
    return DaemonEngine(settings, spawn=False) if _answers(path) else None


# --- helpers ---


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


@contextlib.asynccontextmanager
async def _file_lock(path: Path, timeout: float) -> AsyncIterator[None]:
    """An exclusive flock, polled so the event loop keeps running; released on close."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if loop.time() > deadline:
                    raise EngineError(f"another dglsp held {path} for {timeout:.0f} s") from None
                await asyncio.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _model_problem(model: str) -> str | None:
    """Why the daemon could not load the model directory `model` (missing, not a model), or None.

    Only what is a directory for sure (/, . or ~ first); a Hugging Face id, or anything else,
    is the daemon's to look up.
    """
    from dglsp.model.loading import resolve_model

    if not model.startswith(("/", ".", "~")):
        return None
    try:
        resolve_model(model)
    except ModelUnavailable as error:
        return str(error)
    return None


def _local_tokenizer(model: str) -> Tokenizer | None:
    try:
        from dglsp.model.loading import resolve_model
        from dglsp.model.tokenizer import load_tokenizer

        return load_tokenizer(resolve_model(model))
    except Exception as error:  # the pipeline then estimates token counts
        log.info("no local tokenizer for %s (%s): prompt sizes are estimated", model, error)
        return None


def _reap() -> None:
    _SPAWNED[:] = [child for child in _SPAWNED if child.poll() is None]


def _keep_log_small(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_KEEP_BYTES:
            path.replace(path.with_name(path.name + ".1"))


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return f"no log at {path}"
    return " | ".join(text[-lines:]) or f"its log {path} is empty"
