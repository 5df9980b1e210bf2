"""`run --replay TRANSCRIPT`: answer every model call from a recorded run.

No model is called and no key is needed. Assistants get their recorded replies
in order; the selector answers with the recorded next speaker. When the run asks
for something the recording does not have, it fails with ReplayDiverged.
"""

from __future__ import annotations

from ..conversation.messages import Usage, describe
from ..conversation.transcript import Recorded
from ..errors import ReplayDiverged
from ..team import TeamSpec
from .base import SELECTOR, Completion, Delta, Stream

SUMMARY = " (summary)"    # the call that summarizes a member's inner chat (reflection)


def _called(team: TeamSpec) -> dict[tuple[str, ...], set[str]]:
    """For each scope of the team's tree, the agents that answer by a model call: all but
    user proxies, and members of kind team only when their summary is a model call."""
    from ..team.nesting import members, walk
    out = {}
    for scope, t in walk(team):
        names = {a.name for a in t.agents if a.kind not in ("user_proxy", "team")}
        names |= {m.name for m in members(t) if m.summary == "reflection"}
        out[scope] = names
    return out


class ReplayModel:
    """A ChatModel that plays back the assistant messages of a transcript."""

    def __init__(self, recorded: Recorded, team: TeamSpec):
        called = _called(team)     # by scope: the agents whose messages are model replies
        kept = [(scope, m) for scope, m in recorded.all_messages if m.round > 0
                and m.kind == "text" and m.agent in called.get(scope, ())]
        self.replies = [m for _, m in kept]
        self.scopes = [scope for scope, _ in kept]
        self.position = 0
        self.source = recorded.path
        self.profiles: dict = {}

    def _next(self):
        if self.position >= len(self.replies):
            last = self.replies[-1].round if self.replies else 0
            raise ReplayDiverged(f"the run asked for more replies than {self.source} recorded "
                                 f"(it ends at round {last}); the conversation diverged")
        return self.replies[self.position]

    def stream(self, profile: str, messages: list[dict], agent: str,
               tools: list[dict] | None = None, choices: list[str] | None = None,
               schema: dict | None = None) -> Stream:
        nxt = self._next()
        content = None
        if agent == SELECTOR:
            text = nxt.agent
            if choices and text not in choices:
                # the next reply is in an inner chat: the member that runs it was picked
                text = next((m for m in reversed(self.scopes[self.position]) if m in choices),
                            text)
        else:
            who = agent.removesuffix(SUMMARY)    # a member's summary is its message
            if who != nxt.agent:
                raise ReplayDiverged(f"at round {nxt.round} the run asked {who} to speak, but "
                                     f"{self.source} recorded {nxt.agent}; the conversation "
                                     "diverged from the recording")
            self.position += 1
            # A message with parts streams as the terminal shows it and is replayed whole.
            text, content = describe(nxt.content), nxt.content
        yield Delta(text)
        return Completion(text, profile, Usage(calls=0), content,
                          truncated=nxt.truncated and agent != SELECTOR)

    def generate(self, profile: str, request, agent: str):
        """An image generator's turn: its recorded message, image parts and all (the files
        are the recorded run's, in the work dir)."""
        from .imagegen import Picture
        nxt = self._next()
        if agent != nxt.agent:
            raise ReplayDiverged(f"at round {nxt.round} the run asked {agent} to draw, but "
                                 f"{self.source} recorded {nxt.agent}; the conversation "
                                 "diverged from the recording")
        self.position += 1
        yield from ()
        return Picture(None, profile, Usage(calls=0), content=nxt.content)
