"""A finished (or unfinished) run read back from its transcript, ready to render.

``load`` turns a transcript into a ``RunReport``: the events in order, how the run
ended (or that it did not), every agent's colour, the usage per agent and per
round, and where its images live. The Markdown and HTML reports both draw from it,
so they agree on what a run was. Events of types this version does not know are
kept as they are; renderers show their fields generically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..conversation.messages import content_from_json
from ..conversation.transcript import read
from ..errors import ConfigError
from .console import PALETTE, REASONS, chat_edge

# The terminal palette, as the colours a page can use (same order, same agent).
HEX = {"cyan": "#0e7490", "magenta": "#a21caf", "green": "#15803d", "yellow": "#a16207",
       "blue": "#1d4ed8", "bright_red": "#dc2626", "bright_cyan": "#0891b2",
       "bright_magenta": "#c026d3", "bright_green": "#16a34a", "bright_yellow": "#ca8a04"}

SELECTOR = "(selector)"
_STAMP = re.compile(r"^(\d{8}T\d{6})(\d*)Z-")
_OPEN = re.compile(r"[ \t]*```[ \t]*([A-Za-z0-9_+.#-]*)[ \t]*$")
_CLOSE = re.compile(r"[ \t]*```[ \t]*$")


@dataclass
class Stat:
    """Tokens, cost and seconds of one agent or one round."""

    tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    priced: bool = False      # some cost was reported (else cost is unknown, not 0)

    def add(self, usage: dict | None, seconds: float = 0.0) -> None:
        u = usage or {}
        self.tokens += int(u.get("prompt_tokens") or 0) + int(u.get("completion_tokens") or 0)
        if u.get("cost") is not None:
            self.cost += float(u["cost"])
            self.priced = True
        self.seconds += float(u.get("seconds") or 0) + seconds


@dataclass
class RunReport:
    """What a transcript tells about a run, for the reports."""

    path: Path
    team: str
    task: str
    agents: list[str]
    team_file: str
    events: list[dict]
    ended: dict | None               # the last run_ended, when nothing came after it
    started: datetime | None = None
    work_dir: Path | None = None
    colors: dict[str, str] = field(default_factory=dict)
    per_agent: dict[str, Stat] = field(default_factory=dict)
    per_round: dict[int, Stat] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """How the run ended, in words; unfinished runs say so."""
        if self.ended is None:
            return "unfinished: interrupted, killed, or still running (no run_ended line)"
        return REASONS.get(self.ended.get("reason", ""), str(self.ended.get("reason")))

    @property
    def incomplete(self) -> bool:
        return self.ended is None or any(e.get("type") == "message" and e.get("incomplete")
                                         for e in self.events)

    def color(self, agent: str) -> str:
        if agent not in self.colors:
            self.colors[agent] = HEX[PALETTE[len(self.colors) % len(PALETTE)]]
        return self.colors[agent]


def load(path: str | Path, work_dir: str | Path | None = None) -> RunReport:
    """Read a transcript into a ``RunReport``; ConfigError when it is not one."""
    rec = read(path, lenient=True)   # a newer version's events render generically
    first = next(e for e in rec.events if e.get("type") == "run_started")
    last_end = max((i for i, e in enumerate(rec.events) if e.get("type") == "run_ended"),
                   default=-1)
    last_start = max(i for i, e in enumerate(rec.events) if e.get("type") == "run_started")
    report = RunReport(rec.path, rec.team, rec.task, _names(first.get("agents")), rec.team_file,
                       rec.events, rec.events[last_end] if last_end > last_start else None,
                       started_at(rec.path))
    report.work_dir = Path(work_dir).resolve() if work_dir else find_work_dir(rec.team_file)
    for a in report.agents:
        report.color(a)
    _tally(report)
    return report


def _names(value) -> list[str]:
    return [str(a) for a in value] if isinstance(value, list) else []


def started_at(path: Path) -> datetime | None:
    """When a run started, from its default file name (`<UTC stamp>-<team>.jsonl`)."""
    m = _STAMP.match(path.name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def find_work_dir(team_file: str) -> Path | None:
    """The run's work dir, from the team file when it still exists (images live there)."""
    if not team_file or not Path(team_file).is_file():
        return None
    import yaml
    try:
        data = yaml.safe_load(Path(team_file).read_text(encoding="utf-8"))
        spec = (data or {}).get("code_execution") or {}
        where = spec.get("work_dir", "groupchat") if isinstance(spec, dict) else "groupchat"
        return (Path(team_file).parent / str(where)).resolve()
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return None


