"""`agentteam runs`: past runs from their transcripts, newest first, read cheaply.

Only a transcript's first line (run_started) and its last line (run_ended, when
the run finished) are read, whatever the file's size; files are ordered by the
time in their name (or their modification time) before any is opened, so
``--limit`` bounds the work too. A file that is not a readable transcript is
listed as damaged, with why, and never stops the listing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .report import started_at

HEAD_LIMIT = 4 * 1024 * 1024      # a run_started line longer than this (a huge task) is cut
TAIL_BLOCK = 64 * 1024
TAIL_LIMIT = 4 * 1024 * 1024      # no run_ended line is this long
UNFINISHED = "running/interrupted"


@dataclass
class RunInfo:
    """One line of the listing."""

    path: str
    time: str               # ISO 8601, UTC
    team: str = ""
    reason: str = ""        # run_ended's reason, UNFINISHED, or "damaged"
    rounds: int | None = None
    tokens: int | None = None
    cost: float | None = None
    duration_s: float | None = None
    exit_code: int | None = None
    damaged: str | None = None     # why the file could not be read

    def to_dict(self) -> dict:
        return asdict(self)


def default_dirs() -> list[Path]:
    return [Path.cwd() / ".agentteam" / "runs"]


def transcripts(dirs: list[Path]) -> list[tuple[float, Path]]:
    """Every ``*.jsonl`` in the directories (a project dir means its .agentteam/runs),
    newest first, by the time in the name or else the modification time."""
    seen, out = set(), []
    for d in dirs:
        if (d / ".agentteam" / "runs").is_dir():
            d = d / ".agentteam" / "runs"
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".jsonl") or not entry.is_file():
                continue
            p = Path(entry.path).resolve()
            if p in seen:
                continue
            seen.add(p)
            out.append((_when(p, entry.stat().st_mtime), p))
    out.sort(key=lambda t: (t[0], t[1].name), reverse=True)
    return out


def _when(path: Path, mtime: float) -> float:
    stamp = started_at(path)
    return stamp.timestamp() if stamp else mtime


def list_runs(dirs: list[Path], limit: int = 20, team: str | None = None) -> list[RunInfo]:
    """The newest ``limit`` runs (0: all), of one team when ``team`` is given."""
    out = []
    for when, path in transcripts(dirs):
        info = summarize(path, when)
        if team and info.team != team:
            continue
        out.append(info)
        if limit and len(out) >= limit:
            break
    return out


def summarize(path: Path, when: float | None = None) -> RunInfo:
    """What the first and last lines of a transcript say; never raises."""
    if when is None:
        try:
            when = _when(path, path.stat().st_mtime)
        except OSError:
            when = 0.0
    info = RunInfo(str(path), datetime.fromtimestamp(when, timezone.utc).isoformat(
        timespec="seconds"))
    try:
        with open(path, "rb") as f:
            head = _first_line(f)
            tail = _last_line(f)
            size = f.seek(0, os.SEEK_END)
    except OSError as e:
        return _damaged(info, f"cannot read ({e.strerror})")
    start = _json(head)
    if not isinstance(start, dict) or start.get("type") != "run_started":
        return _damaged(info, "empty file" if not head.strip() else
                        "the first line is not a run_started event")
    info.team = str(start.get("team", ""))
    end = _json(tail) if tail else None
    if not isinstance(end, dict) or end.get("type") != "run_ended":
        info.reason = UNFINISHED
        info.duration_s = _since_start(path, when)
        return info
    _fill_end(info, end)
    if info.duration_s is None and size:
        info.duration_s = _since_start(path, when)
    return info


def _fill_end(info: RunInfo, end: dict) -> None:
    usage = _dict(end.get("usage"))
    total = _dict(usage.get("total"))
    info.reason = str(end.get("reason", ""))
    info.rounds = _num(end.get("rounds"), int)
    info.exit_code = _num(end.get("exit_code"), int)
    if total:
        info.tokens = (_num(total.get("prompt_tokens"), int) or 0) + \
            (_num(total.get("completion_tokens"), int) or 0)
        info.cost = _num(total.get("cost"), float)
    info.duration_s = _num(usage.get("wall_s"), float)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _num(value, kind):
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _since_start(path: Path, when: float) -> float | None:
    """Seconds from the start in the file name to the last write (no wall_s recorded)."""
    if started_at(path) is None:
        return None
    try:
        return max(0.0, round(path.stat().st_mtime - when, 1))
    except OSError:
        return None


def _damaged(info: RunInfo, why: str) -> RunInfo:
    info.reason, info.damaged = "damaged", why
    return info


def _json(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _first_line(f) -> bytes:
    return f.readline(HEAD_LIMIT).strip()


def _last_line(f) -> bytes:
    """The last complete non-empty line, read backwards in blocks from the end; a line
    without its newline (torn by a kill) counts, and fails to parse as JSON."""
    end = f.seek(0, os.SEEK_END)
    buf, pos = b"", end
    while pos > 0 and end - pos < TAIL_LIMIT:
        step = min(TAIL_BLOCK, pos)
        pos -= step
        f.seek(pos)
        buf = f.read(step) + buf
        stripped = buf.rstrip()
        cut = stripped.rfind(b"\n")
        if cut >= 0:
            return stripped[cut + 1:].strip()
    return buf.strip() if pos == 0 else b""


def table_rows(runs: list[RunInfo]) -> list[list[str]]:
    """The listing as text cells: time, team, reason, rounds, tokens, cost, duration, path."""
    rows = []
    for r in runs:
        cost = "—" if r.cost is None else f"${r.cost:.4f}"
        rows.append([r.time.replace("T", " ")[:16], r.team or "?",
                     r.reason + (f" ({r.damaged})" if r.damaged else ""),
                     "—" if r.rounds is None else str(r.rounds),
                     "—" if r.tokens is None else str(r.tokens), cost,
                     "—" if r.duration_s is None else f"{r.duration_s:.1f}s", _rel(r.path)])
    return rows


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def print_table(runs: list[RunInfo]) -> None:
    """The listing as a table on stdout (one line per run when piped)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 1000
    table = Table(box=None)
    for col in ("time (UTC)", "team", "reason", "rounds", "tokens", "cost", "duration"):
        table.add_column(col, no_wrap=True, justify="left" if col in ("time (UTC)", "team",
                                                                        "reason") else "right")
    table.add_column("transcript", overflow="fold")
    for r, row in zip(runs, table_rows(runs), strict=True):
        style = "red" if r.damaged else ("yellow" if r.exit_code != 0 else "")
        table.add_row(*[Text(c, style=style if i == 2 else "") for i, c in enumerate(row)])
    console.print(table)
