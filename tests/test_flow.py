"""How the AutoGen-surface keys behave in a run (issue 9): rule transitions, the selection
function, selector templates, repeats and disallowed transitions, automatic replies,
last_n_messages auto, termination options, filter_dict and run --api-base."""

from __future__ import annotations

import json

import pytest

import agentteam
from agentteam.conversation.selection import candidates
from agentteam.errors import ConfigError
from agentteam.models.base import SELECTOR
from agentteam.models.profiles import filter_entries, resolve
from agentteam.team import parse_team

from .conftest import script

HEAD = """\
name: t
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, num_retries: 0}}
max_round: {max_round}
code_execution: {{executor: none}}
"""
THREE = """\
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder}}
  - {{name: Critic}}
  - {{name: Reviewer}}
"""


def flow(team_file, body: str, agents: str = THREE, max_round: int = 6, **kw):
    return team_file(HEAD + body + agents, max_round=max_round, **kw)


def spoke(r) -> list[str]:
    return [e["agent"] for e in r.events() if e["type"] == "message" and e["round"] > 0]


def chosen(r) -> list[tuple[str, str, str]]:
    return [(e["agent"], e["method"], e["reason"]) for e in r.events()
            if e["type"] == "speaker_selected"]


def selector_calls(server) -> list:
    return [q for q in server.completions() if q.headers.get("X-Agentteam-Agent") == SELECTOR]


# -- rule transitions ----------------------------------------------------------------------

RULED = """\
speaker_selection: auto
transitions:
  User_proxy: [{{to: Coder}}]
  Coder:
    - {{to: Reviewer, when: {{contains: "please REVIEW", case_sensitive: false}}}}
    - {{to: Critic, when: {{regex: '^DRAFT\\b'}}}}
    - Critic
    - Reviewer
  Critic: [{{to: Coder, when: {{contains: again}}}}, {{end: true}}]
  Reviewer: [Coder]
"""


def test_the_first_rule_that_holds_decides_without_a_selector_call(cli, server, team_file):
    script(server, {"Coder": ["DRAFT one", "done, Please review"], "Critic": ["again"],
                    "Reviewer": ["fine TERMINATE"]})
    r = cli("run", flow(team_file, RULED), "--json")
    assert r.exit_code == 0 and r.events()[-1]["reason"] == "keyword"
    assert spoke(r) == ["Coder", "Critic", "Coder", "Reviewer"]
    assert chosen(r) == [
        ("Coder", "transition", "rule 1 of User_proxy: to Coder"),
        ("Critic", "transition", "rule 2 of Coder: to Critic when the last message matches "
                                 "'^DRAFT\\\\b'"),
        ("Coder", "transition", "rule 1 of Critic: to Coder when the last message contains "
                                "'again'"),
        ("Reviewer", "transition", "rule 1 of Coder: to Reviewer when the last message "
                                   "contains 'please REVIEW'")]
    assert selector_calls(server) == []


def test_when_no_rule_holds_the_method_picks_among_every_name_listed(cli, server, team_file):
    script(server, {SELECTOR: ["Reviewer"], "Coder": ["something else"],
                    "Reviewer": ["ok TERMINATE"]})
    r = cli("run", flow(team_file, RULED), "--json")
    assert spoke(r) == ["Coder", "Reviewer"]
    assert chosen(r)[1] == ("Reviewer", "auto", "chosen by the selector model")
    # the candidates: the names listed, plain or as a rule's target
    assert "One of: Critic, Reviewer." in selector_calls(server)[0].body["messages"][-1][
        "content"]


def test_an_end_rule_ends_the_run_with_reason_selection(cli, server, team_file):
    script(server, {"Coder": ["DRAFT"], "Critic": ["all good"]})
    r = cli("run", flow(team_file, RULED), "--json")
    end = r.events()[-1]
    assert (r.exit_code, end["reason"], end["rounds"]) == (0, "selection", 2)
    assert any(e["type"] == "notice" and e["text"] == "speaker selection ended the chat "
               "(rule 2 of Critic: end)" for e in r.events())
    r = cli("run", flow(team_file, RULED))                       # the terminal says why
    assert "ended by speaker selection" in r.stdout


