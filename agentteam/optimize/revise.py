"""A revision applied to a team: new keys, checked, written as a team file.

A team is kept as the keys of its file as written (``${VAR}`` references unexpanded,
never a key's value) plus the tools the optimizer wrote. ``apply`` makes the revised
team or says why it cannot (``RevisionError``); ``write`` writes it as a commented team
file with its tool file beside it, with every path of the original rebased so that it
still points where it did (``rebase``). Whether the written file is a valid team is
``load_team``'s to say (the loop calls it before any run).
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..team.toolcheck import FILE_FUNCTION
from ..team.write import dump_team
from .learned import LearnedTool, check_code, check_together, clashes, module_text
from .prompts import Revision


class RevisionError(Exception):
    """A revision that cannot be applied; ``problems``: one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Candidate:
    """A version of the team: its file's keys and the tools the optimizer wrote."""

    data: dict
    learned: dict[str, LearnedTool] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)    # what it changed from its parent
    revised: dict[str, int] = field(default_factory=dict)  # agent -> iteration it changed


def apply(parent: Candidate, rev: Revision, iteration: int, new_tools: bool) -> Candidate:
    """The parent team with ``rev`` applied; RevisionError lists what cannot be done."""
    out = Candidate(copy.deepcopy(parent.data), dict(parent.learned), [], dict(parent.revised))
    problems: list[str] = []
    agents = {a.get("name"): a for a in out.data.get("agents") or [] if isinstance(a, dict)}
    names = ", ".join(str(n) for n in agents)
    for change in rev.agents:
        agent = agents.get(change.name)
        if agent is None:
            problems.append(f"agent `{change.name}` is not in the team (its agents: {names})")
            continue
        for key in ("system_message", "description", "tools"):
            value = getattr(change, key)
            if value is not None and value != agent.get(key):
                agent[key] = value
                out.changes.append(f"{change.name}.{key}")
                out.revised[change.name] = iteration
    if rev.selection_prompt is not None:
        _selection_prompt(out, rev.selection_prompt, problems)
    if rev.new_tools and not new_tools:
        problems.append("new tools were proposed, but writing tools is off (--no-new-tools)")
    elif rev.new_tools:
        _new_tools(out, rev, agents, problems)
    problems += clashes(list(out.learned.values()))
    problems += [p for p in check_together(list(out.learned.values())) if p not in problems]
    if problems:
        raise RevisionError(problems)
    return out


def _selection_prompt(out: Candidate, prompt: str, problems: list[str]) -> None:
    sel = out.data.get("speaker_selection", "auto")
    method = sel if isinstance(sel, str) else (sel or {}).get("method", "auto")
    if method != "auto":
        problems.append(f"a selection prompt was proposed, but the team's speaker selection "
                        f"is `{method}`; only `auto` uses one")
        return
    sel = dict(sel) if isinstance(sel, dict) else {"method": "auto"}
    if sel.get("prompt") != prompt:
        sel["prompt"] = prompt
        out.data["speaker_selection"] = sel
        out.changes.append("speaker_selection.prompt")


def _new_tools(out: Candidate, rev: Revision, agents: dict, problems: list[str]) -> None:
    own = {str(t.get("name") or str(t.get("function", "")).rpartition(":")[2])
           for t in out.data.get("tools") or [] if isinstance(t, dict)}
    for tool in rev.new_tools:
        if tool.name in own:
            problems.append(f"tool `{tool.name}`: the team already has a tool of that name")
            continue
        found = check_code(tool.name, tool.code)
        missing = [a for a in tool.agents if a not in agents]
        if missing:
            found.append(f"tool `{tool.name}`: no agent {', '.join(missing)} in the team")
        if found:
            problems += found
            continue
        old = out.learned.get(tool.name)
        out.learned[tool.name] = LearnedTool(tool.name, tool.description, tool.code)
        out.changes.append(f"tool {tool.name} ({'rewritten' if old else 'new'})")
        for name in tool.agents:
            offered = agents[name].setdefault("tools", [])
            if tool.name not in offered:
                offered.append(tool.name)
    # a learned tool no agent is offered any more is dropped with its code
    offered_any = {t for a in agents.values() for t in a.get("tools") or []}
    for name in [n for n in out.learned if n not in offered_any]:
        del out.learned[name]
        out.changes.append(f"tool {name} (dropped)")


