"""What the terminal shows, rendered into a Rich console of fixed width."""

from __future__ import annotations

import io
import json

from rich.console import Console

from agentteam.conversation.events import (
    CodeRan,
    MessageDelta,
    MessageDone,
    MessageStarted,
    RunEnded,
    RunStarted,
)
from agentteam.ui.console import ConsoleView, JsonPrinter


def view():
    out, err = io.StringIO(), io.StringIO()
    v = ConsoleView(Console(file=out, width=100, color_system=None),
                    Console(file=err, width=100, color_system=None))
    return v, out, err


def stream(v, agent, text, round_no=1):
    v(MessageStarted(round_no, agent))
    for i in range(0, len(text), 3):       # odd-sized deltas, like a real stream
        v(MessageDelta(round_no, agent, text[i:i + 3]))
    v(MessageDone(round_no, agent, text))


def test_streamed_message_with_markup_and_code_is_rendered_as_text():
    v, out, _ = view()
    stream(v, "Coder", "Look [red]here[/red]:\n```python\nx = [1]  # [/x]\n```\ndone")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(" Coder round 1 ") and lines[0].endswith("──")
    assert lines[1:] == ["Look [red]here[/red]:", "```python", "x = [1]  # [/x]", "```",
                         "done"]


def test_code_result_and_end_summary():
    v, out, err = view()
    v(RunStarted("t", "task", ["A"], "/tmp/t.jsonl"))
    v(CodeRan(2, "User_proxy", "python", 1, "Traceback [bold]", 0.25))
    v(RunEnded("max_round", 2, {"agents": {"A": {"calls": 1, "prompt_tokens": 5,
                                                  "completion_tokens": 2, "cost": None,
                                                  "seconds": 0.5}},
                                 "total": {"calls": 1, "prompt_tokens": 5,
                                           "completion_tokens": 2, "cost": None,
                                           "seconds": 0.5}},
               "/tmp/t.jsonl", None, 3))
    text = out.getvalue()
    assert "exit 1 · python · 0.25s" in text and "Traceback [bold]" in text
    assert "ended by max_round without the termination keyword · 2 rounds" in text
    assert "transcript: /tmp/t.jsonl" in text
    row = [line for line in text.splitlines() if line.strip().startswith("total")][0]
    assert row.split() == ["total", "1", "5", "2", "—", "0.5s"]


def test_json_printer_one_object_per_line_without_deltas():
    buf = io.StringIO()
    p = JsonPrinter(buf)
    p(MessageStarted(1, "A"))
    p(MessageDelta(1, "A", "x"))
    p(MessageDone(1, "A", "x"))
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert list(obj)[0] == "type" and obj["type"] == "message" and obj["content"] == "x"


def test_a_retried_call_leaves_no_empty_header():
    v, out, _ = view()
    v(MessageStarted(1, "Coder"))          # failed before its first token; retried
    v(MessageStarted(1, "Coder"))
    stream(v, "Coder", "hello")
    assert out.getvalue().count("Coder round 1") == 1
