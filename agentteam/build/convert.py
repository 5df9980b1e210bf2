"""A builder's answer as a team file: its keys, the comments above them, and the check that
the written text loads (``parse_team``), with problems told in the answer's own key paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..team import parse_team
from ..team.write import dump_team
from .answer import Invented, Reading, team_name
from .library import Library
from .prompts import KEYWORD, PROXY

DEFAULT_MAX_ROUND = 20

PROXY_AGENT = {
    "name": PROXY, "kind": "user_proxy",
    "description": "Runs the code blocks the experts write and reports the output.",
    "system_message": "A computer terminal: runs the code blocks it is given and replies "
                      "with their output.",
    "human_input": "never", "execute_code": True,
}

_SELECTION = {
    "auto": "auto: a model picks who speaks next from the agents' descriptions",
    "round_robin": "round_robin: the agents speak in the order listed",
}


@dataclass
class TeamDraft:
    """A team file's keys and the comments to write above them (by key path)."""

    data: dict
    comments: dict[tuple, str] = field(default_factory=dict)
    coding: bool = False
    rationale: str = ""

    def text(self, header: str = "") -> str:
        return dump_team(self.data, self.comments, header)


def to_team(r: Reading, task: str, coding: bool | None, models: dict | None = None,
            library: Library | None = None, executor: str | None = None) -> TeamDraft:
    """The team file's keys for a reading without problems. ``coding`` (the flag) wins over
    the builder's; ``models``: the team's profiles (the builder's --model), if any."""
    p = r.proposal
    assert p is not None
    runs_code = coding if coding is not None else bool(p.coding)
    data: dict = {"name": team_name(p.name)}
    if p.description:
        data["description"] = p.description
    data["task"] = task
    comments: dict[tuple, str] = {}
    if models:
        data["models"] = models
        comments[("models",)] = ("The model the team runs on (--agent-model, else the "
                                 "builder's --model); every agent uses it.")
    data["max_round"] = p.max_round or DEFAULT_MAX_ROUND
    comments[("max_round",)] = "At most this many messages after the task."
    data["termination"] = KEYWORD
    data["speaker_selection"] = p.speaker_selection
    comments[("speaker_selection",)] = _SELECTION[p.speaker_selection]
    if p.transitions:
        data["transitions"] = p.transitions
        comments[("transitions",)] = "Who may speak after whom (the builder's plan)."
    if runs_code:
        data["code_execution"] = {"executor": executor or "docker", "work_dir": "groupchat",
                                  "timeout": 60}
        comments[("code_execution",)] = (
            f"{PROXY} runs the code blocks here (docker: the sandbox; check it with "
            "`agentteam sandbox check`).")
    else:
        data["code_execution"] = {"executor": "none"}
        comments[("code_execution",)] = "This team runs no code."
    agents = [dict(PROXY_AGENT)] if runs_code else []
    if runs_code:
        comments[("agents", 0)] = "Added because the task needs code to be run."
    for a in r.agents:
        comments[("agents", len(agents))] = (
            "Proposed by the builder." if isinstance(a, Invented)
            else f"From the library {library.source if library else ''}.")
        if isinstance(a, Invented):
            agents.append({"name": a.name, "description": a.description,
                           "system_message": a.system_message})
        else:
            assert library is not None
            agents.append(library.entries[a.name].model_dump())
    _let_it_end(agents, comments, 1 if runs_code else 0)
    data["agents"] = agents
    return TeamDraft(data, comments, runs_code, p.rationale or "")


def _let_it_end(agents: list[dict], comments: dict, first: int) -> None:
    """When no agent is told to say the keyword, tell the last one (usually the one that
    checks the result), as AutoGen's builder tells every expert: without it the chat could
    only end at max_round."""
    if len(agents) <= first or any(KEYWORD in str(a.get("system_message", ""))
                                   for a in agents[first:]):
        return
    last = agents[-1]
    last["system_message"] = (str(last.get("system_message") or "").rstrip() +
                              f" When the task is done and the result checked, reply {KEYWORD}.")
    where = ("agents", len(agents) - 1)
    comments[where] = (comments.get(where, "") + f" agentteam added the {KEYWORD} "
                       "instruction: no agent was told to end the chat.").strip()


def problems_of(draft: TeamDraft, where: str) -> list[str]:
    """Why the draft's text does not load as a team, in the builder's key paths (its
    agents[0] is the team's agents[1] when a code runner comes first), without the draft's
    file and line (the builder never saw the draft); [] when it loads."""
    try:
        parse_team(draft.text(), where)
    except ConfigError as e:
        shift = 1 if draft.coding else 0
        found = e.problems or []
        if not found:
            return [str(e)]
        return [_answer_path(f"{p.path}: {p.message}" if p.path else p.message, shift)
                for p in found]
    return []


def _answer_path(text: str, shift: int) -> str:
    """``agents[2]`` of the team as the answer's ``agents[1]`` (in a path or a message)."""
    if not shift:
        return text
    return re.sub(r"agents\[(\d+)\]", lambda m: f"agents[{int(m.group(1)) - shift}]", text)
