"""What the builder model is told, and the JSON schema its answer is asked for in.

One call proposes the whole team (AutoGen's AgentBuilder spends 2N+1 calls on N experts:
names, then a system message and a description per expert, then "does it need code?").
The schema goes to backends that take one (``models.structured``); the prompt spells the
same shape out for the rest, which answer in prose around the object.
"""

from __future__ import annotations

import json

from ..models.structured import schema_of
from ..team import AGENT_RE

BUILDER = "(builder)"          # who the calls are for (X-Agentteam-Agent, usage, cache)
PROXY = "User_proxy"           # the agent that runs code blocks, added when coding is on
KEYWORD = "TERMINATE"
SELECTION = ("auto", "round_robin")
MAX_ROUND = (2, 100)
SCHEMA_NAME = "agent_team"

_SHAPE = """\
{
  "name": "short-team-name",
  "description": "One line: what the team does.",
  "rationale": "One or two sentences: why these experts, and how they work together.",%(coding)s
  "speaker_selection": "auto",
  "transitions": {"Agent_A": ["Agent_B"], "Agent_B": ["Agent_A"]},
  "max_round": 12,
  "agents": [
%(agent)s
  ]
}"""

_INVENTED = ('    {"name": "Python_Expert", "description": "One sentence a moderator reads to '
             'pick who speaks next.", "system_message": "You are ... (the instructions)"}')
_PICKED = '    {"name": "<a name from the library>"}'

_RULES = """\
Rules:
- "name": lowercase letters, digits and - only.
- "speaker_selection": "auto" (a moderator model picks who speaks next from the agents'
  descriptions; for open tasks) or "round_robin" (the agents speak in the listed order; for
  a fixed pipeline).
- "transitions" (optional; leave it out unless the flow is clear): for an agent, the
  agents that may speak right after it.
- "max_round" (optional, %(lo)d to %(hi)d): how many messages after the task the chat may
  take before it stops.
- "agents": at most %(max_agents)d, fewer is better: only the experts this task needs.
%(agent_rules)s"""

_INVENT_RULES = """\
- Agent names: letters, digits, _ and - only (no spaces), unique; like Python_Expert or
  Data_Analyst.
- "description": one sentence saying what the agent does in this team.
- "system_message": the agent's instructions, in the second person: its role and skills for
  this task, what it hands to whom, and how it checks its work.
- Exactly the agent that verifies the result ends the chat: its system_message says to
  reply %(keyword)s once the task is done and verified."""

_PICK_RULES = """\
- Pick the agents from the library below by their exact name; do not invent others and do
  not change them. Each agent object has only its "name".

Library:
%(library)s"""

_CODING = {
    None: ('Set "coding" to true if solving the task needs code to be written and run (in '
           '```python or ```sh blocks), else false. With coding, the team also gets an agent '
           f'named {PROXY} that runs the code blocks the others write and replies with the '
           f'output: you may name {PROXY} in "transitions", but do not list it in "agents".'),
    True: (f'The team runs code: it also gets an agent named {PROXY} that runs the ```python '
           'and ```sh blocks the others write and replies with the output. The agents that '
           'write code put it in one complete block that prints what it finds. You may name '
           f'{PROXY} in "transitions", but do not list it in "agents".'),
    False: "The team runs no code: the agents answer in prose only.",
}


def system_prompt(max_agents: int, coding: bool | None,
                  library: list[tuple[str, str]] | None = None) -> str:
    """The builder's instructions: the answer's shape and rules, and where code stands.
    ``library``: (name, description) of the agents to pick from, instead of inventing."""
    shape = _SHAPE % {"coding": '\n  "coding": true,' if coding is None else "",
                      "agent": _PICKED if library is not None else _INVENTED}
    if library is not None:
        agent_rules = _PICK_RULES % {"library": "\n".join(
            f"- {name}: {desc}" if desc else f"- {name}" for name, desc in library)}
    else:
        agent_rules = _INVENT_RULES % {"keyword": KEYWORD}
    rules = _RULES % {"lo": MAX_ROUND[0], "hi": MAX_ROUND[1], "max_agents": max_agents,
                      "agent_rules": agent_rules}
    return (
        "You design a team of AI agents that solve a task together in a group chat. Answer "
        "with one JSON object of this shape and nothing else:\n\n"
        f"{shape}\n\n{rules}\n\n{_CODING[coding]}")


def task_prompt(task: str) -> str:
    """The first user message: the task the team is for."""
    return f"The task the team is for:\n\n{task.strip()}"


def repair_prompt(problems: list[str]) -> str:
    """What goes back to the builder after an answer that is not a valid team."""
    listed = "\n".join(f"- {p}" for p in problems)
    return (f"Your answer cannot be used yet; fix these problems:\n{listed}\n\n"
            "Answer again with the whole corrected JSON object, and nothing else.")


def schema(max_agents: int, coding: bool | None, library: list[str] | None = None) -> dict:
    """The answer's JSON schema (``{"name", "schema"}`` for ``models.structured.ask``);
    ``library``: the names the agents are picked from."""
    text = {"type": "string"}
    if library is not None:
        agent: dict = {"type": "object", "properties": {"name": {"type": "string",
                                                                 "enum": list(library)}},
                       "required": ["name"], "additionalProperties": False}
    else:
        agent = {"type": "object",
                 "properties": {"name": {"type": "string", "pattern": AGENT_RE},
                                "description": text, "system_message": text},
                 "required": ["name", "description", "system_message"],
                 "additionalProperties": False}
    props: dict = {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "description": text,
        "rationale": text,
        "speaker_selection": {"type": "string", "enum": list(SELECTION)},
        "transitions": {"type": "object",
                        "additionalProperties": {"type": "array", "items": text}},
        "max_round": {"type": "integer", "minimum": MAX_ROUND[0], "maximum": MAX_ROUND[1]},
        "agents": {"type": "array", "items": agent, "minItems": 1, "maxItems": max_agents},
    }
    if coding is None:
        props["coding"] = {"type": "boolean"}
    required = ["name", "speaker_selection", "agents"] + (["coding"] if coding is None else [])
    return schema_of(SCHEMA_NAME, {"type": "object", "properties": props,
                                   "required": required, "additionalProperties": False})


def messages(task: str, max_agents: int, coding: bool | None,
             library: list[tuple[str, str]] | None = None) -> list[dict]:
    """The first request's messages."""
    return [{"role": "system", "content": system_prompt(max_agents, coding, library)},
            {"role": "user", "content": task_prompt(task)}]


def shown(value: object) -> str:
    """A value as a repair prompt quotes it: short, one line."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
