"""Does a message end the chat? The termination keyword, in the message's prose only.

A keyword inside a code block (``print("TERMINATE")``) is code, not a decision to
stop: the block still has to run. Linear in the message's length.
"""

from __future__ import annotations

from .codeblocks import prose

# What ``suffix`` and ``exact`` ignore after the keyword.
_TRAILING = set(".!?,;:*_`'\")]")


def terminates(text: str, keyword: str, match: str) -> bool:
    """``suffix`` (default) and ``exact`` ignore trailing whitespace and punctuation."""
    if not keyword:
        return False
    text = prose(text)
    if match == "substring":
        return keyword in text
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] in _TRAILING):
        end -= 1
    if match == "exact":
        return text[:end].strip() == keyword
    return text.endswith(keyword, 0, end)
