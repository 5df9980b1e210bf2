"""A run as one self-contained HTML page: nothing to fetch, nothing to run.

Every piece of model, code and tool text goes through ``html.escape`` (or
Pygments, which escapes) before it reaches the page, and a Content-Security-Policy
allows no script and no source but the page itself and ``data:`` images, so even a
reply written to inject markup stays text. Images from the run's work dir are
inlined as data URLs; one that is gone (or outside the work dir) is a labelled
placeholder. The charts are inline SVG from ``report_svg``.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from html import escape
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from . import report_svg as svg
from .report import (
    SELECTOR,
    RunReport,
    inner_chat,
    parts,
    pretty_arguments,
    scope_of,
    segments,
    visible,
)

MAX_IMAGE_BYTES = 25 * 1024 * 1024
_LEXERS = {"py": "python", "python3": "python", "sh": "bash", "shell": "bash", "zsh": "bash",
           "console": "bash"}
_FORMATTER = HtmlFormatter(cssclass="hl")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1f2328}
main,header,section{max-width:980px;margin:0 auto;padding:0 20px}
header{padding-top:18px}h1{margin:0 0 6px}
.meta{color:#57606a;font-size:14px}.meta b{color:#1f2328}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600}
.ok{background:#dafbe1;color:#116329}.warn{background:#fff8c5;color:#7d4e00}
.bad{background:#ffebe9;color:#a40e26}
.charts{display:flex;flex-wrap:wrap;gap:14px;margin:14px 0}
.chart{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:6px}
.chart.empty{color:#57606a;font-size:13px;padding:10px 14px}
.chart .ttl{font-weight:600;font-size:12px}.chart .lbl,.chart .val{font-size:11px;fill:#57606a}
.chart .axis{stroke:#d0d7de}
.msg{background:#fff;border:1px solid #d0d7de;border-left:5px solid var(--c);border-radius:6px;
 margin:10px 0;padding:8px 14px}
.msg h3{margin:0 0 6px;font-size:15px}.msg h3 .agent{color:var(--c)}
.msg h3 .sub{color:#57606a;font-weight:400;font-size:13px}
.prose{white-space:pre-wrap;word-wrap:break-word;margin:4px 0}
.hl pre,pre.out{background:#f6f8fa;border:1px solid #eaeef2;border-radius:4px;padding:8px;
 overflow-x:auto;font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap}
details{margin:6px 0}summary{cursor:pointer;color:#57606a}
details.fail summary{color:#a40e26}
figure{margin:8px 0}figure img{max-width:100%;border:1px solid #d0d7de}
figcaption,.note{color:#57606a;font-size:13px}
.missing{border:2px dashed #d0d7de;color:#57606a;padding:18px;text-align:center;margin:8px 0}
.sel{color:#57606a;font-size:13px;margin:2px 0 2px 6px}
.notice{color:#7d4e00;font-size:13px;margin:4px 0}
.incomplete{color:#7d4e00;font-weight:600}
.scope{color:#57606a;font-size:12px}
table.usage{border-collapse:collapse;margin:10px 0 30px}
table.usage td,table.usage th{padding:3px 12px;border-bottom:1px solid #d0d7de;text-align:right}
table.usage td:first-child,table.usage th:first-child{text-align:left}
"""


def render(report: RunReport) -> str:
    """The whole page."""
    body = [_header(report), _charts(report), "<main>"]
    for ev in visible(report):
        block = _event(report, ev)
        if block:
            depth = len(scope_of(ev))
            body.append(f'<div class="scoped" style="margin-left:{depth * 28}px">{block}</div>'
                        if depth else block)
    body += [_footer(report), "</main>"]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(report.team)} · agentteam run</title>"
            f"<style>{STYLE}{_FORMATTER.get_style_defs('.hl')}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _header(report: RunReport) -> str:
    end = report.ended or {}
    code = end.get("exit_code")
    cls = "warn" if report.ended is None or code == 3 else ("ok" if code == 0 else "bad")
    when = report.started.strftime("%Y-%m-%d %H:%M:%S UTC") if report.started else "unknown"
    rounds = f" · {end.get('rounds')} rounds" if end else ""
    error = f'<div class="meta bad">error: {escape(str(end["error"]))}</div>' \
        if end.get("error") else ""
    return (f'<header><h1>{escape(report.team)}</h1>'
            f'<div class="meta"><span class="badge {cls}" id="status">{escape(report.status)}'
            f'</span>{rounds} · started {escape(when)}</div>'
            f'<div class="meta"><b>agents:</b> {_agent_names(report)}</div>'
            f'<div class="meta"><b>transcript:</b> {escape(str(report.path))}</div>{error}'
            f'<div class="prose"><b>task:</b> {escape(report.task)}</div></header>')


