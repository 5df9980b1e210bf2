"""What a run reports, as small dataclasses with a ``type``; the run loop yields them.

The terminal view and ``--json`` are two subscribers of the same stream, and
the transcript stores the same objects (all but deltas) as JSON lines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable, Literal, Union


@dataclass
class RunStarted:
    team: str
    task: str
    agents: list[str]
    transcript: str
    team_file: str = ""
    resumed_at: int | None = None
    # The transcript format: 2 since messages have parts (1, unmarked: text only).
    format: int = 2
    type: Literal["run_started"] = "run_started"


@dataclass
class MessageStarted:
    """An agent begins to speak; deltas follow."""

    round: int
    agent: str
    model: str | None = None
    type: Literal["message_start"] = "message_start"


@dataclass
class MessageDelta:
    round: int
    agent: str
    text: str
    type: Literal["message_delta"] = "message_delta"


@dataclass
class MessageDone:
    round: int
    agent: str
    content: str | list[dict]    # a string for text; a list of parts otherwise
    usage: dict = field(default_factory=dict)
    model: str | None = None
    kind: str = "text"
    incomplete: bool = False
    type: Literal["message"] = "message"


@dataclass
class SpeakerSelected:
    round: int
    agent: str
    method: str
    reason: str
    type: Literal["speaker_selected"] = "speaker_selected"


@dataclass
class CodeRan:
    round: int
    agent: str
    language: str
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    source_round: int | None = None
    type: Literal["code_result"] = "code_result"


@dataclass
class Retry:
    model: str
    error: str
    wait_s: float
    attempt: int
    type: Literal["retry"] = "retry"


@dataclass
class Notice:
    """Something the person should know that is not a message (a warning, a choice made)."""

    text: str
    level: str = "info"   # info | warning | progress (a wait follows, until the next event)
    type: Literal["notice"] = "notice"


@dataclass
class RunEnded:
    # keyword | max_round | budget | stalled (no agent had anything to say) | error |
    # interrupted | human (the person typed exit)
    reason: str
    rounds: int
    usage: dict = field(default_factory=dict)
    transcript: str = ""
    error: str | None = None
    exit_code: int = 0
    type: Literal["run_ended"] = "run_ended"


Event = Union[RunStarted, MessageStarted, MessageDelta, MessageDone, SpeakerSelected, CodeRan,
              Retry, Notice, RunEnded]

EVENT_TYPES: dict[str, type] = {cls.type: cls for cls in (  # type: ignore[attr-defined]
    RunStarted, MessageStarted, MessageDelta, MessageDone, SpeakerSelected, CodeRan, Retry,
    Notice, RunEnded)}

EXIT_CODES = {"keyword": 0, "human": 0, "max_round": 3, "budget": 3, "stalled": 3, "error": 1,
              "interrupted": 130}


def to_dict(event: Any) -> dict:
    """The JSON form of an event; ``type`` first."""
    d = asdict(event)
    return {"type": d.pop("type"), **d}


def map_text(value: Any, fn: Callable[[str], str]) -> Any:
    """A copy of ``value`` (an event, or dicts and lists) with ``fn`` applied to every
    string in it, nested ones too; the event's ``type`` is kept as it is."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_text(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_text(v, fn) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: map_text(getattr(value, f.name), fn)
                                 for f in fields(value) if f.name != "type"})
    return value
