"""AgentChat teams and termination conditions as team-file keys.

| AgentChat | team file |
|---|---|
| RoundRobinGroupChat | `speaker_selection: round_robin` |
| SelectorGroupChat | `auto` (its model client: the selector), `prompt`, `allow_repeat`, `max_retries` |
| Swarm | `auto` among each agent and its handoff targets (`transitions`) |
| GraphFlow | transition rules from the graph's edges (`contains` for text conditions), `round_robin` |
| MagenticOneGroupChat | `auto`; the orchestrator itself is left out |
| TextMentionTermination | `termination` (`substring`; several texts: one `regex`), `agents` from `sources` |
| MaxMessageTermination / max_turns | `max_round` (AgentChat counts the task, agentteam does not) |
| SourceMatchTermination, TextMessageTermination(source) | an `end: true` rule after those agents |
| TimeoutTermination / TokenUsageTermination | `budget: {seconds, tokens}` |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .agents import Agent, Profiles, convert_agent, short

_DEFAULT_PROMPT = "You are in a role play game. The following roles are available:"


@dataclass
class Ending:
    """What the termination conditions add up to."""

    texts: list[str] = field(default_factory=list)
    sources: list[list[str]] = field(default_factory=list)    # each text's, [] for anyone
    max_messages: int | None = None
    seconds: float | None = None
    tokens: int | None = None
    end_after: list[str] = field(default_factory=list)


def read_termination(comp: Any, notes: list[str], end: Ending, where: str = "termination",
                     joined: str = "or") -> None:
    """Collect a (possibly combined) termination condition into ``end``."""
    if not isinstance(comp, dict):
        return
    kind, cfg = short(comp.get("provider")), comp.get("config") or {}
    if kind in ("OrTerminationCondition", "AndTerminationCondition"):
        if kind.startswith("And") and joined != "and":
            notes.append(f"{where}: AndTerminationCondition (every condition must be met) "
                         "became: the run ends at the first of them")
        for j, c in enumerate(cfg.get("conditions") or []):
            read_termination(c, notes, end, f"{where}.conditions[{j}]",
                             "and" if kind.startswith("And") else joined)
    elif kind == "TextMentionTermination" and isinstance(cfg.get("text"), str):
        end.texts.append(cfg["text"])
        end.sources.append([s for s in cfg.get("sources") or [] if isinstance(s, str)])
    elif kind == "MaxMessageTermination" and isinstance(cfg.get("max_messages"), int):
        end.max_messages = min(filter(None, (end.max_messages, cfg["max_messages"])))
    elif kind == "TimeoutTermination" and isinstance(
            seconds := cfg.get("timeout_seconds", cfg.get("timeout")), (int, float)):
        end.seconds = min(filter(None, (end.seconds, float(seconds))))
    elif kind == "TokenUsageTermination" and isinstance(cfg.get("max_total_token"), int):
        end.tokens = min(filter(None, (end.tokens, cfg["max_total_token"])))
        if cfg.get("max_prompt_token") or cfg.get("max_completion_token"):
            notes.append(f"{where}: only max_total_token is carried over (budget.tokens)")
    elif kind in ("SourceMatchTermination", "TextMessageTermination") and (
            cfg.get("sources") or cfg.get("source")):
        found = cfg.get("sources") or [cfg.get("source")]
        end.end_after += [s for s in found if isinstance(s, str)]
    elif kind == "HandoffTermination":
        notes.append(f"{where}: HandoffTermination (a handoff to {cfg.get('target')!r} ends "
                     "the chat) is not carried over: there are no handoffs here")
    else:
        notes.append(f"{where}: {kind} is not carried over")


def convert_team(comp: dict, notes: list[str]):
    """The team component as team-file keys (an ``Imported`` without its name)."""
    from . import Imported
    kind, cfg = short(comp.get("provider")), comp["config"]
    profiles = Profiles()
    agents: list[Agent] = []
    for i, p in enumerate(cfg.get("participants") or []):
        a = convert_agent(p, i, profiles, notes)
        if a is not None:
            agents.append(a)
    if not agents:
        notes.append("the team has no participants agentteam can run; a placeholder "
                     "assistant stands in")
        agents.append(Agent({"name": "Assistant"}, "a placeholder"))
    data: dict[str, Any] = {"name": "", "task": "Describe the task here, or pass it with "
                            "`agentteam run --task \"...\"`."}
    comments: dict[tuple, str] = {("task",): "AgentChat teams get their task when run: write "
                                  "it here (or pass --task)"}
    desc = cfg.get("description")
    if isinstance(desc, str) and desc.rstrip(".") != "A team of agents":
        data["description"] = desc
    selection, transitions = _selection(kind, cfg, agents, profiles, notes, comments)
    end = Ending()
    read_termination(cfg.get("termination_condition"), notes, end)
    _ending(data, comments, end, cfg.get("max_turns"), transitions, agents, notes)
    if profiles.profiles:
        data["models"] = profiles.profiles
        for pname, text in profiles.comments.items():
            comments[("models", pname)] = text
    data["speaker_selection"] = selection
    if transitions:
        data["transitions"] = transitions
    code = next((a.code_execution for a in agents if a.code_execution), None)
    data["code_execution"] = code or {"executor": "none"}
    if code is None:
        comments[("code_execution",)] = "no CodeExecutorAgent: no code runs"
    data["agents"] = [a.data for a in agents]
    for i, a in enumerate(agents):
        comments[("agents", i)] = a.comment
    order = ["name", "description", "task", "models", "max_round", "termination", "budget",
             "speaker_selection", "transitions", "code_execution", "agents"]
    data = {k: data[k] for k in order if k in data}
    return Imported(data, comments, kind=kind)


def _selection(kind: str, cfg: dict, agents: list[Agent], profiles: Profiles,
               notes: list[str], comments: dict) -> tuple[Any, dict]:
    names = [a.data["name"] for a in agents]
    transitions: dict[str, list] = {}
    if kind == "RoundRobinGroupChat":
        return "round_robin", transitions
    if kind == "GraphFlow":
        return "round_robin", _graph(cfg.get("graph"), agents, notes, comments)
    sel: dict[str, Any] = {"method": "auto"}
    model = profiles.add(cfg.get("model_client"), "model_client", notes)
    if model and model != "default":
        sel["model"] = model
    if kind == "SelectorGroupChat":
        prompt = cfg.get("selector_prompt")
        if isinstance(prompt, str) and prompt and not prompt.startswith(_DEFAULT_PROMPT):
            sel["prompt"] = prompt.replace("{participants}", "{names}")
        elif prompt:
            comments[("speaker_selection",)] = "AgentChat's default selector prompt: " \
                                               "agentteam's own compact one is used"
        if cfg.get("allow_repeated_speaker"):
            sel["allow_repeat"] = True
        attempts = cfg.get("max_selector_attempts")
        if isinstance(attempts, int) and attempts >= 1:
            sel["max_retries"] = min(attempts - 1, 10)
    elif kind == "Swarm":
        for a in agents:
            targets = [t for t in a.handoffs if t in names]
            if targets:
                transitions[a.data["name"]] = [a.data["name"]] + targets
            gone = [t for t in a.handoffs if t not in names]
            if gone:
                notes.append(f"{a.data['name']}: handoffs to {', '.join(gone)} (not a "
                             "participant) are left out")
        sel["allow_repeat"] = True
        notes.append("Swarm: agents hand off with tool calls there; here the selector picks "
                     "among each agent and its handoff targets (transitions)")
    elif kind == "MagenticOneGroupChat":
        notes.append("MagenticOneGroupChat: its orchestrator (task ledger, stall counting, "
                     "final answer) is left out; the selector model picks who speaks")
    else:
        notes.append(f"{kind}: not a team kind agentteam knows; imported with auto selection")
    return sel, transitions


def _graph(graph: Any, agents: list[Agent], notes: list[str], comments: dict) -> dict:
    """A GraphFlow's edges as transition rules; its start node speaks first."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, dict):
        notes.append("GraphFlow: no graph found; round robin instead")
        return {}
    start = graph.get("default_start_node")
    agents.sort(key=lambda a: a.data["name"] != start)   # round robin begins with it
    transitions: dict[str, list] = {}
    for name, node in nodes.items():
        edges = [e for e in (node or {}).get("edges") or [] if isinstance(e, dict)]
        rules: list = [{"to": e["target"], "when": {"contains": e["condition"]}}
                       for e in edges if isinstance(e.get("condition"), str)]
        plain = [e["target"] for e in edges if e.get("condition") is None]
        if len(plain) == 1:
            rules.append({"to": plain[0]})
        elif plain:
            rules += plain
            notes.append(f"GraphFlow: {name}'s {len(plain)} parallel edges run one after "
                         "another here (round robin)")
        transitions[str(name)] = rules or [{"end": True}]
    comments[("transitions",)] = "from the GraphFlow's edges; a node without edges ends the flow"
    return transitions