def test_a_rule_whose_agent_has_nothing_to_say_is_passed_over(cli, server, team_file):
    body = """\
speaker_selection: round_robin
transitions:
  Coder: [{{to: User_proxy, when: {{contains: "x"}}}}, {{to: Critic}}]
"""
    script(server, {"Coder": ["x marks the spot"], "Critic": ["TERMINATE"]})
    r = cli("run", flow(team_file, body), "--json")
    # the proxy has no code and no default reply: silent, so the next rule holds
    assert spoke(r) == ["Coder", "Critic"]
    assert chosen(r)[-1] == ("Critic", "transition", "rule 2 of Coder: to Critic")


# -- the selection function ------------------------------------------------------------------

PICK = """\
import json
calls = []

def choose(history, candidates):
    calls.append(1)
    last = history[-1]
    history[0].content = "changed by the function"      # it gets copies
    if last.agent == "User_proxy":
        return "Coder"
    if last.agent == "Coder" and "{{" in last.text:
        return "round_robin"
    if last.text == "stop":
        return None
    if last.text == "boom":
        raise ValueError("no idea " + json.dumps(candidates))
    if last.text == "who":
        return "Nobody"
    if last.text == "proxy":
        return "User_proxy"
    return "Critic"
"""


def function_team(team_file, tmp_path, max_round=6):
    (tmp_path / "pick.py").write_text(PICK)
    return flow(team_file, "speaker_selection: {{method: function, function: pick.py:choose}}\n",
                max_round=max_round)


def test_the_function_picks_names_methods_and_ends(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["{{ json"], "Critic": ["looks fine", "stop"]})
    r = cli("run", function_team(team_file, tmp_path), "--json")
    assert (r.exit_code, r.events()[-1]["reason"]) == (0, "selection")
    assert spoke(r) == ["Coder", "Critic", "Critic"]
    assert chosen(r) == [("Coder", "function", "chosen by pick.py:choose"),
                         ("Critic", "round_robin", "pick.py:choose asked for round_robin: next "
                                                   "in order"),
                         ("Critic", "function", "chosen by pick.py:choose")]
    msgs = [e["content"] for e in r.events() if e["type"] == "message"]
    assert "changed by the function" not in msgs
    assert any(e["type"] == "notice" and "pick.py:choose returned None: the chat ends"
               in e["text"] for e in r.events())


@pytest.mark.parametrize("reply,says", [
    ("boom", "speaker_selection.function pick.py:choose raised ValueError: no idea "
             '["User_proxy", "Coder", "Reviewer"]'),
    ("who", "speaker_selection.function pick.py:choose returned 'Nobody': not an agent of the "
            "team (User_proxy, Coder, Critic, Reviewer), a method (auto, round_robin, random, "
            "manual) or None")])
def test_a_failing_function_is_a_clear_error_exit_1(cli, server, team_file, tmp_path, reply,
                                                     says):
    script(server, {"Critic": [reply], "Coder": ["c"]})
    r = cli("run", function_team(team_file, tmp_path), "--json")
    end = r.events()[-1]
    assert (r.exit_code, end["reason"]) == (1, "error") and end["error"] == says
    assert "Traceback" not in r.stdout + r.stderr


def test_a_function_choosing_a_silent_agent_ends_stalled(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["c"], "Critic": ["proxy"]})
    r = cli("run", function_team(team_file, tmp_path), "--json")
    assert (r.exit_code, r.events()[-1]["reason"]) == (3, "stalled")
    assert any(e["type"] == "notice" and "chose User_proxy, who has nothing to say" in e["text"]
               for e in r.events())


