"""Tool calls in the run loop: a reply with tool calls goes to an agent that runs them,
which answers with one result per call, in order.

Which agent runs them and who speaks after the results is decided in
``selection.tool_choice``; what a tool is and how it runs is ``agentteam.tools``.
"""

from __future__ import annotations

from typing import Callable, Generator, Iterator, Protocol

from ..team import AgentSpec, TeamSpec
from .events import Event, ToolCalled, ToolReturned
from .messages import Message, ToolCallPart, ToolResultPart


class Outcome(Protocol):
    output: str
    is_error: bool
    duration_s: float


class Tools(Protocol):
    """What the run loop needs of the run's tools (``agentteam.tools.ToolBox``)."""

    def offered(self, agent: AgentSpec) -> list[dict]: ...

    def display_name(self, wire: str) -> str: ...

    def call(self, caller: AgentSpec, part: ToolCallPart) -> Outcome: ...


def calls_of(message: Message) -> list[ToolCallPart]:
    """The tool calls a message makes (none for plain text)."""
    if isinstance(message.content, str):
        return []
    return [p for p in message.content if isinstance(p, ToolCallPart)]


def pending_calls(history: list[Message]) -> list[ToolCallPart]:
    """The calls of the last message, which nobody has answered yet."""
    return calls_of(history[-1]) if history else []


class UsingTools:
    """Mixed into GroupChat: the turn of an agent that runs the pending tool calls."""

    team: TeamSpec
    tools: Tools | None
    history: list[Message]
    rounds: int
    _emit: Callable[[Event], Iterator[Event]]

    def _offered(self, agent: AgentSpec) -> list[dict]:
        return self.tools.offered(agent) if self.tools is not None else []

    def _tool_turn(self, agent: AgentSpec) -> Generator[Event, None, Message]:
        """Run every pending call in order; one result each, in one message."""
        assert self.tools is not None
        source = self.history[-1]
        caller = next((a for a in self.team.agents if a.name == source.agent), agent)
        round_no = self.rounds + 1
        results = []
        for part in calls_of(source):
            name = self.tools.display_name(part.name)
            yield from self._emit(ToolCalled(round_no, caller.name, part.id, name, part.arguments))
            outcome = self.tools.call(caller, part)
            yield from self._emit(ToolReturned(round_no, agent.name, part.id, name, outcome.output,
                                               outcome.is_error, outcome.duration_s))
            results.append(ToolResultPart(part.id, part.name, outcome.output, outcome.is_error))
        return Message(agent.name, tuple(results), round_no, kind="tool_result")
