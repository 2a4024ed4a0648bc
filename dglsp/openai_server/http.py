"""A minimal HTTP/1.1 server on asyncio streams: one request per connection, JSON or streamed.

Standard library only, enough for an OpenAI-compatible API: Content-Length request bodies,
JSON answers, chunked event streams, and a watch on the socket so that a client that goes
away mid-request is noticed at once (its completion is then cancelled between two steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024  # a prompt is at most a few hundred KB
HEAD_TIMEOUT_S = 30.0  # a client that opens a connection and says nothing is dropped


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-case names
    body: bytes


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Connection:
    """The answer side of one request: a JSON response, or a chunked stream of events."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._watch: asyncio.Task[None] | None = None
        self.gone = False  # the client closed its side
        self.answered = False  # a status line went out: no second answer is possible

    async def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        head = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
        self.answered = True
        self._writer.write(self._head(status, head) + body)
        await self._writer.drain()

    async def start_stream(self, content_type: str = "text/event-stream") -> None:
        head = {"Content-Type": content_type, "Cache-Control": "no-cache", "Transfer-Encoding": "chunked"}
        self.answered = True
        self._writer.write(self._head(200, head))
        await self._writer.drain()

    async def send_chunk(self, data: bytes) -> None:
        """Raises ConnectionError when the client has gone."""
        if self.gone or self._writer.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self._writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self._writer.drain()

    async def end_stream(self) -> None:
        if not (self.gone or self._writer.is_closing()):
            self._writer.write(b"0\r\n\r\n")
            await self._writer.drain()

    def watch_disconnect(self, on_gone: Callable[[], None]) -> None:
        """Call `on_gone` when the client closes its side (EOF or reset) before we finish."""

        async def watch() -> None:
            try:
                while await self._reader.read(4096):
                    pass  # a well-behaved client sends nothing more; ignore it if it does
            except (ConnectionError, OSError):
                pass
            self.gone = True
            on_gone()

        self._watch = asyncio.ensure_future(watch())

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._writer.close()

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Connection: close", "Server: dglsp"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


Handler = Callable[[HttpRequest, Connection], Awaitable[None]]
ErrorBody = Callable[[int, str], Any]


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """The next request, or None when the client closed without sending one."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD_BYTES:
        raise BadRequest(431, "request head too large")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"malformed request line {request_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(411, "send the request body with a Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise BadRequest(413, f"request body over {MAX_BODY_BYTES} bytes")
    body = await reader.readexactly(length) if length else b""
    return HttpRequest(parts[0].upper(), urlsplit(parts[1]).path, headers, body)


async def start_server(handler: Handler, error_body: ErrorBody, host: str, port: int) -> asyncio.Server:
    """Listen on host:port (0: any free port). `error_body(status, message)` shapes protocol errors."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(reader, writer)
        try:
            try:
                request = await asyncio.wait_for(read_request(reader), HEAD_TIMEOUT_S)
            except BadRequest as error:
                await connection.send_json(error.status, error_body(error.status, str(error)))
                return
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            await handler(request, connection)
        except ConnectionError:
            pass  # the client went away; the handler has cancelled its work
        except Exception:
            log.exception("openai_server: request failed")
            if not (connection.answered or writer.is_closing()):
                with contextlib.suppress(ConnectionError):
                    await connection.send_json(500, error_body(500, "internal server error"))
        finally:
            connection.close()

    return await asyncio.start_server(serve, host, port, limit=MAX_HEAD_BYTES)
