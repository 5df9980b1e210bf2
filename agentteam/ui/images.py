"""Images in the terminal: one line per image (where it is, how big) and, in terminals
that draw pictures (kitty's graphics protocol, iTerm2's inline images), a small
preview under it.

The protocol is guessed from ``TERM``/``TERM_PROGRAM`` only when the output is a
terminal, and never inside tmux or screen (they pass neither protocol on);
``AGENTTEAM_INLINE_IMAGES=kitty|iterm|off`` overrides the guess. A preview is
drawn from the file as it is now, read with the same care as for a model (inside
the work dir or the team's folder, no final link, size-capped).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from rich.console import Console
from rich.text import Text

PREVIEW_SIDE = 360        # pixels, the longer side of a preview
_OFF = ("0", "off", "no", "none", "false")


def protocol(console: Console, env=None) -> str | None:
    """``kitty``, ``iterm`` or None: how this console can show a picture."""
    env = os.environ if env is None else env
    forced = env.get("AGENTTEAM_INLINE_IMAGES", "").strip().lower()
    if forced in _OFF:
        return None
    if forced in ("kitty", "iterm"):
        return forced
    if not console.is_terminal or env.get("TMUX") or env.get("TERM", "").startswith("screen"):
        return None
    program = env.get("TERM_PROGRAM", "")
    if env.get("TERM") == "xterm-kitty" or env.get("KITTY_WINDOW_ID") or program == "ghostty":
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm"
    return None


def line(image: dict) -> Text:
    """``[image: plot.png 640x480]``, the way placeholders name an image."""
    where = str(image.get("path") or image.get("url") or "?")
    w, h = image.get("width"), image.get("height")
    size = f" {w}x{h}" if w and h else ""
    return Text.assemble(("[image: ", "dim"), (where, "magenta"), (f"{size}]", "dim"))


def escape(kind: str, png: bytes) -> str:
    """The escape sequence that draws ``png`` (kitty sends it in 4 KB chunks)."""
    data = base64.b64encode(png).decode("ascii")
    if kind == "iterm":
        return f"\x1b]1337;File=inline=1;size={len(png)};preserveAspectRatio=1:{data}\x07\n"
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)] or [""]
    out = []
    for i, chunk in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        head = f"a=T,f=100,m={more}" if i == 0 else f"m={more}"
        out.append(f"\x1b_G{head};{chunk}\x1b\\")
    return "".join(out) + "\n"


class ImageLines:
    """Shows a message's images on a console; previews when the terminal can draw."""

    def __init__(self, console: Console, work_dir: Path | None = None):
        self.console = console
        self.work_dir = work_dir
        self.roots: tuple[Path, ...] = (work_dir,) if work_dir else ()
        self.kind = protocol(console)

    def set_team_file(self, team_file: str) -> None:
        """Find the work dir (and the team's folder) from the run's team file."""
        from .report import find_work_dir
        folder = Path(team_file).resolve().parent if team_file else None
        if self.work_dir is None and team_file:
            self.work_dir = find_work_dir(team_file)
        self.roots = tuple(p for p in (self.work_dir, folder) if p is not None)

    def show(self, images: list[dict], label: bool = True) -> None:
        for image in images:
            if label:
                self.console.print(line(image))
            if self.kind and image.get("path") and self.work_dir is not None:
                self._preview(self.work_dir / str(image["path"]))

    def _preview(self, path: Path) -> None:
        from ..images.encode import preview
        from ..images.files import ImageError, read
        try:
            png = preview(read(path, self.roots), PREVIEW_SIDE)
        except ImageError:
            return        # the line above already names it; nothing to draw
        self.console.file.write(escape(str(self.kind), png))
        self.console.file.flush()