def _ending(data: dict, comments: dict, end: Ending, max_turns: Any, transitions: dict,
            agents: list[Agent], notes: list[str]) -> None:
    rounds = [n for n in ((end.max_messages - 1) if end.max_messages else None,
                          max_turns if isinstance(max_turns, int) else None) if n]
    if rounds:
        data["max_round"] = max(1, min(rounds))
        comments[("max_round",)] = "AgentChat's MaxMessageTermination counts the task " \
                                   "message; max_round counts the messages after it"
    else:
        notes.append("no MaxMessageTermination or max_turns: max_round 20 (agentteam's "
                     "default) caps the chat")
    if len(end.texts) == 1:
        data["termination"] = {"keyword": end.texts[0], "match": "substring"}
    elif end.texts:
        data["termination"] = {"keyword": "|".join(re.escape(t) for t in end.texts),
                               "match": "regex"}
    else:
        notes.append("no TextMentionTermination: the chat also ends when an agent's message "
                      "ends with TERMINATE (agentteam's default keyword)")
    names = {a.data["name"] for a in agents}
    _sources(data, end, names, notes)
    if end.seconds or end.tokens:
        data["budget"] = {k: v for k, v in (("seconds", end.seconds), ("tokens", end.tokens)) if v}
    for who in dict.fromkeys(end.end_after):
        if who in names:
            transitions[who] = [{"end": True}] + [r for r in transitions.get(who, [])
                                                  if r != {"end": True}]
        else:
            notes.append(f"termination: {who} is not a participant; left out")


def _sources(data: dict, end: Ending, names: set, notes: list[str]) -> None:
    """TextMentionTermination's `sources`: only their messages end the chat. One list of
    agents holds for every keyword, so it is carried over only when every text has one."""
    if not any(end.sources):
        return
    if not all(end.sources):
        notes.append("termination: the sources of some TextMentionTerminations are left out "
                     "(here any agent's message with a keyword ends the chat)")
        return
    listed = list(dict.fromkeys(s for group in end.sources for s in group))
    kept = [s for s in listed if s in names]
    if len(kept) < len(listed):
        notes.append(f"termination: sources {', '.join(s for s in listed if s not in names)} "
                     "are not participants; left out")
    if kept:
        data["termination"]["agents"] = kept
