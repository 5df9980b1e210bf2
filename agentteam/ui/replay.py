"""`show --format terminal`: a recorded run played through the live ``ConsoleView``.

The transcript keeps whole messages (their deltas folded in when read back), so
streamed replies are cut into deltas again and shown exactly as the live view
showed them; no model is called and nothing waits. Events of types this version
does not know, and fields it does not know (such as a nested team's ``scope``),
are passed on as attributes, so a view that learns them shows them here too.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from types import SimpleNamespace
from typing import Callable, Iterator

from rich.console import Console
from rich.text import Text

from ..conversation.events import EVENT_TYPES, MessageDelta, MessageStarted
from .report import RunReport

PIECE = 24     # characters per rebuilt delta: like a fast stream, same view


def to_event(d: dict):
    """An event object from its JSON form; unknown fields and types are kept."""
    cls = EVENT_TYPES.get(d.get("type", ""))
    if cls is None:
        return SimpleNamespace(**d)
    known = {f.name for f in fields(cls)}
    missing = [f.name for f in fields(cls) if f.name not in d
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:    # a damaged line: show its fields rather than fail
        return SimpleNamespace(**{**d, "type": "unreadable_" + str(d.get("type"))})
    ev = cls(**{k: v for k, v in d.items() if k in known})
    for k, v in d.items():
        if k not in known:
            setattr(ev, k, v)
    return ev


def events(report: RunReport) -> Iterator:
    """The run's events as the live view received them."""
    for d in report.events:
        if d.get("type") == "message" and _streamed(d):
            meta = {k: d[k] for k in ("scope",) if k in d}
            start = MessageStarted(d["round"], d["agent"], d.get("model"))
            yield _with(start, meta)
            text = d["content"]
            for i in range(0, len(text), PIECE):
                yield _with(MessageDelta(d["round"], d["agent"], text[i:i + PIECE]), meta)
        yield to_event(d)


def _streamed(d: dict) -> bool:
    """Replies that streamed live: an agent's text after the task (and cut replies)."""
    return (isinstance(d.get("content"), str) and bool(d["content"])
            and d.get("kind", "text") == "text" and isinstance(d.get("round"), int)
            and d["round"] > 0 and (bool(d.get("model")) or bool(d.get("incomplete"))))


def _with(ev, meta: dict):
    for k, v in meta.items():
        setattr(ev, k, v)
    return ev


def play(report: RunReport, view: Callable, console: Console) -> None:
    """Feed every event to ``view``; an unfinished run is marked at its end."""
    for ev in events(report):
        view(ev)
    if report.ended is None:
        stream = getattr(view, "stream", None)
        if stream is not None:
            stream.end()
        console.print()
        console.print(Text("the transcript ends here: the run was interrupted, killed, or is "
                           "still running (no run_ended line)", style="bold yellow"))
