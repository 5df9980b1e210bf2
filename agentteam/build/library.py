"""``--library LIB.yaml``: agent definitions the builder picks from instead of inventing.

A library is a YAML (or JSON) file with ``agents:``, a list of ``{name, description,
system_message}``; a bare list works too, which is AutoGen's library format
(``build_from_library``'s JSON). Every problem is reported at once with file:line, like a
team file's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, Problem
from ..files import NotRegularFile, TooLarge, read_limited
from ..team import AGENT_RE, yamlsafe
from ..team.load import _did_you_mean
from .prompts import PROXY

MAX_ENTRIES = 500


class Entry(BaseModel):
    """One agent of a library."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=AGENT_RE)
    description: str = Field(min_length=1)
    system_message: str = Field(min_length=1)


@dataclass
class Library:
    """The agents of a library file, by name, in the file's order."""

    source: str
    entries: dict[str, Entry]

    def names(self) -> list[str]:
        return list(self.entries)

    def listing(self) -> list[tuple[str, str]]:
        """(name, description) of each agent: what the builder is shown."""
        return [(e.name, e.description) for e in self.entries.values()]


def load_library(path: str | Path) -> Library:
    """Read and check a library file; ConfigError (exit 2) listing every problem."""
    file = str(path)
    try:
        raw = read_limited(path, yamlsafe.MAX_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"--library {file}: no such file") from None
    except (IsADirectoryError, NotRegularFile):
        raise ConfigError(f"--library {file}: not a file; give a library .yaml file") from None
    except TooLarge as e:
        raise ConfigError(f"--library {file}: {e.size} bytes; a library may be at most "
                          f"{yamlsafe.MAX_BYTES} bytes") from None
    except OSError as e:
        raise ConfigError(f"--library {file}: cannot read: {e.strerror}") from None
    data, positions, problems, _ = yamlsafe.load(yamlsafe.decode(raw, file), file)
    if isinstance(data, list):        # AutoGen's format: the list itself
        data = {"agents": data}
        positions = {("agents", *k): v for k, v in positions.items()}
    if not isinstance(data, dict) or not isinstance(data.get("agents"), list):
        problems.append(Problem(file, 1, 1, "", "a library is `agents:`, a list of {name, "
                                "description, system_message} (or that list itself)"))
        raise ConfigError("\n".join(map(str, problems)), problems)
    entries: dict[str, Entry] = {}

    def add(loc: tuple, message: str) -> None:
        line, col = yamlsafe.position(positions, loc)
        problems.append(Problem(file, line, col, yamlsafe.format_path(loc), message))
    for key in data:
        if key != "agents":
            add((key,), f"unknown key `{key}`{_did_you_mean(str(key), ['agents'])}; a library "
                "has only `agents:`")
    items = data["agents"]
    if not items:
        add(("agents",), "the library has no agents")
    if len(items) > MAX_ENTRIES:
        add(("agents",), f"{len(items)} agents; a library may hold at most {MAX_ENTRIES}")
    for i, item in enumerate(items[:MAX_ENTRIES]):
        try:
            entry = Entry.model_validate(item)
        except ValidationError as e:
            for err in e.errors():
                add(("agents", i, *err["loc"]), _message(err))
            continue
        if entry.name in entries:
            add(("agents", i, "name"), f"agent `{entry.name}` is defined twice; names must "
                "be unique")
        elif entry.name == PROXY:
            add(("agents", i, "name"), f"{PROXY} is the code-running agent agentteam adds; "
                "choose another name")
        entries[entry.name] = entry
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise ConfigError("\n".join(map(str, problems)), problems)
    return Library(file, entries)


def _message(err) -> str:
    loc, kind = err["loc"], err["type"]
    if kind == "extra_forbidden":
        fields = sorted(Entry.model_fields)
        hint = _did_you_mean(str(loc[-1]), fields)
        return f"unknown key `{loc[-1]}`{hint or '; allowed: ' + ', '.join(fields)}"
    if kind == "missing":
        return f"required key `{loc[-1]}` is missing"
    if kind == "string_pattern_mismatch":
        return f"{err['input']!r} may only use letters, digits, _ and -"
    if kind == "model_type":
        return "expected a mapping: {name, description, system_message}"
    return err["msg"].lower()
