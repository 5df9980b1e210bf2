"""``executor: local``: code runs on this machine, in the work dir, with a scrubbed environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from ..conversation.messages import CodeBlock, CodeResult
from .base import CodeExecutor, OutputCap

# Only these variables reach local code: never an API key.
_KEEP = ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "SYSTEMROOT")


def scrubbed_env(home: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP if k in os.environ}
    env.update(HOME=home, MPLBACKEND="Agg", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    return env


class LocalExecutor(CodeExecutor):
    """Subprocess per block in the work dir; timeout kills the whole process group."""

    name = "local"

    def run(self, block: CodeBlock) -> CodeResult:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        suffix = ".py" if block.language == "python" else ".sh"
        with tempfile.NamedTemporaryFile("w", suffix=suffix, prefix=".agentteam_",
                                         dir=self.work_dir, delete=False) as f:
            f.write(block.code)
            script = f.name
        cmd = [sys.executable, script] if block.language == "python" else ["sh", script]
        cap = OutputCap(self.spec.output_limit)
        start = time.monotonic()
        timed_out = False
        try:
            with tempfile.TemporaryDirectory(prefix="agentteam-home-") as home:
                proc = subprocess.Popen(cmd, cwd=self.work_dir, env=scrubbed_env(home),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                reader = threading.Thread(target=_pump, args=(proc.stdout, cap), daemon=True)
                reader.start()
                try:
                    proc.wait(timeout=self.spec.timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    _kill_group(proc)
                    proc.wait()
                reader.join(timeout=5)
        finally:
            os.unlink(script)
        code = 124 if timed_out else proc.returncode
        out = cap.text()
        if timed_out:
            out += f"\n[killed: the block ran longer than {self.spec.timeout:g}s]"
        return CodeResult(block.language, code, out, time.monotonic() - start, timed_out,
                          cap.dropped)


def _pump(stream, cap: OutputCap) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        cap.feed(chunk)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