def test_a_function_that_cannot_be_loaded_stops_before_any_call(cli, server, team_file,
                                                                tmp_path):
    (tmp_path / "pick.py").write_text("raise RuntimeError('broken module')\n"
                                      "def choose(h, c):\n    return None\n")
    path = flow(team_file, "speaker_selection: {{method: function, function: pick.py:choose}}\n")
    r = cli("run", path, "--json")
    assert r.exit_code == 2 and server.completions() == []
    assert "speaker_selection.function: cannot load pick.py (RuntimeError: broken module)" \
        in r.stdout + r.stderr


# -- the selector's prompt, retries, repeats, disallowed ---------------------------------------

def test_a_prompt_with_history_is_the_whole_request(cli, server, team_file):
    body = """\
speaker_selection:
  prompt: "Roles:\\n{{roles}}\\nSo far:\\n{{history}}\\nPick one of {{names}}."
  retry_prompt: "Wrong: your answer {{problem}}. Say one of {{names}}."
  max_retries: 0
"""
    script(server, {SELECTOR: ["hmm"], "User_proxy": ["x"], "Coder": ["TERMINATE"]})
    r = cli("run", flow(team_file, body), "--json")
    calls = selector_calls(server)
    assert len(calls) == 1                                       # max_retries: 0
    assert chosen(r)[0][0] == "Coder" and "no valid name" in chosen(r)[0][2]
    messages = calls[0].body["messages"]
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"].startswith("Roles:\n- Coder: ")
    assert "So far:\n[User_proxy] Do the thing.\nPick one of Coder, Critic, Reviewer." \
        in messages[0]["content"]


def test_max_retries_asks_again_with_the_retry_prompt(cli, server, team_file):
    body = """\
speaker_selection:
  retry_prompt: "Wrong: your answer {{problem}}. Say one of {{names}}."
  max_retries: 3
"""
    script(server, {SELECTOR: ["a", "b", "Coder or Critic", "Critic"], "Critic": ["TERMINATE"]})
    r = cli("run", flow(team_file, body), "--json")
    calls = selector_calls(server)
    assert len(calls) == 4 and chosen(r)[0][:2] == ("Critic", "auto")
    assert calls[3].body["messages"][-1]["content"].endswith(
        "Wrong: your answer named several candidates (Coder, Critic). Say one of Coder, "
        "Critic, Reviewer.")


def test_allow_repeat_list_and_disallowed_candidates(tmp_path):
    text = ("name: t\ntask: x\nagents: [{name: A}, {name: B}, {name: C}]\n"
            "speaker_selection: {allow_repeat: [A]}\n")
    team = parse_team(text, "t.yaml", {})
    assert candidates(team, "A") == ["A", "B", "C"]
    assert candidates(team, "B") == ["A", "C"]
    team = parse_team(text + "transitions_type: disallowed\ntransitions: {A: [B], C: [A, B]}\n",
                      "t.yaml", {})
    assert candidates(team, "A") == ["A", "C"]       # the list says who may NOT follow
    assert candidates(team, "C") == ["C"]            # only itself is left: it may repeat
    assert candidates(team, "B") == ["A", "C"]       # no entry: anyone (but B itself)


# -- automatic replies ----------------------------------------------------------------------

TWO = """\
agents:
  - {{name: User_proxy, kind: user_proxy, human_input: terminate, default_auto_reply: "",
      max_consecutive_auto_reply: 1}}
  - {{name: Assistant}}
"""


class Person:
    def __init__(self, answers):
        self.answers, self.asked = list(answers), []

    def ask(self, prompt):
        self.asked.append(prompt)
        return self.answers.pop(0) if self.answers else None


