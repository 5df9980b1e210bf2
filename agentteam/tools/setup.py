"""A run's tools put together: the functions read, the sandbox checked (or a recording
for ``--replay``), and which model profiles are offered tools."""

from __future__ import annotations

from typing import Callable

from ..conversation.events import Notice
from ..conversation.messages import ToolResultPart
from ..conversation.transcript import Recorded
from ..errors import ExecutionError, UsageError
from ..executors import check_or_build
from ..executors.base import CodeExecutor
from ..models.profiles import Profile
from ..team import TeamSpec
from .python import load_functions
from .registry import RecordedTools, ToolBox


def prepare_tools(team: TeamSpec, executor: CodeExecutor | None, replay: Recorded | None,
                  notices: list[Notice],
                  build_image: Callable[[str], None] | None = None) -> ToolBox:
    """The run's ToolBox: functions read, the sandbox checked (a notice for tools that run
    on this machine). A replay runs no tool: it answers every call with the recorded
    result."""
    if replay is not None:
        results = {p.id: p for _, m in replay.all_messages for p in m.parts
                   if isinstance(p, ToolResultPart)}
        return RecordedTools(team, results, replay.path)
    functions = load_functions(team)
    sandboxed = [f.name for f in functions if f.spec.run == "sandbox"]
    on_host = [f.name for f in functions if f.spec.run == "host"]
    if on_host:
        notices.append(Notice(f"tool(s) {', '.join(on_host)} will run ON THIS MACHINE "
                              "(run: host), without a sandbox", "warning"))
    sandbox = None
    if sandboxed:
        from ..executors.docker import DockerExecutor
        sandbox = executor if isinstance(executor, DockerExecutor) else \
            DockerExecutor(team.code_execution, team.work_dir)
        try:
            if sandbox is not executor:
                check_or_build(sandbox, build_image)
        except ExecutionError as e:
            raise UsageError(f"{e}; tool(s) {', '.join(sandboxed)} run in the sandbox: start "
                             "Docker, or set `run: host` on them to run them on this "
                             "machine") from None
    return ToolBox(team, functions, sandbox, executor)


def cannot_call_tools(team: TeamSpec, profiles: dict[str, Profile]) -> list[Notice]:
    """Warnings for profiles whose route cannot pass tools to their model."""
    out = []
    for name in sorted(tool_profiles(team, profiles)):
        p = profiles.get(name)
        if p is not None and p.model.startswith("ollama/"):
            out.append(Notice(f"profile `{name}` ({p.model}) is offered tools, but LiteLLM's "
                              f"ollama/ route cannot pass them; use ollama_chat/"
                              f"{p.served_name}", "warning"))
    return out


def tool_profiles(team: TeamSpec, profiles: dict[str, Profile]) -> frozenset[str]:
    """The profiles (fallbacks included) whose agents are offered tools."""
    out: set[str] = set()
    for a in team.agents:
        if a.tools or (team.code_execution.mode == "tool" and a.kind == "assistant"):
            out.add(a.model)
            out.update(profiles[a.model].fallbacks if a.model in profiles else [])
    return frozenset(out)

