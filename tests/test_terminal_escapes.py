"""Escape sequences in replies, code output, errors and server answers never reach the
terminal raw: every display path shows control characters, it does not obey them."""

from __future__ import annotations

import io
import json
import os
import re
import sys

from rich.console import Console

from agentteam.conversation.events import (
    CodeRan,
    MessageDelta,
    MessageDone,
    MessageStarted,
    Notice,
    Retry,
    RunEnded,
    RunStarted,
    SpeakerSelected,
)
from agentteam.ui.console import ConsoleHuman, ConsoleView, JsonPrinter

from .conftest import run_process, script
from .test_chat_tty import Terminal

# a window title, clear screen, alternate screen, cursor up, a forged green end line
# with a carriage return over it, backspaces, and an 8-bit CSI
HOSTILE = ("\x1b]0;PWNED\x07\x1b[2J\x1b[?1049h\x1b[5A\x1b[32mended by the termination "
           "keyword\x1b[0m\rX\b\b\x9b31m")
SHOWN = "␛]0;PWNED␇␛[2J␛[?1049h␛[5A␛[32mended by the termination keyword␛[0m␍X␈␈\\x9b31m"
SGR = re.compile(r"\x1b\[[0-9;]*m")     # Rich's own colours: the only escapes allowed


def acts(raw: str) -> list[str]:
    """Control characters in terminal output that a terminal would act on."""
    rest = SGR.sub("", raw)
    return [c for c in rest if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]


def test_console_view_writes_no_control_character_but_its_own_colours():
    out, err = io.StringIO(), io.StringIO()
    v = ConsoleView(Console(file=out, width=300, force_terminal=True, color_system="truecolor"),
                    Console(file=err, width=300, force_terminal=True, color_system="truecolor"))
    v(RunStarted("t" + HOSTILE, "task", ["A"], "/tmp/t.jsonl"))
    v(MessageStarted(1, "A"))
    for i in range(0, len(HOSTILE), 4):     # escapes split across deltas
        v(MessageDelta(1, "A", HOSTILE[i:i + 4]))
    v(MessageDone(1, "A", HOSTILE))
    v(MessageDone(0, "A", f"task {HOSTILE}\n```python\nprint('{HOSTILE}')\n```"))
    v(SpeakerSelected(2, "A", "auto", HOSTILE))
    v(CodeRan(2, "A", "python", 0, HOSTILE + "\r\nnext line", 0.1))
    v(Retry("m", HOSTILE, 0.0, 1))
    v(Notice(HOSTILE, "warning"))
    v(RunEnded("error", 2, {}, "", HOSTILE, 1))
    for raw in (out.getvalue(), err.getvalue()):
        assert acts(raw) == [], repr(raw)
    text = SGR.sub("", out.getvalue() + err.getvalue())
    assert text.count(SHOWN) >= 7 and "next line" in text
    ask = io.StringIO()
    ConsoleHuman(Console(file=ask, force_terminal=True)).console.print()   # constructs
    human = ConsoleHuman(Console(file=ask, force_terminal=True, color_system="truecolor"))
    sys_stdin, sys.stdin = sys.stdin, io.StringIO("")
    try:
        human.ask(HOSTILE)
    finally:
        sys.stdin = sys_stdin
    assert acts(ask.getvalue()) == [] and SHOWN in SGR.sub("", ask.getvalue())


def test_json_output_escapes_every_control_character():
    out = io.StringIO()
    JsonPrinter(out)(MessageDone(1, "A", HOSTILE + "\x85\u2028"))
    line = out.getvalue()
    assert acts(line.rstrip("\n")) == [] and line.count("\n") == 1
    assert "\u2028" not in line and len(line.splitlines()) == 1
    assert json.loads(line)["content"] == HOSTILE + "\x85\u2028"     # the text, unchanged


TEAM = """\
name: escapes
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, num_retries: 0}}
max_round: 3
speaker_selection: round_robin
code_execution: {{executor: local}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder}}
"""
CODE = "```python\nprint('\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[?1049h\\x9b31m')\n```"


