"""The append-only JSONL transcript: written as the run goes, read back to resume or replay.

Each event (deltas excepted) is one line, flushed and fsynced before the run
loop moves on, so a crash, a kill or Ctrl-C loses nothing that was shown. Lines
end in ``\\n`` and nothing else: Unicode line breaks inside text are written as
``\\u`` escapes and the reader splits on ``\\n`` only, so any text round-trips.
One run writes a transcript at a time (an OS lock, held for the run); a write that
fails (a full disk) stops the run and leaves what was written readable.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError, TranscriptError, UsageError, redact
from ..files import NotRegularFile, TooLarge, read_limited
from . import transcript_check as check
from .events import Event, MessageDelta, MessageStarted, json_line, to_dict
from .messages import Message

try:
    import fcntl
except ImportError:     # Windows: no advisory locks; runs are not guarded against each other
    fcntl = None  # type: ignore[assignment]

MAX_BYTES = 256 << 20    # a transcript larger than this is refused, not read


def default_path(team_name: str, root: Path | None = None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return (root or Path.cwd()) / ".agentteam" / "runs" / f"{stamp}-{team_name}.jsonl"


class TranscriptWriter:
    """Appends events as JSON lines, holding the file's lock until ``close``.

    Deltas are written before they are shown (so a kill loses no shown text); every
    other event is also fsynced. The first failed write raises TranscriptError and
    cuts the file back to its last whole line; later writes do nothing.
    """

    SKIP = (MessageStarted,)

    def __init__(self, path: Path):
        self.path = Path(path)
        self.failed: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                               | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as e:
            raise ConfigError(f"{self.path}: cannot write the transcript ({e.strerror}); "
                              "choose another place with --transcript PATH") from None
        self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        self._good = 0
        try:
            if self._regular:
                _lock(self._fd, self.path)
                self._good = _cut_torn_tail(self._fd, self.path)
        except BaseException:
            os.close(self._fd)
            raise

    def write(self, event: Event) -> None:
        if isinstance(event, self.SKIP) or self.failed is not None:
            return
        data = (redact(json_line(to_dict(event))) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if not isinstance(event, MessageDelta):
                self._sync()
            self._good += len(data)
        except OSError as e:
            self._fail(e)

    def _sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError:
            if self._regular:   # pipes and devices (/dev/stdout) cannot be synced: fine
                raise

    def _fail(self, e: OSError) -> None:
        self.failed = (f"{self.path}: cannot write the transcript ({e.strerror or e}); the run "
                       "stopped here, and the lines written before stay readable")
        if self._regular:
            try:    # drop the torn line, so the file still ends in a whole event
                os.ftruncate(self._fd, self._good)
            except OSError:
                pass
        raise TranscriptError(self.failed)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)     # closing releases the lock
            self._fd = -1


def _lock(fd: int, path: Path) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _lock_holder(fd)
        who = f" (pid {pid})" if pid else ""
        raise UsageError(f"{path}: another agentteam run{who} is writing this transcript; wait "
                         "for it to end, or give this run another --transcript") from None
    except OSError:      # a file system without locks: go on unguarded
        pass


def _lock_holder(fd: int) -> int | None:
    """The pid holding a flock on ``fd``'s file, from /proc/locks (Linux); else None."""
    st = os.fstat(fd)
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == ident:
                    return int(fields[4]) if fields[4].isdigit() else None
    except OSError:
        pass
    return None


def _cut_torn_tail(fd: int, path: Path) -> int:
    """Cut a last event left half-written (by a kill or a full disk); the size kept.

    Only a tail that starts like an event is cut: a file that is not a transcript
    keeps every byte.
    """
    size = os.fstat(fd).st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - 1))
        if size == 0 or f.read(1) == b"\n":
            return size
        end = size
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            cut = f.read(end - start).rfind(b"\n")
            end = start + cut + 1 if cut >= 0 else start
            if cut >= 0:
                break
        f.seek(end)
        if f.read(len(_EVENT_START)) != _EVENT_START:
            return size
    os.ftruncate(fd, end)
    return end


_EVENT_START = b'{"type": "'


@dataclass
class Recorded:
    """A run as its transcript tells it."""

    path: Path
    team: str = ""
    task: str = ""
    team_file: str = ""
    agents: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    executed: set[int] = field(default_factory=set)   # rounds whose code has run
    ended: str | None = None
    format: int = 1      # of the first run_started line; 1 = before message parts
    events: list[dict] = field(default_factory=list)
    # Inner chats (see conversation/subteams.py): ``messages`` are the top level's; an
    # inner chat's Recorded has its ``scope``. ``open`` is the inner chat that was running
    # when the run stopped (or had ended, its member's message not yet posted).
    scope: tuple[str, ...] = ()
    open: "Recorded | None" = None
    # every message of the run, inner chats' too, in order (for --replay)
    all_messages: list[tuple[tuple[str, ...], Message]] = field(default_factory=list)

    def check_team(self, team, flag: str) -> None:
        """Refuse to resume or replay another team's transcript (ConfigError)."""
        from ..team.nesting import chat_names
        names = {a.name for a in team.agents} | set(chat_names(team))
        spoke = sorted({m.agent for m in self.messages if m.round > 0} - names)
        if self.team != team.name or spoke:
            what = f"team `{self.team}`" + (f" (agents {', '.join(self.agents)})"
                                             if self.agents else "")
            why = f"its agents {', '.join(spoke)} are not in" if self.team == team.name \
                else "not by"
            raise ConfigError(f"{self.path}: recorded by {what}, {why} team `{team.name}` of "
                              f"{team.source or 'this run'}; {flag} needs a transcript of the "
                              "same team")


