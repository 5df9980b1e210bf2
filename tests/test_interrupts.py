"""Ctrl-C during code execution and during speaker selection; sandbox abuse from a run.

Each case runs the real command in a subprocess against the fake server and the real
Docker engine, then checks the transcript and that no container is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from agentteam.models.base import SELECTOR

from .conftest import docker_ready, run_process, script

docker = pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")

TEAM = """\
name: intr
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, timeout: 60}}
max_round: 6
speaker_selection: {selection}
code_execution: {{executor: {executor}, timeout: 120}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder. You write code."}}
  - {{name: Critic, system_message: "Critic. You review."}}
"""


def our_containers(pid: int | None = None) -> list:
    """agentteam's containers (those of the run with process ``pid``, when given: other
    runs on a shared Docker engine come and go meanwhile)."""
    from agentteam.executors.docker import client
    label = "agentteam" if pid is None else f"agentteam.pid={pid}"
    # sparse: a container another run removes meanwhile must not break the listing
    return client().containers.list(all=True, sparse=True, filters={"label": label})


def start(team, tmp_path):
    t = tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team), "--json",
                             "--transcript", str(t)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, t


def wait_for(t, text, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if t.exists() and text in t.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text} never appeared in {t}")


def events(t):
    return [json.loads(x) for x in t.read_text().splitlines()]


@docker
def test_ctrl_c_during_code_execution_removes_the_container(server, team_file, tmp_path):
    script(server, {"Coder": ["```python\nimport time\nprint('working', flush=True)\n"
                              "time.sleep(100)\n```"]})
    team = team_file(TEAM, selection="round_robin", executor="docker")
    proc, t = start(team, tmp_path)
    wait_for(t, '"agent": "Coder"')
    time.sleep(3)            # the proxy is now running the block in the container
    assert our_containers(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert events(t)[-1]["reason"] == "interrupted"
    assert our_containers(proc.pid) == []
    # and the run can be resumed: the unrun code is still pending
    script(server, {"Coder": ["done TERMINATE"]})
    r = run_process("run", "--resume", t, "--json", "--executor", "none", cwd=tmp_path)
    assert r.returncode in (0, 3), r.stderr


def test_ctrl_c_during_speaker_selection(server, team_file, tmp_path):
    script(server, {SELECTOR: ["Coder"], "Coder": ["hi"]})
    server.fail("slow", retry_after=30)          # the selector call stalls
    team = team_file(TEAM, selection="auto", executor="none")
    proc, t = start(team, tmp_path)
    wait_for(t, '"run_started"')
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not server.completions():
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    ev = events(t)
    assert ev[-1]["type"] == "run_ended" and ev[-1]["reason"] == "interrupted"
    assert [e["type"] for e in ev].count("message") == 1          # the task, nothing lost


@docker
def test_kill_9_leaves_a_container_that_the_next_run_removes(server, team_file, tmp_path):
    before = {c.id for c in our_containers()}
    script(server, {"Coder": ["```sh\nsleep 100\n```"]})
    team = team_file(TEAM, selection="round_robin", executor="docker")
    proc, t = start(team, tmp_path)
    wait_for(t, '"agent": "Coder"')
    time.sleep(2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    leftover = {c.id for c in our_containers()} - before
    assert leftover                                   # a kill -9 cannot clean up...
    r = run_process("sandbox", "check", "--json")     # ...but the next start does
    assert "stale agentteam container" in r.stdout
    assert not ({c.id for c in our_containers()} & leftover)


@docker
def test_sandbox_abuse_from_inside_a_run(server, team_file, tmp_path):
    abuse = """```sh
kill -9 1 2>/dev/null; kill -9 -1 2>/dev/null
echo pwned > /etc/pwned 2>/dev/null || echo "root is read-only"
mkdir -p /workspace/x && ln -sf /etc/passwd /workspace/escape && echo linked
yes | head -c 3000000000
```"""
    script(server, {"Coder": [abuse, "TERMINATE"]})
    team = team_file(TEAM, selection="round_robin", executor="docker")
    r = run_process("run", team, "--json", cwd=tmp_path, timeout=300)
    ev = [json.loads(x) for x in r.stdout.splitlines()]
    code = [e for e in ev if e["type"] == "code_result"]
    assert code, r.stderr
    out = code[0]["output"]
    # stdout and stderr interleave in any order; kill -1 did not stop the block
    assert all(x in out for x in ("Read-only file system", "root is read-only\n", "linked\n",
                                  "y\ny\ny\n")), out[:600] + " … " + out[-600:]
    assert len(out) <= 20_000 + 200
    reply = [e for e in ev if e["type"] == "message" and e["kind"] == "code_result"][0]
    cut = int(reply["content"].split("[output cut: ")[1].split(" ")[0])
    assert cut > 100_000_000                                  # gigabytes were produced...
    assert ev[-1]["reason"] == "keyword"                      # ...and the run went on
    # the link points at the container's /etc/passwd; agentteam never follows it on the host
    link = tmp_path / "groupchat" / "escape"
    assert link.is_symlink() and os.readlink(link) == "/etc/passwd"
