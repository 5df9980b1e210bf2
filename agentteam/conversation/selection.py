"""Who speaks next: candidates from ``transitions``, then a strategy picks one.

``auto`` only calls the selector model when more than one candidate remains
and the last message does not address exactly one of them by name; its prompt
is compact (roles, descriptions, the last few messages, truncated), and the
answer is parsed leniently (markdown escapes, any case, spaces for underscores); an
answer that names no candidate or several is asked again once, then a deterministic
fallback is used.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Set
from dataclasses import dataclass

from ..team import TeamSpec, executes_code, executes_tools
from . import codeblocks, functions, rules
from .messages import Message
from .prompts import selector_messages
from .tooluse import calls_of


@dataclass
class Choice:
    agent: str
    method: str
    reason: str
    needs_model: bool = False   # auto: ask the selector model with ``prompt``
    prompt: list[dict] | None = None
    end: bool = False           # a rule or the selection function ended the chat


def candidates(team: TeamSpec, last: str | None, exclude: Set[str] = frozenset()) -> list[str]:
    """Agents allowed to speak after ``last``, in team order."""
    names = [a.name for a in team.agents]
    allowed = names
    if team.transitions and last in team.transitions:
        allowed = [n for n in names if n in team.transitions[last]]
    if not may_repeat(team, last) and last is not None:
        without = [n for n in allowed if n != last]
        allowed = without or allowed
    left = [n for n in allowed if n not in exclude]
    return left


def may_repeat(team: TeamSpec, last: str | None) -> bool:
    """May ``last`` speak again right away? ``allow_repeat`` is a yes/no or a list."""
    repeat = team.speaker_selection.allow_repeat
    return last in repeat if isinstance(repeat, list) else repeat


def next_in_order(team: TeamSpec, last: str | None, allowed: list[str]) -> str:
    """The first allowed agent after ``last`` in team order (wrapping around)."""
    names = [a.name for a in team.agents]
    start = names.index(last) + 1 if last in names else 0
    for i in range(len(names)):
        n = names[(start + i) % len(names)]
        if n in allowed:
            return n
    return allowed[0]


def addressed(text: str, allowed: list[str]) -> list[str]:
    """Candidates the message names as whole words (e.g. "Critic, please review")."""
    found = []
    for name in allowed:
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text):
            found.append(name)
    return found


# Markdown escapes a model may put in a name (`Story\_writer`).
_ESCAPE = re.compile(r"\\([_*`\-])")


@functools.lru_cache(maxsize=256)
def _name_pattern(name: str) -> re.Pattern:
    """A candidate's name as a whole word, any case, ``_``/``-``/space interchangeable
    (a model writes ``Story_writer`` as ``Story writer`` or ``story-writer``)."""
    parts = [re.escape(p) for p in re.split(r"[_\- ]+", name) if p]
    return re.compile(r"(?<![A-Za-z0-9_])" + r"[_\- ]+".join(parts) + r"(?![A-Za-z0-9_])",
                      re.IGNORECASE)


def named_candidates(answer: str, allowed: list[str]) -> list[str]:
    """The candidates the selector model's answer names, in order of first mention.

    A mention inside a longer one counts only as the longer (``Critic`` in
    ``Critic_2``). One name is an answer, however chatty; none or several are not.
    """
    text = _ESCAPE.sub(r"\1", answer)
    spans = [(m.start(), m.end(), name) for name in allowed
             for m in _name_pattern(name).finditer(text)]
    kept = [s for s in spans if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] >
                                        s[1] - s[0] for o in spans)]
    out: list[str] = []
    for _, _, name in sorted(kept):
        if name not in out:
            out.append(name)
    return out


MANUAL_TRIES = 3


def manual_prompt(allowed: list[str], bad: str | None = None) -> str:
    """What a person is asked under ``manual`` selection (again, after answer ``bad``)."""
    menu = "  ".join(f"{i}) {n}" for i, n in enumerate(allowed, 1))
    head = "Next speaker?" if bad is None else \
        f"`{bad}` is not a candidate; type a number 1-{len(allowed)} or a name:"
    return f"{head} {menu}  (Enter or q: let agentteam pick)"


def manual_answer(answer: str, allowed: list[str]) -> str | None:
    """The candidate a person's answer picks; "" for "pick automatically" (Enter or
    ``q``); None for an answer that is neither."""
    a = answer.strip()
    if a.lower() in ("", "q"):
        return ""
    if a.isdigit() and 1 <= int(a) <= len(allowed):
        return allowed[int(a) - 1]
    return next((n for n in allowed if n.lower() == a.lower()), None)


class Selector:
    """Picks the next speaker; ``auto`` answers with a Choice that needs the model."""

    def __init__(self, team: TeamSpec):
        self.team = team
        self.method = team.speaker_selection.method
        self.rng = random.Random(team.speaker_selection.seed)
        self.function = functions.load(team) if self.method == "function" else None

    def ruled(self, history: list[Message], last: str | None,
              exclude: Set[str] = frozenset()) -> Choice | None:
        """The choice of ``last``'s first transition rule that holds, whatever the method."""
        d = rules.decide(self.team, history, last, exclude)
        if d is None:
            return None
        return Choice(d.agent or "", "transition", d.reason, end=d.end)

    def choose(self, history: list[Message], last: str | None,
               exclude: Set[str] = frozenset(), method: str | None = None) -> Choice:
        """The next speaker by the team's method (or ``method``, e.g. ``auto`` when the
        person leaves a manual choice to agentteam)."""
        method = method or self.method
        allowed = candidates(self.team, last, exclude)
        if not allowed:
            allowed = candidates(self.team, last)
        if method == "function":
            return self._by_function(history, last, exclude, allowed)
        if len(allowed) == 1:
            return Choice(allowed[0], method, "only candidate allowed")
        if method == "round_robin":
            return Choice(next_in_order(self.team, last, allowed), "round_robin", "next in order")
        if method == "random":
            return Choice(self.rng.choice(allowed), "random", "random pick")
        if method == "manual":
            return Choice("", "manual", "asked the person", prompt=None)
        # auto
        runner = self._code_runner(history, allowed)
        if runner:
            return Choice(runner, "auto", "the last message has code to run")
        if history:
            named = addressed(history[-1].text, allowed)
            if len(named) == 1:
                return Choice(named[0], "auto", "named in the last message")
        return Choice("", "auto", "", needs_model=True,
                      prompt=selector_messages(self.team, history, allowed))

    def _by_function(self, history: list[Message], last: str | None, exclude: Set[str],
                     allowed: list[str]) -> Choice:
        """Ask the team's function; a method name it answers picks by that method."""
        assert self.function is not None
        fn, label = self.function
        answer = functions.call(fn, label, history, allowed, [a.name for a in self.team.agents])
        if answer is None:
            return Choice("", "function", f"{label} returned None: the chat ends", end=True)
        if answer in exclude:   # asked again it would answer the same: nobody to speak
            return Choice("", "function", f"{label} chose {answer}, who has nothing to say")
        if answer in functions.METHODS and answer not in {a.name for a in self.team.agents}:
            choice = self.choose(history, last, exclude, method=answer)
            choice.reason = f"{label} asked for {answer}: {choice.reason}"
            return choice
        return Choice(answer, "function", f"chosen by {label}")

    def _code_runner(self, history: list[Message], allowed: list[str]) -> str | None:
        """A code-executing proxy, when the last message holds code it has not run."""
        if not history or history[-1].kind != "text" or self.team.code_execution.mode == "tool":
            return None
        if not any(b.supported for b in codeblocks.extract(history[-1].text)):
            return None
        return next((a.name for a in self.team.agents
                     if a.name in allowed and executes_code(a) and a.name != history[-1].agent
                     and self.team.code_execution.executor != "none"), None)

    def allowed(self, last: str | None, exclude: Set[str] = frozenset()) -> list[str]:
        return candidates(self.team, last, exclude) or candidates(self.team, last)

    def fallback(self, last: str | None, allowed: list[str]) -> str:
        return next_in_order(self.team, last, allowed)


