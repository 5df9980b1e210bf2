"""Long waits that look alive: a live line with the stage, a count and the time elapsed.

``BuildDisplay`` follows a sandbox image build (``executors.sandbox.BuildStep``): the
raw build log goes to a file, the terminal shows one line that keeps moving, and a
failure names the log. ``Waiting`` is the same live line for a wait the run loop
announces (a ``progress`` notice: the model assembly, the model server's start).
Without a terminal both print plain lines instead of redrawing one.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from .safe import safe


def _live(console: Console) -> Progress:
    """spinner · elapsed · text: the text is cut to the width, never the time."""
    text = TextColumn("{task.description}",
                      table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1))
    return Progress(SpinnerColumn(), TimeElapsedColumn(), text, console=console,
                    transient=True, expand=True)


class Waiting:
    """A transient live line (spinner, text, elapsed) until ``stop``."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None

    def start(self, text: str) -> None:
        self.stop()
        if not self.console.is_terminal:
            self.console.print(Text(safe(text), style="dim"))
            return
        self.progress = _live(self.console)
        self.progress.add_task(safe(text))
        self.progress.start()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class BuildDisplay:
    """Shows a build as ``stage · N packages fetched · elapsed``; keeps the raw log.

    Use as a context manager and call it with each ``BuildStep``. ``log_path`` is the
    file with every raw line (kept when the build fails, removed when it succeeds).
    """

    def __init__(self, title: str, console: Console | None = None):
        self.title = title
        self.console = console or Console(stderr=True, highlight=False)
        log = tempfile.NamedTemporaryFile("w", prefix="agentteam-build-", suffix=".log",
                                          delete=False, encoding="utf-8")
        self.log_path = Path(log.name)
        self.log = log
        self.start = time.monotonic()
        self.stage = "starting"
        self.fetched = 0
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> "BuildDisplay":
        if self.console.is_terminal:
            self.progress = _live(self.console)
            self.task = self.progress.add_task(self._line())
            self.progress.start()
        else:
            self.console.print(Text(safe(self.title), style="dim"))
        return self

    def __call__(self, step) -> None:
        if step.line:
            self.log.write(step.line + "\n")
            self.log.flush()
        changed = step.stage != self.stage
        self.stage, self.fetched = step.stage, max(self.fetched, step.fetched)
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, description=self._line())
        elif changed:
            self.console.print(Text(safe(f"{self.title}: {self.stage}"), style="dim"))

    def _line(self) -> str:
        # what changes first: a narrow terminal cuts the title, not the stage or the count
        fetched = f" · {self.fetched} package{'s' if self.fetched != 1 else ''} fetched" \
            if self.fetched else ""
        return safe(f"{self.stage}{fetched} · {self.title}")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.log.close()
        elapsed = time.monotonic() - self.start
        if exc_type is None:
            self.log_path.unlink(missing_ok=True)
            fetched = f", {self.fetched} packages" if self.fetched else ""
            self.console.print(Text(safe(f"{self.title}: done in {_duration(elapsed)}"
                                         f"{fetched}"), style="dim"))


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"
