"""agentteam: run teams of LLM agents defined in YAML.

The library API::

    from agentteam import run_team
    for event in run_team("teams/cars_critic.yaml", max_round=6):
        print(event.type)

Layers (each a subpackage, imports flowing one way): ``team`` (the team file),
``conversation`` (messages, events, the group chat), ``models``, ``executors``,
then ``runner`` (``run_team``), ``ui`` and ``cli``. Names here are imported on
first use, so ``import agentteam`` costs nothing and never loads Rich or Typer.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conversation.events import (
        CodeRan,
        Event,
        MessageDelta,
        MessageDone,
        MessageStarted,
        Notice,
        Retry,
        RunEnded,
        RunStarted,
        SpeakerSelected,
        ToolCalled,
        ToolReturned,
    )
    from .conversation.messages import (
        ImagePart,
        Message,
        TextPart,
        ToolCallPart,
        ToolResultPart,
        Usage,
    )
    from .errors import AgentTeamError, ConfigError, ModelError
    from .runner import TeamRun, run_team
    from .team import TeamSpec, load_team, parse_team

_WHERE = {
    "AgentTeamError": "errors", "CodeRan": "conversation.events", "ConfigError": "errors",
    "Event": "conversation.events", "ImagePart": "conversation.messages",
    "Message": "conversation.messages", "MessageDelta": "conversation.events",
    "MessageDone": "conversation.events", "MessageStarted": "conversation.events",
    "ModelError": "errors", "Notice": "conversation.events", "Retry": "conversation.events",
    "RunEnded": "conversation.events", "RunStarted": "conversation.events",
    "SpeakerSelected": "conversation.events", "TeamRun": "runner", "TeamSpec": "team",
    "ToolCalled": "conversation.events", "ToolReturned": "conversation.events",
    "TextPart": "conversation.messages", "ToolCallPart": "conversation.messages",
    "ToolResultPart": "conversation.messages", "Usage": "conversation.messages",
    "load_team": "team", "parse_team": "team", "run_team": "runner",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agentteam' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
