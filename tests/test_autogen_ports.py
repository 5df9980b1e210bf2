"""AutoGen's group-chat notebooks, ported to teams/autogen/, run against the fake server.

Every model call is answered by a script per agent (`(selector)` for speaker selection);
each test checks the flow the notebook is about: who spoke after whom, how each speaker
was chosen, and why the run ended. Models come from OAI_CONFIG_LIST, filtered by the
ports' `filter_dict`, as in the notebooks; code runs with `--executor local`.
"""

from __future__ import annotations

import json
import shutil

import pytest

import agentteam
from agentteam.models.base import SELECTOR

from .conftest import ROOT, script


@pytest.fixture
def ports(tmp_path, server, monkeypatch):
    """The ports copied to tmp_path, and an OAI_CONFIG_LIST of three entries: one the
    ports' filters must drop (its model is unknown to the server), gpt-4 and gpt-3.5."""
    shutil.copytree(ROOT / "teams" / "autogen", tmp_path / "teams" / "autogen")
    shutil.copytree(ROOT / "teams" / "data", tmp_path / "teams" / "data")
    server.models += ["gpt-4", "gpt-3.5-turbo"]
    entries = [{"model": "unlisted-model", "base_url": server.url, "api_key": "NULL",
                "tags": ["other"]},
               {"model": "gpt-4", "base_url": server.url, "api_key": "NULL",
                "tags": ["gpt-4", "fast"]},
               {"model": "gpt-3.5-turbo", "base_url": server.url, "api_key": "NULL",
                "tags": ["gpt-3.5"]}]
    monkeypatch.setenv("OAI_CONFIG_LIST", json.dumps(entries))
    return tmp_path / "teams" / "autogen"


def run(cli, path, *flags):
    r = cli("run", path, "--json", "--executor", "local", *flags)
    events = r.events()
    assert events and events[-1]["type"] == "run_ended", r.stdout + r.stderr
    return r, events


def spoke(events) -> list[str]:
    """The agents of the messages after the task, in order."""
    return [e["agent"] for e in events if e["type"] == "message" and e["round"] > 0]


def selections(events) -> list[tuple[str, str]]:
    return [(e["agent"], e["method"]) for e in events if e["type"] == "speaker_selected"]


def models_used(server) -> set[str]:
    return {r.body["model"] for r in server.completions()}


def selector_calls(server) -> list:
    return [r for r in server.completions() if r.headers.get("X-Agentteam-Agent") == SELECTOR]


def code(body: str) -> str:
    return f"Here is the code.\n```python\n{body}\n```"


