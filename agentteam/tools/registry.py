"""The run's tools: Python functions, the tools of MCP servers, and ``run_code``.

``ToolBox`` offers each agent the tools its ``tools:`` names (in the OpenAI
``tools`` shape) and runs a call by the name the model used. Whatever goes wrong
(an unknown name, arguments that are not JSON, a tool that raises, hangs, prints
megabytes or crashes) comes back as an error result for the model to read; only
Ctrl-C goes through.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..conversation.messages import CodeBlock, ToolCallPart, ToolResultPart
from ..errors import ConfigError, ReplayDiverged
from ..team import AgentSpec, TeamSpec
from ..team.toolcheck import RUN_CODE
from .mcp import McpClient
from .python import Outcome, PythonFunction, PythonRunner, ToolFiles

RUN_CODE_SCHEMA = {"type": "function", "function": {
    "name": RUN_CODE,
    "description": "Run a complete program in the sandbox and get its exit code and output. "
                   "Files it writes stay in the working directory.",
    "parameters": {"type": "object", "required": ["language", "code"], "properties": {
        "language": {"type": "string", "enum": ["python", "sh"]},
        "code": {"type": "string", "description": "The whole program; print what you need."}}}}}
_LANGUAGES = {"python": "python", "py": "python", "python3": "python", "sh": "sh",
              "bash": "sh", "shell": "sh"}


@dataclass
class Tool:
    name: str                 # as agents list it: convert_currency, cars.query, run_code
    wire: str                 # as models see it (no dots): cars__query
    schema: dict              # the OpenAI tools entry, under the wire name
    timeout: float
    run: Callable[[dict, float], Outcome]


@dataclass
class ToolOutcome:
    """A finished call: what the model reads, and how long it took."""

    output: str
    is_error: bool
    duration_s: float


class ToolBox:
    """Every tool of one run; ``start()`` starts the MCP servers, ``close()`` stops them."""

    def __init__(self, team: TeamSpec, functions: list[PythonFunction], sandbox=None,
                 executor=None, env: Any = None):
        self.team, self.sandbox, self.executor, self.env = team, sandbox, executor, env
        self.tools: dict[str, Tool] = {}          # by wire name
        self.files = ToolFiles(functions) if functions else None
        self.servers: list[McpClient] = []
        limit = team.code_execution.output_limit
        if self.files is not None and sandbox is not None:
            sandbox.mounts[str(self.files.dir)] = "/opt/agentteam-tools"
        runner = PythonRunner(self.files, team.work_dir, limit, sandbox) if self.files else None
        for fn in functions:
            assert runner is not None and fn.schema is not None
            self._add(fn.name, fn.schema, fn.spec.timeout,
                      lambda args, t, fn=fn: runner.call(fn, args))
        if team.code_execution.mode == "tool":
            self._add(RUN_CODE, RUN_CODE_SCHEMA, team.code_execution.timeout + 30, self._run_code)
        self._offered: dict[str, list[dict]] = {}

    def _add(self, name: str, schema: dict, timeout: float, run: Callable) -> None:
        wire = re.sub(r"[^A-Za-z0-9_-]", "_", name.replace(".", "__"))[:64]
        while wire in self.tools:
            wire = wire[:60] + f"_{len(self.tools)}"
        entry = {"type": "function", "function": {**schema["function"], "name": wire}}
        self.tools[wire] = Tool(name, wire, entry, timeout, run)

    # -- life ---------------------------------------------------------------------
    def start(self) -> None:
        """Start every MCP server and list its tools; then check the agents' references."""
        for spec in self.team.tools:
            if spec.mcp is None or not spec.name:
                continue
            client = McpClient(spec.name, spec.mcp, self.team.base_dir,
                               self.team.code_execution.output_limit, self.env)
            self.servers.append(client)
            client.start()
            for t in client.tools:
                schema = {"function": {"name": t["name"], "description": t.get("description")
                                       or t["name"], "parameters": _clean(t.get("inputSchema"))}}
                self._add(f"{spec.name}.{t['name']}", schema, spec.timeout,
                          lambda args, timeout, c=client, n=t["name"]: c.call(n, args, timeout))
        self._check_references()
        if self.sandbox is not None and self.sandbox is not self.executor:
            self.sandbox.start_background()

    def close(self) -> None:
        """Stop the servers, remove the shipped files (safe to call twice)."""
        for client in self.servers:
            client.close()
        if self.sandbox is not None and self.sandbox is not self.executor:
            self.sandbox.close()
        if self.files is not None:
            self.files.remove()

    def _check_references(self) -> None:
        """``server.tool`` names can only be checked once the server has listed its tools."""
        import difflib
        problems = []
        names = {t.name for t in self.tools.values()}
        for i, agent in enumerate(self.team.agents):
            for j, ref in enumerate(agent.tools):
                if ref.endswith(".*") or ref in names:
                    continue
                server = ref.partition(".")[0]
                theirs = sorted(n.partition(".")[2] for n in names if n.startswith(server + "."))
                close = difflib.get_close_matches(ref.partition(".")[2], theirs, n=1)
                hint = f"; did you mean `{server}.{close[0]}`?" if close else ""
                problems.append(f"{self.team.source or 'team'}: agents[{i}].tools[{j}]: the MCP "
                                f"server `{server}` has no tool `{ref.partition('.')[2]}`{hint} "
                                f"(its tools: {', '.join(theirs) or 'none'})")
        if problems:
            raise ConfigError("\n".join(problems))

    # -- offering and calling -----------------------------------------------------
    def offered(self, agent: AgentSpec) -> list[dict]:
        """The OpenAI ``tools`` list for this agent's model (empty: no tools)."""
        if agent.name not in self._offered:
            wanted = list(agent.tools)
            if self.team.code_execution.mode == "tool" and agent.kind == "assistant" \
                    and RUN_CODE not in wanted:
                wanted.append(RUN_CODE)
            out = [t.schema for t in self.tools.values() if any(
                t.name == w or w.endswith(".*") and t.name.startswith(w[:-1]) for w in wanted)]
            self._offered[agent.name] = out
        return self._offered[agent.name]

    def display_name(self, wire: str) -> str:
        """The name the team file uses for a tool the model called (``cars.query``)."""
        tool = self.tools.get(wire)
        return tool.name if tool else wire

    def call(self, caller: AgentSpec, part: ToolCallPart) -> ToolOutcome:
        """Run one call of ``caller``'s model; never raises but for Ctrl-C."""
        start = time.monotonic()
        outcome = self._call(caller, part)
        return ToolOutcome(outcome.output, outcome.is_error, round(time.monotonic() - start, 3))

    def _call(self, caller: AgentSpec, part: ToolCallPart) -> Outcome:
        offered = [t["function"]["name"] for t in self.offered(caller)]
        tool = self.tools.get(part.name)
        if tool is None or part.name not in offered:
            return Outcome(f"unknown tool `{part.name}`; the tools you can call: "
                           f"{', '.join(offered) or 'none'}", True)
        try:
            args = json.loads(part.arguments) if part.arguments.strip() else {}
        except ValueError as e:
            return Outcome(f"the arguments of `{part.name}` are not valid JSON ({e}); send one "
                           "JSON object with a key per parameter", True)
        if not isinstance(args, dict):
            return Outcome(f"the arguments of `{part.name}` must be a JSON object with a key per "
                           f"parameter, not {type(args).__name__}", True)
        try:
            return tool.run(args, tool.timeout)
        except Exception as e:  # the sandbox or the server failed, not the tool: say so
            return Outcome(f"the tool could not be run: {e}", True)

    def _run_code(self, args: dict, timeout: float) -> Outcome:
        language = _LANGUAGES.get(str(args.get("language", "python")).lower())
        code = args.get("code")
        if language is None or not isinstance(code, str) or not code.strip():
            return Outcome("run_code needs `language` (python or sh) and `code` (the program)",
                           True)
        executor = self.executor
        if executor is None or not executor.runs_code:
            return Outcome("code execution is off for this run (executor: none); the code was "
                           "not run", True)
        from ..conversation.codeblocks import format_results
        executor.wait_ready()
        result = executor.run(CodeBlock(language, code))
        return Outcome(format_results([result], 0, []), result.exit_code != 0)