def test_at_the_limit_a_proxy_on_terminate_asks_the_person(server, team_file):
    script(server, {"Assistant": ["a", "b", "c", "d"]})
    path = flow(team_file, "speaker_selection: round_robin\n", TWO, max_round=20)
    person = Person(["go on", "exit"])
    events = list(agentteam.run_team(path, human=person))
    said = [(e.agent, e.content) for e in events if e.type == "message" and e.round > 0]
    assert said == [("Assistant", "a"), ("User_proxy", ""), ("Assistant", "b"),
                    ("User_proxy", "go on"), ("Assistant", "c"), ("User_proxy", ""),
                    ("Assistant", "d")]
    assert events[-1].reason == "human" and events[-1].exit_code == 0
    assert len(person.asked) == 2 and "max_consecutive_auto_reply" in person.asked[0]


def test_an_assistant_at_its_limit_stays_silent(cli, server, team_file):
    agents = THREE.replace("{{name: Coder}}", "{{name: Coder, max_consecutive_auto_reply: 1}}")
    script(server, {"Coder": ["c"], "Critic": ["k"], "Reviewer": ["r"]})
    r = cli("run", flow(team_file, "speaker_selection: round_robin\n", agents), "--json")
    assert spoke(r) == ["Coder", "Critic", "Reviewer", "Critic", "Reviewer", "Critic"]


# -- last_n_messages: auto ------------------------------------------------------------------

def test_last_n_messages_auto_looks_back_to_the_proxys_last_message(cli, server, team_file,
                                                                    tmp_path):
    body = "speaker_selection: round_robin\n"
    code = "```python\nopen('ran.txt', 'w').write('yes')\n```"
    script(server, {"Coder": [code], "Critic": ["hm"], "Reviewer": ["ok"]})
    head = HEAD.replace("code_execution: {{executor: none}}",
                        "code_execution: {{executor: local, last_n_messages: {n}}}")
    r = cli("run", team_file(head + body + THREE, max_round=4, n=2), "--json")
    assert not any(e["type"] == "code_result" for e in r.events())   # 2 back: too short
    r = cli("run", team_file(head + body + THREE, max_round=4, n="auto"), "--json")
    ran = [e for e in r.events() if e["type"] == "code_result"]
    assert [e["source_round"] for e in ran] == [1] and (tmp_path / "groupchat" /
                                                        "ran.txt").read_text() == "yes"


# -- termination ---------------------------------------------------------------------------

@pytest.mark.parametrize("termination,reply,ends", [
    ("{{keyword: 'DONE|FINISHED', match: regex}}", "we are FINISHED here", True),
    ("{{keyword: 'DONE|FINISHED', match: regex}}", "not yet", False),
    ("{{keyword: TERMINATE, case_sensitive: false}}", "all good. terminate.", True),
    ("{{keyword: TERMINATE}}", "all good. terminate.", False),
    ("{{keyword: TERMINATE, agents: [Critic]}}", "TERMINATE", False),
])
def test_termination_options(cli, server, team_file, termination, reply, ends):
    script(server, {"Coder": [reply], "Critic": ["k"]})
    body = f"speaker_selection: round_robin\ntermination: {termination}\n"
    r = cli("run", flow(team_file, body, max_round=2), "--json")
    assert (r.events()[-1]["reason"] == "keyword") is ends
    assert r.events()[-1]["rounds"] == (1 if ends else 2)


def test_code_results_end_the_chat_only_when_asked(cli, server, team_file):
    code = "```python\nprint('TERMINATE')\n```"
    head = HEAD.replace("code_execution: {{executor: none}}", "code_execution: {{executor: local}}")
    for check, reason in (("false", "max_round"), ("true", "keyword")):
        script(server, {"Coder": [code], "Critic": ["k"]})
        body = (f"speaker_selection: round_robin\ntransitions: {{{{Coder: [User_proxy]}}}}\n"
                f"termination: {{{{check_code_results: {check}}}}}\n")
        r = cli("run", team_file(head + body + THREE, max_round=3), "--json")
        assert r.events()[-1]["reason"] == reason, check


# -- OAI_CONFIG_LIST filter_dict -----------------------------------------------------------