def read(path: str | Path, lenient: bool = False) -> Recorded:
    """Read and check a transcript; a torn last line (from a kill) is ignored.

    ``lenient`` keeps events and fields this version does not know (see
    ``transcript_check.parse``): for showing a run, not for resuming or replaying it."""
    p = Path(path)
    try:
        text = read_limited(p, MAX_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such transcript") from None
    except (NotRegularFile, TooLarge) as e:
        raise ConfigError(f"{p}: {e}; a transcript is a .jsonl file of at most "
                          f"{MAX_BYTES >> 20} MB") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}:{text_line(e.object, e.start)}: not UTF-8 text; is this an "
                          "agentteam transcript?") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the transcript ({e.strerror or e})") from None
    rec = Recorded(p)
    chain: list[Recorded] = []     # the inner chats open at each depth, outermost first
    cascade: list[tuple] = []      # inner chats just ended by a budget, innermost first
    partial: dict | None = None
    lines = text.split("\n")
    last = max((n for n, line in enumerate(lines, 1) if line.strip()), default=0)
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        ev = check.parse(line, f"{p}:{n}", torn_ok=n == last, lenient=lenient)
        if ev is None:
            break   # torn by a kill mid-write
        kind = ev["type"]
        if kind == "message_delta":
            if partial and (partial["round"], partial["agent"], partial.get("scope")) == \
                    (ev["round"], ev["agent"], ev.get("scope")):
                partial["content"] += ev["text"]
            else:
                partial = {"type": "message", "round": ev["round"], "agent": ev["agent"],
                           "content": ev["text"], "incomplete": True,
                           **({"scope": ev["scope"]} if ev.get("scope") else {})}
            continue
        if kind == "message":
            partial = None   # the streamed text was recorded whole (or marked incomplete)
        rec.events.append(ev)
        if kind == "run_ended" and ev["reason"] == "budget":
            _reopen(chain, cascade)
        cascade = cascade + [tuple(ev["scope"])] if kind == "chat_ended" and ev.get("scope") \
            and ev["reason"] == "budget" else []
        if ev.get("scope"):
            _take_inner(rec, chain, ev)
            continue
        if kind == "message" and not ev["incomplete"]:
            chain.clear()      # the inner chat's summary was posted: it is over
        _take(rec, ev)
    if partial is not None:   # the process died mid-reply: keep what was shown
        rec.events.append(partial)
    for outer, inner in zip([rec, *chain], chain, strict=False):   # each its inner one
        outer.open = inner
    if not rec.team:
        raise ConfigError(f"{p}: no run_started line; is this an agentteam transcript?")
    return rec


def _reopen(chain: list[Recorded], cascade: list[tuple]) -> None:
    """The inner chats whose ``chat_ended`` (reason ``budget``) led straight to the run's
    end: a budget of a chat above stopped them, not their own; they go on at resume."""
    for inner in chain:
        if inner.scope in cascade:
            inner.ended = None


def _take(rec: Recorded, ev: dict) -> None:
    kind = ev["type"]
    if kind == "run_started" and not rec.team:
        rec.format = ev.get("format", 1)
        rec.team, rec.task, rec.team_file = ev["team"], ev["task"], ev["team_file"]
        rec.agents = list(ev["agents"])
    elif kind == "message" and not ev["incomplete"]:
        message = check.message(ev)
        rec.messages.append(message)
        rec.all_messages.append(((), message))
    elif kind == "code_result" and ev["source_round"] is not None:
        rec.executed.add(ev["source_round"])
    elif kind == "run_ended":
        rec.ended = ev["reason"]


def _take_inner(rec: Recorded, chain: list[Recorded], ev: dict) -> None:
    """An inner chat's event: kept with the chat it belongs to, while that chat may still
    need to go on (it is open, or its member's message has not been posted)."""
    scope = tuple(ev["scope"])
    depth = len(scope)
    if ev["type"] == "chat_started":
        if ev.get("resumed_at") is not None and len(chain) >= depth \
                and chain[depth - 1].scope == scope:
            return      # a resumed run goes on with the chat it recorded: keep its history
        del chain[depth - 1:]
        chain.append(Recorded(rec.path, team=ev["team"], task=ev["task"],
                              agents=list(ev["agents"]), scope=scope, format=rec.format))
        return
    if ev["type"] == "message" and not ev["incomplete"]:
        rec.all_messages.append((scope, check.message(ev)))
    if len(chain) < depth or chain[depth - 1].scope != scope:
        return       # a chat whose start was not recorded: nothing to go on with
    inner = chain[depth - 1]
    if ev["type"] == "chat_ended":
        # ended by an error or an interrupt, it goes on when the run is resumed
        if ev["reason"] not in ("error", "interrupted"):
            inner.ended = ev["reason"]
        return
    if ev["type"] == "message" and not ev["incomplete"]:
        del chain[depth:]       # the member's message of a deeper chat: that chat is over
    _take(inner, ev)


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line of byte ``offset`` in ``data``."""
    return data.count(b"\n", 0, offset) + 1
