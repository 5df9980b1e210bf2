"""Does a message end the chat? The termination keyword, in the message's prose only.

A keyword inside a code block (``print("TERMINATE")``) is code, not a decision to
stop: the block still has to run. A code result's output counts only with
``check_code_results``. Linear in the message's length (a ``regex`` keyword is the
team's own pattern).
"""

from __future__ import annotations

import functools
import re

from ..team import Termination
from .codeblocks import prose
from .messages import Message

# What ``suffix`` and ``exact`` ignore after the keyword.
_TRAILING = set(".!?,;:*_`'\")]")


def ends_chat(message: Message, termination: Termination) -> bool:
    """Whether ``message`` ends the chat under the team's ``termination``."""
    t = termination
    if t.agents is not None and message.agent not in t.agents:
        return False
    if message.kind == "code_result":
        if not t.check_code_results:
            return False
        text = message.text
    elif message.kind == "text":
        text = prose(message.text)
    else:
        return False
    return terminates(text, t.keyword, t.match, t.case_sensitive, prose_only=False)


def terminates(text: str, keyword: str, match: str, case_sensitive: bool = True,
               prose_only: bool = True) -> bool:
    """``suffix`` (default) and ``exact`` ignore trailing whitespace and punctuation;
    ``regex`` searches anywhere."""
    if not keyword:
        return False
    if prose_only:
        text = prose(text)
    if match == "regex":
        return _pattern(keyword, case_sensitive).search(text) is not None
    if not case_sensitive:
        text, keyword = text.lower(), keyword.lower()
    if match == "substring":
        return keyword in text
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] in _TRAILING):
        end -= 1
    if match == "exact":
        return text[:end].strip() == keyword
    return text.endswith(keyword, 0, end)


@functools.lru_cache(maxsize=64)
def _pattern(keyword: str, case_sensitive: bool) -> re.Pattern:
    return re.compile(keyword, 0 if case_sensitive else re.IGNORECASE)


def strip_keyword(text: str, termination: Termination) -> str:
    """``text`` without the termination keyword that ends it (``suffix``/``exact``; every
    match for ``substring``/``regex``): an inner chat's last message, passed on as its
    summary, must not end the chat it is passed to."""
    t = termination
    if not t.keyword:
        return text
    if t.match == "regex":
        return _pattern(t.keyword, t.case_sensitive).sub("", text)
    flags = 0 if t.case_sensitive else re.IGNORECASE
    if t.match == "substring":
        return re.sub(re.escape(t.keyword), "", text, flags=flags)
    if not terminates(text, t.keyword, t.match, t.case_sensitive, prose_only=False):
        return text
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] in _TRAILING):
        end -= 1
    return text[:end - len(t.keyword)].rstrip()
