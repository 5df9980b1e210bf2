"""A canary key through every command and failure path: it must appear nowhere."""

from __future__ import annotations

import json

import pytest

from .conftest import docker_ready, run_process, script

CANARY = "sk-canary-SECRET-0123456789abcdefXYZ"

TEAM = """\
name: secret
task: Do the thing.
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: ${{CANARY_KEY}}
    num_retries: 1
    max_retry_wait: 0.1
    timeout: 2
max_round: 2
speaker_selection: auto
code_execution: {{executor: {executor}}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder. You write code."}}
"""


@pytest.fixture
def env():
    return {"CANARY_KEY": CANARY}


def clean(*texts: str) -> None:
    for t in texts:
        assert CANARY not in t
        assert CANARY[:-4] not in t         # not even most of it


def run(team, tmp_path, env, *extra):
    t = tmp_path / f"t{len(list(tmp_path.glob('t*.jsonl')))}.jsonl"
    r = run_process("run", team, "--transcript", t, *extra, cwd=tmp_path, env=env)
    clean(r.stdout, r.stderr, t.read_text() if t.exists() else "")
    return r


@pytest.mark.parametrize("fault", [None, "401", "500", "hang", "cut", "badjson", "context"])
@pytest.mark.parametrize("verbose", [False, True])
def test_canary_never_leaks_from_run(server, team_file, tmp_path, env, fault, verbose):
    server.api_key = CANARY
    script(server, {"Coder": ["```python\nimport os\nprint(sorted(os.environ))\n```"]})
    if fault:
        server.fail(fault, times=6, retry_after=5)
    team = team_file(TEAM, executor="local")
    r = run(team, tmp_path, env, "--json", *(["--verbose"] if verbose else []))
    assert r.returncode in (1, 3), r.stderr
    if verbose:
        assert "agentteam.models: calling openai/fake-model" in r.stderr
    if fault == "401":
        assert "$CANARY_KEY" in r.stdout           # the variable is named, its value is not


def test_canary_never_leaks_from_console_view_and_models(server, team_file, tmp_path, env):
    server.api_key = CANARY
    team = team_file(TEAM, executor="none")
    run(team, tmp_path, env)
    r = run_process("models", team, "--verbose", cwd=tmp_path, env=env)
    clean(r.stdout, r.stderr)
    server.api_key = "something-else"
    r = run_process("models", team, "--json", cwd=tmp_path, env=env)
    clean(r.stdout, r.stderr)
    assert "the key in $CANARY_KEY was refused" in r.stdout
    r = run_process("validate", team, cwd=tmp_path, env=env)
    clean(r.stdout, r.stderr)


def test_literal_key_in_team_file_is_not_echoed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: x\ntask: t\nmodels:\n  default: {{model: gpt-4o, api_key: {CANARY}}}\n"
                   "agents: [{name: A}]\n")
    r = run_process("validate", bad)
    assert r.returncode == 2 and "literal key" in r.stderr
    clean(r.stdout, r.stderr)


def test_code_in_local_executor_sees_no_key(server, team_file, tmp_path, env):
    script(server, {"Coder": ["```python\nimport os\nprint(sorted(os.environ))\n```"]})
    team = team_file(TEAM, executor="local")
    r = run(team, tmp_path, {**env, "OPENAI_API_KEY": CANARY}, "--json")
    results = [json.loads(x) for x in r.stdout.splitlines() if '"code_result"' in x]
    assert results and "CANARY" not in results[0]["output"]
    assert "OPENAI_API_KEY" not in results[0]["output"]


@pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")
def test_code_in_docker_sees_no_key(server, team_file, tmp_path, env):
    script(server, {"Coder": ["```sh\nenv\n```"]})
    team = team_file(TEAM, executor="docker")
    r = run(team, tmp_path, {**env, "OPENAI_API_KEY": CANARY}, "--json")
    results = [json.loads(x) for x in r.stdout.splitlines() if '"code_result"' in x]
    assert results and results[0]["exit_code"] == 0
    assert "HOME=/tmp" in results[0]["output"] and "KEY" not in results[0]["output"]
