"""The keys AutoGen users expect (issue 9), validated like every other key: a good value
loads, a bad one is one placed line with what was expected, a typo gets a did-you-mean."""

from __future__ import annotations

import pytest

from agentteam.errors import ConfigError
from agentteam.team import parse_team

from .conftest import run_process

BASE = """\
name: t
task: hi
agents:
  - {name: Coder}
  - {name: Critic}
  - {name: User_proxy, kind: user_proxy}
"""


def problems(text: str, env=None, file: str = "t.yaml") -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_team(text, file, env or {})
    return [str(p) for p in e.value.problems] or [str(e.value)]


def good(text: str, env=None, file: str = "t.yaml"):
    return parse_team(text, file, env or {})


# -- agents ------------------------------------------------------------------------------

def test_default_auto_reply_and_max_consecutive_auto_reply():
    team = good(BASE.replace("kind: user_proxy}", "kind: user_proxy, default_auto_reply: '', "
                             "max_consecutive_auto_reply: 3}"))
    proxy = team.agent("User_proxy")
    assert proxy.default_auto_reply == "" and proxy.max_consecutive_auto_reply == 3
    assert good(BASE).agent("User_proxy").default_auto_reply is None     # silent by default
    out = problems(BASE.replace("{name: Coder}", "{name: Coder, default_auto_reply: ok}"))
    assert out == ["t.yaml:4:19: agents[0].default_auto_reply: `default_auto_reply` applies "
                   "only to agents with `kind: user_proxy`"]
    out = problems(BASE.replace("{name: Coder}", "{name: Coder, max_consecutive_auto_reply: -1}"))
    assert out == ["t.yaml:4:19: agents[0].max_consecutive_auto_reply: input should be greater "
                   "than or equal to 0 (got -1)"]
    out = problems(BASE.replace("{name: Coder}", "{name: Coder, max_consecutive_auto_replies: 2}"))
    assert "did you mean `max_consecutive_auto_reply`?" in out[0]
    out = problems(BASE.replace("kind: user_proxy}", "kind: user_proxy, default_auto_repl: x}"))
    assert "did you mean `default_auto_reply`?" in out[0]


def test_initiator():
    assert good(BASE + "initiator: Coder\n").initiator == "Coder"
    assert problems(BASE + "initiator: Codr\n") == [
        "t.yaml:7:1: initiator: unknown agent `Codr`; did you mean `Coder`?"]
    assert "did you mean `initiator`?" in problems(BASE + "initator: Coder\n")[0]


# -- transitions ---------------------------------------------------------------------------

RULES = BASE + """\
transitions:
  Coder:
    - {to: User_proxy, when: {contains: "```"}}
    - {to: Critic, when: {regex: '(?i)please review', case_sensitive: false}}
    - Critic
  User_proxy:
    - {to: Coder, when: {exit_code: nonzero}}
    - {end: true}
"""


def test_rules_load_and_the_list_form_stays_valid():
    team = good(RULES)
    # whatever reads `transitions` sees the names allowed; the rules are kept apart
    assert team.transitions == {"Coder": ["User_proxy", "Critic"], "User_proxy": ["Coder"]}
    assert [r.to for r in team.transition_rules("Coder")] == ["User_proxy", "Critic"]
    assert team.transition_rules("User_proxy")[1].end
    assert good(BASE + "transitions:\n  Coder: [Critic]\n").transition_rules("Coder") == []


@pytest.mark.parametrize("rule,says", [
    ("{to: Critc}", "transitions.Coder[0].to: unknown agent `Critc`; did you mean `Critic`?"),
    ("{to: Critic, whn: {contains: x}}", "transitions.Coder[0].whn: unknown key `whn`; did you "
                                         "mean `when`?"),
    ("{to: Critic, when: {contians: x}}", "transitions.Coder[0].when.contians: unknown key "
                                          "`contians`; did you mean `contains`?"),
    ("{to: Critic, when: {regex: '(x'}}", "transitions.Coder[0].when.regex: '(x' is not a "
                                          "valid regular expression: missing ), unterminated "
                                          "subpattern at position 0"),
    ("{to: Critic, when: {exit_code: nonzer}}", "`nonzer` is not one of 'zero' or 'nonzero'; "
                                                "did you mean `nonzero`?"),
    ("{to: Critic, when: {}}", "transitions.Coder[0].when: a condition needs `contains`, "
                               "`regex` or `exit_code`"),
    ("{to: Critic, end: true}", "transitions.Coder[0]: a rule needs exactly one of `to: AGENT` "
                                "or `end: true`"),
    ("{when: {contains: x}}", "transitions.Coder[0]: a rule needs exactly one of"),
    ("5", "transitions.Coder[0]: expected an agent name or a rule like {to: Critic, when: "
          "{contains: DONE}}"),
])
def test_bad_rules_are_placed_errors(rule, says):
    out = problems(BASE + f"transitions:\n  Coder:\n    - {rule}\n")
    assert len(out) == 1 and out[0].startswith("t.yaml:9:") and says in out[0], out


