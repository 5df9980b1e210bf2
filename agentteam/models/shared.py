"""What concurrent runs in one process share: profiles, HTTP connection pools, a rate gate.

A batch runs many chats at once against the same providers. Each run building
its own clients would open a pool per run, and each run meeting a 429 on its
own would keep hammering a provider that already said "slow down" (and fail
once its retries ran out). ``SharedModels`` gives every run of a batch one
``WireClient`` and one ``RateGate``; ``ProviderModel`` uses them when given.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .profiles import Profile
from .wire import WireClient


class RateGate:
    """When one run is told to wait (429), every run's next model call waits too.

    ``stop`` ends every wait at once, as a ``KeyboardInterrupt`` in the waiting
    thread: the run loop ends such a run as ``interrupted``, exactly as Ctrl-C
    does in a single run.
    """

    def __init__(self, stop: threading.Event | None = None, clock=time.monotonic):
        self.stop = stop or threading.Event()
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()
        self.holds = 0          # how many times a provider asked the batch to wait

    def hold(self, seconds: float) -> None:
        """No call passes the gate for ``seconds`` from now (the longest hold wins)."""
        with self._lock:
            self._until = max(self._until, self._clock() + max(0.0, seconds))
            self.holds += 1

    def remaining(self) -> float:
        """Seconds until calls may pass again (0 when open)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self) -> None:
        """Block until the gate is open; raise KeyboardInterrupt if the batch stops."""
        while True:
            left = self.remaining()
            if left <= 0:
                if self.stop.is_set():
                    raise KeyboardInterrupt
                return
            self.sleep(left)

    def sleep(self, seconds: float) -> None:
        """Sleep that the batch's stop cuts short (as a KeyboardInterrupt)."""
        if self.stop.wait(max(0.0, seconds)):
            raise KeyboardInterrupt


@dataclass
class SharedModels:
    """Given to every run of a batch (``TeamRun(shared=...)``).

    ``profiles``: resolved once for the batch (so the embedded model's server is
    started once and every run is pointed at it); ``None`` lets each run resolve
    its own. ``rate_limit_patience``: how long one call may keep waiting on 429s
    before it fails (the run's ``num_retries`` does not count 429s here).
    """

    profiles: dict[str, Profile] | None = None
    wire: WireClient = field(default_factory=WireClient)
    gate: RateGate = field(default_factory=RateGate)
    rate_limit_patience: float = 600.0

    def close(self) -> None:
        """Close the pooled connections."""
        self.wire.close()