def _agent_names(report: RunReport) -> str:
    return ", ".join(f'<span style="color:{report.color(a)};font-weight:600">{escape(a)}</span>'
                     for a in report.agents)


def _charts(report: RunReport) -> str:
    agents = [(a, s, report.color(a) if a != SELECTOR else "#8c959f")
              for a, s in report.per_agent.items()]
    speaker = {int(e["round"]): str(e.get("agent")) for e in report.events
               if e.get("type") in ("message", "code_result") and isinstance(e.get("round"), int)}
    rounds = [(r, s, report.color(speaker[r]) if r in speaker else "#8c959f")
              for r, s in sorted(report.per_round.items())]
    measures = (("tokens", svg.fmt_tokens), ("cost", svg.fmt_cost), ("seconds", svg.fmt_seconds))
    by_agent = "".join(svg.horizontal(f"{key} per agent",
                                      [(a, _value(s, key), c) for a, s, c in agents], fmt)
                       for key, fmt in measures)
    by_round = "".join(svg.columns(f"{key} per round",
                                   [(str(r), _value(s, key), c) for r, s, c in rounds], fmt)
                       for key, fmt in measures)
    return (f'<section id="charts"><div class="charts">{by_agent}</div>'
            f'<div class="charts">{by_round}</div></section>')


def _value(stat, key: str) -> float | None:
    """A measure of a Stat; a cost no call reported is unknown, not zero."""
    return None if key == "cost" and not stat.priced else getattr(stat, key)


def _event(report: RunReport, ev: dict) -> str:
    kind = ev.get("type")
    if kind == "message":
        return _message(report, ev)
    if kind == "speaker_selected":
        return (f'<p class="sel">→ <b style="color:{report.color(str(ev.get("agent")))}">'
                f'{escape(str(ev.get("agent")))}</b> ({escape(str(ev.get("method")))}: '
                f'{escape(str(ev.get("reason", "")))})</p>')
    if kind == "code_result":
        return _code_result(report, ev)
    line = inner_chat(ev)
    if line is not None:
        mark, member, what = line
        return (f'<p class="sel">{escape(mark)} <b style="color:{report.color(member)}">'
                f'{escape(member)}</b> · {escape(what)}</p>')
    if kind == "retry":
        return (f'<p class="notice">⟳ {escape(str(ev.get("model")))}: '
                f'{escape(str(ev.get("error")))} (attempt {escape(str(ev.get("attempt")))})</p>')
    if kind == "notice":
        return f'<p class="notice">{escape(str(ev.get("text", "")))}</p>'
    if kind == "run_started" and ev.get("resumed_at") is not None:
        return f'<hr><p class="note">resumed after round {escape(str(ev["resumed_at"]))}</p>'
    if kind == "run_ended" and ev is not report.ended:
        return (f'<p class="notice">the run stopped here ({escape(str(ev.get("reason")))}); '
                'it was resumed later</p>')
    if kind in ("run_started", "run_ended", "message_delta", "message_start"):
        return ""
    return _generic(ev)


def _message(report: RunReport, ev: dict) -> str:
    agent = str(ev.get("agent"))
    scope = scope_of(ev)
    sub = f"round {ev.get('round')}" + (" · task" if ev.get("round") == 0 else "")
    if ev.get("model"):
        sub += f" · {ev['model']}"
    where = f'<div class="scope">in {escape(" › ".join(scope))}</div>' if scope else ""
    body = "".join(_part(report, p) for p in parts(ev.get("content")))
    cut = '<p class="incomplete">[reply broke off here; kept as incomplete]</p>' \
        if ev.get("incomplete") else ""
    return (f'<article class="msg" style="--c:{report.color(agent)}">{where}'
            f'<h3><span class="agent">{escape(agent)}</span> <span class="sub">{escape(sub)}'
            f'</span></h3>{body}{cut}</article>')


