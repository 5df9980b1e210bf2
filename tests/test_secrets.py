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


# -- one redaction for every output (issue 8, items 7-10) ---------------------------------

def test_key_in_the_task_and_in_a_reply_is_redacted_in_every_output(server, team_file,
                                                                     tmp_path, env):
    server.api_key = CANARY
    script(server, {"Coder": [f"Your key {CANARY} works; I run on ollama locally."]})
    team = team_file(TEAM, executor="none")
    for extra in (["--json"], []):
        r = run(team, tmp_path, env, "--task", f"Check the key {CANARY} please.", *extra)
        assert r.returncode == 3, r.stderr
        assert "Your key *** works; I run on ollama locally." in r.stdout
        assert "Check the key *** please." in r.stdout
    # what reached the model was the person's text as written
    assert CANARY in server.completions()[0].body["messages"][-1]["content"]


def test_key_streamed_in_pieces_is_redacted_in_view_json_and_transcript(tmp_path):
    import io

    from rich.console import Console

    from agentteam.conversation.groupchat import GroupChat, drive
    from agentteam.conversation.transcript import TranscriptWriter
    from agentteam.errors import register_secret
    from agentteam.models.base import Delta
    from agentteam.team import parse_team
    from agentteam.testing import FakeExecutor, ScriptedModel
    from agentteam.ui.console import ConsoleView, JsonPrinter

    class ThreeCharStream(ScriptedModel):       # a provider that splits a key mid-word
        def stream(self, profile, messages, agent):
            inner, text = super().stream(profile, messages, agent), ""
            while True:
                try:
                    text += next(inner).text
                except StopIteration as stop:
                    done = stop.value
                    break
            for i in range(0, len(text), 3):
                yield Delta(text[i:i + 3])
            return done

    register_secret(CANARY)
    team = parse_team("name: t\ntask: go\nmax_round: 2\nspeaker_selection: round_robin\n"
                      "code_execution: {executor: none}\nagents:\n  - {name: U, kind: "
                      "user_proxy}\n  - {name: A}\n", "t.yaml", {})
    model = ThreeCharStream().enqueue("A", f"key:{CANARY}:end and sk-canary-not-it")
    out, js = io.StringIO(), io.StringIO()
    view = ConsoleView(Console(file=out, width=200, color_system=None),
                       Console(file=io.StringIO(), width=200))
    printer = JsonPrinter(js)
    deltas = []

    def both(ev):
        deltas.extend([ev.text] if ev.type == "message_delta" else [])
        view(ev)
        printer(ev)

    writer = TranscriptWriter(tmp_path / "t.jsonl")
    drive(GroupChat(team, model, FakeExecutor(), transcript=writer).run(), both)
    shown = out.getvalue()
    assert "key:***:end and sk-canary-not-it" in shown
    assert "".join(deltas) == "key:***:end and sk-canary-not-it"
    clean(shown, js.getvalue(), (tmp_path / "t.jsonl").read_text(), *deltas)
    for piece in (CANARY[i:i + 12] for i in range(0, len(CANARY) - 12, 6)):
        assert piece not in shown and piece not in (tmp_path / "t.jsonl").read_text()


PLACEHOLDER_TEAM = """\
name: placeholders
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: ollama}}
  studio: {{config_list: OAI_CONFIG_LIST}}
  paid: {{model: openai/fake-model, api_base: "{url}", api_key: "${{CANARY_KEY}}"}}
max_round: 2
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder}}
"""


def test_placeholder_keys_are_not_redacted_but_a_real_key_is(server, team_file, tmp_path,
                                                            env):
    config = [{"model": "fake-model", "base_url": server.url, "api_key": "lm-studio"}]
    script(server, {"Coder": ["Pull it with ollama, or use lm-studio; NULL is fine. "
                              f"But {CANARY} is a key."]})
    team = team_file(PLACEHOLDER_TEAM)
    said = "Pull it with ollama, or use lm-studio; NULL is fine. But *** is a key."
    for extra in (["--json"], []):
        r = run(team, tmp_path, {**env, "OAI_CONFIG_LIST": json.dumps(config)}, *extra)
        assert said in r.stdout, r.stdout + r.stderr
    assert all(said in t.read_text() for t in tmp_path.glob("t*.jsonl"))