def _clean(schema: Any) -> dict:
    """An MCP tool's input schema as a function's parameters (an object, always)."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    from .schema import _drop_titles
    out = json.loads(json.dumps(schema))
    _drop_titles(out)
    out.setdefault("type", "object")
    out.setdefault("properties", {})
    return out


class RecordedTools(ToolBox):
    """``--replay``: every call is answered with the result the transcript recorded."""

    def __init__(self, team: TeamSpec, results: dict[str, ToolResultPart], source: Path):
        self.team, self.results, self.source = team, results, source
        self.tools, self.servers, self.files, self.sandbox, self.executor = {}, [], None, None, None
        self._offered = {}

    def start(self) -> None:
        pass

    def offered(self, agent: AgentSpec) -> list[dict]:
        return []

    def display_name(self, wire: str) -> str:
        server, sep, tool = wire.partition("__")
        return f"{server}.{tool}" if sep and server in {t.name for t in self.team.tools} else wire

    def call(self, caller: AgentSpec, part: ToolCallPart) -> ToolOutcome:
        found = self.results.get(part.id)
        if found is None:
            raise ReplayDiverged(f"the run called tool {part.name} (id {part.id}), but "
                                 f"{self.source} recorded no result for it; the conversation "
                                 "diverged from the recording")
        return ToolOutcome(found.output, found.is_error, 0.0)
