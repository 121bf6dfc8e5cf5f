"""Hear when someone writes the database, instead of asking it every second.

A pause from the admin or the CLI, a budget grant, a budget the DNS process itself finds spent: each is a commit
to ``hearth.db`` by some connection, and the DNS daemon must take it into its policy snapshot within a second.
Asking SQLite every second (``PRAGMA data_version``) woke an idle Pi once a second for nothing; here the kernel
says when the database's files were written (Linux inotify on the data directory, read through the event loop),
so an idle daemon sleeps until a write happens.

A commit appends to ``hearth.db-wal`` with ``write()`` (an IN_MODIFY event); a checkpoint writes ``hearth.db``;
a new file is IN_CREATE or IN_MOVED_TO. Events for other files in the directory (the control socket, the running
config copy) are ignored. The event only says "look now": what changed is still read from SQLite, which also
filters out commits that changed nothing the policy reads (the query log's).

Where inotify cannot be had (another kernel, the watch limit reached) ``Poll`` does what the daemon did before:
it says "look" every second.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger("hearth.watch")

IN_MODIFY, IN_MOVED_TO, IN_CREATE, IN_Q_OVERFLOW = 0x2, 0x80, 0x100, 0x4000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC      # inotify_init1 takes the open(2) flags' values
_EVENT = struct.Struct("iIII")     # struct inotify_event: wd, mask, cookie, len; then len bytes of name
SETTLE = 0.05      # seconds after the first write before looking: one commit is several writes


class DbWatch:
    """Wait for a write to the database file ``db_path`` (or its -wal / -journal), from any process."""

    notifies = True      # says when something was written; Poll only says "maybe"

    def __init__(self, fd: int, names: frozenset[bytes]):
        self._fd = fd
        self._names = names
        self._written = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    @classmethod
    def open(cls, db_path: str | Path) -> "DbWatch | Poll":
        """A watch on the database's directory (call it in the event loop); a ``Poll`` when the kernel says no."""
        path = Path(db_path)
        names = frozenset(os.fsencode(path.name + s) for s in ("", "-wal", "-journal"))
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            if libc.inotify_add_watch(fd, os.fsencode(path.parent), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0:
                err = ctypes.get_errno()
                os.close(fd)
                raise OSError(err, os.strerror(err))
        except (OSError, AttributeError) as e:     # AttributeError: a libc without inotify
            log.info("cannot watch %s for changes (%s): reading it every second instead", path.parent, e)
            return Poll()
        return cls(fd, names)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        except OSError as e:
            log.warning("reading the database watch failed: %s", e)
            data = b""
        offset = 0
        while offset + _EVENT.size <= len(data):
            _wd, mask, _cookie, size = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size:offset + _EVENT.size + size].rstrip(b"\0")
            offset += _EVENT.size + size
            if name in self._names or mask & IN_Q_OVERFLOW:     # an overflow may have hidden ours: look anyway
                self._written.set()
                return

    async def wait(self, timeout: float) -> bool:
        """True when the database was written (a short moment after, so the commit is whole); False after
        ``timeout`` seconds with no write."""
        try:
            await asyncio.wait_for(self._written.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        await asyncio.sleep(SETTLE)
        self._written.clear()         # the writes of the settle time are part of this look
        return True

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


class Poll:
    """No kernel notice: say "maybe changed" every ``every`` seconds (what the daemon did before the watch)."""

    notifies = False

    def __init__(self, every: float = 1.0):
        self.every = every

    async def wait(self, timeout: float) -> bool:
        await asyncio.sleep(min(timeout, self.every))
        return True

    def close(self) -> None:
        pass