def _part(report: RunReport, p: dict) -> str:
    kind = p.get("type")
    if kind == "text":
        return "".join(f'<div class="prose">{escape(text)}</div>' if lang is None
                       else code_html(text, lang) for lang, text in segments(str(p.get("text", ""))))
    if kind == "image":
        return _image(report, p)
    if kind == "tool_call":
        return (f'<details class="tool"><summary>tool call <b>{escape(str(p.get("name")))}</b> '
                f'({escape(str(p.get("id")))})</summary>'
                f'{code_html(pretty_arguments(p.get("arguments", "")), "json")}</details>')
    if kind == "tool_result":
        fail = p.get("is_error")
        return (f'<details class="tool{" fail" if fail else ""}"{" open" if fail else ""}>'
                f'<summary>tool {"error" if fail else "result"} <b>{escape(str(p.get("name")))}'
                f'</b> ({escape(str(p.get("id")))})</summary>'
                f'<pre class="out">{escape(str(p.get("output", "")))}</pre></details>')
    return _generic(p)


def code_html(code: str, language: str) -> str:
    """Highlighted code (Pygments escapes it); unknown languages are plain text."""
    try:
        lexer = get_lexer_by_name(_LEXERS.get(language.lower(), language.lower()))
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(code, lexer, _FORMATTER)


def _code_result(report: RunReport, ev: dict) -> str:
    ok = ev.get("exit_code") == 0
    status = (f"exit {ev.get('exit_code')} · {ev.get('language')} · "
              f"{float(ev.get('duration_s') or 0):.2f}s"
              + (" · killed at the time limit" if ev.get("timed_out") else ""))
    agent = str(ev.get("agent"))
    return (f'<article class="msg result" style="--c:{report.color(agent)}">'
            f'<h3><span class="agent">{escape(agent)}</span> <span class="sub">round '
            f'{escape(str(ev.get("round")))} · code result</span></h3>'
            f'<details class="{"ok" if ok else "fail"}"{"" if ok else " open"}><summary>'
            f'{escape(status)}</summary><pre class="out">'
            f'{escape(str(ev.get("output") or "(no output)"))}</pre></details></article>')


def _image(report: RunReport, p: dict) -> str:
    size = f" {p['width']}x{p['height']}" if p.get("width") and p.get("height") else ""
    url = str(p.get("url") or "")
    if url.startswith("data:image/"):
        return f'<figure><img src="{escape(url)}" alt="image"><figcaption>inline image{size}' \
               '</figcaption></figure>'
    if url:      # the page never fetches: a remote image is named, not loaded
        return _missing(f"remote image (not loaded): {url}{size}")
    name = str(p.get("path", ""))
    data, why = _image_data(report.work_dir, name)
    if data is None:
        return _missing(f"image {name}{size}: {why}")
    return (f'<figure><img src="{data}" alt="{escape(name)}"><figcaption>{escape(name)}{size}'
            '</figcaption></figure>')


def _image_data(work_dir: Path | None, name: str) -> tuple[str | None, str]:
    """A data URL for an image in the work dir, or why there is none."""
    if work_dir is None:
        return None, "the run's work dir is unknown (its team file is gone; pass --work-dir)"
    path = (work_dir / name).resolve()
    if not path.is_relative_to(work_dir):
        return None, "outside the run's work dir; not read"
    mime = mimetypes.guess_type(path.name)[0] or ""
    if not mime.startswith("image/"):
        return None, "not an image file"
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            return None, f"too large to inline ({size // 1048576} MB)"
        raw = path.read_bytes()
    except OSError:
        return None, "missing"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}", ""


def _missing(label: str) -> str:
    return f'<div class="missing">{escape(label)}</div>'


def _generic(ev: dict) -> str:
    """An event or part this version does not know: its type and fields, collapsed."""
    fields = {k: v for k, v in ev.items() if k not in ("type", "scope")}
    return (f'<details class="generic"><summary>{escape(str(ev.get("type", "event")))}</summary>'
            f'<pre class="out">{escape(json.dumps(fields, indent=2, ensure_ascii=False, default=str))}'
            '</pre></details>')


def _footer(report: RunReport) -> str:
    rows = "".join(f'<tr><td style="color:{report.color(a) if a != SELECTOR else "#57606a"}">'
                   f'{escape(a)}</td><td>{s.tokens}</td>'
                   f'<td>{f"{s.cost:.4f}" if s.priced else "—"}</td><td>{s.seconds:.1f}</td></tr>'
                   for a, s in report.per_agent.items())
    end = ("<p class=\"incomplete\" id=\"unfinished\">This run did not finish: the transcript "
           "ends without a run_ended line (interrupted, killed, or still running).</p>"
           if report.ended is None else "")
    table = ('<table class="usage"><tr><th>agent</th><th>tokens</th><th>cost $</th>'
             f'<th>seconds</th></tr>{rows}</table>') if rows else ""
    return f'<footer id="end">{end}<h2>Usage</h2>{table}</footer>'