def same(a: Candidate, b: Candidate) -> bool:
    """Do two versions make the same team?"""
    return a.data == b.data and {k: (t.code, t.description) for k, t in a.learned.items()} \
        == {k: (t.code, t.description) for k, t in b.learned.items()}


# -- writing -----------------------------------------------------------------------------

def tool_file(team_path: Path) -> Path:
    """Where the tools of the team file ``team_path`` go: a file beside it."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", team_path.stem)
    return team_path.with_name(f"{stem}_tools.py")


def team_keys(cand: Candidate, path: Path, origin: Path) -> dict:
    """The keys of the file ``path`` for ``cand`` (``origin``: the original's folder)."""
    data = rebase(cand.data, origin, path.parent)
    if cand.learned:
        entries = [{"function": f"{tool_file(path).name}:{t.name}", "description":
                    t.description, "run": "sandbox"} for t in cand.learned.values()]
        tools = list(data.get("tools") or []) + entries
        # `tools:` before `agents:`, as people write them
        data = {k: v for k, v in data.items() if k not in ("tools", "agents")} | \
            {"tools": tools, "agents": data.get("agents")}
    return data


def write(cand: Candidate, path: Path, origin: Path, header: str,
          comments: dict[tuple, str] | None = None) -> tuple[str, str]:
    """Write the team file ``path`` (and its tool file, when it has learned tools);
    return (the team file's text, the tool file's text or "")."""
    text = dump_team(team_keys(cand, path, origin), comments, header)
    tools = ""
    path.parent.mkdir(parents=True, exist_ok=True)
    if cand.learned:
        tools = module_text(list(cand.learned.values()),
                            f"Tools written by `agentteam optimize` for {path.name}. They run "
                            "only in the Docker sandbox (run: sandbox).")
        tool_file(path).write_text(tools, encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    return text, tools


def rebase(data: dict, src: Path, dst: Path) -> dict:
    """The keys of a team file moved from folder ``src`` to ``dst``: every path that is
    relative to the team file's folder made relative to the new one. (``work_dir`` stays
    as it is: a team file moved elsewhere gets its own work dir beside it.)"""
    out = copy.deepcopy(data)
    if src.resolve() == dst.resolve():
        return out

    def move(p: object) -> object:
        if not isinstance(p, str) or not p or "${" in p or Path(p).is_absolute():
            return p
        return os.path.relpath(src.resolve() / p, dst.resolve())

    def move_function(f: object) -> object:
        m = FILE_FUNCTION.match(f) if isinstance(f, str) else None
        return f"{move(m['file'])}:{m['func']}" if m else f

    for t in out.get("tools") or []:
        if not isinstance(t, dict):
            continue
        if "function" in t:
            t["function"] = move_function(t["function"])
        mcp = t.get("mcp")
        if isinstance(mcp, dict) and mcp.get("command") and not mcp.get("url"):
            mcp["cwd"] = move(mcp.get("cwd") or ".")   # its args are relative to it
    code = out.get("code_execution")
    if isinstance(code, dict) and isinstance(code.get("files"), list):
        code["files"] = [move(f) for f in code["files"]]
    cache = out.get("cache")
    if isinstance(cache, dict) and cache.get("dir"):
        cache["dir"] = move(cache["dir"])
    sel = out.get("speaker_selection")
    if isinstance(sel, dict) and "function" in sel:
        sel["function"] = move_function(sel["function"])
    return out
