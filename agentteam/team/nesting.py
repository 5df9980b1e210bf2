"""Teams inside teams: ``kind: team`` members and sequential ``chats:``, checked and loaded.

A member of ``kind: team`` (or an entry of ``chats:``) names another team file or
holds an inline team. ``resolve`` loads every inner team with the rest of the file,
so a bad key in an inner file is reported with *that* file's line, a cycle of team
files is refused with the chain of files, and nesting deeper than ``MAX_DEPTH`` is
refused. The loaded inner team is kept on the member (``inner_team``).

An inner team shares its file's model profiles (inline teams) and the run's sandbox,
unless it sets ``code_execution`` itself: then it gets a sandbox of its own.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import Field, ValidationError

from ..errors import ConfigError, Problem
from .flow import check_template
from .schema import NAME_RE, AgentSpec, ChatSpec, TeamSpec, executes_code

MAX_DEPTH = 4      # inner chats inside inner chats, below the outermost team
# AutoGen's DEFAULT_SUMMARY_PROMPT, for `summary: reflection`
DEFAULT_SUMMARY_PROMPT = ("Summarize the takeaway from the conversation. Do not add any "
                          "introductory phrases.")
MEMBER_KEYS = ("team", "task", "sees", "summary", "summary_prompt", "max_round")
# keys of an agent that mean nothing for a member that is a team
NOT_FOR_TEAMS = ("system_message", "tools", "execute_tools")
CONTEXT = ("context",)

Add = Callable[[tuple, str], None]
Hint = Callable[[str, list[str]], str]


@functools.cache
def inline_model() -> type[TeamSpec]:
    """The schema of a team written inside its member: no name or task of its own needed
    (built on first use: a run without inline teams does not pay for it)."""

    class InlineTeam(TeamSpec):
        name: str | None = Field(None, pattern=NAME_RE)  # type: ignore[assignment]

    return InlineTeam


def inner_team(member: AgentSpec | ChatSpec) -> TeamSpec:
    """The team a ``kind: team`` member (or a chat) runs, as ``load_team`` resolved it."""
    team = member._team
    if team is None:
        raise ConfigError(f"`{member.name}`: its team was not loaded; load the team file with "
                          "load_team() (or give the member an inline team)")
    return team


def walk(team: TeamSpec, scope: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                       TeamSpec]]:
    """Every team of the tree with its scope (member or chat names from the outermost)."""
    yield scope, team
    for m in members(team):
        if m._team is not None:
            yield from walk(m._team, scope + (m.name,))


def members(team: TeamSpec) -> list[AgentSpec]:
    """The members that run a team: ``kind: team`` agents, or one per chat of ``chats:``."""
    if team.chats:
        return chat_members(team)
    return [a for a in team.agents if a.kind == "team"]


def needs_sandbox(team: TeamSpec) -> bool:
    """Does an agent of ``team``, or of an inner team sharing its sandbox, run code?"""
    if any(executes_code(a) for a in team.agents):
        return True
    return any(m._team is not None and not m._team._own_sandbox and needs_sandbox(m._team)
               for m in members(team))


def chat_members(team: TeamSpec) -> list[AgentSpec]:
    """The chats of ``chats:`` as members of kind team (what the run loop runs)."""
    cached = team.__dict__.get("_chat_members")
    if cached is not None:
        return cached
    out = []
    for chat, name in zip(team.chats, chat_names(team), strict=True):
        a = AgentSpec(name=name, kind="team", team=chat.team, summary=chat.summary,
                      summary_prompt=chat.summary_prompt, model=chat.model,
                      max_round=chat.max_round)
        a._team = chat._team
        out.append(a)
    team.__dict__["_chat_members"] = out
    return out


def chat_names(team: TeamSpec) -> list[str]:
    """Each chat's name: its ``name``, else its team's name (numbered when repeated)."""
    names = []
    for i, c in enumerate(team.chats):
        base = c.name or (c._team.name if c._team is not None and c._team.name else None) \
            or (Path(c.team).stem if isinstance(c.team, str) else f"chat{i + 1}")
        base = re.sub(r"[^A-Za-z0-9_-]", "_", base)
        names.append(base if base not in names else f"{base}-{i + 1}")
    return names


def own_profiles(team: TeamSpec) -> bool:
    """Does an inner team call models by its own profiles? A team file with ``models:``
    does; an inline team, or a file without ``models:``, uses the team it is in's."""
    return not team._inline and "models" in team.model_fields_set


