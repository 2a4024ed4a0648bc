"""One client of the daemon: its socket, an outbox, and who is at the other end.

Messages go out through a queue drained by the connection's own writer task, so the model
never waits for a slow reader: the runner puts a draft and moves on to the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import sys

from dglsp.engine import wire

log = logging.getLogger(__name__)


class Connection:
    def __init__(self, number: int, writer: asyncio.StreamWriter) -> None:
        self.number = number
        self.peer_pid: int | None = None
        self.greeted = False  # the hello exchange succeeded
        self._writer = writer
        self._outbox: asyncio.Queue[wire.Message | None] = asyncio.Queue()
        self._closed = False
        self._sender = asyncio.create_task(self._send_all(), name=f"dglsp-daemon-send-{number}")

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, message: wire.Message) -> None:
        """Queue a message; a closed connection drops it (its client is gone)."""
        if not self._closed:
            self._outbox.put_nowait(message)

    async def close(self) -> None:
        """Send what is queued, then close the socket."""
        if self._closed:
            return
        self._closed = True
        self._outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._sender), 2.0)
        self._sender.cancel()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def _send_all(self) -> None:
        try:
            while (message := await self._outbox.get()) is not None:
                self._writer.write(wire.encode(message))
                await self._writer.drain()
        except (ConnectionError, OSError) as error:
            log.debug("connection %d: sending failed: %s", self.number, error)
            self._closed = True


def peer_uid_pid(writer: asyncio.StreamWriter) -> tuple[int | None, int | None]:
    """The connecting process's uid and pid (Linux SO_PEERCRED); (None, None) elsewhere."""
    sock = writer.get_extra_info("socket")
    if sock is None or not sys.platform.startswith("linux"):
        return None, None
    size = struct.calcsize("3i")
    try:
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size))
    except OSError:
        return None, None
    return uid, pid


def allowed_uid(uid: int | None) -> bool:
    """Only this user (and root, who can open the socket anyway) may talk to the engine."""
    return uid is None or uid in (os.getuid(), 0)
