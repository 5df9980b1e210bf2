"""The keys of teams inside teams: what ``team:`` may hold, and one entry of ``chats:``.

(The checks across a file, and the loading of inner teams, are in ``nesting.py``.)
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

AGENT_RE = r"^[A-Za-z0-9_-]+$"

# What a member of kind: team sees of the chat: the last message, all of it, or the last N.
Sees = Union[Literal["last", "all"], int]


def file_or_inline(v: Any, required: bool = False) -> Any:
    """A team is a file's path or an inline mapping (checked by ``team.nesting``)."""
    if (v is None and not required) or isinstance(v, (str, dict)):
        return v
    raise ValueError("expected a team file's path (like research.yaml) or an inline team "
                     "{agents: [...], max_round: ...}")


class ChatSpec(BaseModel):
    """One of the sequential ``chats:``: a team on its own task, the summaries before it
    prepended as context (AutoGen's ``initiate_chats`` with carryover)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    name: Optional[str] = Field(None, pattern=AGENT_RE)   # default: the team's name
    team: Union[str, dict]
    task: str = Field(min_length=1)
    summary: Literal["last", "reflection"] = "last"
    summary_prompt: Optional[str] = None
    model: str = "default"           # the profile of a reflection summary
    max_round: Optional[int] = Field(None, ge=1, le=100_000)
    carryover: bool = True           # prepend the earlier chats' summaries
    # The chat's team, loaded and checked (a TeamSpec; set by load_team).
    _team: Any = PrivateAttr(None)

    @field_validator("team", mode="before")
    @classmethod
    def _team_value(cls, v: Any) -> Any:
        return file_or_inline(v, required=True)