def test_placeholder_rule():
    from agentteam.errors import is_secret
    for word in ("ollama", "lm-studio", "NULL", "EMPTY", "none", "sk-no-key-required",
                 "not-needed", "abc1234", "  ollama  ", ""):
        assert not is_secret(word), word
    for key in (CANARY, "gsk_0123456789", "a1b2c3d4"):
        assert is_secret(key), key


# -- OAI_CONFIG_LIST forms (item 7) ----------------------------------------------------------

CONFIG_TEAM = """\
name: cfg
task: Do the thing.
models:
  default: {{config_list: OAI_CONFIG_LIST}}
max_round: 2
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder}}
"""


def test_config_list_as_one_long_json_object_is_parsed_not_opened(server, team_file,
                                                                  tmp_path):
    server.api_key = CANARY
    entry = {"model": "fake-model", "base_url": server.url, "api_key": CANARY,
             "tags": ["padding " * 40]}
    value = json.dumps(entry)
    assert len(value.encode()) > 255           # too long for a file name
    team = team_file(CONFIG_TEAM)
    r = run(team, tmp_path, {"OAI_CONFIG_LIST": value}, "--json")
    assert r.returncode == 3, r.stderr
    # --json: the table wraps long model names at the 80 columns of a pipe
    r = run_process("models", team, "--json", cwd=tmp_path, env={"OAI_CONFIG_LIST": value})
    clean(r.stdout, r.stderr)
    assert r.returncode == 0 and "fake-model" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("value, says", [
    ('{"model": "fake-model", "api_key": "%s", "x": "%s"' % (CANARY, "p" * 300),
     "$OAI_CONFIG_LIST:1:"),
    (CANARY * 10, "$OAI_CONFIG_LIST is neither JSON"),
    (CANARY, "$OAI_CONFIG_LIST is neither JSON"),
    ('[{"model": 5, "api_key": "%s"}]' % CANARY, "$OAI_CONFIG_LIST[0]: `model` must be"),
    ('{"model": "m", "api_key": ["%s"]}' % CANARY, "$OAI_CONFIG_LIST[0]: `api_key` must be"),
    ("/nonexistent/\0/" + CANARY, "$OAI_CONFIG_LIST is neither JSON"),
], ids=["torn-json", "long-junk", "bare-key", "model-number", "key-list", "path"])
def test_bad_config_list_value_is_one_line_and_never_echoed(team_file, tmp_path, value, says):
    team = team_file(CONFIG_TEAM)
    for args in (("run", team), ("models", team, "--json")):
        r = run_process(*args, cwd=tmp_path, env={"OAI_CONFIG_LIST": value.replace("\0", "")})
        clean(r.stdout, r.stderr)
        assert r.returncode == 2 and says in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1


def test_config_list_naming_a_directory_or_fifo_is_a_clear_error(team_file, tmp_path):
    import os
    os.mkfifo(tmp_path / "fifo")
    team = team_file(CONFIG_TEAM)
    for target in (tmp_path, tmp_path / "fifo"):
        r = run_process("run", team, cwd=tmp_path, env={"OAI_CONFIG_LIST": str(target)},
                        timeout=60)
        assert r.returncode == 2 and "neither JSON" in r.stderr, r.stderr


# -- credentials in api_base (item 8) ---------------------------------------------------------

def test_key_in_api_base_userinfo_is_masked_in_models_and_run(server, team_file, tmp_path,
                                                              env):
    script(server, {"Coder": ["done"]})
    team = team_file(TEAM.replace("api_base: {url}", "api_base: http://user:${{CANARY_KEY}}@"
                                  + server.url.removeprefix("http://"))
                     .replace("api_key: ${{CANARY_KEY}}", "api_key: NULL"), executor="none")
    masked = "http://***@" + server.url.removeprefix("http://")
    r = run_process("models", team, cwd=tmp_path, env={**env, "COLUMNS": "200"})
    clean(r.stdout, r.stderr)
    assert masked in r.stdout, r.stdout
    r = run_process("models", team, "--json", "--verbose", cwd=tmp_path, env=env)
    clean(r.stdout, r.stderr)
    assert json.loads(r.stdout)[0]["endpoint"] == masked
    server.fail("500", times=6)
    r = run(team, tmp_path, env, "--verbose")
    assert r.returncode == 1 and masked in r.stderr


