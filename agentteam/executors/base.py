"""The executor interface and what every executor shares: output capping."""

from __future__ import annotations

import threading
from pathlib import Path

from ..conversation.messages import CodeBlock, CodeResult
from ..errors import ExecutionError
from ..team import CodeExecution


class CodeExecutor:
    """Runs code blocks. ``start`` may run in a background thread; ``close`` always runs."""

    name = "base"
    runs_code = True   # False: code is never run, and the proxy says so instead of a result

    def __init__(self, spec: CodeExecution, work_dir: Path):
        self.spec = spec
        self.work_dir = Path(work_dir)

    _thread: threading.Thread | None = None
    _start_error: BaseException | None = None
    _began = False

    def check(self) -> None:
        """Fast checks before any model call (engine reachable, image present)."""

    def start(self) -> None:
        """Get ready (create the work dir, start a container). Raise ExecutionError if not."""
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def start_background(self) -> None:
        """Start in a thread, so that start-up overlaps the first model call. Once: the run
        loop (for code) and the tools may both ask."""
        if self._began:
            return
        self._began = True

        def go() -> None:
            try:
                self.start()
            except BaseException as e:  # re-raised by wait_ready in the caller's thread
                self._start_error = e
        self._thread = threading.Thread(target=go, name=f"{self.name}-start", daemon=True)
        self._thread.start()

    def wait_ready(self) -> None:
        """Wait for a background start; raise what it raised."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._start_error is not None:
            err, self._start_error = self._start_error, None
            raise err

    def run(self, block: CodeBlock) -> CodeResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release everything; safe to call twice and after a failed start."""

    def __enter__(self) -> "CodeExecutor":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NoExecutor(CodeExecutor):
    """``executor: none``: code is never run; the proxy says so (no result is made up)."""

    name = "none"
    runs_code = False

    def start(self) -> None:
        pass

    def run(self, block: CodeBlock) -> CodeResult:
        raise ExecutionError("code execution is off for this run (executor: none)")


class OutputCap:
    """Collects output up to ``limit`` characters and counts the bytes beyond it."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        with self.lock:
            room = self.limit - len(self.kept)
            if room > 0:
                self.kept += data[:room]
            self.dropped += max(0, len(data) - max(room, 0))

    def text(self) -> str:
        return self.kept.decode("utf-8", "replace")