def profile_refs(team: TeamSpec) -> set[str]:
    """The profiles ``team``'s calls name, those of inner teams that use its profiles
    included (to know whether the default profile must be resolved)."""
    refs = set()
    for a in team.agents:
        if a.kind == "user_proxy" or (a.kind == "team" and a.summary == "last"):
            continue
        refs.add(a.model)
    if team.speaker_selection.method in ("auto", "function") and team.agents:
        refs.add(team.speaker_selection.model or "default")   # a function may answer auto
    for m in members(team):
        if m._team is not None and not own_profiles(m._team):
            refs |= profile_refs(m._team)
    return refs


# -- checking and loading -----------------------------------------------------------------

def member_problems(data: dict, add: Add, hint: Hint) -> None:
    """Keys of ``kind: team`` members and of ``chats:`` that do not fit together."""
    entries = data.get("agents")
    chats = data.get("chats")
    if "chats" in data and "agents" in data:
        add(("chats",), "a team file has `agents:` (one chat) or `chats:` (chats in "
            "sequence), not both")
    elif "chats" not in data and "agents" not in data:
        add(("agents",), "required key `agents` is missing (or `chats:`, for chats in "
            "sequence)")
    elif "agents" in data and entries == []:
        add(("agents",), "a team needs at least one agent")
    if "chats" in data and chats == []:
        add(("chats",), "`chats:` needs at least one chat")
    for i, a in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(a, dict):
            continue
        if a.get("kind") == "team":
            if a.get("team") is None:
                where = ("agents", i, "team") if "team" in a else ("agents", i)
                add(where, "a member of `kind: team` needs `team:` (a team file, or "
                    "an inline team {agents: [...]})")
            for key in NOT_FOR_TEAMS:
                if key in a:
                    add(("agents", i, key), f"`{key}` does not apply to `kind: team` (its "
                        "inner team's agents have their own)")
        else:
            for key in MEMBER_KEYS:
                if key in a:
                    add(("agents", i, key), f"`{key}` applies only to agents with "
                        "`kind: team`")
        _template_problem(a, ("agents", i), add)
        _summary_problem(a, ("agents", i), add)
    for i, c in enumerate(chats if isinstance(chats, list) else []):
        if isinstance(c, dict):
            _summary_problem(c, ("chats", i), add)
    if isinstance(chats, list) and "chats" in data:
        for key in ("initiator", "transitions"):
            if key in data:
                add((key,), f"`{key}` does not apply to `chats:` (each chat's team has its own)")


def _template_problem(a: dict, loc: tuple, add: Add) -> None:
    task = a.get("task")
    if a.get("kind") == "team" and isinstance(task, str):
        try:
            check_template(task, CONTEXT)
        except ValueError as e:
            add(loc + ("task",), f"{e} — `{{context}}` is what the member sees of the chat")


def _summary_problem(entry: dict, loc: tuple, add: Add) -> None:
    if "summary_prompt" in entry and entry.get("summary", "last") != "reflection":
        add(loc + ("summary_prompt",), "`summary_prompt` applies only with "
            "`summary: reflection`")