def test_groupchat_coder_runs_code_then_product_manager_ends(cli, server, ports):
    script(server, {SELECTOR: ["Coder", "Product_manager"],
                    "Coder": [code('print("GPT-4 Technical Report, arXiv 2303.08774")')],
                    "Product_manager": ["It could power code review and test writing. "
                                        "TERMINATE"]})
    r, ev = run(cli, ports / "groupchat.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    assert spoke(ev) == ["Coder", "User_proxy", "Product_manager"]
    assert [m for _, m in selections(ev)] == ["auto", "auto", "auto"]
    out = [e for e in ev if e["type"] == "code_result"]
    assert out[0]["exit_code"] == 0 and "GPT-4 Technical Report" in out[0]["output"]
    assert len(selector_calls(server)) == 2           # the code went to the proxy unasked
    assert models_used(server) == {"gpt-4"}            # filter_dict: tags gpt-4


def test_groupchat_vis_plots_cars_and_the_critic_ends(cli, server, ports):
    plot = ('import csv\nwith open("cars.csv") as f:\n    print(next(csv.reader(f)))\n'
            'open("weight_vs_horsepower.svg", "w").write("<svg/>")\nprint("saved")')
    script(server, {SELECTOR: ["Coder", "Critic"], "Coder": [code(plot)],
                    "Critic": ["{bugs: 9, transformation: 8, compliance: 9, type: 9, "
                               "encoding: 8, aesthetics: 8} TERMINATE"]})
    r, ev = run(cli, ports / "groupchat_vis.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    assert spoke(ev) == ["Coder", "User_proxy", "Critic"]
    out = [e for e in ev if e["type"] == "code_result"][0]["output"]
    assert "Weight_in_lbs" in out and "saved" in out
    assert (ports / "groupchat" / "weight_vs_horsepower.svg").exists()
    # allow_repeat: true (AutoGen's default): the last speaker is a candidate too
    after_proxy = selector_calls(server)[-1].body["messages"][-1]["content"]
    assert "One of: User_proxy, Coder, Critic." in after_proxy


def test_groupchat_research_plans_codes_summarises(cli, server, ports):
    script(server, {SELECTOR: ["nobody", "still nobody", "Planner", "Engineer", "Scientist"],
                    "Planner": ["Plan: the Engineer fetches the papers, the Scientist "
                                "makes the table."],
                    "Engineer": [code('print("LLMs for chemistry; LLMs for law")')],
                    "Scientist": ["| Domain | Paper |\n|---|---|\n| chemistry | ... |\n"
                                  "TERMINATE"]})
    r, ev = run(cli, ports / "groupchat_research.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    assert spoke(ev) == ["Planner", "Engineer", "Executor", "Scientist"]
    calls = selector_calls(server)
    assert len(calls) == 5       # max_retries: 2 (two bad answers, then Planner), then 2 more
    first = calls[0].body["messages"]
    assert first[0]["content"].startswith("You are in a role play game.")   # `prompt`
    assert "- Planner: Planner.\n" in first[0]["content"]                  # {roles}
    assert "Your answer named no candidate. The only names accepted are" in \
        calls[1].body["messages"][-1]["content"]                            # `retry_prompt`
    # transitions_type: disallowed: after the Executor, anyone but the Critic
    assert "One of: Admin, Engineer, Scientist, Planner." in \
        calls[-1].body["messages"][-1]["content"]
    assert "Critic" in calls[0].body["messages"][-1]["content"]
    # send_introductions: every agent's prompt starts with who is in the chat
    planner = next(q for q in server.completions()
                   if q.headers.get("X-Agentteam-Agent") == "Planner")
    assert planner.body["messages"][1]["content"].startswith("Introductions:")
    assert "- Critic: Critic." in planner.body["messages"][1]["content"]


FSM = {"A1": ["I have 3 chocolates. NEXT: A2"],
       "A2": ["I have 1 chocolate. NEXT: A0"],
       "A0": ["Team A has 6. NEXT: B0"],
       "B0": ["I lead team B and have 4. NEXT: B1", "Team B has 11. NEXT: C0"],
       "B1": ["I have 2. NEXT: B2"],
       "B2": ["I have 5. NEXT: B0"],
       "C0": ["I lead team C and have 1. NEXT: C1", "Team C has 6; 6 + 11 + 6 = 23. TERMINATE"],
       "C1": ["I have 3. NEXT: C2"],
       "C2": ["I have 2. NEXT: C0"]}


def test_finite_state_machine_follows_the_graph_from_an_assistant_initiator(cli, server, ports):
    script(server, {SELECTOR: ["A2"], **FSM})
    r, ev = run(cli, ports / "finite_state_machine.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    task = [e for e in ev if e["type"] == "message" and e["round"] == 0][0]
    assert task["agent"] == "A0" and task["content"].rstrip().endswith("NEXT: A1")
    assert spoke(ev) == ["A1", "A2", "A0", "B0", "B1", "B2", "B0", "C0", "C1", "C2", "C0"]
    # each message names one allowed player: never a selector call
    assert selector_calls(server) == []
    assert {e["reason"] for e in ev if e["type"] == "speaker_selected"} == \
        {"named in the last message"}
    # the initiator's own task is its own message in its prompt
    a0 = next(q for q in server.completions() if q.headers.get("X-Agentteam-Agent") == "A0")
    task_turn = next(m for m in a0.body["messages"] if "There are 9 players" in m["content"])
    assert task_turn["role"] == "assistant"


class Person:
    """The person at the terminal, answering from a script."""

    def __init__(self, answers: list[str]):
        self.answers, self.asked = list(answers), []

    def ask(self, prompt: str) -> str | None:
        self.asked.append(prompt)
        return self.answers.pop(0) if self.answers else None


def test_customized_selection_function_drives_the_pipeline(server, ports, monkeypatch):
    monkeypatch.chdir(ports)
    script(server, {"Planner": ["Plan: the Engineer finds the paper, the Scientist sums up."],
                    "Engineer": [code("raise SystemExit(1)"),
                                 code('print("GPT-4 Technical Report")')],
                    "Scientist": ["GPT-4 could help with code review and documentation."]})
    person = Person(["Approve", "TERMINATE", ""])
    events = list(agentteam.run_team(ports / "customized_selection.yaml", human=person,
                                     executor="local"))
    ended = events[-1]
    assert ended.reason == "keyword" and ended.exit_code == 0
    said = [(e.agent, e.content) for e in events if e.type == "message" and e.round > 0]
    assert [a for a, _ in said] == ["Planner", "Admin", "Engineer", "Executor", "Engineer",
                                    "Executor", "Scientist", "Admin"]
    assert said[1][1] == "Approve" and said[-1][1] == "TERMINATE"
    assert said[3][1].startswith("exitcode: 1") and said[5][1].startswith("exitcode: 0")
    chosen = [(e.agent, e.method, e.reason) for e in events if e.type == "speaker_selected"]
    assert {m for _, m, _ in chosen} == {"function"}
    assert chosen[0][2] == "chosen by customized_selection.py:custom_speaker_selection"
    assert models_used(server) == {"gpt-4"}          # filter_dict: model gpt-4
    assert len(person.asked) == 3                    # two turns, then "end here?"


def test_stateflow_rules_retry_on_failure_and_end_after_research(cli, server, ports):
    script(server, {"Retrieve_Action_1": ["I will query the arXiv API.",
                                          code("import sys; sys.exit(1)"),
                                          code('print("3 papers found")')],
                    "Research_Action_1": ["| Domain | Title |\n|---|---|\n| law | ... |"]})
    r, ev = run(cli, ports / "stateflow.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "selection"
    assert spoke(ev) == ["Retrieve_Action_1", "Retrieve_Action_1", "Retrieve_Action_2",
                         "Retrieve_Action_1", "Retrieve_Action_2", "Research_Action_1"]
    assert {m for _, m in selections(ev)} == {"transition"}
    reasons = [e["reason"] for e in ev if e["type"] == "speaker_selected"]
    assert reasons[2] == "rule 1 of Retrieve_Action_1: to Retrieve_Action_2 when the last " \
                         "message contains '```'"
    assert reasons[3] == "rule 1 of Retrieve_Action_2: to Retrieve_Action_1 when the last " \
                         "message exit code nonzero"
    assert reasons[5].startswith("rule 2 of Retrieve_Action_2: to Research_Action_1")
    assert [e["exit_code"] for e in ev if e["type"] == "code_result"] == [1, 0]
    assert selector_calls(server) == []
    assert any(e["type"] == "notice" and "rule 1 of Research_Action_1: end" in e["text"]
               for e in ev)


def test_society_of_mind_inner_chat_then_one_answer(cli, server, ports):
    script(server, {"inner-assistant": ["Let me work out how to get the prices.",
                                        code('print("2024-01-02", "2024-01-03")'),
                                        "It was higher on 2024-01-02 and 2024-01-03. "
                                        "TERMINATE"],
                    "society_of_mind": ["Microsoft was above $370 on January 2 and 3, 2024."]})
    r, ev = run(cli, ports / "society_of_mind.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "selection"
    assert spoke(ev) == ["inner-assistant", "inner-code-interpreter", "inner-assistant",
                         "inner-code-interpreter", "inner-assistant", "society_of_mind"]
    msgs = [e for e in ev if e["type"] == "message" and e["round"] > 0]
    assert msgs[1]["content"] == ""          # default_auto_reply "": sent, and it goes on
    assert msgs[3]["kind"] == "code_result"
    # the inner TERMINATE hands over instead of ending: termination.agents
    assert "TERMINATE" in msgs[4]["content"]
    assert selector_calls(server) == []


def test_rag_less_boss_auto_reply_and_case_insensitive_keyword(cli, server, ports):
    script(server, {SELECTOR: ["Senior_Python_Engineer", "Code_Reviewer", "Boss",
                               "Senior_Python_Engineer"],
                    "Senior_Python_Engineer": [
                        code("from flaml import AutoML\nautoml = AutoML()\n"
                             "automl.fit(X, y, n_concurrent_trials=2, use_spark=True)"),
                        "That is all the code needed. terminate"],
                    "Code_Reviewer": ["The code is correct."]})
    r, ev = run(cli, ports / "groupchat_rag_less.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    assert spoke(ev) == ["Senior_Python_Engineer", "Code_Reviewer", "Boss",
                         "Senior_Python_Engineer"]
    boss = [e for e in ev if e["type"] == "message" and e["agent"] == "Boss" and e["round"]]
    assert boss[0]["content"] == "Reply `TERMINATE` if the task is done."
    assert models_used(server) == {"gpt-3.5-turbo"}     # filter_dict: model names


def test_auto_feedback_two_agents_keep_going_on_empty_auto_replies(cli, server, ports):
    script(server, {"assistant": [code('import datetime; print(datetime.date(2024, 5, 1))'),
                                  "META gained more than TESLA this year.", "TERMINATE"]})
    r, ev = run(cli, ports / "auto_feedback.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    assert spoke(ev) == ["assistant", "user_proxy", "assistant", "user_proxy", "assistant"]
    proxy = [e for e in ev if e["type"] == "message" and e["agent"] == "user_proxy"
             and e["round"]]
    assert proxy[0]["kind"] == "code_result" and proxy[1]["content"] == ""


def test_without_default_auto_reply_the_two_agent_chat_stops(cli, server, ports):
    """What `default_auto_reply` fixes: a proxy with nothing to say is silent, and in a
    two-agent chat nobody else may speak."""
    path = ports / "auto_feedback.yaml"
    path.write_text(path.read_text().replace('    default_auto_reply: ""\n', ""))
    script(server, {"assistant": ["META gained more than TESLA this year."]})
    r, ev = run(cli, path)
    assert r.exit_code == 3 and ev[-1]["reason"] == "stalled"
    assert spoke(ev) == ["assistant"]


def test_auto_feedback_max_consecutive_auto_reply_silences_the_proxy(cli, server, ports):
    path = ports / "auto_feedback.yaml"
    path.write_text(path.read_text().replace("max_consecutive_auto_reply: 10",
                                             "max_consecutive_auto_reply: 2"))
    script(server, {"assistant": ["Still thinking."]})
    r, ev = run(cli, path)
    assert r.exit_code == 3 and ev[-1]["reason"] == "stalled"
    assert spoke(ev) == ["assistant", "user_proxy", "assistant", "user_proxy", "assistant"]
    notes = [e["text"] for e in ev if e["type"] == "notice"]
    assert any("user_proxy has replied on its own 2 time(s) (max_consecutive_auto_reply)"
               in n for n in notes)


def test_auto_feedback_code_output_with_the_keyword_ends_it(cli, server, ports):
    """check_code_results: AutoGen's is_termination_msg sees the proxy's results too."""
    script(server, {"assistant": [code('print("all done, TERMINATE")')]})
    r, ev = run(cli, ports / "auto_feedback.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    assert spoke(ev) == ["assistant", "user_proxy"]


def test_every_port_is_a_valid_team_file(ports, monkeypatch):
    names = sorted(p.name for p in ports.glob("*.yaml"))
    assert len(names) >= 8
    for name in names:
        agentteam.load_team(ports / name)
    monkeypatch.delenv("OAI_CONFIG_LIST")
    with pytest.raises(agentteam.ConfigError, match="OAI_CONFIG_LIST` is neither a set "
                       "environment variable nor a file"):
        agentteam.load_team(ports / "stateflow.yaml")
