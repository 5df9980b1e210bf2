"""Runs condensed for the optimizer model: what a run was asked, said and how it ended,
in a bounded number of characters.

A transcript can be megabytes; the optimizer sees a few thousand characters of it: the
task, then as many of the last messages as fit (each clipped, head and tail), with a
line saying how many were left out, then how the run ended and why it did not pass.
"""

from __future__ import annotations

from pathlib import Path

from ..batch.results import RunResult, why_failed
from ..conversation.messages import content_from_json, describe
from ..conversation.transcript import read
from ..errors import AgentTeamError

MESSAGE_CHARS = 700         # one message, at most
CHECK_CHARS = 400           # a check's output, at most (its end: where errors are)


def clip(text: str, limit: int) -> str:
    """``text`` in at most about ``limit`` characters: its head and its tail."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = max(limit * 2 // 3, 1)
    tail = max(limit - head - 30, 0)
    cut = len(text) - head - tail
    return f"{text[:head]} …[{cut} characters left out]… {text[-tail:] if tail else ''}".rstrip()


def outcome(r: RunResult) -> str:
    """One line: the task, whether it passed, and why not."""
    head = f"task `{r.id}` (run {r.repeat}): "
    if r.passed:
        return head + f"PASSED ({r.reason}, {r.rounds} rounds, {r.tokens} tokens)"
    return head + f"FAILED: {why_failed(r)}"


def condense(r: RunResult, out_dir: Path, budget: int) -> str:
    """A run in at most about ``budget`` characters (``out_dir``: its batch's ``--out``)."""
    lines = [outcome(r)]
    if r.check_output and not r.passed:
        lines.append("check output (end): " + clip(r.check_output[-CHECK_CHARS:], CHECK_CHARS))
    try:
        events = read(out_dir / r.transcript, lenient=True).events if r.transcript else []
    except AgentTeamError as e:
        lines.append(f"(no transcript: {e})")
        events = []
    first = " | ".join(lines)
    body = _messages(events, max(budget - len(first), 200))
    return "\n".join([first, *body])


def _messages(events: list[dict], budget: int) -> list[str]:
    said = []
    ended = ""
    for ev in events:
        kind = ev.get("type")
        if kind == "message":
            said.append(_message(ev))
        elif kind == "run_ended":
            error = f", error: {ev.get('error')}" if ev.get("error") else ""
            ended = f"(run ended: {ev.get('reason')} after {ev.get('rounds')} rounds{error})"
    if not said:
        return [ended] if ended else []
    budget -= len(ended)
    keep = [said[0]]
    used = len(said[0])
    tail: list[str] = []
    for text in reversed(said[1:]):       # the end of a run is where it went wrong
        if used + len(text) > budget:
            break
        tail.insert(0, text)
        used += len(text) + 1
    left_out = len(said) - 1 - len(tail)
    if left_out:
        keep.append(f"…[{left_out} message{'s' if left_out > 1 else ''} left out]…")
    return keep + tail + ([ended] if ended else [])


def _message(ev: dict) -> str:
    try:
        text = describe(content_from_json(ev.get("content", "")))
    except ValueError:
        text = str(ev.get("content"))
    what = " (code result)" if ev.get("kind") == "code_result" else ""
    cut = " (cut off)" if ev.get("incomplete") else ""
    return f"[{ev.get('round')}] {ev.get('agent')}{what}{cut}: {clip(text, MESSAGE_CHARS)}"


MAX_FAILURES = 8
MAX_SUCCESSES = 3


def runs_for_prompt(results: list[RunResult], out_dir: Path, budget: int) -> list[str]:
    """The runs the optimizer reads, in about ``budget`` characters in all: failures
    first (one per task before a second of the same task), then a few successes, which
    show what must keep working. Failures get three quarters of the room."""
    failed = _spread([r for r in results if not r.passed])[:MAX_FAILURES]
    passed = _spread([r for r in results if r.passed])[:MAX_SUCCESSES]
    out = []
    if failed:
        share = budget * (3 if passed else 4) // 4 // len(failed)
        out += [condense(r, out_dir, max(share, 400)) for r in failed]
    if passed:
        share = budget // (4 if failed else 1) // len(passed)
        out += [condense(r, out_dir, max(share, 300)) for r in passed]
    return out


def _spread(results: list[RunResult]) -> list[RunResult]:
    """Runs ordered so that every task comes once before any comes twice."""
    return sorted(results, key=lambda r: (r.repeat, r.id))
