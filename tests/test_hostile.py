"""Hostile and broken servers: endless lines, gzip bombs, wrong shapes, web pages,
redirects, bad proxies, replies cut at the token limit. Both transports meet each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentteam.errors import ModelError
from agentteam.models.profiles import Profile
from agentteam.models.wire import parse_chunk

from .conftest import ROOT, script

TEAM = """\
name: hostile
task: Do the thing.
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: NULL
    num_retries: 0
    timeout: {timeout}
max_round: 1
code_execution: {{executor: none}}
speaker_selection: round_robin
agents:
  - name: Coder
    system_message: Coder.
"""

REPLY = "one two three four five six"


@pytest.fixture(params=["wire", "litellm"])
def transport(request, monkeypatch):
    if request.param == "litellm":
        monkeypatch.setenv("AGENTTEAM_TRANSPORT", "litellm")
    return request.param


@pytest.fixture
def team(team_file, server):
    script(server, {"Coder": [REPLY]})
    return lambda timeout=5, **kw: team_file(TEAM, timeout=timeout, **kw)


def error_of(r) -> str:
    end = r.events()[-1]
    assert end["type"] in ("run_ended", "error"), end
    return end["error"] or ""


# -- 11: the total timeout is a hard deadline ------------------------------------------

def test_a_line_that_never_ends_is_cut_at_the_total_timeout(cli, server, team, transport):
    server.fail("trickle", retry_after=600)        # a byte every 0.1 s for ten minutes
    start = time.monotonic()
    r = cli("run", team(timeout=2), "--json")
    assert r.exit_code == 1
    assert "took longer than 2s" in error_of(r)
    assert time.monotonic() - start < 120          # not the ten minutes of the trickle


def test_a_server_silent_after_the_first_piece_is_cut_at_the_deadline(cli, server, team_file,
                                                                         transport):
    """The read timeout (first_token_timeout) is an hour; the total timeout still holds."""
    server.fail("stall", retry_after=3600)
    path = team_file(TEAM.replace("    timeout: {timeout}\n", "    timeout: 2\n"
                                  "    first_token_timeout: 3600\n"))
    start = time.monotonic()
    r = cli("run", path, "--json")
    assert r.exit_code == 1 and "took longer than 2s" in error_of(r)
    kept = [e for e in r.events() if e["type"] == "message" and e["agent"] == "Coder"]
    assert kept and kept[0]["incomplete"] and kept[0]["content"] == "one "
    assert time.monotonic() - start < 120


@pytest.mark.parametrize("where", ["models", "chat"])
def test_models_timeout_bounds_a_trickle(cli, server, team, transport, where):
    server.fail("trickle", retry_after=600, on=where)
    start = time.monotonic()
    r = cli("models", team(), "--json", "--timeout", "2")
    assert r.exit_code == 1
    [health] = json.loads(r.stdout)
    assert "took longer than 2s" in health["problem"]
    assert time.monotonic() - start < 120


# -- 12: decoded bytes are bounded ------------------------------------------------------

def test_a_gzip_bomb_is_refused_without_the_memory(server, team, transport, tmp_path):
    """~1 MB of gzip that inflates to one line of 1 GiB once took the process to 3.9 GB.
    Run in a child process of its own, which reports its own peak memory (ru_maxrss)."""
    server.fail("gzipline")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import resource, sys\nfrom agentteam.cli import main\nsys.argv = ['agentteam', "
            f"'run', {str(team(timeout=60))!r}, '--json']\ntry:\n    main()\nfinally:\n"
            "    print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, r.stderr[-2000:]
    end = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")][-1]
    assert r.returncode == 1, r.stderr
    err = end["error"]
    assert "one line of the response" in err and "exceeded 8 MB" in err or \
        "took longer than 60s" in err, err
    maxrss_kb = int(r.stderr.rsplit("maxrss", 1)[1].split()[0])
    assert maxrss_kb < 1_000_000, f"peak memory {maxrss_kb} kB"


def test_a_gzip_bomb_of_many_lines_stops_at_the_response_cap(cli, server, team, transport):
    server.fail("gzipbomb")          # 1 GiB of short SSE comment events
    r = cli("run", team(timeout=60), "--json")
    assert r.exit_code == 1
    err = error_of(r)
    # the wire path reads 128 MB quickly; LiteLLM's slower SSE reader may meet the deadline
    assert "the response from" in err and "exceeded 128 MB" in err or \
        transport == "litellm" and "took longer than 60s" in err, err


# -- 13: wrong shapes are named errors ----------------------------------------------------

SHAPES = ['{"choices": [1]}', '{"error": {"message": "boom"}, "status_code": "abc"}',
          '{"choices": [], "usage": "lots"}', '{"choices": [{"delta": {"content": 5}}]}',
          '{"choices": [{"delta": {"content": "\\ud800"}}]}', '[1, 2]', '"text"',
          '{"choices": {"a": 1}}', '{"choices": [{"delta": [1]}]}',
          '{"choices": [{"delta": {}, "finish_reason": 7}]}', '{"error": [1]}']


@pytest.mark.parametrize("payload", SHAPES)
def test_wrong_shape_chunks_are_named_errors(cli, server, team, transport, payload):
    server.fail("chunk", payload=payload)
    r = cli("run", team(), "--json")        # a traceback would raise here
    if transport == "wire":
        assert r.exit_code == 1
        err = error_of(r)
        assert err.startswith(("malformed response from", "500 from", "400 from")), err
        assert "\n" not in err
    else:   # LiteLLM reads the chunks itself and drops some shapes: never a traceback
        assert r.exit_code in (1, 3)
        assert r.exit_code == 3 or "\n" not in error_of(r)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["choices", "delta", "content", "finish_reason",
                                         "usage", "error", "status_code", "message",
                                         "prompt_tokens", "completion_tokens"]) | st.text(),
                        inner, max_size=4), max_leaves=20)
SHAPED = st.fixed_dictionaries({}, optional={
    "choices": st.lists(st.fixed_dictionaries({}, optional={
        "delta": st.fixed_dictionaries({}, optional={"content": JSON}) | JSON,
        "finish_reason": JSON}) | JSON, max_size=3) | JSON,
    "usage": st.fixed_dictionaries({}, optional={"prompt_tokens": JSON,
                                                 "completion_tokens": JSON}) | JSON,
    "error": JSON, "status_code": JSON})
PROFILE = Profile("default", "openai/x", {"api_base": "http://127.0.0.1:9/v1"})


def _parses_or_names(data: bytes) -> None:
    try:
        texts, finish, usage, _ = parse_chunk(PROFILE, data)
    except ModelError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert all(isinstance(t, str) and t for t in texts)
    assert finish is None or isinstance(finish, str)
    assert usage is None or isinstance(usage, dict)
    "".join(texts).encode("utf-8")          # writable as it is


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(JSON, SHAPED))
def test_chunk_parser_on_any_json_shape_raises_only_model_errors(value):
    _parses_or_names(json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=100).map(lambda t: t.encode("utf-8",
                                                                             "surrogatepass")))
def test_chunk_parser_on_any_bytes_raises_only_model_errors(data):
    _parses_or_names(data)


def test_a_web_page_is_not_an_openai_compatible_response(cli, server, team, transport):
    server.fail("html")
    r = cli("run", team(), "--json")
    assert r.exit_code == 1
    err = error_of(r)
    assert err.startswith("not an OpenAI-compatible response from") and "web page" in err


def test_a_redirect_is_refused_not_followed(cli, server, team, transport):
    """Following it would send the key to wherever the server points."""
    server.fail("redirect")
    r = cli("run", team(), "--json")
    assert r.exit_code == 1
    err = error_of(r)
    assert err.startswith("not an OpenAI-compatible response from") and "307 redirect" in err
    assert len(server.completions()) == 1


@pytest.mark.parametrize("var,value,said", [
    ("HTTPS_PROXY", "socks5://127.0.0.1:1080", "socksio"),
    ("ALL_PROXY", "ftp://127.0.0.1:21", "`ftp://` proxies are not supported"),
    ("HTTP_PROXY", "http://user:hunter22@127.0.0.1:9", "through the proxy in $HTTP_PROXY"),
])
def test_proxy_variables_that_cannot_work_are_named(cli, team, transport, monkeypatch, var,
                                                   value, said):
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
                 "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, value)
    r = cli("run", team(), "--json")
    assert r.exit_code == 1
    err = error_of(r)
    assert said in err and "\n" not in err
    assert "hunter22" not in r.stdout + r.stderr


@pytest.mark.parametrize("url", ["http://h:abc/v1", "not a url", "ftp://host/v1", "http://[bad/v1"])
def test_a_junk_openai_base_url_is_a_clear_error(cli, tmp_path, monkeypatch, url):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    team = tmp_path / "plain.yaml"
    team.write_text("name: plain\ntask: hi\nmax_round: 1\ncode_execution: {executor: none}\n"
                    "agents:\n  - name: A\n")
    for args in (("run", team, "--json"), ("models", "--json", "--no-call")):
        r = cli(*args)
        assert r.exit_code == 2
        assert "$OPENAI_BASE_URL" in r.stderr and "is not an http(s) URL" in r.stderr


def test_a_junk_api_base_in_a_team_file_names_the_profile(cli, team_file):
    r = cli("run", team_file(TEAM, url="http://h:abc/v1", timeout=5), "--json")
    assert r.exit_code == 2
    assert "profile `default`: api_base" in r.stderr


# -- 14: a reply cut at the token limit is marked truncated --------------------------------

def test_finish_reason_length_is_marked_truncated(cli, server, team, transport, tmp_path):
    server.fail("length")
    t = tmp_path / "len.jsonl"
    r = cli("run", team(), "--json", "--transcript", t)
    assert r.exit_code == 3
    [msg] = [e for e in r.events() if e["type"] == "message" and e["agent"] == "Coder"]
    assert msg["truncated"] is True and msg["incomplete"] is False and msg["content"] == REPLY
    lines = [json.loads(x) for x in t.read_text().split("\n") if x]
    assert [e["truncated"] for e in lines if e["type"] == "message"] == [False, True]
    server.fail("length")
    r = cli("run", team())
    assert "cut short at the model's token limit" in r.stdout
