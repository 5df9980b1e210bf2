"""``agentteam import``: an AutoGen AgentChat / AutoGen Studio team (its component JSON)
as a team file, with a list of what could not be carried over.

Reads a team component (``{"provider": "autogen_agentchat.teams.…", "config": …}``, what
``team.dump_component()`` writes and AutoGen Studio exports), an AutoGen Studio record
that wraps one (``{"component": …}``), or a gallery (``{"components": {"teams": […]}}``).
The result is checked by loading it back before it is written. Keys are never copied:
profiles take them from the environment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..team import NAME_RE, parse_team
from ..team.write import dump_team
from .teams import convert_team

MAX_BYTES = 5_000_000


@dataclass
class Imported:
    """A converted team: the team file's keys, comments for them, and the notes on what
    was left behind or changed."""

    data: dict
    comments: dict[tuple, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    kind: str = ""           # the AgentChat team class, e.g. RoundRobinGroupChat
    source: str = ""

    def yaml(self) -> str:
        """The team file's text; the notes are its header."""
        head = [f"Imported by `agentteam import` from {Path(self.source).name} (AutoGen "
                f"AgentChat {self.kind})."]
        if self.notes:
            head.append("Not carried over, or changed (check these):")
            head += [f"- {n}" for n in self.notes]
        return dump_team(self.data, self.comments, "\n".join(head))


def import_file(path: str | Path, team: str | None = None, task: str | None = None,
                name: str | None = None) -> Imported:
    """Convert the team component in the JSON file ``path``; ConfigError for a file that
    holds none. ``team`` picks one of a gallery's teams (by label, name or number)."""
    where = str(path)
    if name is not None and not re.fullmatch(NAME_RE, name):
        raise ConfigError(f"--name {name!r}: a team name uses lowercase letters, digits and - "
                          "only (like my-team)")
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{where}: cannot read: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(raw)} bytes; an AgentChat team is far smaller "
                          "(is this the right file?)")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text; export the team as JSON") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    notes: list[str] = []
    component = _find_team(doc, where, team, notes)
    out = convert_team(component, notes)
    out.source, out.notes = where, notes
    out.data["name"] = name or _team_name(component, where)
    if task:
        out.data["task"] = task
    _check(out, where)
    return out


def _find_team(doc: Any, where: str, pick: str | None, notes: list[str]) -> dict:
    if isinstance(doc, dict) and isinstance(doc.get("component"), dict):
        doc = doc["component"]     # an AutoGen Studio record around the component
    if isinstance(doc, dict) and isinstance(doc.get("components"), dict):
        return _from_gallery(doc["components"].get("teams"), where, pick, notes)
    if pick is not None:
        raise ConfigError(f"{where}: --team picks a team of a gallery; this file holds one "
                          "team")
    if _is_team(doc):
        return doc
    if isinstance(doc, dict) and {"sender", "receiver"} & set(doc):
        raise ConfigError(f"{where}: an AutoGen Studio 0.2 workflow; export the team from "
                          "AutoGen Studio 0.4 or newer (its component JSON), or from "
                          "Python with team.dump_component().model_dump_json()")
    what = doc.get("provider", "no provider") if isinstance(doc, dict) else type(doc).__name__
    raise ConfigError(f"{where}: not an AutoGen AgentChat team component ({what}); expected "
                      '{"provider": "autogen_agentchat.teams.…", "config": {…}}')


def _is_team(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("config"), dict) and (
        doc.get("component_type") == "team" or str(doc.get("provider", "")).startswith(
            "autogen_agentchat.teams."))


def _from_gallery(teams: Any, where: str, pick: str | None, notes: list[str]) -> dict:
    teams = [t for t in teams if _is_team(t)] if isinstance(teams, list) else []
    if not teams:
        raise ConfigError(f"{where}: the gallery has no team components")
    labels = [str(t.get("label") or t["config"].get("name") or i) for i, t in enumerate(teams)]
    if pick is None:
        if len(teams) > 1:
            notes.append(f"the gallery has {len(teams)} teams ({', '.join(labels)}); this is "
                         "the first (choose another with --team)")
        return teams[0]
    for i, t in enumerate(teams):
        if pick in (labels[i], t["config"].get("name"), str(i + 1)):
            return t
    raise ConfigError(f"{where}: no team {pick!r} in the gallery; its teams: "
                      f"{', '.join(labels)} (or their number, from 1)")


def _team_name(component: dict, where: str) -> str:
    kind = str(component.get("provider", "")).rsplit(".", 1)[-1]
    for candidate in (component.get("label"), component["config"].get("name"), Path(where).stem):
        if isinstance(candidate, str) and candidate and candidate != kind:
            slug = re.sub(r"[^a-z0-9]+", "-", candidate.lower()).strip("-")
            if slug:
                return slug
    return "imported-team"


def _check(out: Imported, where: str) -> None:
    """The written file must load: a problem here is agentteam's, said plainly."""
    try:
        parse_team(out.yaml(), where + ".yaml", _AnyEnv())
    except ConfigError as e:
        raise ConfigError(f"{where}: the converted team does not load ({e}); please report "
                          "this with the file") from None


class _AnyEnv(dict):
    """Every variable set: the environment of the machine that will run the team is not
    this one's."""

    def __contains__(self, key: object) -> bool:
        return True
