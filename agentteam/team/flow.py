"""The team file's keys for the flow of a chat: transition rules, their conditions, and the
selector's prompt templates. Values and their validation only.

A ``transitions`` entry is an agent's name (it *may* speak next) or a rule (it *does*
speak next when the rule's condition holds for the last message)::

    transitions:
      Coder:
        - {to: Executor, when: {contains: "```"}}     # a rule: decides, no selector call
        - {to: Critic, when: {regex: "(?i)please review"}}
        - Planner                                     # a name: a candidate, as before
      Executor:
        - {to: Coder, when: {exit_code: nonzero}}
        - {to: Scientist}                             # a rule without `when` always holds
      Scientist: [{end: true}]                        # the flow ends here
"""

from __future__ import annotations

import difflib
import re
import string
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Tag,
    field_validator,
    model_validator,
)

# The placeholders of the selector's templates; `problem` only in the retry prompt.
PLACEHOLDERS = ("roles", "names", "history")
RETRY_PLACEHOLDERS = PLACEHOLDERS + ("problem",)
# What AutoGen (AG2) and AgentChat call them.
_ALIASES = {"agentlist": "names", "participants": "names", "agents": "names"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Condition(_Strict):
    """What must hold for the last message; every key given must hold (all of them)."""

    contains: Optional[str] = None
    regex: Optional[str] = None
    exit_code: Optional[Literal["zero", "nonzero"]] = None
    case_sensitive: bool = True

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            compile_regex(v)
        return v

    @model_validator(mode="after")
    def _something(self) -> "Condition":
        if self.contains is None and self.regex is None and self.exit_code is None:
            raise ValueError("a condition needs `contains`, `regex` or `exit_code` "
                             "(leave out `when:` for a rule that always holds)")
        return self


class TransitionRule(_Strict):
    """``to`` speaks next (or, with ``end: true``, the chat ends) when ``when`` holds."""

    to: Optional[str] = None
    end: bool = False
    when: Optional[Condition] = None

    @model_validator(mode="after")
    def _one_outcome(self) -> "TransitionRule":
        if (self.to is None) == (not self.end):
            raise ValueError("a rule needs exactly one of `to: AGENT` or `end: true`")
        return self

    def describe(self) -> str:
        """The rule for people, as in a `speaker_selected` reason."""
        outcome = "end" if self.end else f"to {self.to}"
        w = self.when
        if w is None:
            return outcome
        parts = []
        if w.contains is not None:
            parts.append(f"contains {w.contains!r}")
        if w.regex is not None:
            parts.append(f"matches {w.regex!r}")
        if w.exit_code is not None:
            parts.append(f"exit code {w.exit_code}")
        return f"{outcome} when the last message {' and '.join(parts)}"


def _entry_kind(value: Any) -> str:
    return "=rule" if isinstance(value, (dict, TransitionRule)) else "=name"


# The tags never show in messages: load.py drops path parts that start with "=".
TransitionEntry = Annotated[Union[Annotated[str, Tag("=name")],
                                  Annotated[TransitionRule, Tag("=rule")]],
                            Discriminator(_entry_kind)]


def compile_regex(pattern: str, case_sensitive: bool = True) -> re.Pattern:
    """``pattern`` compiled; a ValueError that says what is wrong with it otherwise."""
    try:
        return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {e}") from None


def placeholders(template: str) -> list[str]:
    """The ``{names}`` a template uses; ValueError for unbalanced braces."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise ValueError(f"{e} in the template; write {{{{ and }}}} for literal braces") from None


def check_template(template: str, allowed: tuple[str, ...]) -> str:
    """Refuse placeholders a selector template cannot fill, with a did-you-mean."""
    for name in placeholders(template):
        if name in allowed:
            continue
        if name in RETRY_PLACEHOLDERS:
            raise ValueError(f"`{{{name}}}` is only for `retry_prompt` (what was wrong with "
                             "the previous answer)")
        hint = _ALIASES.get(name) or next(iter(difflib.get_close_matches(name, allowed, 1, 0.6)),
                                          None)
        hint_text = f"; did you mean `{{{hint}}}`?" if hint in allowed else ""
        shown = ", ".join(f"{{{a}}}" for a in allowed)
        raise ValueError(f"unknown placeholder `{{{name}}}`{hint_text} (placeholders: "
                         f"{shown}; write {{{{ and }}}} for literal braces)")
    return template


def render(template: str, **values: str) -> str:
    """Fill a checked template's placeholders."""
    return template.format_map(values)


def _last_n(value: Any) -> Any:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError("expected a whole number of at least 1, or `auto` (every message since "
                     "the proxy last spoke)")


# code_execution.last_n_messages
LastN = Annotated[Union[int, Literal["auto"]], BeforeValidator(_last_n)]


def split_transitions(transitions: dict[str, list], kind: str, names: list[str]
                      ) -> tuple[dict[str, list[str]], dict[str, list[TransitionRule]]]:
    """``transitions`` as the agents allowed after each agent, and the rules apart.

    The names a list holds (plain, or a rule's ``to``) are allowed; with
    ``transitions_type: disallowed`` the list names those that are not (AutoGen's
    inversion: every other agent, the agent itself included, is allowed).
    """
    allowed: dict[str, list[str]] = {}
    rules: dict[str, list[TransitionRule]] = {}
    for src, entries in transitions.items():
        listed: list[str] = []
        for e in entries:
            if isinstance(e, TransitionRule):
                rules.setdefault(src, []).append(e)
                if e.to is not None and e.to not in listed:
                    listed.append(e.to)
            elif e not in listed:
                listed.append(e)
        allowed[src] = [n for n in names if n not in listed] if kind == "disallowed" else listed
    return allowed, rules
