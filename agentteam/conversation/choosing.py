"""Speaker selection as the run loop does it: the team's method, then the selector model
or the person when the method needs them, with the fallbacks, and the reason in the
``speaker_selected`` event. Who may speak and how an answer is read live in
``selection.py``; this is the part that asks.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Iterator

from ..errors import ModelError
from ..models.base import SELECTOR, ChatModel, Completion
from ..team import TeamSpec
from .events import Event, Notice, SpeakerSelected
from .messages import Message
from .prompts import selector_messages
from .selection import (
    MANUAL_TRIES,
    Choice,
    Selector,
    manual_answer,
    manual_prompt,
    named_candidates,
    tool_choice,
)
from .stop import StopChat


class ChoosingSpeakers:
    """Mixed into GroupChat: the loop's ``_select`` step and the questions it asks."""

    team: TeamSpec
    model: ChatModel
    selector: Selector
    history: list[Message]
    rounds: int
    _force_next: str | None
    tools: Any
    _call: Callable[..., Generator[Event, None, Completion]]
    _emit: Callable[[Event], Iterator[Event]]
    _ask: Callable[[str], str]

    def _select(self, last: str | None, skipped: set[str]) -> Generator[Event, None, str | None]:
        if self._force_next:
            name, self._force_next = self._force_next, None
            yield from self._emit(SpeakerSelected(self.rounds + 1, name, "interrupt",
                                                  "the reply was stopped"))
            return name
        tool = tool_choice(self.team, self.history, self.tools.display_name) \
            if self.tools is not None else None
        if tool is not None and tool.agent not in skipped:
            yield from self._emit(SpeakerSelected(self.rounds + 1, tool.agent, tool.method,
                                                  tool.reason))
            return tool.agent
        ruled = self.selector.ruled(self.history, last, skipped)
        if ruled is not None:
            return (yield from self._decided(ruled))
        allowed = self.selector.allowed(last, skipped)
        if all(a in skipped for a in allowed):
            return None
        choice = self.selector.choose(self.history, last, skipped)
        if choice.end or (choice.method == "function" and not choice.agent):
            return (yield from self._decided(choice))
        round_no = self.rounds + 1
        if choice.method == "manual" and not choice.agent:
            choice.agent, choice.reason = self._ask_speaker(allowed)
            if not choice.agent:
                agent, how = yield from self._pick_for_the_person(last, skipped, allowed)
                choice.agent, choice.reason = agent, f"{choice.reason}; {how}"
        elif choice.needs_model:
            choice.agent, choice.reason = yield from self._auto(choice.prompt, allowed, last)
        yield from self._emit(SpeakerSelected(round_no, choice.agent, choice.method,
                                              choice.reason))
        return choice.agent

    def _decided(self, choice: Choice) -> Generator[Event, None, str | None]:
        """A rule's or the function's choice; the end of the chat when it chose no one."""
        if choice.end:
            yield from self._emit(Notice(f"speaker selection ended the chat ({choice.reason})"))
            raise StopChat("selection")
        if not choice.agent:
            yield from self._emit(Notice(choice.reason, "warning"))
            return None
        yield from self._emit(SpeakerSelected(self.rounds + 1, choice.agent, choice.method,
                                              choice.reason))
        return choice.agent

    def _auto(self, prompt, allowed: list[str], last: str | None) -> Generator[Event, None, tuple]:
        """Ask the selector model; an answer naming no candidate or several is asked again
        (``max_retries`` times, once by default), then the next agent in order speaks."""
        profile = self.team.speaker_selection.model or "default"
        for attempt in range(self.team.speaker_selection.max_retries + 1):
            try:
                # the candidates go along: a backend that can allows only their names
                done = yield from self._call(profile, prompt, SELECTOR, None, choices=allowed)
            except ModelError as e:
                fallback = self.selector.fallback(last, allowed)
                return fallback, f"selector model failed ({e}); next in order"
            named = named_candidates(done.text, allowed)
            if len(named) == 1:
                return named[0], "chosen by the selector model" + (" on retry" if attempt else "")
            problem = f"named several candidates ({', '.join(named)})" if named \
                else "named no candidate"
            prompt = selector_messages(self.team, self.history, allowed, retry=problem)
        fallback = self.selector.fallback(last, allowed)
        if named:
            return fallback, f"selector {problem}, not one; next in order"
        return fallback, f"selector answered no valid name ({done.text.strip()[:60]!r}); " \
                         "next in order"

    def _ask_speaker(self, allowed: list[str]) -> tuple[str, str]:
        """The person's pick and why; no name when they leave it to agentteam (Enter or
        ``q``) or gave no valid answer in ``MANUAL_TRIES`` tries."""
        prompt = manual_prompt(allowed)
        for _ in range(MANUAL_TRIES):
            answer = self._ask(prompt)
            name = manual_answer(answer, allowed)
            if name:
                return name, "chosen by the person"
            if name == "":
                return "", "left to agentteam by the person"
            prompt = manual_prompt(allowed, answer.strip())
        return "", f"no valid answer in {MANUAL_TRIES} tries"

    def _pick_for_the_person(self, last: str | None, skipped: set[str],
                             allowed: list[str]) -> Generator[Event, None, tuple]:
        """``auto`` selection, or the next agent in order when no selector model is there."""
        auto = self.selector.choose(self.history, last, skipped, method="auto")
        if not auto.needs_model:
            return auto.agent, auto.reason
        profile = self.team.speaker_selection.model or "default"
        profiles = getattr(self.model, "profiles", None)
        if profiles is not None and profile not in profiles:
            return self.selector.fallback(last, allowed), "next in order"
        return (yield from self._auto(auto.prompt, allowed, last))
