"""The work dir, handled as a place that run code controls.

Code of an earlier block (or an earlier run) may have put links, folders or FIFOs
anywhere in it, so nothing here follows a link or opens an existing entry for
writing: new files are created exclusively and renamed into place. Only a folder
agentteam creates is given to the sandbox user; an existing one keeps its owner
and mode. ``Quota`` bounds what a run may add to it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from ..errors import UsageError

_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def ensure(work_dir: Path, owner: tuple[int, int] | None = None) -> bool:
    """Create the work dir if missing (True when it was created here).

    A folder created here is given to ``owner`` (the sandbox user when agentteam runs
    as root); an existing one is left exactly as it is.
    """
    st = _lstat(work_dir)
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"the work dir {work_dir} is {_kind(st)}, not a folder; remove "
                             "it or choose another `work_dir`")
        return False
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(work_dir, 0o755)
    except FileExistsError:   # made by a run started at the same moment: theirs
        return False
    if owner is not None:
        os.chown(work_dir, *owner, follow_symlinks=False)
    return True


def inside(path: Path, work_dir: Path) -> bool:
    """Is ``path`` in the work dir, by its name or by where its links lead?"""
    named = Path(os.path.normpath(path.absolute()))
    return named.is_relative_to(work_dir) or path.resolve().is_relative_to(work_dir)


def copy_inputs(files: list[Path], work_dir: Path) -> None:
    """Put the team's input files into the work dir without following anything there.

    A regular file already there is the run's own (an earlier run may have changed it
    on purpose) and is kept; a link is replaced by a copy; a folder, FIFO or device by
    that name is refused.
    """
    for src in files:
        target = work_dir / src.name
        st = _lstat(target)
        if st is not None and stat.S_ISREG(st.st_mode):
            continue
        if st is not None and not stat.S_ISLNK(st.st_mode):
            raise UsageError(f"{target} is {_kind(st)}, not a file; agentteam will not put "
                             f"the input {src.name} there: remove or rename it")
        _replace(src, target)


def _replace(src: Path, target: Path) -> None:
    """Copy ``src`` to a new file beside ``target``, then rename it over the entry."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".agentteam-input-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
            os.fchmod(out.fileno(), 0o644)
            if os.geteuid() == 0:   # the file belongs to whoever owns the work dir
                folder = os.stat(target.parent)
                os.fchown(out.fileno(), folder.st_uid, folder.st_gid)
        os.replace(tmp, target)     # rename(2) replaces a link itself, never its target
    except IsADirectoryError:
        raise UsageError(f"{target} became a folder while the input was copied; remove "
                         "it and run again") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _kind(st: os.stat_result) -> str:
    return _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")


class Quota:
    """What a run may add to its work dir: bytes and entries, counted from its start.

    ``exceeded`` is cheap to call often: it rescans no more often than a few times
    the last scan took, so a work dir of many files costs little.
    """

    def __init__(self, work_dir: Path, max_bytes: int, max_files: int):
        self.work_dir, self.max_bytes, self.max_files = work_dir, max_bytes, max_files
        self.base = (0, 0)
        self.block_start = (0, 0)
        self._next = 0.0

    def start_run(self) -> None:
        self.base = usage(self.work_dir)

    def start_block(self) -> None:
        self.block_start = usage(self.work_dir)
        self._next = 0.0

    def exceeded(self, force: bool = False) -> str | None:
        """A note when the run has added more than allowed and this block added to it."""
        now = time.monotonic()
        if not force and now < self._next:
            return None
        limit = (self.base[0] + self.max_bytes, self.base[1] + self.max_files)
        size, count = usage(self.work_dir, limit)
        self._next = time.monotonic() + max(0.25, 4 * (time.monotonic() - now))
        # A file the kernel stopped at the size limit (RLIMIT_FSIZE) is exactly that large.
        over_bytes = size >= limit[0] and size > self.block_start[0]
        over_files = count > limit[1] and count > self.block_start[1]
        if over_files:
            return (f"the run added more than {self.max_files} files to the work dir "
                    "(code_execution.work_dir_max_files)")
        if over_bytes:
            return (f"the run added {_human(self.max_bytes)} or more to the work dir "
                    "(code_execution.work_dir_max_size)")
        return None


def _human(n: int) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def usage(root: Path, stop_at: tuple[int, int] | None = None) -> tuple[int, int]:
    """Bytes of regular files and number of entries under ``root``, links not followed.

    Stops counting once either part of ``stop_at`` is passed (a block that made a
    million files need not be counted to the last one).
    """
    size = count = 0
    stack = [str(root)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:   # gone, or not ours to read
            continue
        with it:
            for entry in it:
                count += 1
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        size += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
                if stop_at and (size > stop_at[0] or count > stop_at[1]):
                    return size, count
    return size, count
