"""A run as Markdown: agents as headings, code and outputs fenced, images linked.

Model text is Markdown already and is kept as written; everything agentteam adds
around it (code output, tool arguments, notices) is fenced with a fence longer
than any run of backticks inside, so no output can close its own fence. Nested
teams (events with a ``scope``) are block-quoted one level per team.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .report import (
    RunReport,
    inner_chat,
    parts,
    pretty_arguments,
    scope_of,
    segments,
    visible,
)

_TICKS = re.compile(r"`{3,}")


def render(report: RunReport, out_dir: Path | None = None) -> str:
    """The whole report; image links are relative to ``out_dir`` (default: cwd)."""
    base = (out_dir or Path.cwd()).resolve()
    lines = [f"# {report.team}", "", *_summary(report), ""]
    for ev in visible(report):
        block = _event(report, ev, base)
        if not block:
            continue
        depth = len(scope_of(ev))
        if depth:
            block = "\n".join(("> " * depth + line).rstrip() for line in block.split("\n"))
        lines += [block, ""]
    lines += _usage(report)
    return "\n".join(lines).rstrip() + "\n"


def _summary(report: RunReport) -> list[str]:
    when = report.started.strftime("%Y-%m-%d %H:%M:%S UTC") if report.started else "unknown"
    end = report.ended or {}
    out = [f"- **task:** {_one_line(report.task)}",
           f"- **agents:** {', '.join(report.agents)}",
           f"- **started:** {when}",
           f"- **ended:** {report.status}" + (f" · {end.get('rounds')} rounds" if end else ""),
           f"- **transcript:** `{report.path}`"]
    if end.get("error"):
        out.append(f"- **error:** {_one_line(str(end['error']))}")
    if report.ended is None:
        out += ["", "> **This run did not finish**: the transcript has no `run_ended` line."]
    return out


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


def fence(body: str, info: str = "") -> str:
    """A fenced block that its own content cannot close."""
    longest = max((len(m.group(0)) for m in _TICKS.finditer(body)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{body.rstrip()}\n{ticks}"


def _event(report: RunReport, ev: dict, base: Path) -> str:
    kind = ev.get("type")
    if kind == "message":
        return _message(report, ev, base)
    if kind == "speaker_selected":
        return f"*→ next: {ev.get('agent')} ({ev.get('method')}: {_one_line(ev.get('reason', ''))})*"
    if kind == "code_result":
        status = f"exit {ev.get('exit_code')} · {ev.get('language')} · " \
                 f"{float(ev.get('duration_s') or 0):.2f}s"
        if ev.get("timed_out"):
            status += " · killed at the time limit"
        return f"#### {ev.get('agent')} · round {ev.get('round')} · code result\n\n{status}\n\n" \
               + fence(str(ev.get("output") or "(no output)"), "text")
    line = inner_chat(ev)
    if line is not None:
        mark, member, what = line
        return f"**{mark} {member}** · {_one_line(what)}"
    if kind == "retry":
        return f"*⟳ {ev.get('model')}: {_one_line(ev.get('error', ''))} (attempt {ev.get('attempt')})*"
    if kind == "notice":
        return f"*{_one_line(ev.get('text', ''))}*"
    if kind == "run_started" and ev.get("resumed_at") is not None:
        return f"---\n\n*resumed after round {ev['resumed_at']}*"
    if kind == "run_ended" and ev is not report.ended:
        return f"*the run stopped here ({ev.get('reason')}); it was resumed later*"
    if kind in ("run_started", "run_ended", "message_delta", "message_start"):
        return ""
    return _generic(ev)


def _message(report: RunReport, ev: dict, base: Path) -> str:
    scope = scope_of(ev)
    where = f" · {' › '.join(scope)}" if scope else ""
    note = " · task" if ev.get("round") == 0 else ""
    out = [f"### {ev.get('agent')} · round {ev.get('round')}{note}{where}", ""]
    for p in parts(ev.get("content")):
        out += [_part(report, p, base), ""]
    if ev.get("incomplete"):
        out.append("*[reply broke off here; kept as incomplete]*")
    return "\n".join(out).rstrip()


def _part(report: RunReport, p: dict, base: Path) -> str:
    kind = p.get("type")
    if kind == "text":
        return "\n\n".join(text if lang is None else fence(text, lang)
                           for lang, text in segments(str(p.get("text", ""))))
    if kind == "image":
        return _image(report, p, base)
    if kind == "tool_call":
        return f"**tool call** `{p.get('name')}` (id `{p.get('id')}`)\n\n" + \
            fence(pretty_arguments(p.get("arguments", "")), "json")
    if kind == "tool_result":
        label = "tool error" if p.get("is_error") else "tool result"
        return f"**{label}** `{p.get('name')}` (id `{p.get('id')}`)\n\n" + \
            fence(str(p.get("output", "")), "text")
    return _generic(p)


def _image(report: RunReport, p: dict, base: Path) -> str:
    size = f" ({p['width']}x{p['height']})" if p.get("width") and p.get("height") else ""
    if p.get("url"):
        return f"![image{size}]({p['url']})" if not str(p["url"]).startswith("data:") \
            else f"*[inline image{size}]*"
    name = str(p.get("path", ""))
    if report.work_dir is None:
        return f"*[image: {name}{size}; the run's work dir is unknown]*"
    where = report.work_dir / name
    link = Path(os.path.relpath(where, base)).as_posix()
    missing = "" if where.is_file() else " (missing)"
    return f"![{name}{size}{missing}](<{link}>)"


def _generic(ev: dict) -> str:
    """An event or part this version does not know: its type and fields."""
    fields = {k: v for k, v in ev.items() if k not in ("type", "scope")}
    return f"**{ev.get('type', 'event')}**\n\n" + fence(
        json.dumps(fields, indent=2, ensure_ascii=False, default=str), "json")


def _usage(report: RunReport) -> list[str]:
    if not report.per_agent:
        return []
    out = ["## Usage", "", "| agent | tokens | cost $ | seconds |", "|---|---:|---:|---:|"]
    for name, s in report.per_agent.items():
        cost = f"{s.cost:.4f}" if s.priced else "—"
        out.append(f"| {name} | {s.tokens} | {cost} | {s.seconds:.1f} |")
    return out
