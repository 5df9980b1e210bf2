"""MCP servers (the ``mcp`` package, extra ``agentteam[mcp]``): their tools appear as
``server.tool``.

A ``command:`` server is a process agentteam starts over stdio for the run and
stops with it: at the end, on an error and on Ctrl-C (the SDK closes its stdin,
then ends its process group), and on Linux even after a ``kill -9`` of agentteam
(it is started through a two-line launcher that asks the kernel to kill it when
its parent dies). Its environment holds only the SDK's safe variables (PATH, HOME,
USER, ...) and what the team file gives it: never an API key. A ``url:`` server is
reached over streamable HTTP. The SDK is asynchronous: each server gets its own
event loop in a thread, and calls are handed to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..models.credentials import register_var_values
from ..team import McpServer, expand_vars
from .python import Outcome

INSTALL_HINT = 'MCP servers need the mcp package: pip install "agentteam[mcp]"'
# Runs in the child before the server: die with the parent (PR_SET_PDEATHSIG), then exec.
_LAUNCH = ("import ctypes,os,signal,sys\n"
           "try:\n ctypes.CDLL('libc.so.6',use_errno=True).prctl(1,signal.SIGKILL)\n"
           "except Exception:\n pass\n"
           "os.execvp(sys.argv[1],sys.argv[1:])")


class McpClient:
    """One MCP server for one run: ``start()`` lists its tools, ``call()`` runs one."""

    def __init__(self, name: str, spec: McpServer, base_dir: Path, limit: int = 20_000,
                 env: Any = None):
        self.name, self.spec, self.base_dir, self.limit = name, spec, base_dir, limit
        self.env = env
        self.tools: list[dict] = []        # name, description, inputSchema
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._session: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        self.errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")

    # -- life ---------------------------------------------------------------------
    def start(self) -> None:
        """Start (or reach) the server and list its tools; UsageError says why not."""
        try:
            import mcp  # noqa: F401
        except ImportError:
            raise UsageError(f"tool server `{self.name}`: {INSTALL_HINT}") from None
        self._thread = threading.Thread(target=self._run, name=f"mcp-{self.name}", daemon=True)
        self._thread.start()
        ready = self._ready.wait(self.spec.startup_timeout)
        if not ready or self._session is None:
            why = self._error or f"no answer within {self.spec.startup_timeout:g}s"
            self.close()
            raise UsageError(f"MCP server `{self.name}` could not start: {why}{self._stderr()}")

    def close(self) -> None:
        """Stop the server (safe to call twice, and after a failed start)."""
        loop, stop = self._loop, self._stop
        orderly = stop.set if stop is not None and self._session is not None else None
        for step in (orderly, self._cancel):
            # first the orderly way; a server that never finished starting is cancelled
            if step is None or loop is None or self._thread is None or \
                    not self._thread.is_alive():
                continue
            try:
                loop.call_soon_threadsafe(step)
            except RuntimeError:   # the loop closed meanwhile
                break
            self._thread.join(5)
        self._session = None

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def running(self) -> bool:
        return self._session is not None and self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._main())
            loop.run_until_complete(self._task)
        except BaseException as e:  # the server failed to start, or died: say how
            self._error = self._error or _why(e)
        finally:
            self._session = None
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        from mcp import ClientSession
        self._stop = asyncio.Event()
        async with self._transport() as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                listed = await session.list_tools()
                self.tools = [t.model_dump(by_alias=True, exclude_none=True, mode="json")
                              for t in listed.tools]
                self._session = session
                self._ready.set()
                await self._stop.wait()

    def _transport(self) -> Any:
        s = self.spec
        if s.url:
            headers = {k: expand_vars(v, self.env) for k, v in s.headers.items()}
            register_var_values(s.headers, self.env if self.env is not None else {})
            try:
                from mcp.client.streamable_http import streamable_http_client  # mcp 2
            except ImportError:
                from mcp.client.streamable_http import (  # type: ignore[attr-defined]  # mcp 1
                    streamablehttp_client,
                )
                return streamablehttp_client(s.url, headers=headers or None)
            if not headers:
                return streamable_http_client(s.url)
            from mcp.shared._httpx_utils import create_mcp_http_client
            return streamable_http_client(s.url, http_client=create_mcp_http_client(headers))
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client
        command = sys.executable if s.command in ("python", "python3") else str(s.command)
        register_var_values(s.env, self.env if self.env is not None else {})
        params = StdioServerParameters(
            command=sys.executable, args=["-c", _LAUNCH, command, *s.args],
            env={k: expand_vars(v, self.env) for k, v in s.env.items()},
            cwd=str((self.base_dir / s.cwd) if s.cwd else self.base_dir))
        return stdio_client(params, errlog=self.errlog)

    # -- calls --------------------------------------------------------------------
    def call(self, tool: str, arguments: dict, timeout: float) -> Outcome:
        """Call one of the server's tools; every failure is an error result."""
        loop, session = self._loop, self._session
        if not self.running or loop is None or session is None:
            return Outcome(f"the MCP server `{self.name}` is not running"
                           f"{': ' + self._error if self._error else ''}{self._stderr()}", True)
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(session.call_tool(tool, arguments), timeout), loop)
        try:
            result = fut.result(timeout + 5)
        except (asyncio.TimeoutError, concurrent.futures.TimeoutError):
            fut.cancel()
            return Outcome(f"`{self.name}.{tool}` did not answer within {timeout:g}s", True)
        except Exception as e:  # the server died or answered with a protocol error
            if "closed" in str(e).lower():    # it is gone: the next calls need not wait
                self._error, self._session = _why(e), None
            return Outcome(f"the MCP server `{self.name}` failed: {_why(e)}{self._stderr()}", True)
        return _outcome(result.model_dump(by_alias=True, mode="json"), self.limit)

    def _stderr(self) -> str:
        """The last lines the server wrote to stderr, for error messages."""
        try:
            self.errlog.flush()
            self.errlog.seek(0)
            lines = [x for x in self.errlog.read().strip().splitlines() if x.strip()]
        except (OSError, ValueError):
            return ""
        return f" (its stderr: {' | '.join(lines[-3:])[-300:]})" if lines else ""


def _outcome(result: dict, limit: int) -> Outcome:
    parts = []
    for c in result.get("content") or []:
        if c.get("type") == "text":
            parts.append(c.get("text", ""))
        elif c.get("type") == "resource":
            res = c.get("resource") or {}
            parts.append(res.get("text") or f"[resource {res.get('uri', '')}]")
        else:
            parts.append(f"[{c.get('type', 'content')}]")
    if not parts and result.get("structuredContent") is not None:
        import json
        parts.append(json.dumps(result["structuredContent"], ensure_ascii=False))
    text = "\n".join(parts)
    if len(text) > limit:
        text = text[:limit] + f"\n[output cut: {len(text) - limit} more characters]"
    return Outcome(text, bool(result.get("isError")))


def _why(e: BaseException) -> str:
    """An exception (or an exception group from anyio) as one short line."""
    inner = getattr(e, "exceptions", None)
    if inner:
        return _why(inner[0])
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text}"[:300]
