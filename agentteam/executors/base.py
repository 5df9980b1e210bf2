"""The executor interface and what every executor shares: the work dir and its quota,
waiting for a block, and output capping."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from ..conversation.messages import CodeBlock, CodeResult
from ..errors import ExecutionError
from ..team import CodeExecution
from ..team.schema import parse_size
from . import workdir

TIMED_OUT = "timed out"


class CodeExecutor:
    """Runs code blocks. ``start`` may run in a background thread; ``close`` always runs."""

    name = "base"
    runs_code = True   # False: code is never run, and the proxy says so instead of a result

    def __init__(self, spec: CodeExecution, work_dir: Path):
        self.spec = spec
        self.work_dir = Path(work_dir)
        # a spec of None: a test double that runs nothing
        size = parse_size(spec.work_dir_max_size) if spec is not None else None
        self.quota = workdir.Quota(self.work_dir, size or 2**30,
                                   spec.work_dir_max_files if spec is not None else 10_000)
        self._started = False

    _thread: threading.Thread | None = None
    _start_error: BaseException | None = None
    _began = False

    def check(self) -> None:
        """Fast checks before any model call (engine reachable, image present)."""

    def work_dir_owner(self) -> tuple[int, int] | None:
        """Who a work dir that agentteam creates belongs to (None: whoever runs agentteam)."""
        return None

    def start(self) -> None:
        """Get ready (create the work dir, start a container). Raise ExecutionError if not."""
        workdir.ensure(self.work_dir, self.work_dir_owner())
        self.quota.start_run()
        self._started = True

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


def wait_block(finished: Callable[[float], bool], timeout: float,
               quota: workdir.Quota) -> str | None:
    """Wait until ``finished(seconds)`` reports the block's end; say why it must be killed
    instead: ``TIMED_OUT``, or the quota's note when the block fills the work dir."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return TIMED_OUT
        if finished(min(left, 0.25)):
            return None
        note = quota.exceeded()
        if note:
            return note


def kill_note(why: str | None, timeout: float) -> str:
    """The line added to a block's output when it was stopped from outside."""
    if why == TIMED_OUT:
        return f"\n[killed: the block ran longer than {timeout:g}s]"
    return f"\n[stopped: {why}]"


class OutputCap:
    """Keeps the first ``limit`` bytes of output (cut at a character boundary) and counts
    the bytes beyond them."""

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
        return self._shown().decode("utf-8", "replace")

    def truncated(self) -> int:
        """Bytes not shown: those past the limit, and a character cut in half by it."""
        with self.lock:
            return self.dropped + len(self.kept) - len(self._shown())

    def _shown(self) -> bytes:
        kept = bytes(self.kept)
        return kept[:_whole_utf8(kept)] if self.dropped else kept


def _whole_utf8(data: bytes) -> int:
    """The length of ``data`` without a UTF-8 sequence cut short at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if 0x80 <= byte < 0xC0:       # a continuation byte: its lead is further back
            continue
        need = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
        return len(data) - back if need > back else len(data)
    return len(data)
