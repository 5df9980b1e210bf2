"""Teams inside teams, run by the same loop: a member of ``kind: team`` and ``chats:``.

When a member of ``kind: team`` is picked, its inner team runs as a child ``GroupChat``
on what the member sees of the chat (the last message by default), with a ``scope``
(member names from the outermost) that every event of the inner chat carries. The
child writes to the run's transcript, uses the run's person, sandbox and budgets, and
ends on its own termination, ``max_round`` or budget; then the member posts the
chat's summary: the inner chat's last message, or (``summary: reflection``) one model
call named ``<member> (summary)``. ``chats:`` runs chats in sequence the same way,
each told the summaries of the ones before it.

Usage rolls up: each chat counts its inner chats' calls under the member that ran
them, and the outermost keeps a breakdown per scope. A budget of the outermost team
stops the whole run, even from deep inside; an inner team's own budget ends its chat.
A Ctrl-C, a stop signal or an error ends the whole run, after the inner chat's events
(its reply cut short, ``chat_ended``) are written; ``--resume`` goes on inside the
inner chat that was running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator

from ..errors import AgentTeamError
from ..executors.base import CodeExecutor
from ..models.base import Completion
from ..team import AgentSpec, TeamSpec
from ..team.flow import render
from ..team.nesting import DEFAULT_SUMMARY_PROMPT, chat_members, inner_team
from .events import ChatEnded, Event, SpeakerSelected
from .messages import Message, Usage, describe
from .prompts import agent_messages
from .stop import StopChat
from .termination import strip_keyword
from .transcript import Recorded

if TYPE_CHECKING:
    from .groupchat import GroupChat


@dataclass
class Nest:
    """What the inner chats of a run use: by default the outer chat's model, sandbox and
    no tools; ``run_team`` gives each inner team file its own profiles, and a team that
    sets ``code_execution`` its own sandbox (see ``runner_tree``)."""

    models: dict[int, Any] = field(default_factory=dict)        # id(team) -> ChatModel
    executors: dict[int, CodeExecutor | None] = field(default_factory=dict)
    tools: dict[int, Any] = field(default_factory=dict)

    def model_for(self, team: TeamSpec, outer: Any) -> Any:
        return self.models.get(id(team), outer)

    def executor_for(self, team: TeamSpec, outer: CodeExecutor | None) -> CodeExecutor | None:
        return self.executors.get(id(team), outer)

    def tools_for(self, team: TeamSpec) -> Any:
        return self.tools.get(id(team))


class RunningTeams:
    """Mixed into GroupChat: the turn of a member of ``kind: team``, the ``chats:`` loop,
    and the child chat's own start and end."""

    team: TeamSpec
    history: list[Message]
    rounds: int
    scope: tuple[str, ...]
    parent: Any
    nest: Nest
    resume: Recorded | None
    usage_agents: dict[str, Usage]
    usage_models: dict[str, Usage]
    scope_usage: dict[str, dict[str, Usage]]
    model: Any
    executor: CodeExecutor | None
    human: Any
    transcript: Any
    human_override: str | None
    clock: Callable[[], float]
    _started: float
    task: str | None
    _call: Callable[..., Generator[Event, None, Completion]]
    _emit: Callable[[Event], Iterator[Event]]
    _add: Callable[[Message], Iterator[Event]]
    _flush_partial: Callable[[], Iterator[Event]]
    _begin: Callable[[], Iterator[Event]]
    _loop: Callable[[], Generator[Event, None, str]]
    _over_budget: Callable[[], bool]
    _out_of_time: Callable[[], bool]
    usage_summary: Callable[[], dict]

    # -- a member's turn -------------------------------------------------------------
    def _team_turn(self, agent: AgentSpec,
                   task: str | None = None) -> Generator[Event, None, Message]:
        round_no = self.rounds + 1
        recorded = self._take_open(agent.name)
        child = self._child(agent, member_task(agent, self.history) if task is None else task,
                            recorded)
        if recorded is not None and recorded.ended is not None:
            child.history = list(recorded.messages)   # it ended; its summary was not posted
        else:
            yield from child.run_inner()
        return (yield from self._summary(agent, child, round_no))

    def _take_open(self, member: str) -> Recorded | None:
        """The recorded inner chat of ``member`` that was running when the run stopped (once)."""
        open_ = self.resume.open if self.resume is not None else None
        if open_ is None or open_.scope[-1:] != (member,):
            return None
        self.resume.open = None     # type: ignore[union-attr]
        return open_

    def _child(self, agent: AgentSpec, task: str,
               recorded: Recorded | None) -> GroupChat:
        from .groupchat import GroupChat
        team = inner_team(agent)
        if not team._own_sandbox:   # the outer team's sandbox, settings and work dir
            # (not its `mode`: a `mode: tool` outer team's run_code tool is not offered here,
            # so the inner agents' code comes as fenced blocks, as the inner file says)
            team = team.model_copy(update={"code_execution": self.team.code_execution.model_copy(
                update={"work_dir": str(self.team.work_dir),
                        "allow_work_dir_outside_team": True,
                        "mode": team.code_execution.mode})})
        child = GroupChat(team, self.nest.model_for(inner_team(agent), self.model),
                          self.nest.executor_for(inner_team(agent), self.executor), self.human,
                          self.transcript, task=task, max_round=agent.max_round,
                          human_override=self.human_override, resume=recorded,
                          clock=self.clock, tools=self.nest.tools_for(inner_team(agent)),
                          nest=self.nest)
        child.scope, child.parent = self.scope + (agent.name,), self  # type: ignore[assignment]
        return child

    def _summary(self, agent: AgentSpec, child: GroupChat,
                 round_no: int) -> Generator[Event, None, Message]:
        """What the member says: the inner chat's last message (its termination keyword
        left out), or one model call that summarizes the inner chat."""
        if agent.summary == "reflection":
            prompt = agent.summary_prompt or DEFAULT_SUMMARY_PROMPT
            messages = agent_messages(AgentSpec(name=f"{agent.name}-summary",
                                                system_message=prompt), child.history)
            messages.append({"role": "user", "content": prompt})
            done = yield from self._call(agent.model, messages, agent.name, round_no,
                                         call_as=f"{agent.name} (summary)")
            return Message(agent.name, done.text, round_no, model=done.profile,
                           usage=done.usage, truncated=done.truncated)
        return Message(agent.name, last_summary(child.history, child.team), round_no)

    # -- chats in sequence -----------------------------------------------------------
    def _chats_loop(self) -> Generator[Event, None, str]:
        chats, members = self.team.chats, chat_members(self.team)
        for i in range(len(self.history), len(chats)):   # one summary per chat that ran
            if self._over_budget():
                return "budget"
            chat, agent = chats[i], members[i]
            # `run --task` (or a `task:` beside `chats:`) replaces the first chat's task
            task = self.task if i == 0 and self.task else chat.task
            earlier = [describe(m.content) for m in self.history]
            if chat.carryover and earlier:
                task += "\nContext: \n" + "\n".join(earlier)   # AutoGen's carryover
            yield from self._emit(SpeakerSelected(i + 1, agent.name, "chats",
                                                  f"chat {i + 1} of {len(chats)}"))
            message = yield from self._team_turn(agent, task)
            yield from self._add(message)
        return "chats"

    def _resume_open(self) -> Generator[Event, None, str | None]:
        """On resume, first go on with the member whose inner chat was running."""
        open_ = self.resume.open if self.resume is not None else None
        if open_ is None or self.team.chats:
            return None
        name = open_.scope[-1]
        agent = next((a for a in self.team.agents if a.name == name and a.kind == "team"),
                     None)
        if agent is None:
            return None
        message = yield from self._team_turn(agent)
        yield from self._add(message)
        return name

    # -- the child's own start and end -------------------------------------------------
    def run_inner(self) -> Generator[Event, None, str]:
        """Run this chat as an inner one: ``chat_started`` … ``chat_ended``; the reason it
        ended. What ends the whole run (Ctrl-C, an error, the outer budget) passes on,
        after the chat's end is written."""
        self._started = self.clock()
        try:
            yield from self._begin()
            reason = yield from self._loop()
        except StopChat as s:
            if not s.whole_run:
                reason = s.reason
            else:
                yield from self._inner_end(s.reason, s.error)
                raise
        except KeyboardInterrupt:
            yield from self._inner_end("interrupted", None)
            raise
        except AgentTeamError as e:
            yield from self._inner_end("error", str(e))
            raise
        yield from self._inner_end(reason, None)
        return reason

    def _inner_end(self, reason: str, error: str | None) -> Iterator[Event]:
        yield from self._flush_partial()
        yield from self._emit(ChatEnded(reason, self.rounds, self.usage_summary(), error))

    # -- usage and budgets across the tree -------------------------------------------------
    def _roll_up(self, who: str, model: str, usage: Usage) -> None:
        """Count an inner call in every chat above, under the member that led to it, and
        in the outermost chat's breakdown by scope."""
        node: Any = self
        while node.parent is not None:
            member, node = node.scope[-1], node.parent
            node.usage_agents.setdefault(member, Usage()).add(usage)
            node.usage_models.setdefault(model, Usage()).add(usage)
        key = "/".join(self.scope)
        node.scope_usage.setdefault(key, {}).setdefault(who, Usage()).add(usage)

    def _ancestors(self) -> Iterator[Any]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def _outer_out_of_time(self) -> bool:
        return any(node._out_of_time() for node in self._ancestors())

    def _check_outer_budgets(self) -> None:
        """A budget of a chat above this one is spent: the whole run ends."""
        if any(node._own_budget_spent() for node in self._ancestors()):
            raise StopChat("budget", whole_run=True)


