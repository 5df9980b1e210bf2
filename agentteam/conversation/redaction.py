"""Secrets out of the event stream, once, before the transcript and any subscriber see it.

Every event of a run passes ``StreamRedactor`` on its way out of the run loop, so
the terminal, ``--json``, the transcript and library users of ``run_team`` all get
the same scrubbed text (``errors.redact``). A key streamed in pieces is caught too:
the tail of a delta that could begin a secret waits for the next delta.
"""

from __future__ import annotations

from ..errors import redact, secret_prefix_at_end
from .events import Event, MessageDelta, map_text


def redact_event(event: Event) -> Event:
    """A copy of ``event`` with every registered secret replaced by ``***``."""
    return map_text(event, redact)


class StreamRedactor:
    """Turns each event into the scrubbed events to emit in its place (usually one)."""

    def __init__(self) -> None:
        self._held: MessageDelta | None = None    # text that may be the start of a key

    def __call__(self, event: Event) -> list[Event]:
        if not isinstance(event, MessageDelta):
            return [*self.release(), redact_event(event)]
        out: list[Event] = []
        held = self._held
        if held is not None and (held.round, held.agent) != (event.round, event.agent):
            out += self.release()
            held = None
        text = redact((held.text if held else "") + event.text)
        keep = secret_prefix_at_end(text)
        if len(text) > keep:
            out.append(MessageDelta(event.round, event.agent, text[:len(text) - keep]))
        self._held = MessageDelta(event.round, event.agent, text[len(text) - keep:]) \
            if keep else None
        return out

    def release(self) -> list[Event]:
        """The text held back, as a delta of its own (none when nothing is held)."""
        held, self._held = self._held, None
        return [held] if held is not None and held.text else []
