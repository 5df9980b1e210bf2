"""Automatic replies, as AutoGen has them: ``default_auto_reply`` and
``max_consecutive_auto_reply``.

``default_auto_reply`` is what a user proxy sends when it has nothing else to say (no
person answering, no code to run). Set, it is sent as a message even when empty
(AutoGen's proxy answers ``""``, which keeps a two-agent chat going); unset, the proxy
stays silent and another speaker is picked.

An agent's *automatic* replies are the messages it sends without a person typing them:
every reply of an assistant, a proxy's code results and default replies. They are
counted per agent; a reply the person types for it starts the count again. (In AutoGen
every agent of a group chat answers one sender, the manager, so its count also runs
across the whole chat until a person answers.) At ``max_consecutive_auto_reply`` the
agent stops replying on its own: a proxy with ``human_input: terminate`` asks the person
each turn (Enter lets it auto-reply once more, ``exit`` ends the run); any other agent
stays silent from then on, another speaker is picked, and when nobody is left the run
ends ``stalled``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterator

from ..team import AgentSpec
from .events import Event, Notice
from .messages import Message
from .stop import StopChat


@dataclass
class _Counts:
    replies: dict[str, int] = field(default_factory=dict)   # automatic replies in a row
    told: set[str] = field(default_factory=set)             # agents silenced, notice given


class AutoReplying:
    """Mixed into GroupChat: counts automatic replies and applies the agents' limits."""

    rounds: int
    human: Any         # the run loop's Human, or None
    _emit: Callable[[Event], Iterator[Event]]
    _ask: Callable[[str], str]
    _human_mode: Callable[[AgentSpec], str]
    _turn: Callable[[AgentSpec], Generator[Event, None, Message | None]]
    _typed: bool     # set by the proxy's turn when the person typed its reply

    @property
    def _auto_replies(self) -> _Counts:
        # created on first use: the run loop's constructor stays as it is
        return self.__dict__.setdefault("_auto_counts", _Counts())

    def _counted_turn(self, agent: AgentSpec) -> Generator[Event, None, Message | None]:
        """The agent's turn, within its ``max_consecutive_auto_reply``."""
        counts = self._auto_replies.replies
        limit = agent.max_consecutive_auto_reply
        mode = self._human_mode(agent) if agent.kind == "user_proxy" else "never"
        if limit is not None and counts.get(agent.name, 0) >= limit and mode != "always":
            if mode == "never" or self.human is None:
                yield from self._silenced(agent, limit)
                return None
            answer = self._ask(f"{agent.name} (you): it has replied on its own {limit} "
                               "time(s) (max_consecutive_auto_reply). Type a reply, Enter "
                               "to let it reply on its own, or `exit` to end")
            if answer.strip().lower() in ("exit", "quit", "/exit"):
                raise StopChat("human")
            if answer.strip():
                counts[agent.name] = 0
                return Message(agent.name, answer, self.rounds + 1)
        self._typed = False
        message = yield from self._turn(agent)
        if message is not None:
            counts[agent.name] = 0 if self._typed else counts.get(agent.name, 0) + 1
        return message

    def _person_replied(self, name: str) -> None:
        """A reply the person typed for ``name`` outside its turn starts its count again."""
        self._auto_replies.replies[name] = 0

    def _silenced(self, agent: AgentSpec, limit: int) -> Iterator[Event]:
        told = self._auto_replies.told
        if agent.name not in told:
            told.add(agent.name)
            yield from self._emit(Notice(f"{agent.name} has replied on its own {limit} "
                                         "time(s) (max_consecutive_auto_reply): it stays "
                                         "silent from now on", "warning"))

    @staticmethod
    def _default_reply(agent: AgentSpec, round_no: int) -> Message | None:
        """A proxy's ``default_auto_reply`` as its message; None (silence) when unset."""
        if agent.default_auto_reply is None:
            return None
        return Message(agent.name, agent.default_auto_reply, round_no)