def member_task(agent: AgentSpec, history: list[Message]) -> str:
    """What a member of kind team tells its inner team: what it sees of the chat, in its
    ``task`` template when it has one."""
    sees = agent.sees
    shown = history[-1:] if sees == "last" else history if sees == "all" else history[-sees:]
    if len(shown) == 1:
        context = describe(shown[0].content)
    else:
        context = "\n\n".join(f"{m.agent}: {describe(m.content)}" for m in shown)
    return render(agent.task, context=context) if agent.task else context


def last_summary(history: list[Message], team: TeamSpec) -> str:
    """The inner chat's last message with something to say, its termination keyword
    left out (AutoGen's ``last_msg``; a bare TERMINATE would end the outer chat too)."""
    for m in reversed(history):
        text = strip_keyword(describe(m.content), team.termination).strip()
        if text:
            return text
    return ""


def scopes_usage(scope_usage: dict[str, dict[str, Usage]]) -> dict:
    """The per-scope breakdown of ``usage`` in ``run_ended``: tokens per agent, per scope."""
    out = {}
    for key, agents in scope_usage.items():
        total = Usage()
        for u in agents.values():
            total.add(u)
        out[key] = {"total": total.to_dict(), "agents": {k: v.to_dict()
                                                        for k, v in agents.items()}}
    return out
