"""Text on its way to a terminal: no secret, and no control character that acts.

Model replies, code output, server error bodies and team files can all carry
escape sequences (a window title, a cleared or alternate screen, moved cursors, a
forged green "ended by the termination keyword"). Rich's ``Text`` passes ESC
through, so every display path (the live view, the chat prompt, notices, retries,
errors, the ``models`` table, logs) hands its text to ``safe`` first: control
characters become visible (ESC shows as ``␛``), newlines and tabs stay.
"""

from __future__ import annotations

import logging

from ..conversation.events import json_line as events_json_line
from ..conversation.events import map_text
from ..errors import redact

# C0 controls show as their Unicode "control pictures" (␛, ␇, ␍, ...), DEL as ␡, and C1
# controls (which some terminals obey like ESC sequences: U+009B is CSI) as \x9b.
_VISIBLE = {c: chr(0x2400 + c) for c in range(0x20) if chr(c) not in "\n\t"}
_VISIBLE[0x7F] = "\u2421"
_VISIBLE.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab shown, not obeyed."""
    return text.replace("\r\n", "\n").translate(_VISIBLE)


def safe(text: str) -> str:
    """``text`` as it may reach a terminal: secrets redacted, control characters visible."""
    return printable(redact(text))


def json_line(obj) -> str:
    """``obj`` as one line of JSON for stdout: every string redacted, and every control
    character escaped (see ``conversation.events.json_line``)."""
    return events_json_line(map_text(obj, redact))


class SafeFormatter(logging.Formatter):
    """Log lines for the terminal: each one passed through ``safe``."""

    def format(self, record: logging.LogRecord) -> str:
        return safe(super().format(record))
