"""A user proxy's turn: a person's reply, the latest unrun code in the window run by the
executor (AutoGen's rules: the latest code wins, the first failing block stops the rest),
or its automatic reply."""

from __future__ import annotations

from typing import Callable, Generator, Iterator

from ..executors.base import CodeExecutor
from ..images.pictures import Pictures
from ..team import AgentSpec, TeamSpec, executes_code
from . import codeblocks
from .events import CodeRan, Event
from .messages import CodeBlock, CodeResult, Message
from .stop import StopChat as _Stop

EXIT_WORDS = ("exit", "quit", "/exit")


class RunningCode:
    """Mixed into GroupChat: the user proxy's turn and the code it runs."""

    team: TeamSpec
    rounds: int
    history: list[Message]
    executed: set[int]
    executor: CodeExecutor | None
    pictures: Pictures
    _typed: bool
    _ask: Callable[[str], str]
    _human_mode: Callable[[AgentSpec], str]
    _default_reply: Callable[[AgentSpec, int], Message | None]
    _emit: Callable[[Event], Iterator[Event]]
    _image_notes: Callable[[], Iterator[Event]]

    def _proxy_turn(self, agent: AgentSpec) -> Generator[Event, None, Message | None]:
        round_no = self.rounds + 1
        if self._human_mode(agent) == "always":
            answer = self._ask(f"{agent.name} (you): type a reply, Enter to let it auto-reply, "
                               "or `exit` to end")
            if answer.strip().lower() in EXIT_WORDS:
                raise _Stop("human")
            if answer.strip():
                self._typed = True
                return Message(agent.name, answer, round_no)
        executor = self.executor
        if not (executes_code(agent) and executor is not None):
            return self._default_reply(agent, round_no)
        found = self._pending_code(agent.name)
        if found is None:
            return self._default_reply(agent, round_no)
        source, blocks = found
        return (yield from self._execute(executor, agent, source, blocks, round_no))

    def _pending_code(self, runner: str) -> tuple[Message, list[CodeBlock]] | None:
        """The latest unrun code in the window; never the runner's own messages (example
        code in the task a proxy sent is not code to run)."""
        if self.team.code_execution.mode == "tool":     # code comes as run_code calls
            return None
        last_n = self.team.code_execution.last_n_messages
        # "auto" (AutoGen's): every message since the runner last spoke
        n = last_n if isinstance(last_n, int) else next(
            (i for i, m in enumerate(reversed(self.history)) if m.agent == runner),
            len(self.history))
        window = self.history[-n:] if n else []
        for m in reversed(window):
            if m.round in self.executed or m.kind != "text" or m.agent == runner:
                continue
            blocks = codeblocks.extract(m.text)
            if blocks:
                # AutoGen's rule: the latest code wins; older unrun code in the window is
                # superseded by it and never runs.
                self.executed.update(o.round for o in window if o.round <= m.round)
                return m, blocks
        return None

    def _execute(self, executor: CodeExecutor, agent: AgentSpec, source: Message,
                 blocks: list[CodeBlock], round_no: int) -> Generator[Event, None, Message | None]:
        if not executor.runs_code:
            # No code_result events: nothing ran. The agents are told so, not shown a result.
            return Message(agent.name, codeblocks.not_run(len(blocks), source.agent,
                                                          source.round, executor.name),
                           round_no, kind="code_result")
        executor.wait_ready()
        before = self.pictures.snapshot()
        results: list[CodeResult] = []
        skipped = 0
        runnable = [b for b in blocks if b.supported]
        unsupported = sorted({b.language for b in blocks if not b.supported})
        for i, block in enumerate(runnable):
            result = executor.run(block)
            results.append(result)
            yield from self._emit(CodeRan(round_no, agent.name, result.language,
                                          result.exit_code, result.output,
                                          round(result.duration_s, 3), result.timed_out,
                                          source.round))
            if result.exit_code != 0:
                skipped = len(runnable) - i - 1
                break
        if not results and not unsupported:
            return None
        content = self.pictures.from_code(
            before, codeblocks.format_results(results, skipped, unsupported), agent.name, round_no)
        yield from self._image_notes()
        return Message(agent.name, content, round_no, kind="code_result")
