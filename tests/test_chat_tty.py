"""`agentteam chat` driven through a real pseudo-terminal, as a person would."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time

import pytest

from .conftest import script

TEAM = """\
name: chatty
task: unused in chat
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL}}
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: Me, kind: user_proxy}}
  - {{name: Helper, system_message: "Helper. You help.", description: Answers questions}}
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal:
    def __init__(self, args, cwd, env):
        self.master, slave = pty.openpty()
        def controlling_tty():   # like a terminal emulator: Ctrl-C becomes SIGINT
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=env, close_fds=True, preexec_fn=controlling_tty)
        os.close(slave)
        self.seen = ""

    def read_until(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, ANSI.sub("", self.seen), re.DOTALL):
                return ANSI.sub("", self.seen)
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
        raise AssertionError(f"never saw {pattern!r}; screen:\n{ANSI.sub('', self.seen)[-2000:]}")

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def mark(self) -> None:
        self.seen = ""


@pytest.fixture
def terminal(tmp_path, server):
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "COLUMNS": "100",
           "LINES": "40", "XDG_DATA_HOME": str(tmp_path / "data")}
    team = tmp_path / "chat.yaml"
    team.write_text(TEAM.format(url=server.url))
    t = Terminal([sys.executable, "-m", "agentteam.cli", "chat", str(team), "--transcript",
                  str(tmp_path / "chat.jsonl")], tmp_path, env)
    yield t
    if t.proc.poll() is None:
        t.proc.kill()


def test_chat_session_in_a_terminal(terminal, server, tmp_path):
    script(server, {"Helper": ["Hello, human!", "alpha beta gamma delta epsilon zeta eta "
                                                "theta iota kappa lambda mu", "Fine."]})
    t = terminal
    t.read_until(r"you>")
    t.send("hi there\r")
    t.read_until(r"Hello, human!.*you>")
    # multi-line input with a trailing backslash
    t.mark()
    t.send("/agents\r")
    t.read_until(r"Helper \(model default\): Answers questions")
    t.send("/usage\r")
    t.read_until(r"total")
    # Ctrl-C stops the reply, not the session
    server.chunk_delay = 0.25
    t.mark()
    t.send("tell me more\r")
    t.read_until(r"beta")
    t.send("\x03")
    t.read_until(r"reply stopped.*you>")
    server.chunk_delay = 0
    t.mark()
    t.send("line one\\\r")
    t.send("line two\r")
    t.read_until(r"Fine\.")
    t.send(f"/save {tmp_path / 'chat.md'}\r")
    t.read_until(r"saved to")
    t.send("/exit\r")
    assert t.proc.wait(timeout=30) == 0
    saved = (tmp_path / "chat.md").read_text()
    assert "hi there" in saved and "line one\nline two" in saved
    events = [json.loads(x) for x in (tmp_path / "chat.jsonl").read_text().splitlines()]
    msgs = [(e["agent"], e["content"], e.get("incomplete")) for e in events
            if e["type"] == "message"]
    assert msgs[0] == ("Me", "hi there", False)
    assert any(agent == "Helper" and inc for agent, _, inc in msgs)      # the stopped reply
    assert ("Me", "line one\nline two", False) in msgs
    # the request after the interrupt carried the person's multi-line message
    last = server.completions()[-1].body["messages"]
    assert last[-1]["content"].endswith("Me: line one\nline two")


def test_chat_history_is_kept_across_sessions(terminal, server, tmp_path):
    t = terminal
    t.read_until(r"you>")
    t.send("remember me\r")
    t.read_until(r"OK.*you>")
    t.send("/exit\r")
    t.proc.wait(timeout=30)
    history = (tmp_path / "data" / "agentteam" / "chat_history").read_text()
    assert "remember me" in history


def test_chat_without_terminal_is_refused(cli):
    r = cli("chat")
    assert r.exit_code == 2 and "needs a terminal" in r.stderr


RUN_TEAM = """\
name: needs-docker
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL}}
max_round: 2
speaker_selection: round_robin
code_execution: {{executor: docker}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder. You write code."}}
"""


def test_docker_unreachable_without_a_terminal_stops_before_any_call(server, tmp_path):
    from .conftest import run_process
    team = tmp_path / "t.yaml"
    team.write_text(RUN_TEAM.format(url=server.url))
    r = run_process("run", team, cwd=tmp_path, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert r.returncode == 2
    assert "Docker is not reachable" in r.stderr and "--executor local|none" in r.stderr
    assert "Traceback" not in r.stderr
    assert server.requests == []


def test_docker_unreachable_on_a_terminal_asks_the_person(server, tmp_path):
    script(server, {"Coder": ["```python\nprint('ran')\n```"]})
    team = tmp_path / "t.yaml"
    team.write_text(RUN_TEAM.format(url=server.url))
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm",
           "DOCKER_HOST": "unix:///nonexistent.sock"}
    t = Terminal([sys.executable, "-m", "agentteam.cli", "run", str(team)], tmp_path, env)
    try:
        t.read_until(r"\[l\]ocally.*\[s\]kip.*\[q\]uit")
        t.send("maybe\r")
        t.read_until(r"not an option")
        t.send("s\r")
        t.read_until(r"ended by max_round")
        assert t.proc.wait(timeout=30) == 3
        assert len(server.completions()) == 1        # the run went on, without code
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
