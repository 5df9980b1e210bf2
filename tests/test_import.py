"""`agentteam import`: AutoGen AgentChat / AutoGen Studio team components as team files.

The samples in tests/agentchat/ are component JSON as AgentChat 0.7 writes it
(`team.dump_component().model_dump_json()`: round_robin, selector, swarm, graph_flow,
magentic_one, local_server) and an AutoGen Studio gallery written from the documented
format (gallery.json). Every imported file must load, run against the fake server, and
say what it could not carry over.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentteam.importer import import_file
from agentteam.team import TeamSpec, parse_team
from agentteam.team.write import comment_text, dump_team

from .conftest import ROOT, script

SAMPLES = ROOT / "tests" / "agentchat"


def imported(cli, tmp_path, sample: str, *flags: str):
    out = tmp_path / (sample.split(".")[0] + ".yaml")
    r = cli("import", SAMPLES / sample, "-o", out, *flags)
    assert r.exit_code == 0, r.stderr
    return r, out, parse_team(out.read_text(), str(out), {})


def test_round_robin_imports_and_runs(cli, server, tmp_path):
    r, out, team = imported(cli, tmp_path, "round_robin.json", "--task", "Plan a picnic.")
    assert team.name == "round-robin" and team.task == "Plan a picnic."
    assert team.speaker_selection.method == "round_robin"
    assert team.max_round == 10                # max_turns 10; MaxMessageTermination(12) - 1
    assert (team.termination.keyword, team.termination.match) == ("APPROVE", "substring")
    assert [(a.name, a.kind) for a in team.agents] == [
        ("planner", "assistant"), ("critic", "assistant"), ("user_proxy", "user_proxy")]
    proxy = team.agent("user_proxy")
    assert (proxy.human_input, proxy.execute_code) == ("always", False)
    assert team.models["default"].model == "gpt-4o-mini"
    assert team.models["default"].temperature == 0.2
    text = out.read_text()
    assert text.startswith("# Imported by `agentteam import` from round_robin.json (AutoGen "
                           "AgentChat RoundRobinGroupChat).")
    assert "# from UserProxyAgent `user_proxy`: asks the person every turn" in text
    assert "api_key" not in text and "*****" not in text
    assert f"-> {out}" in r.stderr
    # the imported team runs: planner and critic in turns, the critic's APPROVE ends it
    script(server, {"planner": ["Step 1: sandwiches."], "critic": ["APPROVE, nice plan."]})
    r = cli("run", out, "--json", "--model", "fake-model", "--api-base", server.url,
            "--human", "never")
    assert r.exit_code == 0, r.stderr
    assert [e["agent"] for e in r.events() if e["type"] == "message" and e["round"]] == \
        ["planner", "critic"]


def test_selector_prompt_repeat_retries_and_what_is_left(cli, tmp_path):
    r, _, team = imported(cli, tmp_path, "selector.json")
    sel = team.speaker_selection
    assert sel.method == "auto" and sel.allow_repeat is True and sel.max_retries == 2
    assert sel.prompt.startswith("Select an agent to perform task.")
    assert "select an agent from {names} to perform" in sel.prompt    # {participants}
    assert team.max_round == 19 and team.termination.keyword == "TERMINATE"
    assert "tools get_weather not carried over" in r.stderr
    assert "AndTerminationCondition (every condition must be met) became: the run ends at " \
           "the first of them" in r.stderr


def test_swarm_handoffs_become_transitions(cli, tmp_path):
    r, _, team = imported(cli, tmp_path, "swarm.json")
    assert team.transitions == {"alice": ["alice", "bob"], "bob": ["bob", "alice"]}
    assert team.speaker_selection.allow_repeat is True
    assert (team.budget.seconds, team.budget.tokens) == (60.0, 1000)
    for left in ("HandoffTermination (a handoff to 'user' ends the chat) is not carried over",
                 "StopMessageTermination is not carried over",
                 "Swarm: agents hand off with tool calls there"):
        assert left in r.stderr


def test_graph_flow_becomes_rules_and_runs(cli, server, tmp_path):
    _, out, team = imported(cli, tmp_path, "graph_flow.json", "--task", "Write about tea.")
    assert [a.name for a in team.agents][0] == "writer"      # the start node speaks first
    assert [(r.to, r.end, r.when and r.when.contains) for r in
            team.transition_rules("reviewer")] == [("publisher", False, "APPROVE"),
                                                   ("writer", False, "REVISE")]
    # SourceMatchTermination(publisher), and a node without edges: the flow ends there
    assert [r.end for r in team.transition_rules("publisher")] == [True]
    script(server, {"writer": ["Tea is old.", "Tea is old and loved."],
                    "reviewer": ["REVISE: say more", "APPROVE"], "publisher": ["Published."]})
    r = cli("run", out, "--json", "--model", "fake-model", "--api-base", server.url)
    assert (r.exit_code, r.events()[-1]["reason"]) == (0, "selection"), r.stderr
    assert [e["agent"] for e in r.events() if e["type"] == "message" and e["round"]] == \
        ["writer", "reviewer", "writer", "reviewer", "publisher"]


def test_magentic_one_and_a_local_server(cli, tmp_path):
    r, _, team = imported(cli, tmp_path, "magentic_one.json")
    assert team.max_round == 20 and "its orchestrator (task ledger" in r.stderr
    _, _, team = imported(cli, tmp_path, "local_server.json")
    profile = team.models["default"]
    assert (profile.model, profile.api_base) == ("openai/llama3.1", "http://localhost:11434/v1")


def test_a_gallery_picks_a_team_and_reports_what_it_leaves(cli, tmp_path):
    r, out, team = imported(cli, tmp_path, "gallery.json")
    assert team.name == "code-team"
    assert "the gallery has 2 teams (Code Team, Research Team); this is the first" in r.stderr
    code = team.code_execution
    assert (code.executor, code.timeout, code.work_dir) == ("docker", 60, "coding")
    assert team.agent("code_executor").kind == "user_proxy"
    assert team.models["default"].num_retries == 5
    # a literal key in the JSON is reported, never copied
    assert "a literal key was in the file; it was NOT copied" in r.stderr
    assert "sk-literal" not in out.read_text() + r.stderr + r.stdout
    r, _, team = imported(cli, tmp_path, "gallery.json", "--team", "Research Team", "--force")
    profile = team.models["default"]
    assert (profile.model, profile.api_version) == ("azure/gpt4o-prod", "2024-06-01")
    assert (team.termination.keyword, team.termination.match) == ("APPROVE|DONE", "regex")
    assert team.termination.agents is None       # APPROVE had sources, DONE had none
    assert team.budget.seconds == 300.0
    for left in ("BufferedChatCompletionContext not carried over",
                 "SocietyOfMindAgent is not an agent kind agentteam has",
                 "ExternalTermination is not carried over", "memory: not carried over"):
        assert left in r.stderr
    r = cli("import", SAMPLES / "gallery.json", "--team", "Nope")
    assert r.exit_code == 2 and "no team 'Nope' in the gallery; its teams: Code Team, " \
                                "Research Team" in r.stderr


def test_a_studio_record_and_text_mention_sources(cli, tmp_path):
    doc = json.loads((SAMPLES / "round_robin.json").read_text())
    cond = doc["config"]["termination_condition"]["config"]["conditions"][0]
    cond["config"]["sources"] = ["critic"]
    (tmp_path / "record.json").write_text(json.dumps({"id": 7, "component": doc}))
    r = cli("import", tmp_path / "record.json", "--name", "picnic")
    assert r.exit_code == 0, r.stderr
    team = parse_team(r.stdout, "t.yaml", {})
    assert team.name == "picnic" and team.termination.agents == ["critic"]


@pytest.mark.parametrize("content,says", [
    ("{not json", "bad.json:1:2: not valid JSON"),
    ("[1, 2]", "not an AutoGen AgentChat team component (list)"),
    ('{"provider": "autogen_agentchat.agents.AssistantAgent", "component_type": "agent", '
     '"config": {}}', "not an AutoGen AgentChat team component "
                      "(autogen_agentchat.agents.AssistantAgent)"),
    ('{"type": "groupchat", "sender": {}, "receiver": {}}', "an AutoGen Studio 0.2 workflow"),
    ('{"components": {"teams": []}}', "the gallery has no team components"),
])
def test_what_is_not_a_team_is_a_clear_error(cli, tmp_path, content, says):
    (tmp_path / "bad.json").write_text(content)
    r = cli("import", tmp_path / "bad.json")
    assert r.exit_code == 2 and says in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_output_is_never_overwritten_unasked(cli, tmp_path):
    out = tmp_path / "team.yaml"
    out.write_text("mine")
    r = cli("import", SAMPLES / "round_robin.json", "-o", out)
    assert r.exit_code == 2 and "exists; choose another -o FILE or pass --force" in r.stderr
    assert out.read_text() == "mine"
    assert cli("import", tmp_path / "missing.json").exit_code == 2
    r = cli("import", SAMPLES / "round_robin.json", "--name", "My Team")
    assert r.exit_code == 2 and "--name 'My Team': a team name uses lowercase" in r.stderr


def test_hostile_names_and_texts_cannot_inject_yaml(cli, tmp_path):
    doc = json.loads((SAMPLES / "round_robin.json").read_text())
    planner = doc["config"]["participants"][0]
    planner["provider"] = "x.Evil\nmax_round: 1\r\u2028speaker_selection: random"
    planner["config"]["name"] = "plan\nner: 1"
    planner["config"]["description"] = "line\nmax_round: 2\n# not a comment\x85\u2028end"
    (tmp_path / "evil.json").write_text(json.dumps(doc))
    r = cli("import", tmp_path / "evil.json")
    assert r.exit_code == 0, r.stderr
    team = parse_team(r.stdout, "t.yaml", {})
    assert team.max_round == 10 and team.speaker_selection.method == "round_robin"
    assert team.agents[0].name == "plan_ner__1"
    assert team.agents[0].description == "line\nmax_round: 2\n# not a comment\x85\u2028end"


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_every_sample_round_trips_through_the_writer(sample):
    out = import_file(SAMPLES / sample, task="T")
    loaded = parse_team(out.yaml(), "t.yaml", {"OAI_CONFIG_LIST": "[]"})
    assert loaded.model_dump() == TeamSpec.model_validate(out.data).model_dump()


# any text, with the characters YAML readers treat specially drawn often
texts = st.text(st.one_of(st.characters(blacklist_categories=("Cs",)),
                          st.sampled_from("\n\r\t \x85\u2028\u2029\ufeff#:'\"{}[]|>-")),
                max_size=200)


@settings(max_examples=150, deadline=None)
@given(task=texts.filter(str.strip), message=texts, description=texts, note=texts)
def test_the_writer_round_trips_any_text(task, message, description, note):
    data = {"name": "x", "task": task,
            "agents": [{"name": "A", "system_message": message, "description": description}]}
    text = dump_team(data, {("agents", 0): note, ("task",): note}, header=note)
    team = parse_team(text, "t.yaml", {})
    assert (team.task, team.agents[0].system_message, team.agents[0].description) == \
        (task, message, description)


def test_comment_text_is_one_comment_per_line():
    lines = comment_text("a\nb\rc\x85d\u2028e\ufefff")
    assert lines == ["# a", "# b?c?d?e?f"]
