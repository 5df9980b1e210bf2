"""What the optimizer model is told and the shape of its answer.

The answer is a ``Revision``: new system messages, descriptions and tool lists for
agents, a new selection prompt, new Python tools. Its JSON schema goes to the model
(``models.structured``) and pydantic checks the object that comes back; a shape error
is said in one line naming the field.
"""

from __future__ import annotations

from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..team.flow import PLACEHOLDERS
from ..team.schema import AGENT_RE

OPTIMIZER = "(optimizer)"      # the agent name of the optimizer's calls (X-Agentteam-Agent)
TOOL_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentRevision(_Shape):
    """New values for one agent of the team; a field left out stays as it is."""

    name: str = Field(pattern=AGENT_RE, description="an agent of the team, by name")
    system_message: Optional[str] = Field(None, min_length=1)
    description: Optional[str] = Field(None, min_length=1)
    tools: Optional[list[str]] = Field(
        None, description="every tool this agent is offered (replaces its list)")


class NewTool(_Shape):
    """A Python function written by the optimizer; it runs only in the Docker sandbox."""

    name: str = Field(pattern=TOOL_NAME_RE, description="the function's name")
    description: str = Field(min_length=1)
    code: str = Field(min_length=1, description="Python source defining the function")
    agents: list[str] = Field(min_length=1, description="the agents offered the tool")


class Revision(_Shape):
    """One revision of the team."""

    analysis: str = Field("", description="why the failed runs failed, in a few sentences")
    agents: list[AgentRevision] = Field(default_factory=list)
    selection_prompt: Optional[str] = Field(None, min_length=1)
    new_tools: list[NewTool] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.agents or self.selection_prompt or self.new_tools)


def revision_schema() -> dict:
    """The JSON schema the optimizer's answer is asked to follow."""
    return Revision.model_json_schema()


def read_revision(value: dict) -> tuple[Revision | None, str]:
    """The revision in an answer's object, or (None, what is wrong with it, one line)."""
    try:
        return Revision.model_validate(value), ""
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "the answer"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        return None, f"{where}: {err['msg']}{more}"


SYSTEM = """\
You improve a team of LLM agents (a group chat defined in a YAML file) from the record \
of its runs on a set of tasks. You cannot change the models; you change what the agents \
are told and given:
- an agent's system_message (its instructions) and description (what the speaker \
selector reads to pick who speaks next);
- the selection prompt (only when speaker selection is `auto`), a template that may use \
{placeholders};
- the tools each agent is offered (names from the team's tools);
{new_tools}
Rules:
- Fix the causes of the failures you see without breaking the runs that passed.
- Make general improvements: the same team will run other tasks of this kind. Never put \
the answers of these particular tasks into the team.
- Keep the termination keyword `{keyword}` in the instructions of whoever ends the chat.
- Change only what helps: leave out every agent and field you do not change.
- Do not repeat a revision that was already tried and did not help.
Answer with one JSON object only (no prose around it), of this shape:
{shape}"""

NEW_TOOLS = """\
- new Python tools (`new_tools`): each is one function with type hints on every \
parameter and a docstring, which runs in a Docker sandbox without network. Its module \
may hold, at the top level, only imports of the standard library, constants and \
function definitions (no decorators, no calls); import anything else inside the \
function. Give a tool the same name as one you wrote before to replace it."""

SHAPE = """\
{"analysis": "why the failed runs failed",
 "agents": [{"name": "AGENT", "system_message": "...", "description": "...", \
"tools": ["TOOL", ...]}],
 "selection_prompt": "..." or null,
 "new_tools": [{"name": "f", "description": "...", "code": "def f(x: int) -> int: ...", \
"agents": ["AGENT"]}]}"""


def system_prompt(keyword: str, new_tools: bool) -> str:
    shape = SHAPE if new_tools else SHAPE.split(',\n "new_tools"')[0] + "}"
    return SYSTEM.format(keyword=keyword, shape=shape,
                         new_tools=NEW_TOOLS if new_tools else
                         "- (new tools cannot be written for this team).",
                         placeholders=", ".join(f"{{{p}}}" for p in PLACEHOLDERS))


def team_view(data: dict, learned: dict[str, str]) -> str:
    """What the optimizer needs of the team file, as YAML: its agents, selection, tools,
    termination (never its model profiles: nothing of them is the optimizer's to change,
    and they name endpoints). ``learned``: the code of the tools written so far."""
    agents = []
    for a in data.get("agents") or []:
        if not isinstance(a, dict):
            continue
        agents.append({k: a[k] for k in ("name", "kind", "description", "system_message",
                                         "tools", "execute_code", "execute_tools")
                       if k in a})
    selection = data.get("speaker_selection", "auto")
    tools = []
    for t in data.get("tools") or []:
        if isinstance(t, dict) and t.get("mcp"):
            tools.append({"name": f"{t.get('name')}.*", "kind": "MCP server"})
        elif isinstance(t, dict):
            name = t.get("name") or str(t.get("function", "")).rpartition(":")[2]
            tools.append({"name": name, **({"description": t["description"]}
                                           if t.get("description") else {})})
    view = {"team": data.get("name"), "description": data.get("description"),
            "task": data.get("task"), "max_round": data.get("max_round", 20),
            "termination": data.get("termination", "TERMINATE"),
            "speaker_selection": selection, "transitions": data.get("transitions"),
            "tools": tools or None, "agents": agents}
    text = yaml.safe_dump({k: v for k, v in view.items() if v is not None}, sort_keys=False,
                          allow_unicode=True, width=100)
    for name, code in learned.items():
        text += f"\n# tool `{name}`, written by you earlier:\n```python\n{code.strip()}\n```\n"
    return text


def user_prompt(team: str, score: str, runs: list[str], tried: list[str]) -> str:
    """The record the optimizer reads: the team, its score, condensed runs, past tries."""
    parts = [f"The team now:\n```yaml\n{team.rstrip()}\n```", f"Its score: {score}",
             "Runs (failures first; long runs are shortened):\n\n" + "\n\n".join(runs)]
    if tried:
        parts.append("Revisions already tried that did not help (do not repeat them):\n" +
                     "\n".join(f"- {t}" for t in tried))
    parts.append("Propose one revision of the team as a JSON object.")
    return "\n\n".join(parts)
