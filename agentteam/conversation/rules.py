"""Rule-based transitions: the first rule of the last speaker whose condition holds for
the last message decides who speaks next (or that the chat ends), with no selector call.

A condition looks at the last message: ``contains`` a text, matches a ``regex``
(``re.search``), or is a code result whose ``exit_code`` was zero or not. A rule whose
agent has nothing to say this round is passed over, as if it did not hold.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Set
from dataclasses import dataclass

from ..team import TeamSpec
from ..team.flow import Condition, compile_regex
from .messages import Message

# The first line of a code result (codeblocks.format_results): "exitcode: 1 (...)".
_EXIT = re.compile(r"exitcode: (-?\d+)")


@dataclass
class Decision:
    """What a rule decided: ``agent`` speaks next, or (``end``) the chat ends."""

    agent: str | None
    end: bool
    reason: str


def exit_code(message: Message) -> int | None:
    """The exit code a code result reports; None for a message that is not one (or code
    that was not run)."""
    if message.kind != "code_result":
        return None
    m = _EXIT.match(message.text)
    return int(m.group(1)) if m else None


@functools.lru_cache(maxsize=256)
def _pattern(regex: str, case_sensitive: bool) -> re.Pattern:
    return compile_regex(regex, case_sensitive)


def holds(cond: Condition | None, message: Message) -> bool:
    """Whether every part of ``cond`` holds for ``message`` (no condition: always)."""
    if cond is None:
        return True
    text = message.text
    if cond.contains is not None:
        found = cond.contains in text if cond.case_sensitive else \
            cond.contains.lower() in text.lower()
        if not found:
            return False
    if cond.regex is not None and not _pattern(cond.regex, cond.case_sensitive).search(text):
        return False
    if cond.exit_code is not None:
        code = exit_code(message)
        if code is None or (code == 0) != (cond.exit_code == "zero"):
            return False
    return True


def decide(team: TeamSpec, history: list[Message], last: str | None,
           skipped: Set[str] = frozenset()) -> Decision | None:
    """The decision of ``last``'s first rule that holds, or None when none does."""
    rules = team.transition_rules(last)
    if not rules or not history:
        return None
    message = history[-1]
    for i, rule in enumerate(rules, 1):
        if rule.to in skipped or not holds(rule.when, message):
            continue
        return Decision(rule.to, rule.end, f"rule {i} of {last}: {rule.describe()}")
    return None
