"""What a model call yields and returns, and the ``ChatModel`` protocol the run loop uses.

A stream is a generator: it yields ``Delta`` (text as it arrives), ``RetryNote``
(before waiting to retry), ``Cut`` (a reply broke off; its partial text) and ``Note``
(something the person should know, such as a damaged cache entry), and returns a
``Completion``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generator, Protocol, Union

from ..conversation.messages import Content, Usage

SELECTOR = "(selector)"


@dataclass
class Delta:
    text: str


@dataclass
class RetryNote:
    model: str
    error: str
    wait_s: float
    attempt: int


@dataclass
class Cut:
    """A reply broke off after ``partial`` was shown; a retry or an error follows."""

    partial: str
    error: str


@dataclass
class Note:
    """Something the person should know that is not part of the reply."""

    text: str
    level: str = "warning"


@dataclass
class Completion:
    """A finished reply: ``text`` is what was streamed; ``content`` is set when the reply
    is more than text (tool calls, a replayed message with parts), and then is the message."""

    text: str
    profile: str
    usage: Usage = field(default_factory=Usage)
    content: Content | None = None
    # The model stopped at its token limit (finish_reason `length`): the reply is cut short.
    truncated: bool = False


Chunk = Union[Delta, RetryNote, Cut, Note]
Stream = Generator[Chunk, None, Completion]


def options(tools: list[dict] | None = None, choices: list[str] | None = None,
            schema: dict | None = None) -> dict:
    """The optional arguments of ``ChatModel.stream`` that a call has: each is passed
    only when given, so a model that takes none of them serves plain calls."""
    given = {"tools": tools, "choices": choices, "schema": schema}
    return {k: v for k, v in given.items() if v}


class ChatModel(Protocol):
    """What the run loop needs from a model: stream a reply for a profile.

    ``agent`` names who the call is for: an agent's name, or a role in parentheses
    such as ``(selector)``. Scripted and replayed models answer by it, and the
    HTTP transports pass it on in the ``X-Agentteam-Agent`` header. ``tools`` (the
    OpenAI ``tools`` list; passed only when the agent is offered tools) lets the
    model answer with tool calls: the Completion's ``content`` then holds them.
    """

    def stream(self, profile: str, messages: list[dict], agent: str,
               tools: list[dict] | None = None,
               choices: list[str] | None = None, schema: dict | None = None) -> Stream:
        """``choices`` (a speaker selection's names, passed only when there are some): a
        model that can answers only one of them; others may ignore it. ``schema``
        (``{"name", "schema"}``, passed only when given): the reply should be a JSON object
        of that schema; a model that cannot be told may ignore it."""
        ...
