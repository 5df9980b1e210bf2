"""The task file of a batch (JSON lines) and the ``{placeholders}`` its ``vars`` fill.

A line is ``{"id", "task", "vars", "expected", "check"}``; only ``id`` is
required. Blank lines and lines starting with ``#`` are skipped. Every problem
of the file is reported at once, each naming ``file:line``.

Placeholders: ``{name}`` (a name of letters, digits and ``_``, not starting with
a digit) in the task and the agents' system messages. Only the names that some
line of the file gives in ``vars`` are placeholders; every other brace
(``{bugs: n}``, ``{x}`` in example code, JSON) is left as it is. A line must
give a value for every placeholder the text uses, and every var it gives must
be used somewhere (a typo in a var name is an error, not a silent no-op).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from pathlib import Path
from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from ..errors import ConfigError, Problem
from ..team import TeamSpec

PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class TaskLine(BaseModel):
    """One line of a task file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_RE)
    task: Optional[str] = Field(None, min_length=1)
    vars: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)
    expected: Optional[str] = Field(None, min_length=1)
    check: Optional[str] = Field(None, min_length=1)
    _line: int = PrivateAttr(0)     # where it is in the file, for messages

    @property
    def line(self) -> int:
        return self._line


class TaskFile:
    """A parsed task file: its lines in order, and the placeholder names its vars define."""

    def __init__(self, path: Path, lines: list[TaskLine]):
        self.path = path
        self.lines = lines
        self.names = sorted({k for t in lines for k in t.vars})

    def where(self, t: TaskLine) -> str:
        return f"{self.path}:{t.line}"

    def select(self, patterns: list[str]) -> list[TaskLine]:
        """The lines whose id matches one of the shell patterns (all without patterns)."""
        if not patterns:
            return list(self.lines)
        unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(t.id, p)
                                                    for t in self.lines)]
        if unmatched:
            ids = ", ".join(t.id for t in self.lines[:10])
            raise ConfigError(f"--filter {unmatched[0]!r} matches no task id in {self.path} "
                              f"(ids: {ids}{', …' if len(self.lines) > 10 else ''})")
        return [t for t in self.lines if any(fnmatch.fnmatchcase(t.id, p) for p in patterns)]


def load_tasks(path: Path) -> TaskFile:
    """Read and validate a task file; raise ConfigError listing every problem."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such task file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give a .jsonl task file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the task file ({e})") from None
    lines, problems = [], []
    seen: dict[str, int] = {}
    for n, text in enumerate(raw.splitlines(), 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        line = _parse_line(path, n, text)
        if isinstance(line, Problem):
            problems.append(line)
            continue
        if line.id in seen:
            problems.append(Problem(str(path), n, None, "id", f"id `{line.id}` is used twice "
                                    f"(also line {seen[line.id]}); ids must be unique"))
            continue
        seen[line.id] = n
        lines.append(line)
    if not lines and not problems:
        problems.append(Problem(str(path), None, None, "", "no task lines; write one JSON "
                                'object per line, e.g. {"id": "q1", "task": "..."}'))
    if problems:
        raise ConfigError("\n".join(map(str, problems)), problems)
    return TaskFile(path, lines)


def _parse_line(path: Path, n: int, text: str) -> TaskLine | Problem:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return Problem(str(path), n, e.colno, "", f"not valid JSON ({e.msg}); each line "
                             "is one JSON object")
    if not isinstance(data, dict):
        return Problem(str(path), n, None, "", f"a task line is a JSON object, not "
                             f"{type(data).__name__}")
    if isinstance(data.get("id"), int) and not isinstance(data.get("id"), bool):
        data["id"] = str(data["id"])
    try:
        line = TaskLine.model_validate(data)
        line._line = n
        return line
    except ValidationError as e:
        err = e.errors()[0]
        return Problem(str(path), n, None, _loc(err["loc"]), _message(err))


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _message(err) -> str:
    kind, field = err["type"], err["loc"][-1]
    if kind == "extra_forbidden":
        known = ["id", "task", "vars", "expected", "check"]
        close = difflib.get_close_matches(str(field), known, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else f"; allowed: {', '.join(known)}"
        return f"unknown key `{field}`{hint}"
    if kind == "missing":
        return f"required key `{field}` is missing"
    if kind == "string_pattern_mismatch":
        return (f"{err['input']!r}: an id is 1-100 letters, digits, `.`, `_` and `-` "
                "(it names the run's files)")
    got = err.get("input")
    shown = type(got).__name__ if isinstance(got, (dict, list)) else repr(got)
    return f"{err['msg'].lower()} (got {shown})"


# -- placeholders ------------------------------------------------------------------------

def _texts(team: TeamSpec, t: TaskLine) -> list[str]:
    return [t.task or team.task or ""] + [a.system_message for a in team.agents if a.system_message]


def check_vars(team: TeamSpec, tasks: TaskFile) -> None:
    """Every var used, every placeholder given, on every line; else ConfigError by line."""
    problems = []
    names = set(tasks.names)
    for t in tasks.lines:
        used = {m for text in _texts(team, t) for m in PLACEHOLDER_RE.findall(text)} & names
        for k in t.vars:
            if k not in used:
                problems.append(Problem(str(tasks.path), t.line, None, f"vars.{k}",
                                        f"the team uses no {{{k}}} placeholder in its task or "
                                        "system messages"))
        for k in sorted(used - set(t.vars)):
            problems.append(Problem(str(tasks.path), t.line, None, "vars",
                                    f"placeholder {{{k}}} has no value on this line; add "
                                    f'"vars": {{"{k}": ...}}'))
    if problems:
        raise ConfigError("\n".join(map(str, problems)), problems)


def fill(text: str, values: dict, names: set[str] | list[str]) -> str:
    """Replace ``{name}`` for the placeholder names given a value; leave every other brace."""
    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name in names and name in values:
            v = values[name]
            return json.dumps(v) if isinstance(v, bool) else str(v)
        return m.group(0)
    return PLACEHOLDER_RE.sub(sub, text)


def team_for(team: TeamSpec, t: TaskLine, names: list[str]) -> TeamSpec:
    """The team as this line runs it: its task, with the line's vars filled in."""
    agents = [a.model_copy(update={"system_message": fill(a.system_message, t.vars, names)})
              if a.system_message else a for a in team.agents]
    return team.model_copy(update={"task": fill(t.task or team.task or "", t.vars, names),
                                   "agents": agents})
