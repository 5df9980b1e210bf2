"""Image files: read without following links out of the allowed folders, checked with
Pillow, found after a code block ran, and written for an image generator.

Run code controls the work dir: a file there may be a link to anywhere, a FIFO, or
50 MB of noise named ``plot.png``. So a file is opened only after its real path is
found inside the work dir or the team's folder, never through a final link, only if
it is a regular file, and only up to ``MAX_FILE_BYTES``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
MAX_FILE_BYTES = 20 * 2**20        # OpenAI's own limit per image
MAX_PIXELS = 40_000_000            # past this a file is refused, not decoded
_MAX_SCAN = 20_000                 # entries looked at when listing the work dir


class ImageError(Exception):
    """Why an image cannot be used, in words for a notice."""


@dataclass(frozen=True)
class Checked:
    """A readable image file: its bytes and what Pillow says about them."""

    data: bytes
    width: int
    height: int
    format: str      # PNG, JPEG, GIF, WEBP, ...


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """Is ``path``, its links followed, in one of ``roots``?"""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):      # a link loop
        return False
    return any(real.is_relative_to(r) for r in roots)


def read(path: Path, roots: Sequence[Path]) -> bytes:
    """The bytes of an image file inside ``roots``; ImageError says why not."""
    if not inside(path, roots):
        raise ImageError("refused: it is outside the work dir and the team's folder")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except OSError as e:
        raise ImageError(f"cannot be opened ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ImageError("not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise ImageError(f"too large ({_mb(st.st_size)}; images up to "
                             f"{_mb(MAX_FILE_BYTES)} are taken)")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:       # it grew while being read
        raise ImageError(f"too large (over {_mb(MAX_FILE_BYTES)})")
    return data


def check(data: bytes) -> Checked:
    """Decode ``data`` fully (a truncated or corrupt file fails here, not at a provider)."""
    import io

    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{width}x{height} pixels is too many (at most "
                                 f"{MAX_PIXELS // 1_000_000} million)")
            fmt = im.format or ""
            im.load()
    except ImageError:
        raise
    except Exception as e:   # Pillow raises many kinds (OSError, SyntaxError, bombs...)
        raise ImageError(f"not a readable image ({_reason(e)})") from None
    return Checked(data, width, height, fmt)


def load(path: Path, roots: Sequence[Path]) -> Checked:
    """``read`` then ``check``."""
    return check(read(path, roots))


def _reason(e: Exception) -> str:
    text = str(e).split("\n")[0][:120]
    return text or type(e).__name__


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n // 1024} KB"


# -- what a code block wrote ----------------------------------------------------------

Snapshot = dict[str, tuple[int, int]]


def snapshot(work_dir: Path) -> Snapshot:
    """The image files in the work dir (relative path -> size, mtime), links not
    followed, hidden folders skipped, at most a bounded number of entries looked at."""
    found: Snapshot = {}
    seen = 0
    stack = [work_dir]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                seen += 1
                if seen > _MAX_SCAN:
                    return found
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not entry.name.startswith("."):
                            stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False) and \
                            entry.name.lower().endswith(IMAGE_SUFFIXES):
                        st = entry.stat(follow_symlinks=False)
                        rel = Path(entry.path).relative_to(work_dir).as_posix()
                        found[rel] = (st.st_size, st.st_mtime_ns)
                except (OSError, ValueError):
                    continue
    return found


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Image files that are new or changed, in name order."""
    return sorted(name for name, sig in after.items() if before.get(name) != sig)


# -- what an image generator drew -----------------------------------------------------

def save(work_dir: Path, stem: str, data: bytes, suffix: str) -> Path:
    """Write ``data`` as a new file in the work dir (``stem.png``, else ``stem-2.png``,
    ...): created exclusively, so nothing already there (a link planted by run code
    included) is followed or overwritten."""
    from ..executors import workdir
    workdir.ensure(work_dir)
    for n in range(1, 1000):
        path = work_dir / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if os.geteuid() == 0:     # like the run's other files: the work dir's owner's
                folder = os.stat(work_dir)
                os.fchown(f.fileno(), folder.st_uid, folder.st_gid)
        return path
    raise ImageError(f"no free file name for {stem}{suffix} in {work_dir}")
