"""The embedded default: the packaged GGUF served by the real llama.cpp server.

The model is tiny and not instruction-tuned: these tests check protocol and flow only.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .conftest import local_model_ready, run_process

pytestmark = [pytest.mark.llama,
              pytest.mark.skipif(not local_model_ready(), reason="local model not installed")]

TEAM = """\
name: local-pair
task: Say hello in one short sentence.
models:
  default: {model: local, max_tokens: 24, timeout: 120}
max_round: 2
speaker_selection: round_robin
code_execution: {executor: none}
agents:
  - {name: Alice, system_message: You are Alice. Answer briefly.}
  - {name: Bob, system_message: You are Bob. Answer briefly.}
"""


def servers_left() -> list[str]:
    """agentteam's llama.cpp servers still running that this test session is answerable
    for: its own descendants, and orphans (a server whose agentteam died without it). A
    server another process on the machine is using (its parent alive) is not ours."""
    out = subprocess.run(["pgrep", "-af", "agentteam.models.llama_serve|llama_cpp.server"],
                         capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line
            and _ours_or_orphan(int(line.split()[0]))]


def _ours_or_orphan(pid: int) -> bool:
    try:
        parent = _ppid(pid)
        if parent == 1:
            return True
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = _ppid(pid)
    except (OSError, ValueError, IndexError):
        return False      # gone meanwhile
    return False


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_two_agents_on_the_local_model(tmp_path):
    team = tmp_path / "local.yaml"
    team.write_text(TEAM)
    t = tmp_path / "local.jsonl"
    r = run_process("run", team, "--json", "--transcript", t, cwd=tmp_path, timeout=600)
    assert r.returncode == 3, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    msgs = [e for e in events if e["type"] == "message" and e["round"] > 0]
    assert [m["agent"] for m in msgs] == ["Alice", "Bob"]
    assert all(m["content"].strip() and m["usage"]["completion_tokens"] > 0 for m in msgs)
    deltas = [json.loads(x) for x in t.read_text().splitlines()
              if '"message_delta"' in x]
    assert len(deltas) > 4                       # it really streamed, token by token
    assert events[-1]["reason"] == "max_round"
    assert servers_left() == []


def test_models_reports_the_local_model_healthy(tmp_path):
    team = tmp_path / "local.yaml"
    team.write_text(TEAM)
    # Health is the time to the first token (not a whole reply, which took ~19 s on a busy
    # 2-core machine); the generous timeout keeps a loaded CI machine from failing it.
    r = run_process("models", team, "--json", "--timeout", "300", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert row["healthy"] and row["completion"] and row["endpoint"].startswith("http://127.0.0.1:")
    assert row["first_token_s"] > 0
    assert servers_left() == []


def test_model_flag_local_overrides_profiles_and_ctrl_c_leaves_no_server(tmp_path, server):
    import signal
    import sys
    import time
    team = tmp_path / "t.yaml"
    team.write_text(TEAM.replace("model: local", "model: openai/fake-model")
                    .replace("max_round: 2", "max_round: 50"))
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team), "--json",
                             "--model", "local"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not servers_left():
        time.sleep(0.2)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert servers_left() == []


def test_tools_on_the_local_model(tmp_path):
    """The embedded server is started with a chat format that can call tools, the request
    carries them (asked whole: that format cannot stream an automatic tool choice) and
    the server accepts it; whatever the base model writes, the run goes on."""
    (tmp_path / "tools.py").write_text(
        "def convert(amount: float) -> str:\n    \"\"\"Convert dollars to euros.\"\"\"\n"
        "    return f'{amount * 0.9:.2f} EUR'\n")
    team = tmp_path / "local-tools.yaml"
    team.write_text("""\
name: local-tools
task: Convert 10 dollars to euros with the tool.
models:
  default: {model: local, max_tokens: 40, timeout: 300}
max_round: 3
speaker_selection: round_robin
code_execution: {executor: none}
tools:
  - {function: tools.py:convert, run: host}
agents:
  - {name: User_proxy, kind: user_proxy}
  - {name: Alice, system_message: You convert currencies with the convert tool., tools: [convert]}
""")
    r = run_process("run", team, "--json", cwd=tmp_path, timeout=900)
    assert r.returncode in (0, 3), r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    notices = " ".join(e["text"] for e in events if e["type"] == "notice")
    assert "chatml-function-calling" in notices
    assert events[-1]["reason"] in ("max_round", "keyword", "stalled")
    said = [e for e in events if e["type"] == "message" and e["agent"] == "Alice"]
    assert said and said[0]["usage"]["completion_tokens"] > 0
    # a call the model made was answered, one result per call
    calls = [e for e in events if e["type"] == "tool_call"]
    assert len([e for e in events if e["type"] == "tool_result"]) == len(calls)


PAIR = """\
name: local-reuse
task: Write one sentence about the weight and the horsepower of cars.
models:
  default: {model: local, max_tokens: 16, timeout: 300, temperature: 0}
max_round: 4
speaker_selection: round_robin
code_execution: {executor: none}
agents:
  - name: Alice
    system_message: You are Alice, a careful data analyst. You answer in one short sentence and
      you always say which column of the data you looked at.
  - name: Bob
    system_message: You are Bob, a critic of charts. You answer in one short sentence and you
      always say what the chart should show instead.
"""


def test_an_agents_second_call_evaluates_only_what_was_said_since(tmp_path):
    """The server keeps each agent's state: its second prompt (its first one, its reply and
    the other's reply) is mostly read from that state, as the server's usage reports."""
    team = tmp_path / "pair.yaml"
    team.write_text(PAIR)
    r = run_process("run", team, "--json", cwd=tmp_path, timeout=900)
    assert r.returncode == 3, r.stderr
    msgs = [json.loads(x) for x in r.stdout.splitlines()]
    usage = {}
    for m in msgs:
        if m["type"] == "message" and m["round"] > 0:
            usage.setdefault(m["agent"], []).append(m["usage"])
    for agent in ("Alice", "Bob"):
        first, second = usage[agent]
        assert not second["estimated"]                # the server's own count
        evaluated = second["prompt_tokens"] - second["cached_tokens"]
        # all of the first prompt (but a token or two where the reply's tokens are
        # written differently) comes from the kept state
        assert second["cached_tokens"] >= first["prompt_tokens"] - 2, usage
        assert evaluated < second["prompt_tokens"] / 2, usage
    assert servers_left() == []


TRIO = """\
name: local-choice
task: Plot the weight and the horsepower of the cars in cars.csv.
models:
  default: {model: local, max_tokens: 12, timeout: 300}
max_round: 3
speaker_selection: auto
code_execution: {executor: none}
agents:
  - {name: Planner, description: Splits the task into steps.}
  - {name: Coder, description: Writes the Python code.}
  - {name: Critic, description: Reviews the code and the chart.}
"""


def test_the_selector_names_a_candidate_in_one_call_with_a_few_tokens(tmp_path):
    team = tmp_path / "trio.yaml"
    team.write_text(TRIO)
    r = run_process("run", team, "--json", cwd=tmp_path, timeout=900)
    assert r.returncode == 3, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    chosen = [e for e in events if e["type"] == "speaker_selected"
              and e["method"] == "auto" and "selector" in e["reason"]]
    assert chosen, "no selection needed the selector"
    assert all(e["reason"] == "chosen by the selector model" for e in chosen), chosen
    selector = events[-1]["usage"]["agents"]["(selector)"]
    assert selector["calls"] == len(chosen)               # one call each, no retry
    assert selector["completion_tokens"] <= 4 * selector["calls"]
    assert servers_left() == []
