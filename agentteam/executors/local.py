"""``executor: local``: code runs on this machine, in the work dir, with a scrubbed environment.

Nothing a block starts may outlive it: its session is killed when it ends, and so is
every process that still carries the run's marker variable (a daemon that left the
session with ``setsid`` or a double fork keeps its environment).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from ..conversation.messages import CodeBlock, CodeResult
from ..team.schema import parse_size
from .base import TIMED_OUT, CodeExecutor, OutputCap, kill_note, wait_block

# Only these variables reach local code: never an API key.
_KEEP = ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "SYSTEMROOT")
MARKER = "AGENTTEAM_RUN"


def scrubbed_env(home: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP if k in os.environ}
    env.update(HOME=home, MPLBACKEND="Agg", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    return env


class LocalExecutor(CodeExecutor):
    """Subprocess per block in the work dir; its processes die with the block."""

    name = "local"

    def __init__(self, spec, work_dir):
        super().__init__(spec, work_dir)
        self.run_id = uuid.uuid4().hex

    def run(self, block: CodeBlock) -> CodeResult:
        if not self._started:
            self.start()
        suffix = ".py" if block.language == "python" else ".sh"
        with tempfile.NamedTemporaryFile("w", suffix=suffix, prefix=".agentteam_",
                                         dir=self.work_dir, delete=False) as f:
            f.write(block.code)
            script = f.name
        cmd = [sys.executable, script] if block.language == "python" else ["sh", script]
        cap = OutputCap(self.spec.output_limit)
        start = time.monotonic()
        self.quota.start_block()
        try:
            with tempfile.TemporaryDirectory(prefix="agentteam-home-") as home:
                env = {**scrubbed_env(home), MARKER: self.run_id}
                proc = subprocess.Popen(cmd, cwd=self.work_dir, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                self._limit_file_size(proc.pid)
                reader = threading.Thread(target=_pump, args=(proc.stdout, cap), daemon=True)
                reader.start()
                try:
                    why = wait_block(lambda s: _exited(proc, s), self.spec.timeout, self.quota)
                finally:
                    self._kill(proc)
                    proc.wait()
                reader.join(timeout=5)
        finally:
            os.unlink(script)
        why = why or self.quota.exceeded(force=True)
        code = 124 if why == TIMED_OUT else (proc.returncode or (1 if why else 0))
        out = cap.text() + (kill_note(why, self.spec.timeout) if why else "")
        return CodeResult(block.language, code, out, time.monotonic() - start,
                          why == TIMED_OUT, cap.truncated())

    def _limit_file_size(self, pid: int) -> None:
        """No file the block writes may be larger than what the run may add in all."""
        try:
            import resource
            limit = parse_size(self.spec.work_dir_max_size) or resource.RLIM_INFINITY
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, limit))
        except (ImportError, AttributeError, OSError, ValueError):  # not Linux; or gone
            pass

    def _kill(self, proc: subprocess.Popen) -> None:
        _kill_group(proc)
        kill_marked(MARKER, self.run_id)

    def close(self) -> None:
        kill_marked(MARKER, self.run_id)


def _exited(proc: subprocess.Popen, seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def _pump(stream, cap: OutputCap) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        cap.feed(chunk)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_marked(name: str, value: str, rounds: int = 20) -> None:
    """SIGKILL every process of ours whose environment holds ``name=value`` (Linux /proc),
    in rounds, so that children forked meanwhile are caught by the next one."""
    needle = f"{name}={value}".encode()
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for _ in range(rounds):
        found = 0
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
                os.kill(int(entry.name), signal.SIGKILL)
                found += 1
            except (OSError, ValueError):   # gone, or not ours
                continue
        if not found:
            return
        time.sleep(0.02)