def test_url_credentials_are_found_and_masked():
    from agentteam.models.credentials import mask_url, url_secrets
    assert mask_url("http://u:p4ss%2Fword@h:1/v1") == "http://***@h:1/v1"
    assert set(url_secrets("http://u:p4ss%2Fword@h:1/v1")) == {"p4ss%2Fword", "p4ss/word"}
    assert url_secrets("https://tok-0123456789@h/v1") == ["tok-0123456789"]
    url = "https://h/v1?api-version=2024-06-01&api-key=abc123456789&sig=zzz"
    assert mask_url(url) == "https://h/v1?api-version=2024-06-01&api-key=***&sig=***"
    assert sorted(url_secrets(url)) == ["abc123456789", "zzz"]
    assert mask_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert url_secrets("http://[::1") == [] and mask_url("http://[::1") == "http://[::1"


def test_token_variable_in_a_header_is_redacted(server, team_file, tmp_path):
    script(server, {"Coder": ["The header was Bearer tok-0123456789abcdef, right?"]})
    team = team_file(TEAM.replace("    num_retries: 1\n", "    num_retries: 1\n    "
                                  "extra_headers: {{X-Auth: \"Bearer ${{GATEWAY_TOKEN}}\"}}\n"),
                     executor="none")
    r = run(team, tmp_path, {"CANARY_KEY": "NULL", "GATEWAY_TOKEN": "tok-0123456789abcdef"},
            "--json")
    assert "The header was Bearer ***, right?" in r.stdout, r.stdout + r.stderr


# -- chat: /save and the history file (item 9) --------------------------------------------

CHAT_TEAM = """\
name: chatty
task: unused
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: "${{CANARY_KEY}}"}}
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: Me, kind: user_proxy}}
  - {{name: Helper}}
"""


def test_chat_save_and_history_hold_no_key_and_history_is_private(server, tmp_path, env):
    import os
    import stat
    import sys

    from .test_chat_tty import Terminal
    server.api_key = CANARY
    script(server, {"Helper": [f"You pasted {CANARY} and ollama."]})
    team = tmp_path / "chat.yaml"
    team.write_text(CHAT_TEAM.format(url=server.url))
    history = tmp_path / "data" / "agentteam" / "chat_history"
    history.parent.mkdir(parents=True)
    history.write_text(f"\n# old\n+my key is {CANARY}\n")    # written by an older version
    history.chmod(0o644)
    t = Terminal([sys.executable, "-m", "agentteam.cli", "chat", str(team), "--transcript",
                  str(tmp_path / "chat.jsonl")], tmp_path,
                 {**os.environ, **env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm",
                  "COLUMNS": "200", "XDG_DATA_HOME": str(tmp_path / "data")})
    try:
        t.read_until(r"you>")
        t.mark()
        t.send(f"here is my key {CANARY} ok\r")
        screen = t.read_until(r"You pasted \*\*\* and ollama\..*you>")
        assert CANARY not in screen[screen.index(" Helper "):]   # only in the typing echo
        t.send(f"/save {tmp_path / 'chat.md'}\r")
        t.read_until(r"saved to")
        t.send(f"/save {tmp_path / 'copy.jsonl'}\r")
        t.read_until(r"saved to.*saved to")
        t.send("/exit\r")
        assert t.proc.wait(timeout=30) == 0
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
    saved = (tmp_path / "chat.md").read_text()
    assert "here is my key *** ok" in saved and "You pasted *** and ollama." in saved
    kept = history.read_text()
    assert "+here is my key *** ok" in kept and "+my key is ***" in kept
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    clean(saved, kept, (tmp_path / "copy.jsonl").read_text(),
          (tmp_path / "chat.jsonl").read_text())
