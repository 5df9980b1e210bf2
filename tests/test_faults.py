"""Model faults injected by the fake server: retries, fallbacks, clear errors, kept text."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import script

CANARY = "sk-canary-0123456789abcdefghij"

FALLBACK_TEAM = """\
name: faults
task: Do the thing.
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: ${{CANARY_KEY}}
    num_retries: {retries}
    max_retry_wait: 2
    timeout: {timeout}
    fallbacks: [backup]
  backup:
    model: openai/backup-model
    api_base: {url}
    api_key: ${{CANARY_KEY}}
    num_retries: 0
max_round: 1
code_execution: {{executor: none}}
speaker_selection: round_robin
agents:
  - name: Coder
    system_message: Coder. You write code.
"""


@pytest.fixture(autouse=True, params=["wire", "litellm"])
def transport(request, monkeypatch):
    """Every fault is met on both paths: the OpenAI wire client and LiteLLM."""
    if request.param == "litellm":
        monkeypatch.setenv("AGENTTEAM_TRANSPORT", "litellm")
    return request.param


@pytest.fixture(autouse=True)
def canary(monkeypatch, server):
    monkeypatch.setenv("CANARY_KEY", CANARY)
    server.api_key = CANARY


def make(team_file, retries=2, timeout=5):
    return team_file(FALLBACK_TEAM, retries=retries, timeout=timeout)


def models_used(server) -> list[str]:
    return [r.body["model"] for r in server.completions()]


def no_canary(r) -> None:
    assert CANARY not in r.stdout + r.stderr


def test_429_retry_after_is_honoured(cli, server, team_file):
    server.fail("429", retry_after=0.7)
    start = time.monotonic()
    r = cli("run", make(team_file), "--json")
    assert r.exit_code == 3
    retries = [e for e in r.events() if e["type"] == "retry"]
    assert len(retries) == 1 and retries[0]["wait_s"] == 0.7 and "429" in retries[0]["error"]
    assert time.monotonic() - start >= 0.7
    assert models_used(server) == ["fake-model", "fake-model"]
    no_canary(r)


def test_5xx_burst_retried_then_fallback_then_exit_1(cli, server, team_file):
    server.fail("500", times=3)          # 1 try + 2 retries on default, all 500
    r = cli("run", make(team_file), "--json")
    assert r.exit_code == 3              # the backup profile answered
    assert models_used(server) == ["fake-model"] * 3 + ["backup-model"]
    ev = r.events()
    assert [e["type"] for e in ev].count("retry") == 3   # 2 waits + 1 "trying fallback"
    assert ev[-1]["reason"] == "max_round"
    assert [e for e in ev if e["type"] == "message"][-1]["model"] == "backup"

    server.requests.clear()
    server.fail("503", times=4)
    r = cli("run", make(team_file), "--json")
    assert r.exit_code == 1
    assert r.events()[-1]["reason"] == "error" and "503" in r.events()[-1]["error"]
    no_canary(r)


def test_401_is_not_retried_and_names_the_variable_not_the_key(cli, server, team_file):
    server.fail("401", times=2)
    r = cli("run", make(team_file), "--json")
    assert r.exit_code == 1
    assert models_used(server) == ["fake-model", "backup-model"]   # no retry, then fallback
    err = r.events()[-1]["error"]
    assert "401" in err and "$CANARY_KEY" in err
    no_canary(r)


def test_unknown_model_context_overflow_messages(cli, server, team_file):
    server.fail("404", times=2)
    r = cli("run", make(team_file), "--json")
    assert r.exit_code == 1 and "not found" in r.events()[-1]["error"]
    server.fail("context", times=2)
    r = cli("run", make(team_file), "--json")
    err = r.events()[-1]["error"]
    assert r.exit_code == 1 and "Coder" in err and "too long" in err and "characters" in err


def test_context_trim_drops_oldest_turns(cli, server, team_file):
    path = make(team_file)
    path.write_text(path.read_text().replace("max_round: 1", "max_round: 3\ncontext: trim")
                    .replace("    fallbacks: [backup]\n", ""))
    script(server, {"Coder": ["a", "b", "c"]})
    server.fail("context", times=1, after=2)
    r = cli("run", path, "--json")
    assert r.exit_code == 3
    assert any(e["type"] == "notice" and "dropped the oldest" in e["text"] for e in r.events())
    trimmed = server.completions()[-1].body["messages"]
    assert [m["content"] for m in trimmed[1:]] == ["user: Do the thing.", "b"]


def test_server_that_never_answers_times_out(cli, server, team_file):
    server.fail("hang", times=2, retry_after=30)
    start = time.monotonic()
    path = make(team_file, retries=0, timeout=1)
    path.write_text(path.read_text().replace("    fallbacks: [backup]\n", ""))
    r = cli("run", path, "--json")
    assert r.exit_code == 1
    assert "within 1s" in r.events()[-1]["error"]
    assert time.monotonic() - start < 15


def test_stream_cut_keeps_partial_text_marked_and_retries_once(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["one two three four five six"]})
    server.fail("cut")
    t = tmp_path / "cut.jsonl"
    r = cli("run", make(team_file), "--json", "--transcript", t)
    assert r.exit_code == 3
    msgs = [e for e in r.events() if e["type"] == "message" and e["agent"] == "Coder"]
    assert msgs[0]["incomplete"] is True and msgs[0]["content"] == "one two three "
    assert msgs[1]["incomplete"] is False and msgs[1]["content"] == "one two three four five six"
    lines = [json.loads(x) for x in t.read_text().splitlines()]
    assert [e.get("incomplete") for e in lines if e["type"] == "message"][1:] == [True, False]


def test_malformed_stream_is_named(cli, server, team_file):
    script(server, {"Coder": ["one two three four"]})
    server.fail("badjson", times=10)
    r = cli("run", make(team_file, retries=0), "--json")
    assert r.exit_code == 1
    assert "malformed" in r.events()[-1]["error"]


def test_connection_refused_is_clear(cli, team_file, tmp_path):
    path = team_file(FALLBACK_TEAM.replace("{url}", "http://127.0.0.1:9/v1"), retries=0,
                     timeout=2)
    r = cli("run", path, "--json")
    assert r.exit_code == 1
    assert "cannot reach http://127.0.0.1:9/v1" in r.events()[-1]["error"]


def test_total_timeout_bounds_a_slow_stream(cli, server, team_file):
    """A server that answers at once but trickles tokens is cut at the total timeout."""
    script(server, {"Coder": ["one two three four five six seven eight nine ten"]})
    server.chunk_delay = 0.4
    path = make(team_file, retries=0, timeout=1.5)
    path.write_text(path.read_text().replace("    fallbacks: [backup]\n",
                                             "    first_token_timeout: 5\n"))
    r = cli("run", path, "--json")
    assert r.exit_code == 1
    ev = r.events()
    assert "took longer than 1.5s" in ev[-1]["error"]
    partial = [e for e in ev if e["type"] == "message" and e["agent"] == "Coder"]
    assert partial and partial[0]["incomplete"] and partial[0]["content"].startswith("one")
