"""The append-only JSONL transcript: written as the run goes, read back to resume or replay.

Each event (deltas excepted) is one line, flushed and fsynced before the run
loop moves on, so a crash, a kill or Ctrl-C loses nothing that was shown.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError, redact
from .events import Event, MessageDelta, MessageStarted, to_dict
from .messages import Message, Usage, content_from_json


def default_path(team_name: str, root: Path | None = None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return (root or Path.cwd()) / ".agentteam" / "runs" / f"{stamp}-{team_name}.jsonl"


class TranscriptWriter:
    """Appends events as JSON lines.

    Deltas are written and flushed before they are shown (so a kill loses no
    shown text); every other event is also fsynced.
    """

    SKIP = (MessageStarted,)

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{self.path}: cannot write the transcript ({e.strerror}); "
                              "choose another place with --transcript PATH") from None

    def write(self, event: Event) -> None:
        if isinstance(event, self.SKIP):
            return
        line = redact(json.dumps(to_dict(event), ensure_ascii=False))
        self._f.write(line + "\n")
        self._f.flush()
        if not isinstance(event, MessageDelta):
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


@dataclass
class Recorded:
    """A run as its transcript tells it."""

    path: Path
    team: str = ""
    task: str = ""
    team_file: str = ""
    messages: list[Message] = field(default_factory=list)
    executed: set[int] = field(default_factory=set)   # rounds whose code has run
    ended: str | None = None
    format: int = 1      # of the first run_started line; 1 = before message parts
    events: list[dict] = field(default_factory=list)


def read(path: str | Path) -> Recorded:
    """Read a transcript; a torn last line (from a kill) is ignored."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such transcript") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the transcript ({e})") from None
    rec = Recorded(p)
    partial: dict | None = None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break   # torn by a kill mid-write
            raise ConfigError(f"{p}:{n}: not a JSON line; is this an agentteam "
                              "transcript?") from None
        if not isinstance(ev, dict) or "type" not in ev:
            raise ConfigError(f"{p}:{n}: not an agentteam event")
        try:
            partial = _take(rec, ev, partial)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            what = f"no {e}" if isinstance(e, KeyError) else str(e)
            raise ConfigError(f"{p}:{n}: a broken {ev['type']!r} event ({what}); is this an "
                              "agentteam transcript?") from None
    if partial is not None:   # the process died mid-reply: keep what was shown
        rec.events.append(partial)
    if not rec.team:
        raise ConfigError(f"{p}: no run_started line; is this an agentteam transcript?")
    return rec


def _take(rec: Recorded, ev: dict, partial: dict | None) -> dict | None:
    """Add one event to ``rec``; returns the reply being streamed (from its deltas), if any."""
    kind = ev["type"]
    if kind == "message_delta":
        text = ev.get("text", "")
        if not isinstance(text, str):
            raise TypeError("its text is not a string")
        if partial and (partial["round"], partial["agent"]) == (ev["round"], ev["agent"]):
            partial["content"] += text
        else:
            partial = {"type": "message", "round": ev["round"], "agent": ev["agent"],
                       "content": text, "incomplete": True}
        return partial
    if kind == "message":
        partial = None   # the streamed text was recorded whole (or marked incomplete)
    rec.events.append(ev)
    if kind == "run_started" and not rec.team:
        rec.format = ev.get("format", 1)
        rec.team, rec.task, rec.team_file = ev.get("team", ""), ev.get("task", ""), \
            ev.get("team_file", "")
    elif kind == "message" and not ev.get("incomplete"):
        agent, round_no = ev["agent"], ev["round"]
        if not isinstance(agent, str) or not isinstance(round_no, int):
            raise TypeError("its agent must be a name and its round a number")
        usage = ev.get("usage")
        rec.messages.append(Message(agent, content_from_json(ev["content"]), round_no,
                                    ev.get("kind", "text"), False, ev.get("model"),
                                    Usage.from_dict(usage if isinstance(usage, dict) else None)))
    elif kind == "code_result" and ev.get("source_round") is not None:
        rec.executed.add(ev["source_round"])
    elif kind == "run_ended":
        rec.ended = ev.get("reason")
    return partial