ENTRIES = [{"model": "gpt-4", "tags": ["gpt-4", "fast"], "api_key": "sk-one-0123456789abcdef"},
           {"model": "gpt-4o", "tags": ["gpt-4o"], "api_type": "azure"},
           {"model": "gpt-3.5-turbo"}]


def test_filter_dict_is_autogens():
    assert [e["model"] for e in filter_entries(ENTRIES, {"tags": ["fast", "x"]})] == ["gpt-4"]
    assert [e["model"] for e in filter_entries(ENTRIES, {"api_type": "azure"})] == ["gpt-4o"]
    assert [e["model"] for e in filter_entries(ENTRIES, {"tags": [None]})] == ["gpt-3.5-turbo"]
    assert filter_entries(ENTRIES, {"model": ["gpt-4", "gpt-3.5-turbo"], "tags": ["gpt-4"]}) \
        == ENTRIES[:1]


def test_filter_dict_that_keeps_nothing_says_what_there_was(monkeypatch, tmp_path):
    monkeypatch.setenv("OAI_CONFIG_LIST", json.dumps(ENTRIES))
    team = parse_team("name: t\ntask: x\nagents: [{name: A}]\nmodels:\n  default:\n"
                      "    config_list: OAI_CONFIG_LIST\n    filter_dict: {tags: [gpt-5]}\n",
                      str(tmp_path / "t.yaml"))
    with pytest.raises(ConfigError) as e:
        resolve(team)
    assert str(e.value) == ("$OAI_CONFIG_LIST: no entry left for profile `default` after "
                            "filter_models/filter_dict (its 3 entries: models gpt-3.5-turbo, "
                            "gpt-4, gpt-4o; tags fast, gpt-4, gpt-4o)")


# -- run --api-base ------------------------------------------------------------------------

ELSEWHERE = """\
name: t
task: Do the thing.
models:
  default: {{model: gpt-4o, api_base: "http://127.0.0.1:9/v1", api_key: NULL, num_retries: 0}}
  other: {{model: mistral/mistral-small, num_retries: 0}}
max_round: 2
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: Coder}}
  - {{name: Critic, model: other}}
"""


def test_api_base_points_every_profile_at_another_endpoint(cli, server, team_file,
                                                           monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-0123456789abcdefgh")
    script(server, {"Coder": ["c"], "Critic": ["k"]})
    path = team_file(ELSEWHERE)
    r = cli("run", path, "--json", "--model", "fake-model", "--api-base", server.url)
    assert r.exit_code == 3, r.stderr
    assert [q.body["model"] for q in server.completions()] == ["fake-model", "fake-model"]
    # no key unless asked for: OPENAI_API_KEY is not sent to an endpoint it is not for
    assert {q.headers.get("Authorization") for q in server.completions()} == {"Bearer NULL"}
    monkeypatch.setenv("MY_ENDPOINT_KEY", "ek-0123456789abcdefghij")
    r = cli("run", path, "--json", "--model", "fake-model", "--api-base", server.url,
            "--api-key-var", "MY_ENDPOINT_KEY")
    assert r.exit_code == 3
    assert server.completions()[-1].headers["Authorization"] == "Bearer ek-0123456789abcdefghij"
    assert "ek-0123456789abcdefghij" not in r.stdout + r.stderr


@pytest.mark.parametrize("flags,says", [
    (["--api-base", "http://h/v1"], "--api-base needs --model"),
    (["--model", "m", "--api-base", "h:8000"], "expected an http:// or https:// URL"),
    (["--model", "m", "--api-key-var", "K"], "--api-key-var goes with --api-base"),
    (["--model", "m", "--api-base", "http://h/v1", "--api-key-var", "UNSET_VAR_X"],
     "the environment variable UNSET_VAR_X is not set")])
def test_api_base_mistakes_are_usage_errors(cli, server, team_file, flags, says):
    r = cli("run", team_file(ELSEWHERE), *flags)
    assert r.exit_code == 2 and says in r.stderr and server.completions() == []
