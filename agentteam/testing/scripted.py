"""Test helpers that users can import too: a scripted model and a fake executor.

``ScriptedModel`` plays the ``ChatModel`` protocol from queued replies, so the run
loop can be tested without any server; ``FakeExecutor`` records blocks and
answers with canned results.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from ..conversation.messages import CodeBlock, CodeResult, Usage
from ..errors import ModelError
from ..executors.base import CodeExecutor, NoExecutor
from ..models.base import SELECTOR, Completion, Delta
from ..team import CodeExecution
from .fakeserver import pieces


class ScriptedModel:
    """Replies from queues: one per agent, plus a shared queue.

    ``enqueue("Coder", "text", ...)`` adds replies for the agent named Coder (every
    model call says which agent it is for); ``enqueue("selector", ...)`` (or
    ``"(selector)"``) answers auto speaker selection; ``enqueue(None, ...)`` adds to
    the shared queue used when an agent has none. An exception instance in a queue
    is raised instead of replying. Every call is recorded in ``calls`` as
    ``(profile, messages, agent)``; ``assert_complete()`` checks every queued reply
    was used. A queued ``Completion`` is returned as it is (a reply with tool calls).
    """

    def __init__(self, default: str | None = None):
        self.queues: dict[str | None, deque] = {}
        self.default = default
        self.calls: list[tuple[str, list[dict], str]] = []
        self.tools_offered: list[list[dict] | None] = []   # the tools of each call
        self.schemas: list[dict | None] = []     # the reply schema each call asked for

    def enqueue(self, who: str | None, *replies) -> "ScriptedModel":
        key = SELECTOR if who == "selector" else who
        self.queues.setdefault(key, deque()).extend(replies)
        return self

    def assert_complete(self) -> None:
        """Fail when a queued reply was never asked for (the run took another path)."""
        left = {k: list(q) for k, q in self.queues.items() if q}
        if left:
            raise AssertionError(f"replies never used: {left}")

    def stream(self, profile: str, messages: list[dict], agent: str,
               tools: list[dict] | None = None, choices: list[str] | None = None,
               schema: dict | None = None):
        self.calls.append((profile, messages, agent))
        self.tools_offered.append(tools)
        self.schemas.append(schema)
        queue = self.queues.get(agent) or self.queues.get(None)
        if queue:
            reply = queue.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise ModelError(f"ScriptedModel: no reply queued for {agent!r}")
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):    # e.g. a reply with tool calls
            yield Delta(reply.text)
            return reply
        for piece in pieces(reply):
            yield Delta(piece)
        return Completion(reply, profile,
                          Usage(len(str(messages)) // 4, len(reply.split()), None, 1, 0.0))


class FakeExecutor(NoExecutor):
    """Records the blocks it is given; answers ``results`` in order (default: exit 0)."""

    name = "fake"
    runs_code = True

    def __init__(self, results: list[CodeResult] | None = None):
        CodeExecutor.__init__(self, CodeExecution(), Path("."))
        self.results = deque(results or [])
        self.blocks: list[CodeBlock] = []
        self.closed = False

    def run(self, block: CodeBlock) -> CodeResult:
        self.blocks.append(block)
        if self.results:
            return self.results.popleft()
        return CodeResult(block.language, 0, "ok", 0.01)

    def close(self) -> None:
        self.closed = True
