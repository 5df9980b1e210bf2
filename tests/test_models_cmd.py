"""`agentteam models` against fake servers: healthy, dead port, 401, missing model, slow."""

from __future__ import annotations

import json
import time

import pytest

TEAM = """\
name: m
task: t
models:
  good: {{model: openai/fake-model, api_base: "{url}", api_key: "${{FAKE_KEY}}"}}
  badkey: {{model: openai/fake-model, api_base: "{url}", api_key: "${{WRONG_KEY}}"}}
  missing: {{model: openai/nope-model, api_base: "{url}", api_key: "${{FAKE_KEY}}"}}
  dead: {{model: openai/fake-model, api_base: "http://127.0.0.1:9/v1", api_key: NULL}}
agents:
  - {{name: A, model: good}}
"""

KEY = "sk-fake-right-key-0123456789"
WRONG = "sk-fake-wrong-key-0123456789"


def test_models_reports_each_failure_in_words(cli, server, team_file, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", KEY)
    monkeypatch.setenv("WRONG_KEY", WRONG)
    server.api_key = KEY
    r = cli("models", team_file(TEAM), "--json", "--timeout", "3")
    assert r.exit_code == 1
    rows = {x["profile"]: x for x in json.loads(r.stdout)}
    assert rows["good"]["healthy"] and rows["good"]["completion"]
    assert rows["good"]["first_token_s"] > 0
    assert rows["badkey"]["key_ok"] is False
    assert rows["badkey"]["problem"].startswith("401 from http://127.0.0.1:")
    assert "the key in $WRONG_KEY was refused" in rows["badkey"]["problem"]
    assert rows["missing"]["listed"] is False and "nope-model" in rows["missing"]["problem"]
    assert "fake-model" in rows["missing"]["problem"]    # says what the server does serve
    assert rows["dead"]["reachable"] is False and "cannot reach" in rows["dead"]["problem"]
    assert KEY not in r.stdout + r.stderr and WRONG not in r.stdout + r.stderr


def test_models_exit_0_when_all_healthy_and_no_call_spends_nothing(cli, server, team_file):
    one = "name: m\ntask: t\nmodels:\n  default: {{model: openai/fake-model, api_base: \"{url}\"}}\n" \
          "agents: [{{name: A}}]\n"
    r = cli("models", team_file(one), "--no-call")
    assert r.exit_code == 0 and "default" in r.stdout
    assert server.completions() == []
    r = cli("models", team_file(one))
    assert r.exit_code == 0 and len(server.completions()) == 1
    assert server.completions()[0].body["max_tokens"] >= 256   # reasoning models need room


ONE = "name: m\ntask: t\nmodels:\n  default: {{model: openai/fake-model, api_base: \"{url}\"}}\n" \
      "agents: [{{name: A}}]\n"


@pytest.mark.parametrize("transport", ["auto", "litellm"])
def test_models_is_healthy_at_the_first_token_of_a_slow_reply(cli, server, team_file,
                                                              monkeypatch, transport):
    # The whole reply takes 40 s (400 words, 0.1 s apart), far past the 10 s check; its
    # first token comes at once. Health is the time to that first token, then the stream
    # is closed: the server sees the client hang up (on both transports).
    monkeypatch.setenv("AGENTTEAM_TRANSPORT", transport)
    server.responder = lambda body, agent: "word " * 400
    server.chunk_delay = 0.1
    r = cli("models", team_file(ONE), "--json", "--timeout", "10")
    assert r.exit_code == 0, r.stdout + r.stderr
    row = json.loads(r.stdout)[0]
    assert row["healthy"] and row["completion"] and row["first_token_s"] > 0
    deadline = time.monotonic() + 20
    while server.abandoned == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.abandoned == 1                   # the response was released, not read on
    table = cli("models", team_file(ONE), "--timeout", "10")
    assert table.exit_code == 0 and "first token" in table.stdout


def test_models_slow_endpoint_times_out(cli, server, team_file):
    one = "name: m\ntask: t\nmodels:\n  default: {{model: openai/fake-model, api_base: \"{url}\"}}\n" \
          "agents: [{{name: A}}]\n"
    server.fail("hang", retry_after=10)
    r = cli("models", team_file(one), "--json", "--timeout", "1")
    assert r.exit_code == 1
    row = json.loads(r.stdout)[0]
    assert row["completion"] is False and "within" in row["problem"]


def test_models_without_file_finds_env_and_local_servers(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("MISTRAL_API_KEY", "mk-test-0123456789abcdef")
    from agentteam.models.defaults import discover
    found = discover()
    assert found["mistral"].model.startswith("mistral/")
    assert found["mistral"].key_source == "$MISTRAL_API_KEY"
