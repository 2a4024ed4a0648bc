"""Claiming a socket path: one daemon per socket, bound so that only this user can connect.

The daemon holds an exclusive flock on the `.pid` file beside the socket for as long as it
runs. The kernel drops that lock when the process dies, however it dies, so a second daemon
knows for certain whether the socket it finds is live (refuse to start) or stale (remove it
and bind afresh). The `.pid` file is never deleted: deleting it could let two daemons hold
locks on two different files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from dglsp.engine import wire


class ClaimError(Exception):
    """The daemon cannot take this socket; the message says why and what to do."""


@dataclass
class Claim:
    files: wire.DaemonFiles
    listener: socket.socket
    _pid_fd: int

    def release(self) -> None:
        """Remove the socket (only ours: we still hold the lock), then let go of the lock."""
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.files.socket.unlink()
        os.close(self._pid_fd)


def claim_socket(path: Path, private_dir: bool) -> Claim:
    """Lock, clean up and bind `path`. `private_dir`: the parent is our runtime dir (0700, ours)."""
    path = path.expanduser().absolute()
    try:
        wire.check_socket_path(path)
        if private_dir:
            wire.ensure_private_dir(path.parent)
        else:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ClaimError(str(error)) from None
    files = wire.DaemonFiles.beside(path)
    pid_fd = _lock_pid_file(files)
    try:
        _remove_stale_socket(path)
        listener = _bind_private(path)
    except BaseException:
        os.close(pid_fd)
        raise
    return Claim(files, listener, pid_fd)


def _lock_pid_file(files: wire.DaemonFiles) -> int:
    fd = os.open(files.pid, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ClaimError(
            f"dglsp serve already runs on {files.socket} (pid {other}). Editors use that one; "
            "stop it first, or give this one another --socket."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _remove_stale_socket(path: Path) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ClaimError(f"{path} exists and is not a socket; remove it or choose another --socket")
    # We hold the lock, so no dglsp serve owns it; something else might still answer there.
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink()  # stale: its daemon died without cleaning up
    else:
        raise ClaimError(f"another program listens on {path}; stop it or choose another --socket")
    finally:
        probe.close()


def _bind_private(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask makes bind() create the socket as 0600 from the start, with no window at 0755.
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    except OSError as error:
        listener.close()
        raise ClaimError(f"cannot listen on {path}: {error.strerror or error}") from None
    finally:
        os.umask(old_umask)
    path.chmod(0o600)
    listener.listen(64)
    listener.setblocking(False)
    return listener
