"""The embedded default: the packaged GGUF served by the real llama.cpp server.

The model is tiny and not instruction-tuned: these tests check protocol and flow only.
"""

from __future__ import annotations

import json
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
    out = subprocess.run(["pgrep", "-af", "llama_cpp.server"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


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
    assert servers_left() == []
