"""The one way for a part of the run loop to end the chat on purpose."""

from __future__ import annotations


class StopChat(Exception):
    """Ends the run with ``reason`` (a ``run_ended`` reason) and, for errors, ``error``."""

    def __init__(self, reason: str, error: str | None = None, whole_run: bool = False):
        super().__init__(reason)
        self.reason, self.error = reason, error
        # raised inside an inner chat: end the whole run, not just that chat (a budget of
        # a chat above it is spent)
        self.whole_run = whole_run