def test_transitions_type():
    team = good(BASE + "transitions_type: disallowed\ntransitions:\n  Coder: [Critic]\n")
    # AutoGen's inversion: everyone not listed may follow, the agent itself included
    assert team.transitions == {"Coder": ["Coder", "User_proxy"]}
    assert "did you mean `disallowed`?" in problems(BASE + "transitions_type: dissallowed\n")[0]
    out = problems(BASE + "transitions_type: disallowed\ntransitions:\n  Coder: [{to: Critic}]\n")
    assert out == ["t.yaml:9:11: transitions.Coder[0]: rules need `transitions_type: allowed`; "
                   "a disallowed list names agents only"]


# -- speaker_selection -------------------------------------------------------------------

def test_allow_repeat_as_a_list():
    team = good(BASE + "speaker_selection: {allow_repeat: [Coder]}\n")
    assert team.speaker_selection.allow_repeat == ["Coder"]
    assert problems(BASE + "speaker_selection: {allow_repeat: [Codr]}\n") == [
        "t.yaml:7:36: speaker_selection.allow_repeat[0]: unknown agent `Codr`; did you mean "
        "`Coder`?"]
    assert problems(BASE + "speaker_selection: {allow_repeat: Coder}\n") == [
        "t.yaml:7:21: speaker_selection.allow_repeat: expected true, false, or a list of agent "
        "names"]


def test_selection_function(tmp_path):
    (tmp_path / "pick.py").write_text("def choose(history, candidates):\n    return None\n")
    file = str(tmp_path / "t.yaml")
    team = good(BASE + "speaker_selection: {method: function, function: pick.py:choose}\n",
                file=file)
    assert team.speaker_selection.function == "pick.py:choose"
    good(BASE + "speaker_selection: {method: function, function: 'json:loads'}\n")
    assert problems(BASE + "speaker_selection: {method: function, function: pick.py:chose}\n",
                    file=file) == [
        f"{file}:7:39: speaker_selection.function: pick.py defines no `chose`; did you mean "
        "`choose`?"]
    out = problems(BASE + "speaker_selection: {method: function, function: nope.py:f}\n",
                   file=file)
    assert "no file nope.py next to the team file" in out[0]
    out = problems(BASE + "speaker_selection: {method: function, function: no_such_mod_x:f}\n")
    assert "no module `no_such_mod_x` can be imported" in out[0]
    out = problems(BASE + "speaker_selection: function\n")
    assert out == ["t.yaml:7:1: speaker_selection.method: method `function` needs `function: "
                   "module:func` or `function: file.py:func` (a file next to the team file)"]
    out = problems(BASE + "speaker_selection: {method: auto, function: 'json:loads'}\n")
    assert "`function` applies only with `method: function`" in out[0]
    assert "did you mean `function`?" in problems(BASE + "speaker_selection: functon\n")[0]
    (tmp_path / "broken.py").write_text("def choose(:\n")
    out = problems(BASE + "speaker_selection: {method: function, function: broken.py:choose}\n",
                   file=file)
    assert "broken.py:1: Python syntax error" in out[0]


def test_selector_templates_and_max_retries():
    sel = good(BASE + "speaker_selection:\n  prompt: 'Pick from {names}: {roles} {history}'\n"
               "  retry_prompt: 'You {problem}. One of {names}.'\n  max_retries: 3\n"
               ).speaker_selection
    assert sel.max_retries == 3 and "{problem}" in sel.retry_prompt
    assert problems(BASE + "speaker_selection: {prompt: 'From {participants}'}\n") == [
        "t.yaml:7:21: speaker_selection.prompt: unknown placeholder `{participants}`; did you "
        "mean `{names}`? (placeholders: {roles}, {names}, {history}; write {{ and }} for "
        "literal braces)"]
    assert "did you mean `{roles}`?" in problems(
        BASE + "speaker_selection: {prompt: '{rolse}'}\n")[0]
    assert "`{problem}` is only for `retry_prompt`" in problems(
        BASE + "speaker_selection: {prompt: '{problem}'}\n")[0]
    assert "expected '}' before end of string" in problems(
        BASE + "speaker_selection: {retry_prompt: 'x {names'}\n")[0]
    good(BASE + "speaker_selection: {prompt: 'JSON like {{\"a\": 1}} and {names}'}\n")
    assert "less than or equal to 10" in problems(
        BASE + "speaker_selection: {max_retries: 11}\n")[0]
    assert "did you mean `max_retries`?" in problems(
        BASE + "speaker_selection: {max_retry: 1}\n")[0]


def test_send_introductions():
    assert good(BASE + "send_introductions: true\n").send_introductions
    assert "valid boolean" in problems(BASE + "send_introductions: maybe\n")[0]
    assert "did you mean `send_introductions`?" in problems(BASE + "send_introduction: true\n")[0]


# -- code execution and termination ----------------------------------------------------------