def resolve(team: TeamSpec | None, data: dict, positions: dict, file: str, env: Any,
            chain: tuple[Path, ...], depth: int = 0, prefix: tuple = ()) -> list[Problem]:
    """Load every inner team of ``data`` (a file's top level, or at ``prefix`` an inline
    team's mapping) and attach it to ``team``'s members; the problems found, each with its
    own file's line."""
    from . import yamlsafe
    problems: list[Problem] = []
    here = Path(file).resolve().parent
    where = [("agents", i, a) for i, a in enumerate(_list(data, "agents"))
             if isinstance(a, dict) and a.get("kind") == "team" and "team" in a]
    where += [("chats", i, c) for i, c in enumerate(_list(data, "chats"))
              if isinstance(c, dict) and "team" in c]
    for section, i, entry in where:
        loc = prefix + (section, i, "team")
        value = entry["team"]
        line, col = yamlsafe.position(positions, loc)
        problem = _problem_at(problems, file, line, col, yamlsafe.format_path(loc))

        if depth + 1 > MAX_DEPTH:
            problem(f"teams nest at most {MAX_DEPTH} deep below the outermost team; this one "
                    f"would be {depth + 1} deep" + (f" ({_chain_text(chain)} → …)"
                                                   if chain else ""))
            continue
        if isinstance(value, str):
            inner, found = _load_file(here, value, env, chain, depth + 1, problem)
        elif isinstance(value, dict):
            given = entry.get("name")
            name = given if isinstance(given, str) else f"chat{i + 1}"
            inner, found = _inline(value, loc, name, positions, file, env, data, chain, depth)
        else:
            continue
        problems += found
        if inner is None or team is None:
            continue
        inner._own_sandbox = "code_execution" in inner.model_fields_set
        target = team.agents if section == "agents" else team.chats
        if i < len(target):
            target[i]._team = inner
    return problems


def _problem_at(problems: list[Problem], file: str, line: int | None, col: int | None,
                path: str) -> Callable[[str], None]:
    return lambda msg: problems.append(Problem(file, line, col, path, msg))


def _list(data: dict, key: str) -> list:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _chain_text(chain: tuple[Path, ...], last: Path | None = None) -> str:
    files = [*chain, *([last] if last else [])]
    return " → ".join(_shown(p) for p in files)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _load_file(here: Path, value: str, env: Any, chain: tuple[Path, ...], depth: int,
               problem: Callable[[str], None]) -> tuple[TeamSpec | None, list[Problem]]:
    from .load import load_team
    path = (here / value).resolve()
    if path in chain:
        problem(f"a cycle of team files: {_chain_text(chain, path)}; a team cannot contain "
                "itself")
        return None, []
    if not path.is_file():
        problem(f"no team file {value} next to this file ({path})")
        return None, []
    try:
        return load_team(path, env, _chain=chain, _depth=depth), []
    except ConfigError as e:
        if not e.problems:
            problem(str(e))
            return None, []
        problem(f"{value} has {len(e.problems)} problem(s), listed with their own lines")
        return None, e.problems


def _inline(value: dict, loc: tuple, name: str, positions: dict, file: str, env: Any,
            outer: dict, chain: tuple[Path, ...], depth: int) -> tuple[TeamSpec | None,
                                                                       list[Problem]]:
    """Check an inline team like a file's top level, its problems placed in this file."""
    from . import yamlsafe
    from .load import _cross_check, _from_pydantic, _loc
    problems: list[Problem] = []

    def add(sub: tuple, msg: str) -> None:
        full = loc + sub
        line, col = yamlsafe.position(positions, full)
        problems.append(Problem(file, line, col, yamlsafe.format_path(full), msg))

    if "models" in value:
        add(("models",), "an inline team uses the profiles of its file's `models:`; define "
            "them there")
    if "task" in value:
        add(("task",), "an inline team is told what to do by the chat it is in; write the "
            "member's `task:` (with {context}) instead")
    inner = None
    try:
        inner = inline_model().model_validate(value)
    except ValidationError as e:
        problems += [_from_pydantic(err, loc + _loc(err), positions, file) for err in e.errors()
                     if "models" not in _loc(err)]
    models = outer.get("models") if isinstance(outer.get("models"), dict) else {}
    problems += _cross_check({**value, "models": models}, positions, file, env, prefix=loc,
                             profiles=False)
    if inner is not None:
        inner.source = file
        if not inner.name:
            inner.name = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "team"
        if not re.match(NAME_RE, inner.name):
            inner.name = "team"
        inner._inline = True
    problems += resolve(inner, value, positions, file, env, chain, depth + 1, prefix=loc)
    return inner, problems
