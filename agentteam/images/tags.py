"""AutoGen's ``<img …>`` syntax: ``<img plot.png>``, ``<img https://x/y.jpg>``,
``<img src="a b.png">``. Tags inside code (fenced blocks, `inline code`) are text.

Words without ``=`` make up the source, joined by spaces (as AutoGen does);
``src=`` wins when it is there. Finding tags is linear in the text.
"""

from __future__ import annotations

import re

from ..conversation.codeblocks import prose

# One character class, then a literal: no backtracking over long runs of anything.
_TAG = re.compile(r"<img([^<>]*)>", re.IGNORECASE)
_MAX_TAG = 2000   # characters inside one tag; a longer "tag" is text
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""", re.IGNORECASE)
_ATTR = re.compile(r"""\S+\s*=\s*(?:"[^"]*"|'[^']*'|\S+)""")


def sources(text: str) -> list[str]:
    """The sources named by ``<img …>`` tags in ``text``, in order, each once."""
    if "<img" not in text.lower():
        return []
    outside_code = _INLINE_CODE.sub("", prose(text))
    found: list[str] = []
    for m in _TAG.finditer(outside_code):
        inner = m.group(1)
        if not inner[:1].isspace() or len(inner) > _MAX_TAG:   # <imgfoo> is not a tag
            continue
        src = _source(inner.strip().removesuffix("/").strip())
        if src and src not in found:
            found.append(src)
    return found


def _source(inner: str) -> str:
    m = _SRC.search(inner)
    if m:
        return next(g for g in m.groups() if g is not None).strip()
    words = _ATTR.sub(" ", inner).split()
    return " ".join(words).strip("\"'")


def is_url(src: str) -> bool:
    return src.lower().startswith(("http://", "https://"))


def strip_tags(text: str) -> str:
    """``text`` without its ``<img …>`` tags."""
    return _TAG.sub("", text) if "<img" in text.lower() else text
