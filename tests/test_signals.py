"""SIGTERM and SIGHUP end a run the way Ctrl-C does: real signals to the real command,
during a streamed reply and during code execution in the Docker sandbox."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from .conftest import docker_ready, script

docker = pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")

TEAM = """\
name: sig
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, timeout: 60}}
max_round: 6
speaker_selection: round_robin
code_execution: {{executor: {executor}, timeout: 120}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder. You write code."}}
"""


def start(team, tmp_path):
    t = tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team), "--json",
                             "--transcript", str(t)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, t


def wait_for(t, text, count=1, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if t.exists() and t.read_text().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{text} never appeared in {t}")


def ended(t) -> dict:
    return [json.loads(x) for x in t.read_text().splitlines()][-1]


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_stop_signal_during_a_streamed_reply(server, team_file, tmp_path, sig, code):
    script(server, {"Coder": ["alpha beta gamma delta epsilon zeta eta theta iota kappa"]})
    server.chunk_delay = 0.3
    proc, t = start(team_file(TEAM, executor="none"), tmp_path)
    wait_for(t, "message_delta", 3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    last = ended(t)
    name = signal.Signals(sig).name
    assert (last["type"], last["reason"], last["exit_code"]) == ("run_ended", "interrupted", code)
    assert last["error"] == f"stopped by {name}"
    assert json.loads(out.splitlines()[-1])["error"] == f"stopped by {name}"
    kept = [e for e in map(json.loads, t.read_text().splitlines())
            if e["type"] == "message" and e.get("incomplete")]
    assert kept and kept[0]["content"].startswith("alpha")       # what was shown is kept


@docker
def test_sigterm_during_code_execution_removes_the_container_and_runner_file(server, team_file,
                                                                            tmp_path):
    from agentteam.executors.docker import client

    def ours():   # this run's container (other runs may share the engine)
        return {c.id for c in client().containers.list(
            all=True, sparse=True, filters={"label": f"agentteam.pid={proc.pid}"})}
    script(server, {"Coder": ["```python\nimport time\nprint('working', flush=True)\n"
                              "time.sleep(100)\n```"]})
    proc, t = start(team_file(TEAM, executor="docker"), tmp_path)
    wait_for(t, '"agent": "Coder"')
    work = tmp_path / "groupchat"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(work.glob(".agentteam_*")):
        time.sleep(0.05)
    assert list(work.glob(".agentteam_*")) and ours()   # the block is running
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err
    last = ended(t)
    assert (last["reason"], last["error"], last["exit_code"]) == \
        ("interrupted", "stopped by SIGTERM", 143)
    assert ours() == set()
    assert not list(work.glob(".agentteam_*"))


@pytest.mark.parametrize("where", ["at the prompt", "during a reply"])
def test_sigterm_ends_a_chat_too(server, tmp_path, where):
    """In chat, Ctrl-C only stops a reply; SIGTERM ends the session in order."""
    import os

    from .test_chat_tty import TEAM as CHAT_TEAM
    from .test_chat_tty import Terminal
    team = tmp_path / "chat.yaml"
    team.write_text(CHAT_TEAM.format(url=server.url))
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "COLUMNS": "100",
           "LINES": "40", "XDG_DATA_HOME": str(tmp_path / "data")}
    t = Terminal([sys.executable, "-m", "agentteam.cli", "chat", str(team), "--transcript",
                  str(tmp_path / "chat.jsonl")], tmp_path, env)
    try:
        t.read_until(r"you>")
        if where == "during a reply":
            script(server, {"Helper": ["alpha beta gamma delta epsilon zeta eta theta iota"]})
            server.chunk_delay = 0.3
            t.send("go on\r")
            t.read_until(r"beta")
        t.proc.send_signal(signal.SIGTERM)
        assert t.proc.wait(timeout=30) == 143
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
    last = ended(tmp_path / "chat.jsonl")
    assert (last["reason"], last["error"]) == ("interrupted", "stopped by SIGTERM")
