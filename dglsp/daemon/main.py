"""Running the daemon in the foreground: claim the socket, serve, clean up on a signal.

Both `dglsp serve` (dglsp.cli.serve) and `python -m dglsp.daemon` (how editors' language
servers start it detached, see dglsp.engine.daemon_client) end up in `run`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from dglsp import __version__
from dglsp.daemon.claim import Claim, ClaimError, claim_socket
from dglsp.daemon.server import DaemonInfo, DaemonServer, EngineFactory
from dglsp.engine import wire
from dglsp.engine.base import Engine

log = logging.getLogger("dglsp.daemon")

EXIT_OK = 0
EXIT_REFUSED = 2  # already running, or the socket cannot be claimed


@dataclass(frozen=True)
class DaemonOptions:
    model: str
    device: str = "auto"
    socket: Path | None = None  # None: the default socket for (model, device) in the runtime dir
    scripted: Path | None = None  # a ScriptedEngine script instead of the model (tests)
    idle_exit_s: float | None = None  # stop after this long without clients; None: never
    max_batch: int | None = None  # requests sharing one denoising pass; None: by device
    experts: str = "auto"  # the MoE layers' implementation (dglsp.model.loading.choose_experts)
    dtype: str = "auto"  # the weights' precision, e.g. fp8 (dglsp.model.loading.choose_precision)


class _Stopped(BaseException):
    """SIGTERM or SIGINT before the event loop took the signals over."""


def run(options: DaemonOptions) -> int:
    """Serve until SIGTERM or SIGINT. Raises ClaimError when the socket cannot be taken."""
    # Until the event loop handles them, a signal must still release the socket (the
    # default action would leave it behind), so it unwinds through the `finally` below.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_early)
    model = wire.model_identity(options.model)
    path = options.socket or wire.default_socket(model, options.device)
    load_unfinished = False
    try:
        claim = claim_socket(path, private_dir=options.socket is None or path.parent == wire.runtime_dir())
    except _Stopped:
        return EXIT_OK
    try:
        info = DaemonInfo(model, options.device, str(claim.files.socket))
        log.info(
            "dglsp serve %s listening on %s (pid %d): model %s on %s, dtype %s",
            __version__,
            info.socket,
            os.getpid(),
            model,
            options.device,
            options.dtype,
        )
        server = DaemonServer(_engine_factory(options, model), info, options.idle_exit_s)
        load_unfinished = asyncio.run(_serve(server, claim))
    except _Stopped:
        log.info("stopped while starting")
    finally:
        claim.release()
        log.info("dglsp serve stopped; removed %s", claim.files.socket)
    if load_unfinished:
        # A load cannot be interrupted (it runs in the engine's thread, possibly for minutes):
        # the socket is gone and nothing else needs saving, so do not wait for it.
        logging.shutdown()
        os._exit(EXIT_OK)
    return EXIT_OK


def _stop_early(signum: int, frame: object) -> None:
    raise _Stopped(signal.Signals(signum).name)


async def _serve(server: DaemonServer, claim: Claim) -> bool:
    """Serve until a signal; True if the model was still loading then."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stopping, stop, signum)
    await server.serve(claim.listener, stop)
    return server.load_interrupted


def _stopping(stop: asyncio.Event, signum: int) -> None:
    log.info("%s: stopping", signal.Signals(signum).name)
    stop.set()


def _engine_factory(options: DaemonOptions, model: str) -> EngineFactory:
    def make() -> Engine:
        if options.scripted is not None:
            from dglsp.testing.scripted_engine import Script, ScriptedEngine

            return ScriptedEngine(Script.load(options.scripted), model=model)
        from dglsp.engine.inprocess import InProcessEngine

        return InProcessEngine(model, options.device, options.max_batch, options.experts, options.dtype)

    return make


def setup_logging(level: str = "info") -> None:
    """Foreground logs on stderr (a spawned daemon's stderr is its log file)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


__all__ = ["EXIT_OK", "EXIT_REFUSED", "ClaimError", "DaemonOptions", "run", "setup_logging"]
