"""Python tools in the run's Docker sandbox (the real engine): the example team, what a
tool cannot reach from there, keys, and Ctrl-C in the middle of a call."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentteam.testing.fakeserver import FakeOpenAIServer, by_agent, tool_calls

from .conftest import ROOT, docker_ready
from .tools_helpers import of_type, tools_team

pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(not docker_ready(), reason="needs Docker and the sandbox image")]


def _containers(pid: int | None = None) -> list[str]:
    """The sandbox containers a run in process ``pid`` (default: this one) left; other
    runs may share the Docker engine."""
    label = f"agentteam.pid={pid or os.getpid()}"
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"],
                         capture_output=True, text=True)
    return out.stdout.split()


def test_currency_example_runs_its_tool_in_the_sandbox(cli, server, tmp_path):
    """teams/currency_calculator.yaml as shipped, its model pointed at the fake server."""
    shutil.copytree(ROOT / "teams", tmp_path / "teams")
    path = tmp_path / "teams" / "currency_calculator.yaml"
    path.write_text(path.read_text() + (
        f"models:\n  default: {{model: openai/fake-model, api_base: '{server.url}', "
        "api_key: NULL, num_retries: 0}\n"))
    server.responder = by_agent({"Chatbot": [
        tool_calls(("currency_calculator", {"base_amount": 123.45, "base_currency": "USD",
                                            "quote_currency": "EUR"})),
        "123.45 USD is 112.23 EUR. TERMINATE"]})
    assert cli("validate", path).exit_code == 0
    r = cli("run", path, "--json", "--transcript", tmp_path / "t.jsonl")
    assert r.exit_code == 0, r.stderr
    [result] = of_type(r.events(), "tool_result")
    assert result["output"] == "112.22727272727272 EUR" and not result["is_error"]
    offered = server.completions()[0].body["tools"][0]["function"]
    assert offered["parameters"]["properties"]["base_currency"]["enum"] == ["USD", "EUR"]
    assert not any(e["type"] == "notice" and "ON THIS MACHINE" in e["text"] for e in r.events())


def test_a_sandboxed_tool_reaches_no_network_no_host_file_and_no_key(cli, server, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-secret-0123456789abcdef")
    secret = tmp_path / "host-secret.txt"
    secret.write_text("the host's secret")
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("fetch", {"url": server.url + "/models"}),
                   ("fetch", {"url": "http://1.1.1.1/"}),
                   ("read", {"path": str(secret)}),
                   ("read", {"path": "/opt/agentteam-tools/calltool.py"}),
                   ("env", {})), "blocked TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["fetch", "read", "env"], run="sandbox"),
            "--json")
    assert r.exit_code == 0, r.stderr
    out = of_type(r.events(), "tool_result")
    assert [x["is_error"] for x in out] == [True, True, True, False, False]
    assert "URLError" in out[0]["output"] and "URLError" in out[1]["output"]
    assert "FileNotFoundError" in out[2]["output"]
    env = json.loads(out[4]["output"])
    assert "OPENAI_API_KEY" not in env and "sk-sandbox-secret" not in out[4]["output"]
    assert _containers() == []


def test_the_tool_files_are_read_only_in_the_sandbox(cli, server, tmp_path):
    """Nothing run in the sandbox can rewrite a tool between two calls; the work dir is
    the tools' working directory."""
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("write", {"path": "/opt/agentteam-tools/t0/tools.py", "text": "x"}),
                   ("write", {"path": "out.txt", "text": "kept"})), "ok TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["write"], run="sandbox"), "--json")
    assert r.exit_code == 0, r.stderr
    out = of_type(r.events(), "tool_result")
    assert out[0]["is_error"] and "Read-only file system" in out[0]["output"]
    assert out[1]["output"] == "written"
    assert (tmp_path / "groupchat" / "out.txt").read_text() == "kept"


def test_ctrl_c_during_a_sandboxed_tool_call_leaves_no_container(tmp_path):
    with FakeOpenAIServer(by_agent({"(selector)": ["Assistant"], "Assistant": [
            tool_calls(("slow", {"seconds": 60})), "late TERMINATE"]})) as server:
        team = tools_team(tmp_path, server.url, ["slow"], run="sandbox", timeout=120)
        proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team),
                                 "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            _wait_for(proc, tmp_path, '"type": "tool_call"')
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 130
    assert json.loads(out.splitlines()[-1])["reason"] == "interrupted"
    assert _containers(proc.pid) == []


def _wait_for(proc: subprocess.Popen, tmp_path: Path, text: str, limit: float = 90) -> None:
    """Wait until the run's transcript holds ``text``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for t in (tmp_path / ".agentteam" / "runs").glob("*.jsonl"):
            if text in t.read_text():
                return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.stderr.read()[-500:]}")
        time.sleep(0.1)
    raise AssertionError(f"no {text} in the transcript in time")