def test_last_n_messages_auto():
    assert good(BASE + "code_execution: {last_n_messages: auto}\n"
                ).code_execution.last_n_messages == "auto"
    for bad in ("aut", "0", "[3]"):
        out = problems(BASE + f"code_execution: {{last_n_messages: {bad}}}\n")
        assert out == ["t.yaml:7:18: code_execution.last_n_messages: expected a whole number of "
                       "at least 1, or `auto` (every message since the proxy last spoke)"]


def test_termination_options():
    t = good(BASE + "termination: {keyword: 'DONE|FINISHED', match: regex, case_sensitive: "
             "false, check_code_results: true, agents: [Critic]}\n").termination
    assert (t.match, t.case_sensitive, t.check_code_results, t.agents) == \
        ("regex", False, True, ["Critic"])
    assert "'(x' is not a valid regular expression" in problems(
        BASE + "termination: {keyword: '(x', match: regex}\n")[0]
    assert "did you mean `regex`?" in problems(BASE + "termination: {match: regx}\n")[0]
    assert "did you mean `case_sensitive`?" in problems(
        BASE + "termination: {case_sensitve: false}\n")[0]
    assert "did you mean `check_code_results`?" in problems(
        BASE + "termination: {check_code_result: true}\n")[0]
    assert problems(BASE + "termination: {agents: [Critc]}\n") == [
        "t.yaml:7:24: termination.agents[0]: unknown agent `Critc`; did you mean `Critic`?"]


# -- OAI_CONFIG_LIST -----------------------------------------------------------------------

CONFIG = BASE + "models:\n  default:\n    config_list: OAI_CONFIG_LIST\n"


def test_filter_dict():
    team = good(CONFIG + "    filter_dict: {tags: [gpt-4], api_type: azure}\n",
                {"OAI_CONFIG_LIST": "[]"})
    assert team.models["default"].filter_dict == {"tags": ["gpt-4"], "api_type": "azure"}
    out = problems(CONFIG + "    filter_dict: {tags: {a: 1}}\n", {"OAI_CONFIG_LIST": "[]"})
    assert out == ["t.yaml:10:5: models.default.filter_dict: expected a mapping of entry fields "
                   "to a value or a list of values, like {tags: [gpt-4], api_type: azure}"]
    out = problems(BASE + "models: {default: {model: gpt-4o, filter_dict: {tags: [x]}}}\n")
    assert "`filter_dict` applies only with `config_list:`" in out[0]
    assert "did you mean `filter_dict`?" in problems(
        CONFIG + "    filter_dic: {tags: [x]}\n", {"OAI_CONFIG_LIST": "[]"})[0]


def test_a_missing_config_list_is_the_same_kind_of_error_as_an_unset_variable(tmp_path):
    """Before: validate passed and run failed. Now both fail at load, placed, exit 2."""
    missing = problems(CONFIG)
    unset = problems(BASE + "models:\n  default:\n    model: gpt-4o\n    api_key: ${MY_KEY}\n")
    assert missing[0].startswith("t.yaml:9:5: models.default.config_list: `OAI_CONFIG_LIST` "
                                 "is neither a set environment variable nor a file")
    assert unset[0].startswith("t.yaml:10:5: models.default.api_key: environment variable")
    good(CONFIG, {"OAI_CONFIG_LIST": "[]"})              # the variable, or
    (tmp_path / "OAI_CONFIG_LIST").write_text("[]")      # a file next to the team file
    good(CONFIG, file=str(tmp_path / "t.yaml"))
    team = tmp_path / "team.yaml"
    team.write_text(CONFIG)
    r = run_process("validate", team, cwd=tmp_path.parent)
    assert r.returncode == 0, r.stderr                    # the file next to it counts
    (tmp_path / "OAI_CONFIG_LIST").unlink()
    r = run_process("validate", team, cwd=tmp_path.parent)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{team}:9:5: models.default.config_list: `OAI_CONFIG_LIST` is neither" in r.stderr


def test_model_override_needs_no_config_list(cli, server, tmp_path):
    """`--model` replaces every profile, so the team's config list is never read: an AutoGen
    port runs on another model without OAI_CONFIG_LIST set (batch too). Without --model
    the missing list is still the load error above."""
    team = tmp_path / "team.yaml"
    team.write_text(CONFIG.replace("task: hi", "task: hi\nmax_round: 1\n"
                                   "code_execution: {executor: none}"))
    r = cli("run", team, "--model", "fake-model", "--api-base", server.url)
    assert r.exit_code == 3, r.stderr
    assert [c.body["model"] for c in server.completions()] == ["fake-model"] * len(
        server.completions()) and server.completions()
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"id": "a", "task": "hi"}\n')
    r = cli("batch", team, tasks, "--out", tmp_path / "out1")
    assert r.exit_code == 2 and "`OAI_CONFIG_LIST` is neither" in r.stderr
    r = cli("batch", team, tasks, "--model", "openai/fake-model", "--out", tmp_path / "out2")
    assert "OAI_CONFIG_LIST" not in r.stderr, r.stderr       # loaded; the runs go on
    r = cli("run", team)
    assert r.exit_code == 2 and "`OAI_CONFIG_LIST` is neither" in r.stderr
