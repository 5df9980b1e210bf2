"""The run loop: a group chat that yields events. It never prints and never exits.

``GroupChat.run()`` is a generator of events (see ``events.py``); every event
is scrubbed of secrets (``redaction.py``) and written to the transcript before it
is yielded. ``drive`` feeds events to a
subscriber and turns Ctrl-C into an orderly ``RunEnded(reason="interrupted")``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from inspect import GEN_CLOSED, getgeneratorstate
from pathlib import Path
from typing import Callable, Generator, Iterator, Protocol

from ..errors import AgentTeamError, ContextOverflow, Interrupted, TranscriptError
from ..executors.base import CodeExecutor
from ..images.pictures import Pictures, listed
from ..models.base import ChatModel, Completion, Cut, Delta, Note, RetryNote, options
from ..team import AgentSpec, TeamSpec, executes_tools, human_input
from ..team.nesting import chat_members, needs_sandbox
from .auto_reply import AutoReplying
from .choosing import ChoosingSpeakers
from .coderun import EXIT_WORDS, RunningCode
from .drawing import image_turn
from .events import (
    EXIT_CODES,
    ChatStarted,
    Event,
    MessageDelta,
    MessageDone,
    MessageStarted,
    Notice,
    Retry,
    RunEnded,
    RunStarted,
)
from .messages import Message, Usage, content_to_json
from .prompts import agent_messages, with_introduction
from .redaction import StreamRedactor
from .selection import Selector
from .stop import StopChat as _Stop
from .subteams import Nest, RunningTeams, scopes_usage
from .termination import ends_chat
from .tooluse import Tools, UsingTools, calls_of, pending_calls
from .transcript import Recorded, TranscriptWriter


class Human(Protocol):
    """How the run loop asks the person something. ``None`` means no answer (EOF)."""

    def ask(self, prompt: str) -> str | None: ...


class GroupChat(ChoosingSpeakers, AutoReplying, UsingTools, RunningTeams, RunningCode):
    """One run of a team. Build it, iterate ``run()``; the loop owns the executor's life
    (the tools' life is their owner's: ``run_team`` starts and stops them). An inner
    team's chat is a GroupChat too, with a ``scope`` and a ``parent`` (``subteams.py``)."""

    def __init__(self, team: TeamSpec, model: ChatModel, executor: CodeExecutor | None = None,
                 human: Human | None = None, transcript: TranscriptWriter | None = None,
                 task: str | None = None, max_round: int | None = None,
                 human_override: str | None = None, resume: Recorded | None = None,
                 clock: Callable[[], float] = time.monotonic, soft_interrupt: bool = False,
                 tools: Tools | None = None, nest: Nest | None = None):
        self.team = team
        self.tools = tools
        self.model = model
        self.executor = executor
        self.human = human
        self.transcript = transcript
        self.task = task or team.task
        self.max_round = max_round or team.max_round
        self.human_override = human_override
        self.resume = resume
        self.clock = clock
        # chat: Ctrl-C stops the reply being streamed, and the person speaks next
        self.soft_interrupt = soft_interrupt
        self._force_next: str | None = None
        self.selector = Selector(team)
        self.history: list[Message] = []
        self.executed: set[int] = set()
        self.usage_agents: dict[str, Usage] = {}
        self.usage_models: dict[str, Usage] = {}
        self.rounds = 0
        self._partial: tuple[int, str, list[str]] | None = None
        self._started = 0.0
        self._redactor = StreamRedactor()
        self.pictures = Pictures(team, lambda name: getattr(self.model, "profiles", {}).get(name))
        # inner chats: the services they use, where this chat is, the chat it runs in,
        # and (outermost only) the usage of every inner chat by scope
        self.nest = nest or Nest()
        self.scope: tuple[str, ...] = ()
        self._scope_list: list[str] | None = None
        self.parent: GroupChat | None = None
        self.scope_usage: dict[str, dict[str, Usage]] = {}

    # -- public ----------------------------------------------------------------
    def run(self) -> Generator[Event, None, None]:
        """Run the chat to its end, yielding events; the last one is always RunEnded."""
        self._started = self.clock()
        reason, error, code = "max_round", None, None
        try:
            yield from self._begin()
            reason = yield from self._loop()
        except _Stop as s:
            reason, error = s.reason, s.error
        except KeyboardInterrupt as e:
            reason = "interrupted"
            if isinstance(e, Interrupted):
                error, code = f"stopped by {e.name}", e.exit_code
        except AgentTeamError as e:
            reason, error = "error", str(e)
        finally:
            if self.executor is not None:
                self.executor.close()
        yield from self._end(reason, error, code)
        if self.transcript:
            self.transcript.close()

    def _end(self, reason: str, error: str | None, code: int | None) -> Iterator[Event]:
        """Keep a reply cut short, then RunEnded; a transcript that fails here still ends
        the run in order (its error is the run's)."""
        try:
            yield from self._flush_partial()
        except TranscriptError as e:
            reason, error = "error", str(e)
        ended = RunEnded(reason, self.rounds, self.usage_summary(),
                         str(self.transcript.path) if self.transcript else "", error,
                         code or EXIT_CODES.get(reason, 1))
        try:
            yield from self._emit(ended)
        except TranscriptError as e:
            yield replace(ended, reason="error", error=str(e), exit_code=1)

    def usage_summary(self) -> dict:
        total = Usage()
        for u in self.usage_agents.values():
            total.add(u)
        out = {"total": total.to_dict(),
               "agents": {k: v.to_dict() for k, v in self.usage_agents.items()},
               "models": {k: v.to_dict() for k, v in self.usage_models.items()},
               "wall_s": round(self.clock() - self._started, 3)}
        if self.scope_usage:    # inner chats ran: tokens per agent in each of them
            out["scopes"] = scopes_usage(self.scope_usage)
        return out

    # -- the loop ----------------------------------------------------------------
    def _begin(self) -> Iterator[Event]:
        names = [a.name for a in self.team.agents]
        team_file = str(Path(self.team.source).resolve()) if self.team.source else ""
        path = str(self.transcript.path) if self.transcript else ""
        names = names or [a.name for a in chat_members(self.team)]
        resumed = None
        if self.resume:
            self.history = list(self.resume.messages)
            self.executed = set(self.resume.executed)
            self.rounds = resumed = self.history[-1].round if self.history else 0
        task = (self.resume.task if self.resume else "") or self.task or ""
        if self.parent is not None:
            yield from self._emit(ChatStarted(self.team.name, task, names, resumed))
        else:
            yield from self._emit(RunStarted(self.team.name, task, names, path, team_file,
                                             resumed))
        if self.executor is not None and needs_sandbox(self.team):
            self.executor.start_background()
        elif self.parent is None:
            self.executor = None
        if self.team.send_introductions:
            yield from self._emit(Notice("introductions sent to every agent "
                                         "(send_introductions)"))
        if not self.history and task and not self.team.chats:   # (a resume cut before it)
            sender = self.team.initiator or next(
                (a.name for a in self.team.agents if a.kind == "user_proxy"), "user")
            yield from self._add(Message(sender, task, 0))

    def _loop(self) -> Generator[Event, None, str]:
        if self.team.chats:
            return (yield from self._chats_loop())
        last = self.history[-1].agent if self.history else None
        if self.resume is not None and self.resume.open is not None:
            last = (yield from self._resume_open()) or last
        skipped: set[str] = set()
        while True:
            if self.rounds >= self.max_round:
                return "max_round"
            if self._over_budget():
                return "budget"
            speaker = yield from self._select(last, skipped)
            if speaker is None:
                yield from self._emit(Notice("no agent has anything more to say", "warning"))
                return "stalled"
            agent = self.team.agent(speaker)
            try:
                message = yield from self._counted_turn(agent)
            except KeyboardInterrupt as e:
                if not self.soft_interrupt or agent.kind == "user_proxy" \
                        or isinstance(e, Interrupted):   # a stop signal ends even a chat
                    raise
                yield from self._flush_partial()
                yield from self._emit(Notice("reply stopped (Ctrl-C); your turn", "warning"))
                self._force_next = next((a.name for a in self.team.agents
                                         if a.kind == "user_proxy"), None)
                last = speaker
                continue
            if message is None:
                skipped.add(speaker)
                continue
            skipped.clear()
            yield from self._add(message)
            last = speaker
            if not calls_of(message) and ends_chat(message, self.team.termination):
                cont = self._ask_to_continue()
                if cont is None:
                    return "keyword"
                self._person_replied(cont.agent)
                yield from self._add(cont)
                last = cont.agent

    def _over_budget(self) -> bool:
        if self.parent is not None:
            self._check_outer_budgets()
        return self._own_budget_spent()

    def _own_budget_spent(self) -> bool:
        b = self.team.budget
        total = Usage()
        for u in self.usage_agents.values():
            total.add(u)
        return bool((b.tokens and total.total_tokens >= b.tokens)
                    or (b.cost and (total.cost or 0) >= b.cost) or self._out_of_time())

    def _out_of_time(self) -> bool:
        seconds = self.team.budget.seconds
        return bool(seconds and self.clock() - self._started >= seconds)

    def _ask(self, prompt: str) -> str:
        whole = self.parent is not None     # no person (or EOF) ends even an inner chat's run
        if self.human is None:
            raise _Stop("error", "the team needs a person to answer, but this run has no "
                        "terminal; use --human never", whole_run=whole)
        answer = self.human.ask(prompt)
        if answer is None:
            raise _Stop("interrupted", whole_run=whole)
        return answer

    # -- turns --------------------------------------------------------------------------
    def _turn(self, agent: AgentSpec) -> Generator[Event, None, Message | None]:
        if self.tools is not None and executes_tools(agent) and pending_calls(self.history):
            return (yield from self._tool_turn(agent))
        if agent.kind == "user_proxy":
            return (yield from self._proxy_turn(agent))
        if agent.kind == "image_generator":
            return (yield from image_turn(self, agent))
        if agent.kind == "team":
            return (yield from self._team_turn(agent))
        return (yield from self._assistant_turn(agent))

    def _human_mode(self, agent: AgentSpec) -> str:
        return self.human_override or human_input(agent)

    def _assistant_turn(self, agent: AgentSpec) -> Generator[Event, None, Message]:
        round_no = self.rounds + 1
        history = list(self.history)
        while True:
            messages = with_introduction(
                agent_messages(agent, history, self.pictures.renderer(agent, history)), self.team)
            yield from self._image_notes()
            try:
                done = yield from self._call(agent.model, messages, agent.name, round_no,
                                             self._offered(agent))
                content = done.text if done.content is None else done.content
                return Message(agent.name, content, round_no, model=done.profile,
                               usage=done.usage, truncated=done.truncated)
            except ContextOverflow as e:
                if self.team.context != "trim" or len(history) <= 2:
                    raise ContextOverflow(f"{agent.name}: {e} ({len(history)} messages, "
                                          f"{sum(len(m.text) for m in history)} characters); "
                                          "set `context: trim` to drop the oldest turns",
                                          e.profile) from None
                history = history[:1] + history[2:]
                yield from self._emit(Notice(f"{agent.name}: context full; dropped the oldest "
                                             "message after the task", "warning"))

    def _call(self, profile: str, messages: list[dict], who: str, round_no: int | None,
              tools: list[dict] | None = None, choices: list[str] | None = None,
              call_as: str | None = None) -> Generator[Event, None, Completion]:
        """Stream a completion, relaying deltas (when ``round_no``) and retries as events;
        ``choices``: a speaker selection among these names; ``call_as``: whom the model is
        told the call is for, when not ``who``."""
        stream = self.model.stream(profile, messages, call_as or who, **options(tools, choices))
        shown: list[str] = []       # the reply streamed so far (self._partial's text)
        if round_no is not None:
            yield from self._emit(MessageStarted(round_no, who, profile))
            self._partial = (round_no, who, shown)
        try:
            while True:
                try:
                    chunk = next(stream)
                except StopIteration as stop:
                    done: Completion = stop.value
                    break
                if isinstance(chunk, Delta) and round_no is not None:
                    shown.append(chunk.text)
                    yield from self._emit(MessageDelta(round_no, who, chunk.text))
                elif isinstance(chunk, RetryNote):
                    yield from self._emit(Retry(chunk.model, chunk.error, chunk.wait_s,
                                                chunk.attempt))
                elif isinstance(chunk, Note):
                    yield from self._emit(Notice(chunk.text, chunk.level))
                elif isinstance(chunk, Cut) and round_no is not None:
                    self._partial = None
                    yield from self._emit(MessageDone(round_no, who, chunk.partial, {},
                                                      profile, incomplete=True))
                    yield from self._emit(MessageStarted(round_no, who, profile))
                    shown = []
                    self._partial = (round_no, who, shown)
                if self._out_of_time():     # the time budget also ends a reply in progress
                    raise _Stop("budget")
                if self.parent is not None and self._outer_out_of_time():
                    raise _Stop("budget", whole_run=True)
        finally:
            stream.close()
        self._partial = None
        self._account(who, done)
        return done

    def _account(self, who: str, done: Completion) -> None:
        self.usage_agents.setdefault(who, Usage()).add(done.usage)
        model = getattr(getattr(self.model, "profiles", {}).get(done.profile), "model",
                        done.profile)
        self.usage_models.setdefault(model, Usage()).add(done.usage)
        if self.parent is not None:
            self._roll_up(who, model, done.usage)

    def _ask_to_continue(self) -> Message | None:
        """With a person on `terminate`/`always`: end here, or their reply goes on."""
        proxy = next((a for a in self.team.agents if a.kind == "user_proxy"
                      and self._human_mode(a) in ("terminate", "always")), None)
        if proxy is None or self.human is None:
            return None
        answer = self._ask(f"{proxy.name} (you): the chat would end here. Enter to end it, or "
                           "type a reply to go on")
        if not answer.strip() or answer.strip().lower() in EXIT_WORDS:
            return None
        return Message(proxy.name, answer, self.rounds + 1)

    # -- bookkeeping --------------------------------------------------------------------
    def _add(self, message: Message) -> Iterator[Event]:
        message = self.pictures.with_tags(message)
        yield from self._image_notes()
        self.history.append(message)
        self.rounds = message.round
        yield from self._emit(MessageDone(message.round, message.agent,
                                          content_to_json(message.content),
                                          message.usage.to_dict() if message.usage.calls else {},
                                          message.model, message.kind,
                                          truncated=message.truncated,
                                          images=listed(message.content)))

    def _image_notes(self) -> Iterator[Event]:
        for text in self.pictures.drain():
            yield from self._emit(Notice(text, "warning"))

    def _flush_partial(self) -> Iterator[Event]:
        if self._partial and self._partial[2]:
            round_no, who, parts = self._partial
            yield from self._emit(MessageDone(round_no, who, "".join(parts), {}, None,
                                              incomplete=True))
        self._partial = None

    def _emit(self, event: Event) -> Iterator[Event]:
        # all of them are written before the first is shown: a Ctrl-C while showing
        # released text cannot drop the event that released it from the transcript
        events = self._redactor(event)
        if self.scope:
            scope = self._scope_list or list(self.scope)
            self._scope_list = scope
            events = [replace(ev, scope=scope) for ev in events]
        if self.transcript:
            for ev in events:
                self.transcript.write(ev)
        yield from events


def drive(events: Generator[Event, None, None], on_event: Callable[[Event], None]) -> RunEnded:
    """Feed every event to ``on_event``; Ctrl-C anywhere (even twice) ends the run in order.

    A Ctrl-C (or a stop signal raised as ``Interrupted``) that lands in ``on_event`` is
    thrown into the run loop, which decides what it means (end the run, or in chat,
    stop the reply).
    """
    ended: RunEnded | None = None
    pending: KeyboardInterrupt | None = None
    last: KeyboardInterrupt | None = None
    while True:
        try:
            ev = events.throw(pending) if pending is not None else next(events)
            pending = None
            if isinstance(ev, RunEnded):
                ended = ev
            on_event(ev)
        except StopIteration:
            break
        except KeyboardInterrupt as e:
            last = e
            if getgeneratorstate(events) == GEN_CLOSED:     # the loop itself is gone
                break
            pending = e
    if ended is None and isinstance(last, Interrupted):
        return RunEnded("interrupted", 0, error=f"stopped by {last.name}",
                        exit_code=last.exit_code)
    return ended or RunEnded("interrupted", 0, exit_code=130)
