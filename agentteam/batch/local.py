"""Runs on this machine: one thread per concurrent run, all in this process.

Runs wait on models, not on the CPU, so threads are enough, and sharing one
process lets them share connection pools, the rate gate and the embedded
model's server. Results come back to the batch's own thread through a queue.

Stopping (Ctrl-C): no new run starts; each run in progress is stopped the way
Ctrl-C stops a single run (a ``KeyboardInterrupt`` in its loop, so the chat
ends ``interrupted`` and closes its sandbox): at its next event or rate-gate
wait; a thread still blocked after a grace period (in a code block, in a model
call) gets it as an asynchronous exception, and its sandbox is closed from here,
which ends the code block it waits on.
"""

from __future__ import annotations

import ctypes
import queue
import threading
import time
from collections import deque
from typing import Callable

from .results import RunResult
from .run import Control, RunSpec

# How long a stopping batch waits for its runs to end by themselves, then after
# they were interrupted, before it closes what they left open and returns.
GRACE_S = 2.0
INTERRUPTED_S = 8.0

Work = Callable[[RunSpec, Control], "RunResult | None"]


class LocalPool:
    """Runs specs with ``concurrency`` threads; ``run`` returns True when it was stopped."""

    def __init__(self, concurrency: int, stop: threading.Event, work: Work):
        self.concurrency = max(1, concurrency)
        self.stop = stop
        self.work = work
        self._active: dict[int, Control] = {}
        self._lock = threading.Lock()

    def run(self, specs: list[RunSpec], began: Callable[[RunSpec], None],
            finished: Callable[[RunSpec, RunResult], None], lost=None) -> bool:
        """Run every spec (``lost`` is for pools whose runs can vanish; not here)."""
        pending = deque(specs)
        inbox: queue.Queue = queue.Queue()
        threads = [threading.Thread(target=self._worker, args=(pending, inbox, self.work),
                                    name=f"batch-run-{i}", daemon=True)
                   for i in range(min(self.concurrency, len(specs)))]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads) or not inbox.empty():
                self._deliver(inbox, began, finished, timeout=0.2)
        except KeyboardInterrupt:
            self.stop.set()
            self._wind_down(threads, inbox, began, finished)
            return True
        return self.stop.is_set()

    def _worker(self, pending: deque, inbox: queue.Queue, work: Work) -> None:
        try:
            self._work_through(pending, inbox, work)
        except KeyboardInterrupt:   # an interrupt that landed between runs: just stop
            pass

    def _work_through(self, pending: deque, inbox: queue.Queue, work: Work) -> None:
        me = threading.get_ident()
        while not self.stop.is_set():
            try:
                spec = pending.popleft()
            except IndexError:
                return
            control = Control(self.stop)
            with self._lock:
                self._active[me] = control
            inbox.put(("began", spec, None))
            result = None
            try:
                result = work(spec, control)
            except KeyboardInterrupt:   # delivered while stopping; the run is not kept
                result = None
            finally:
                with self._lock:
                    self._active.pop(me, None)
                inbox.put(("done", spec, result))

    @staticmethod
    def _deliver(inbox: queue.Queue, began, finished, timeout: float) -> None:
        try:
            kind, spec, result = inbox.get(timeout=timeout)
        except queue.Empty:
            return
        if kind == "began":
            began(spec)
        elif result is not None:
            finished(spec, result)

    def _wind_down(self, threads, inbox, began, finished) -> None:
        """Stop the runs in progress, keep the results of those that had finished."""
        deadline = time.monotonic() + GRACE_S
        interrupted = False
        while any(t.is_alive() for t in threads) or not inbox.empty():
            try:
                if not interrupted and time.monotonic() > deadline:
                    self._interrupt_threads(threads)
                    # a removed container ends the code block the thread waits on
                    self._close_leftovers()
                    interrupted, deadline = True, time.monotonic() + INTERRUPTED_S
                elif interrupted and time.monotonic() > deadline:
                    break
                self._deliver(inbox, lambda spec: None, finished, timeout=0.1)
            except KeyboardInterrupt:   # a second Ctrl-C: go straight to the end
                if interrupted:
                    break
                deadline = 0.0
        self._close_leftovers()

    def _interrupt_threads(self, threads) -> None:
        """Raise KeyboardInterrupt in the threads still in a run.

        A thread blocked in a code block or a model call cannot look at the stop
        signal; Python checks for this exception between bytecodes, so it lands as
        soon as the call returns to Python (a subprocess wait polls, and so does a
        streamed reply).
        """
        with self._lock:
            idents = list(self._active)
        for ident in idents:
            if any(t.ident == ident and t.is_alive() for t in threads):
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                           ctypes.py_object(KeyboardInterrupt))

    def _close_leftovers(self) -> None:
        with self._lock:
            controls = list(self._active.values())
        for control in controls:
            for executor in control.executors:
                try:
                    executor.close()
                except Exception:  # closing is best effort; the container may be gone
                    pass