def _tally(report: RunReport) -> None:
    """Usage per agent and per round, from the messages' own usage and the code timings;
    the speaker selector's calls belong to no round and show as their own agent."""
    for ev in report.events:
        kind = ev.get("type")
        if kind == "message" and isinstance(ev.get("usage"), dict) and ev["usage"]:
            report.per_agent.setdefault(str(ev.get("agent")), Stat()).add(ev["usage"])
            report.per_round.setdefault(_int(ev.get("round")), Stat()).add(ev["usage"])
        elif kind == "code_result":
            secs = float(ev.get("duration_s") or 0)
            report.per_agent.setdefault(str(ev.get("agent")), Stat()).add(None, secs)
            report.per_round.setdefault(_int(ev.get("round")), Stat()).add(None, secs)
        elif kind == "run_ended":
            sel = ((ev.get("usage") or {}).get("agents") or {}).get(SELECTOR)
            if isinstance(sel, dict):
                report.per_agent.setdefault(SELECTOR, Stat()).add(sel)


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parts(content) -> list[dict]:
    """A message's content as a list of part dicts; text for a string, and anything
    that is not valid content shown as text rather than refused."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    try:
        content_from_json(content)
    except (ValueError, AttributeError, TypeError):
        return [{"type": "text", "text": str(content)}]
    return [dict(p) for p in content]


def pretty_arguments(arguments) -> str:
    """A tool call's arguments as indented JSON (as written when they are not JSON)."""
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(arguments)


def segments(text: str) -> list[tuple[str | None, str]]:
    """Prose and fenced code, in order: ``(None, prose)`` or ``(language, code)``.

    An unclosed fence runs to the end of the text (as a streamed reply cut short).
    """
    out: list[tuple[str | None, str]] = []
    prose: list[str] = []
    code: list[str] | None = None
    lang = ""
    for line in text.split("\n"):
        if code is None:
            m = _OPEN.match(line)
            if m:
                if prose:
                    out.append((None, "\n".join(prose)))
                prose, code, lang = [], [], m.group(1)
            else:
                prose.append(line)
        elif _CLOSE.match(line):
            out.append((lang or "text", "\n".join(code)))
            code = None
        else:
            code.append(line)
    if code is not None:
        out.append((lang or "text", "\n".join(code)))
    elif prose and any(p.strip() for p in prose):
        out.append((None, "\n".join(prose)))
    return out


def scope_of(ev: dict) -> list[str]:
    """The nested teams an event happened in (outermost first); [] for the top team."""
    scope = ev.get("scope")
    return [str(s) for s in scope] if isinstance(scope, list) else []


def inner_chat(ev: dict) -> tuple[str, str, str] | None:
    """The line that opens (``▸``) or closes (``◂``) an inner chat, as the terminal shows
    it (``console.chat_edge``), its error added: (mark, member, what); None for other
    events."""
    line = chat_edge(ev)
    if line is None or not ev.get("error"):
        return line
    mark, member, what = line
    return mark, member, f"{what} · error: {ev['error']}"


def shown_code_rounds(events: list[dict]) -> set[tuple]:
    """Rounds whose code results came as code_result events: their summary message
    (kind code_result) repeats them and is left out of the reports."""
    return {(_int(e.get("round")), str(e.get("agent")), tuple(scope_of(e))) for e in events
            if e.get("type") == "code_result"}


def visible(report: RunReport) -> list[dict]:
    """The events a report shows, in order (summaries of shown code left out, and tool
    events: the messages' tool_call and tool_result parts show the same)."""
    shown = shown_code_rounds(report.events)
    out = []
    for e in report.events:
        if e.get("type") in ("tool_call", "tool_result"):
            continue
        if e.get("type") == "message" and e.get("kind") == "code_result" and \
                (_int(e.get("round")), str(e.get("agent")), tuple(scope_of(e))) in shown:
            continue
        out.append(e)
    return out


def load_or_fail(path: str | Path, work_dir: str | Path | None = None) -> RunReport:
    """``load`` with every failure (including a damaged file) as a ConfigError."""
    try:
        return load(path, work_dir)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as e:
        raise ConfigError(f"{path}: a damaged transcript ({type(e).__name__}: {e})") from None
