"""The builder's answer: its shape (pydantic, ``extra="forbid"``) and what is wrong with it,
each problem one line that starts with the key path (``agents[1].name: ...``), ready to be
sent back in a repair prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..team import AGENT_RE, NAME_RE
from ..team.load import _did_you_mean
from ..team.yamlsafe import format_path
from .prompts import KEYWORD, MAX_ROUND, PROXY, shown


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Invented(_Strict):
    """An expert the builder made up."""

    name: str = Field(pattern=AGENT_RE)
    description: str = Field(min_length=1)
    system_message: str = Field(min_length=1)


class Picked(_Strict):
    """An agent picked from the library, by name."""

    name: str


class Proposal(_Strict):
    """The team the builder proposes (agents checked one by one, by their own model)."""

    name: str
    description: Optional[str] = None
    rationale: Optional[str] = None
    coding: Optional[bool] = None
    speaker_selection: Literal["auto", "round_robin"]
    transitions: Optional[dict[str, list[str]]] = None
    max_round: Optional[int] = Field(None, ge=MAX_ROUND[0], le=MAX_ROUND[1])
    agents: list[Any] = Field(min_length=1)


Agent = Union[Invented, Picked]


@dataclass
class Reading:
    """An answer as read: the proposal and its agents when their shape is right, and every
    problem found (empty when the answer can be turned into a team)."""

    proposal: Proposal | None = None
    agents: list[Agent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read(value: dict, max_agents: int, coding: bool | None,
         library: list[str] | None = None) -> Reading:
    """Check an answer object: its shape, then what the shape cannot say (the agent count,
    names taken or unknown, who ends the chat)."""
    out = Reading()
    try:
        out.proposal = Proposal.model_validate(value)
    except ValidationError as e:
        out.problems += _problems(e, (), Proposal)
    raw = value.get("agents")
    model: type[Invented] | type[Picked] = Picked if library is not None else Invented
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            out.agents.append(model.model_validate(item))
        except ValidationError as e:
            out.problems += _problems(e, ("agents", i), model)
    if out.proposal is None or out.problems:
        return out
    out.problems += _meaning(out, max_agents, coding, library)
    return out


def team_name(name: str) -> str:
    """The team's name as a team file takes it: a slug of whatever the builder wrote (not
    worth a repair round)."""
    if re.match(NAME_RE, name):
        return name
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "built-team"


def _meaning(r: Reading, max_agents: int, coding: bool | None,
             library: list[str] | None) -> list[str]:
    assert r.proposal is not None
    out = []
    if len(r.agents) > max_agents:
        out.append(f"agents: {len(r.agents)} agents; at most {max_agents} are allowed: keep "
                   "the ones the task needs most")
    if coding is None and r.proposal.coding is None:
        out.append("coding: required key `coding` is missing (true when the task needs code "
                   "to be run, else false)")
    for i, a in enumerate(r.agents):
        if a.name == PROXY:
            out.append(f"agents[{i}].name: {PROXY} is added by agentteam when coding is on; "
                       "do not list it (choose another name for this agent)")
        elif library is not None and a.name not in library:
            out.append(f"agents[{i}].name: {shown(a.name)} is not in the library"
                       f"{_did_you_mean(a.name, library)}; pick one of: {', '.join(library)}")
    runs_code = coding if coding is not None else bool(r.proposal.coding)
    targets = [n for after in (r.proposal.transitions or {}).values() for n in after]
    if runs_code and r.proposal.transitions and PROXY not in targets:
        out.append(f"transitions: no agent may hand over to {PROXY}, so no code would run; "
                   f"add {PROXY} after the agents that write code (or leave transitions out)")
    if library is None and not any(KEYWORD in a.system_message for a in r.agents
                                   if isinstance(a, Invented)):
        out.append(f"agents: no agent's system_message says to reply {KEYWORD}, so the chat "
                   "could not end before max_round; tell the agent that verifies the result "
                   f"to reply {KEYWORD} when the task is done")
    return out


def _problems(e: ValidationError, prefix: tuple, model: type[BaseModel]) -> list[str]:
    out = []
    for err in e.errors():
        loc = prefix + tuple(err["loc"])
        path = format_path(loc) or "the answer"
        kind, got = err["type"], err.get("input")
        if kind == "extra_forbidden":
            allowed = sorted(model.model_fields)
            hint = _did_you_mean(str(loc[-1]), allowed)
            out.append(f"{path}: unknown key `{loc[-1]}`{hint or '; allowed: ' + ', '.join(allowed)}")
        elif kind == "missing":
            out.append(f"{path}: required key `{loc[-1]}` is missing")
        elif kind == "string_pattern_mismatch":
            out.append(f"{path}: {shown(got)} may only use letters, digits, _ and - (no "
                       "spaces; like Data_Analyst)")
        elif kind == "literal_error":
            out.append(f"{path}: {shown(got)} is not one of "
                       f"{err.get('ctx', {}).get('expected', '')}")
        elif kind in ("model_type", "model_attributes_type", "dict_type") and loc[:1] == (
                "agents",):
            out.append(f"{path}: expected an object like {{\"name\": ...}} (got {shown(got)})")
        else:
            out.append(f"{path}: {err['msg'].lower()} (got {shown(got)})")
    return out
