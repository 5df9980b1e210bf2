"""Reading a file a person named: a regular file, and never more than a cap.

``agentteam validate /dev/zero`` once read forever, and a FIFO made it wait for
a writer that never came. Here the file is opened without blocking, its type and
size are checked before a byte is read, and at most ``limit + 1`` bytes are read,
so a file that grows meanwhile cannot get past the cap either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket...: ``kind`` says which."""

    def __init__(self, kind: str):
        self.kind = kind
        super().__init__(f"is {kind}, not a regular file")


class TooLarge(OSError):
    """The file is larger than the cap; ``size`` is its size in bytes (or more)."""

    def __init__(self, size: int):
        self.size = size
        super().__init__(f"is {size} bytes or more")


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def read_limited(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises FileNotFoundError, IsADirectoryError, NotRegularFile, TooLarge or another
    OSError; never blocks on a FIFO and never reads more than ``limit + 1`` bytes.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(str(path))
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(_kind(st.st_mode))
        if st.st_size > limit:
            raise TooLarge(st.st_size)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise TooLarge(size)
        return b"".join(chunks)
    finally:
        os.close(fd)
