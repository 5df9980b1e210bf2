"""Test helpers that users can import too: a scripted model and a fake executor.

``ScriptedModel`` plays the ``ChatModel`` protocol from queued replies, so the run
loop can be tested without any server; ``FakeExecutor`` records blocks and
answers with canned results.
"""

from __future__ import annotations

from collections import deque

from .errors import ModelError
from .fakeserver import pieces
from .executors.base import CodeExecutor, NoExecutor
from .messages import CodeBlock, CodeResult, Usage
from .models import Completion, Delta
from .selection import SELECTOR_MARK


class ScriptedModel:
    """Replies from queues: per agent (matched by system-message prefix) or one shared queue.

    ``enqueue("Coder", "text", ...)`` adds replies for the agent whose system message
    starts with "Coder"; ``enqueue(None, ...)`` adds to the shared queue;
    ``enqueue("selector", ...)`` answers auto speaker selection. An exception
    instance in a queue is raised instead of replying. Every call is recorded.
    """

    def __init__(self, default: str | None = None):
        self.queues: dict[str | None, deque] = {}
        self.default = default
        self.calls: list[tuple[str, list[dict]]] = []

    def enqueue(self, who: str | None, *replies) -> "ScriptedModel":
        self.queues.setdefault(who, deque()).extend(replies)
        return self

    def _key(self, messages: list[dict]) -> str | None:
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        if system.startswith(SELECTOR_MARK):
            return "selector"
        for key in self.queues:
            if key and key != "selector" and system.startswith(key):
                return key
        return None

    def stream(self, profile: str, messages: list[dict]):
        self.calls.append((profile, messages))
        queue = self.queues.get(self._key(messages)) or self.queues.get(None)
        if queue:
            reply = queue.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise ModelError(f"ScriptedModel: no reply queued for {self._key(messages)!r}")
        if isinstance(reply, BaseException):
            raise reply
        for piece in pieces(reply):
            yield Delta(piece)
        return Completion(reply, profile,
                          Usage(len(str(messages)) // 4, len(reply.split()), None, 1, 0.0))


class FakeExecutor(NoExecutor):
    """Records the blocks it is given; answers ``results`` in order (default: exit 0)."""

    name = "fake"

    def __init__(self, results: list[CodeResult] | None = None):
        CodeExecutor.__init__(self, None, ".")
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
