"""MCP servers as tools: the example team, a server that crashes mid-run, what reaches its
environment, and that no server process outlives its run (Ctrl-C, kill -9)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agentteam.testing.fakeserver import FakeOpenAIServer, by_agent, tool_calls

from .conftest import ROOT
from .tools_helpers import of_type

pytest.importorskip("mcp")

SERVER = '''\
import os, sys, time
try:
    from mcp.server.mcpserver import MCPServer
except ImportError:
    from mcp.server.fastmcp import FastMCP as MCPServer

open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
server = MCPServer("srv")


@server.tool()
def echo(text: str) -> str:
    """Echoes its text."""
    return os.environ.get("GREETING", "") + " " + text


@server.tool()
def crash() -> str:
    """Dies."""
    os._exit(3)


@server.tool()
def env() -> dict:
    """Its environment."""
    return dict(os.environ)


@server.tool()
def slow(seconds: float) -> str:
    """Sleeps."""
    time.sleep(seconds)
    return "late"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
    else:
        server.run()
'''


def mcp_team(tmp_path: Path, url: str, offer: str = "srv.*", timeout: float = 15,
             server: str = "") -> Path:
    (tmp_path / "server.py").write_text(SERVER)
    connect = server or "{command: python, args: [server.py], env: {PIDFILE: pid.txt, GREETING: hi}}"
    path = tmp_path / "team.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: mcp-team
        task: Use the server.
        models:
          default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL,
                     num_retries: 0, timeout: 30}}
        max_round: 8
        termination: TERMINATE
        speaker_selection: round_robin
        code_execution: {{executor: none}}
        tools:
          - name: srv
            mcp: {connect}
            timeout: {timeout}
        agents:
          - {{name: User_proxy, kind: user_proxy}}
          - {{name: Assistant, tools: [{offer}]}}
        """))
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _gone(pid: int, limit: float = 15) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_cars_example_queries_its_mcp_server(cli, server, tmp_path):
    """teams/cars_sql.yaml as shipped, its model pointed at the fake server."""
    shutil.copytree(ROOT / "teams", tmp_path / "teams")
    path = tmp_path / "teams" / "cars_sql.yaml"
    path.write_text(path.read_text() + (
        f"models:\n  default: {{model: openai/fake-model, api_base: '{server.url}', "
        "api_key: NULL, num_retries: 0}\n"))
    server.responder = by_agent({"Analyst": [
        tool_calls(("cars__schema", {})),
        tool_calls(("cars__query", {"sql": "SELECT Origin, ROUND(AVG(Horsepower), 1) FROM cars "
                                           "GROUP BY Origin ORDER BY 2 DESC LIMIT 1"}),
                   ("cars__query", {"sql": "DROP TABLE cars"})),
        "USA, 119.9 hp. TERMINATE"]})
    assert cli("validate", path).exit_code == 0
    r = cli("run", path, "--json", "--transcript", tmp_path / "t.jsonl")
    assert r.exit_code == 0, r.stderr
    calls = of_type(r.events(), "tool_call")
    assert [c["name"] for c in calls] == ["cars.schema", "cars.query", "cars.query"]
    reasons = [e["reason"] for e in r.events() if e["type"] == "speaker_selected"]
    assert "Analyst called cars.schema" in reasons
    out = [x["output"] for x in of_type(r.events(), "tool_result")]
    assert out[0].startswith("table cars (406 rows): Name TEXT")
    assert out[1].splitlines()[1] == "USA | 119.9"
    assert "only SELECT queries are allowed" in out[2]
    offered = server.completions()[0].body["tools"]
    assert [t["function"]["name"] for t in offered] == ["cars__schema", "cars__query"]


