"""What a run reports, as small dataclasses with a ``type``; the run loop yields them.

The terminal view and ``--json`` are two subscribers of the same stream, and
the transcript stores the same objects (all but deltas) as JSON lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable, Literal, Optional, Union


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
    scope: Optional[list[str]] = None    # inner chats: member names from the outermost
    type: Literal["run_started"] = "run_started"


@dataclass
class MessageStarted:
    """An agent begins to speak; deltas follow."""

    round: int
    agent: str
    model: str | None = None
    scope: Optional[list[str]] = None
    type: Literal["message_start"] = "message_start"


@dataclass
class MessageDelta:
    round: int
    agent: str
    text: str
    scope: Optional[list[str]] = None
    type: Literal["message_delta"] = "message_delta"


@dataclass
class MessageDone:
    round: int
    agent: str
    content: str | list[dict]    # a string for text; a list of parts otherwise
    usage: dict = field(default_factory=dict)
    model: str | None = None
    kind: str = "text"
    incomplete: bool = False     # the stream broke off; content is what arrived
    truncated: bool = False      # the model stopped at its token limit (finish_reason length)
    # The message's images: [{path (in the work dir) or url, width, height}], never bytes.
    images: list[dict] = field(default_factory=list)
    scope: Optional[list[str]] = None
    type: Literal["message"] = "message"


@dataclass
class SpeakerSelected:
    round: int
    agent: str
    method: str
    reason: str
    scope: Optional[list[str]] = None
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
    scope: Optional[list[str]] = None
    type: Literal["code_result"] = "code_result"


@dataclass
class ToolCalled:
    """A tool call about to run: ``agent`` is the agent whose model asked for it."""

    round: int
    agent: str
    id: str
    name: str          # as the team file names it (``convert_currency``, ``cars.query``)
    arguments: str     # the JSON text the model wrote
    scope: Optional[list[str]] = None
    type: Literal["tool_call"] = "tool_call"


@dataclass
class ToolReturned:
    """What a tool call gave: ``agent`` is the agent that ran it."""

    round: int
    agent: str
    id: str
    name: str
    output: str
    is_error: bool
    duration_s: float
    scope: Optional[list[str]] = None
    type: Literal["tool_result"] = "tool_result"


@dataclass
class Retry:
    model: str
    error: str
    wait_s: float
    attempt: int
    scope: Optional[list[str]] = None
    type: Literal["retry"] = "retry"


@dataclass
class Notice:
    """Something the person should know that is not a message (a warning, a choice made)."""

    text: str
    level: str = "info"   # info | warning | progress (a wait follows, until the next event)
    scope: Optional[list[str]] = None
    type: Literal["notice"] = "notice"


@dataclass
class ChatStarted:
    """An inner chat begins: a member of ``kind: team`` was picked, or the next of ``chats:``.
    Its ``scope`` is the inner chat's own (its events carry the same)."""

    team: str
    task: str
    agents: list[str]
    resumed_at: int | None = None
    scope: Optional[list[str]] = None
    type: Literal["chat_started"] = "chat_started"


@dataclass
class ChatEnded:
    """An inner chat ended (``reason`` as in ``run_ended``); its member's message follows."""

    reason: str
    rounds: int
    usage: dict = field(default_factory=dict)
    error: str | None = None
    scope: Optional[list[str]] = None
    type: Literal["chat_ended"] = "chat_ended"


@dataclass
class RunEnded:
    # keyword | max_round | budget | stalled (no agent had anything to say) | error |
    # interrupted | human (the person typed exit) | selection (a transition rule or the
    # selection function ended the chat)
    reason: str
    rounds: int
    usage: dict = field(default_factory=dict)
    transcript: str = ""
    error: str | None = None
    exit_code: int = 0
    scope: Optional[list[str]] = None
    type: Literal["run_ended"] = "run_ended"


Event = Union[RunStarted, MessageStarted, MessageDelta, MessageDone, SpeakerSelected, CodeRan,
              Retry, Notice, RunEnded, ToolCalled, ToolReturned, ChatStarted, ChatEnded]

EVENT_TYPES: dict[str, type] = {cls.type: cls for cls in (  # type: ignore[attr-defined]
    RunStarted, MessageStarted, MessageDelta, MessageDone, SpeakerSelected, CodeRan, Retry,
    Notice, RunEnded, ToolCalled, ToolReturned, ChatStarted, ChatEnded)}

# `chats`: every chat of a `chats:` sequence ran to its end
EXIT_CODES = {"keyword": 0, "human": 0, "selection": 0, "chats": 0, "max_round": 3, "budget": 3,
              "stalled": 3, "error": 1, "interrupted": 130}


def to_dict(event: Any) -> dict:
    """The JSON form of an event; ``type`` first, ``scope`` only for inner chats' events
    (top-level events are as they were before inner chats existed)."""
    d = asdict(event)
    if d.get("scope", 0) is None:
        del d["scope"]
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


# Characters that readers splitting on every Unicode line break (Python's splitlines,
# many JSONL tools) take for the end of a line, DEL and the C1 controls (some terminals
# obey them like ESC sequences), and lone surrogates, which UTF-8 cannot hold: inside
# JSON strings they are written as \u escapes, so any text round-trips and stays inert.
_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\ud800-\udfff]")


def json_line(obj: Any) -> str:
    """``obj`` as one line of JSON (no newline at the end), safe to split on line breaks."""
    text = json.dumps(obj, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
