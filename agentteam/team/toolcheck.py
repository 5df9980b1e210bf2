"""Cross-checks of the team file's ``tools:`` and each agent's ``tools:`` list.

Values only: files are looked for, never imported (``agentteam.tools`` reads the
functions' signatures when a run or ``validate`` needs them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from .schema import LITERAL_KEY_RE, VAR_RE

# `tools/currency.py:convert` or `package.module:convert`
FILE_FUNCTION = re.compile(r"^(?P<file>[^:]+\.py):(?P<func>[A-Za-z_]\w*)$")
MODULE_FUNCTION = re.compile(r"^(?P<module>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*):(?P<func>[A-Za-z_]\w*)$")
RUN_CODE = "run_code"

Add = Callable[[tuple, str], None]


def check_tools(data: dict, base_dir: Path, add: Add, env, did_you_mean) -> None:
    """Add a problem for every bad tool entry and every agent's tool name that is unknown."""
    entries = data["tools"] if isinstance(data.get("tools"), list) else []
    functions: list[str] = []
    servers: list[str] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(entries):
        if not isinstance(t, dict):
            continue
        name = _check_entry(i, t, base_dir, add, env)
        if not name:
            continue
        if name in seen:
            add(("tools", i, "name"), f"tool name `{name}` is used twice (also tools[{seen[name]}]); "
                "give one of them another `name:`")
        seen.setdefault(name, i)
        (servers if "mcp" in t else functions).append(name)
    code = data.get("code_execution")
    tool_mode = isinstance(code, dict) and code.get("mode") == "tool"
    agents = data["agents"] if isinstance(data.get("agents"), list) else []
    _check_agents(agents, functions, servers, tool_mode, add, did_you_mean)


def _check_entry(i: int, t: dict, base_dir: Path, add: Add, env) -> str | None:
    """Check one `tools:` entry; its name when it has one."""
    function, mcp = t.get("function"), t.get("mcp")
    if function is not None and mcp is not None:
        add(("tools", i), "give either `function:` or `mcp:`, not both")
        return None
    if function is None and mcp is None:
        add(("tools", i), "a tool needs `function:` (file.py:function or package.module:function) "
            "or `mcp:` (a server to start)")
        return None
    if mcp is not None:
        if "run" in t:
            add(("tools", i, "run"), "`run` applies to function tools; an MCP server is a process "
                "agentteam starts on this machine")
        if isinstance(mcp, dict):
            _check_mcp(i, mcp, add, env)
        if not isinstance(t.get("name"), str):
            add(("tools", i), "an MCP server needs `name:`; its tools appear as NAME.tool")
            return None
        return t["name"]
    if not isinstance(function, str):
        return None
    m = FILE_FUNCTION.match(function) or MODULE_FUNCTION.match(function)
    if m is None:
        add(("tools", i, "function"), f"`{function}` is not file.py:function (a file next to the "
            "team file) or package.module:function")
        return None
    if m.re is FILE_FUNCTION and not (base_dir / m["file"]).is_file():
        add(("tools", i, "function"), f"no file {m['file']} next to the team file (in {base_dir})")
    name = t.get("name") if isinstance(t.get("name"), str) else m["func"]
    if name == RUN_CODE:
        add(("tools", i, "name"), "`run_code` is agentteam's own code tool (code_execution.mode: "
            "tool); give this one another `name:`")
    return name


def _check_mcp(i: int, mcp: dict, add: Add, env) -> None:
    has_command, has_url = mcp.get("command") is not None, mcp.get("url") is not None
    if has_command == has_url:
        add(("tools", i, "mcp"), "an MCP server needs `command:` (started over stdio) or `url:` "
            "(streamable HTTP), one of the two")
    for group in ("env", "headers"):
        values = mcp.get(group)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if not isinstance(value, str):
                continue
            for var in VAR_RE.findall(value):
                if var not in env:
                    add(("tools", i, "mcp", group, key), f"environment variable ${{{var}}} is not "
                        "set; export it or remove the reference")
            if not VAR_RE.search(value) and LITERAL_KEY_RE.search(value.strip()):
                add(("tools", i, "mcp", group, key), "this looks like a literal key; never put keys "
                    "in a team file — write ${VAR} instead")


def _check_agents(agents: list, functions: list[str], servers: list[str], tool_mode: bool,
                  add: Add, did_you_mean) -> None:
    known = list(dict.fromkeys(functions + [f"{s}.*" for s in servers] + ([RUN_CODE] if tool_mode else [])))
    offered_at: tuple | None = None
    executes = False
    for i, a in enumerate(agents):
        if not isinstance(a, dict):
            continue
        executes = executes or bool(a.get("execute_tools", a.get("kind") == "user_proxy"))
        names: list = a["tools"] if isinstance(a.get("tools"), list) else []
        if names and offered_at is None:
            offered_at = ("agents", i, "tools")
        if tool_mode and a.get("kind", "assistant") == "assistant" and offered_at is None:
            offered_at = ("agents", i)
        for j, ref in enumerate(names):
            if isinstance(ref, str) and not _known(ref, functions, servers, tool_mode):
                add(("agents", i, "tools", j), _unknown(ref, known, tool_mode, did_you_mean))
    if offered_at is not None and not executes:
        add(offered_at, "agents are offered tools, but no agent runs tool calls; give one "
            "`execute_tools: true` (a user_proxy does by default)")


def _known(ref: str, functions: list[str], servers: list[str], tool_mode: bool) -> bool:
    if ref in functions or (ref == RUN_CODE and tool_mode):
        return True
    server, dot, tool = ref.partition(".")
    # the tools of a server are known once it runs: `server.tool` is checked at start
    return bool(dot) and server in servers and bool(tool)


def _unknown(ref: str, known: list[str], tool_mode: bool, did_you_mean) -> str:
    if ref == RUN_CODE and not tool_mode:
        return "`run_code` is offered with `code_execution: {mode: tool}`"
    hint = did_you_mean(ref, known) or did_you_mean(ref.partition(".")[0] + ".*", known)
    listed = f" (tools: {', '.join(known)})" if known else "; define it under `tools:`"
    return f"unknown tool `{ref}`{hint}{listed if not hint else ''}"