def tool_choice(team: TeamSpec, history: list[Message],
                name_of: Callable[[str], str] = str) -> Choice | None:
    """Who speaks around tool calls, with no selector call: calls go to an agent that runs
    tools (one ``transitions`` allows, else the first), and after the results the calling
    agent speaks again, unless ``transitions`` forbid it."""
    if not history:
        return None
    last = history[-1]
    calls = calls_of(last)
    if calls:
        runners = [a.name for a in team.agents if executes_tools(a)]
        allowed = _after(team, last.agent)
        pick = next((n for n in runners if n in allowed), runners[0] if runners else None)
        names = ", ".join(dict.fromkeys(name_of(c.name) for c in calls))
        return Choice(pick, "tool", f"{last.agent} called {names}") if pick else None
    if last.kind == "tool_result" and len(history) > 1 and calls_of(history[-2]):
        caller = history[-2].agent
        if caller in _after(team, last.agent):
            return Choice(caller, "tool", "reads the results of its tool calls")
    return None


def _after(team: TeamSpec, last: str) -> list[str]:
    """Who ``transitions`` let speak after ``last`` (repeats allowed)."""
    names = [a.name for a in team.agents]
    if team.transitions and last in team.transitions:
        return [n for n in names if n in team.transitions[last]]
    return names