def test_run_shows_hostile_reply_and_code_output_without_obeying_them(server, team_file,
                                                                      tmp_path):
    script(server, {"Coder": [HOSTILE + "\n" + CODE, HOSTILE]})
    team = team_file(TEAM)
    r = run_process("run", team, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert acts(r.stdout) == [] and acts(r.stderr) == []
    assert SHOWN in r.stdout and "␛]0;PWNED␇␛[2J␛[?1049h\\x9b31m" in r.stdout
    script(server, {"Coder": [HOSTILE + "\n" + CODE, HOSTILE]})
    r = run_process("run", team, "--json", cwd=tmp_path)
    assert acts(r.stdout) == [] and acts(r.stderr) == []
    events = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(e["type"] == "message" and e["content"].startswith(HOSTILE) for e in events)
    assert any(e["type"] == "code_result" and "\x1b]0;PWNED" in e["output"] for e in events)


def test_errors_from_team_files_and_servers_are_shown_not_obeyed(server, team_file, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('name: x\ntask: t\n"\\e]0;PWNED\\a\\e[2J": 1\nagents: [{name: A}]\n')
    for args in (("validate", bad), ("run", bad), ("run", bad, "--json")):
        r = run_process(*args, cwd=tmp_path)
        assert r.returncode == 2 and "␛]0;PWNED␇␛[2J" in r.stderr, r.stderr
        assert acts(r.stdout) == [] and acts(r.stderr) == []
    server.models = ["\x1b]0;PWNED\x07evil", "other"]          # a hostile /models list
    team = team_file(TEAM)
    r = run_process("models", team, "--no-call", cwd=tmp_path, env={"COLUMNS": "300"})
    assert r.returncode == 1 and "␛]0;PWNED␇evil" in r.stdout, r.stdout
    assert acts(r.stdout) == [] and acts(r.stderr) == []
    r = run_process("models", team, "--no-call", "--json", cwd=tmp_path)
    assert acts(r.stdout) == [] and "\\u001b]0;PWNED" in r.stdout


def test_chat_shows_escapes_in_replies_and_its_own_messages(server, tmp_path):
    script(server, {"Helper": [HOSTILE]})
    team = tmp_path / "chat.yaml"
    team.write_text(f'name: chatty\ntask: t\nmodels:\n  default: {{model: openai/fake-model, '
                    f'api_base: "{server.url}", api_key: NULL}}\nspeaker_selection: '
                    'round_robin\ncode_execution: {executor: none}\nagents:\n  - {name: Me, '
                    'kind: user_proxy}\n  - {name: Helper, description: "\\e]0;DESC\\a"}\n')
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "COLUMNS": "200",
           "LINES": "40", "XDG_DATA_HOME": str(tmp_path / "data")}
    t = Terminal([sys.executable, "-m", "agentteam.cli", "chat", str(team)], tmp_path, env)
    try:
        t.read_until(r"you>")
        t.send("hi\r")
        t.read_until(r"termination keyword.*you>")
        t.send("/agents\r")
        t.read_until(r"Answers|␛\]0;DESC␇")
        t.send("/exit\r")
        assert t.proc.wait(timeout=30) == 0
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
    assert "\x1b]0;PWNED" not in t.seen and "\x1b[?1049h" not in t.seen
    assert "\x1b]0;DESC" not in t.seen
    assert "␛]0;PWNED␇" in t.seen and "␛]0;DESC␇" in t.seen


def test_chat_slash_command_echo_is_shown_not_obeyed(tmp_path, monkeypatch):
    from agentteam.ui.interactive import PromptHuman
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    out = io.StringIO()
    human = PromptHuman(Console(file=out, force_terminal=True, color_system="truecolor"))
    human._command("/\x1b]0;PWNED\x07")
    human._command("/save /nonexistent/\x1b[2J/x.md")
    assert acts(out.getvalue()) == [], repr(out.getvalue())
    assert "␛]0;PWNED␇" in out.getvalue()