def test_a_server_that_crashes_mid_run_gives_error_results(cli, server, tmp_path,
                                                         monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-mcp-secret-0123456789abcdef")
    server.responder = by_agent({"Assistant": [
        tool_calls(("srv__echo", {"text": "there"}), ("srv__env", {})),
        tool_calls(("srv__crash", {})),
        tool_calls(("srv__echo", {"text": "again"})),
        "the server is gone TERMINATE"]})
    r = cli("run", mcp_team(tmp_path, server.url), "--json")
    assert r.exit_code == 0, r.stderr
    out = of_type(r.events(), "tool_result")
    assert out[0]["output"] == "hi there" and not out[0]["is_error"]
    env = json.loads(out[1]["output"])
    assert env["GREETING"] == "hi" and "OPENAI_API_KEY" not in env
    assert "sk-mcp-secret" not in out[1]["output"]
    assert out[2]["is_error"] and "srv" in out[2]["output"]
    assert out[3]["is_error"] and "`srv` is not running" in out[3]["output"]
    assert r.events()[-1]["reason"] == "keyword"


def test_an_unknown_server_tool_is_a_clear_error_at_start(cli, server, tmp_path):
    r = cli("run", mcp_team(tmp_path, server.url, offer="srv.ecoh"), "--json")
    assert r.exit_code == 2
    assert "agents[1].tools[0]: the MCP server `srv` has no tool `ecoh`; did you mean " \
           "`srv.echo`?" in r.stderr
    assert not server.completions()


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_no_server_outlives_its_run(tmp_path, how):
    with FakeOpenAIServer(by_agent({"Assistant": [
            tool_calls(("srv__slow", {"seconds": 60})), "late TERMINATE"]})) as server:
        team = mcp_team(tmp_path, server.url, timeout=120)
        proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team),
                                 "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 90
            while not list((tmp_path / ".agentteam" / "runs").glob("*.jsonl")) or \
                    '"tool_call"' not in next((tmp_path / ".agentteam" / "runs")
                                              .glob("*.jsonl")).read_text():
                assert time.monotonic() < deadline and proc.poll() is None, \
                    proc.stderr.read() if proc.poll() is not None else "no tool call in time"
                time.sleep(0.1)
            pid = int((tmp_path / "pid.txt").read_text())
            assert _alive(pid)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    if how == "ctrl-c":
        assert proc.returncode == 130
        assert json.loads(out.splitlines()[-1])["reason"] == "interrupted"
    assert _gone(pid), f"the MCP server {pid} outlived its run ({how})"


def test_streamable_http_server(cli, server, tmp_path):
    from agentteam.models.localmodel import free_port
    (tmp_path / "server.py").write_text(SERVER)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "server.py", str(port)], cwd=tmp_path,
                            env={**os.environ, "PIDFILE": str(tmp_path / "http-pid.txt")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/mcp", timeout=1)
            except OSError as e:
                if getattr(e, "code", None) or time.monotonic() > deadline:
                    break    # an HTTP error means the server answers
                time.sleep(0.2)
                continue
            break
        server.responder = by_agent({"Assistant": [
            tool_calls(("srv__echo", {"text": "over http"})), "ok TERMINATE"]})
        team = mcp_team(tmp_path, server.url,
                        server=f"{{url: 'http://127.0.0.1:{port}/mcp'}}")
        r = cli("run", team, "--json")
    finally:
        proc.kill()
        proc.wait()
    assert r.exit_code == 0, r.stderr
    assert of_type(r.events(), "tool_result")[0]["output"] == " over http"


def test_a_server_that_never_answers_stops_the_run_before_any_call(cli, server, tmp_path):
    (tmp_path / "mute.py").write_text("import os, time\nopen('mute.pid', 'w')"
                                      ".write(str(os.getpid()))\ntime.sleep(600)\n")
    team = mcp_team(tmp_path, server.url, server="{command: python, args: [mute.py], "
                                                 "startup_timeout: 3}")
    r = cli("run", team, "--json")
    assert r.exit_code == 2
    assert "MCP server `srv` could not start: no answer within 3s" in r.stderr
    assert not server.completions()
    assert _gone(int((tmp_path / "mute.pid").read_text()))
