"""`agentteam build`: a team file written by a model, against the fake server.

The builder's answers are scripted per agent (`(builder)` in the X-Agentteam-Agent header);
the tests read the requests the server received (the repair prompts, the schema) and the
files written, and run a built team.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from agentteam.build import BuildFailed, BuildOptions, build_team
from agentteam.build.answer import Invented, Proposal
from agentteam.build.prompts import schema
from agentteam.models.profiles import Profile
from agentteam.models.provider import ProviderModel
from agentteam.team import load_team

from .conftest import script

ANALYST = {"name": "Analyst", "description": "Analyses the question.",
           "system_message": "You are the Analyst. Answer the question step by step."}
REVIEWER = {"name": "Reviewer", "description": "Checks the analysis.",
            "system_message": "You are the Reviewer. Check the Analyst's answer; reply "
                              "TERMINATE when it is right."}
GOOD = {"name": "Prime Team", "description": "Answers questions about primes.",
        "rationale": "An analyst answers, a reviewer checks.", "coding": False,
        "speaker_selection": "round_robin", "max_round": 6, "agents": [ANALYST, REVIEWER]}
TASK = "Is 97 a prime number?"


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """The completion cache in the test's own folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def answers(*replies) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in replies]


def builds(server, replies, **script_more):
    script(server, {"(builder)": answers(*replies), **script_more})


def build(cli, server, *flags):
    return cli("build", TASK, "--model", "fake-model", "--api-base", server.url, *flags)


def builder_requests(server):
    return [c for c in server.completions() if c.headers.get("X-Agentteam-Agent") == "(builder)"]


def with_(base: dict, **changes) -> dict:
    return {**json.loads(json.dumps(base)), **changes}


def test_a_good_build_writes_a_commented_team_that_loads_and_runs(cli, server, tmp_path):
    builds(server, [GOOD], Analyst=["97 has no divisor up to its square root: prime."],
           Reviewer=["Right. TERMINATE"])
    out = tmp_path / "team.yaml"
    r = build(cli, server, "-o", out, "--run")
    assert r.exit_code == 0, r.stderr
    team = load_team(out)
    assert team.name == "prime-team" and team.task == TASK and team.max_round == 6
    assert [a.name for a in team.agents] == ["Analyst", "Reviewer"]
    assert team.agent("Reviewer").system_message == REVIEWER["system_message"]
    assert team.speaker_selection.method == "round_robin"
    assert team.code_execution.executor == "none"
    assert team.models["default"].model == "openai/fake-model"
    assert team.models["default"].api_base == server.url
    text = out.read_text()
    assert text.startswith("# Built by `agentteam build` (model openai/fake-model, 1 answer, "
                           "0 repairs,")
    assert "# Why this team: An analyst answers, a reviewer checks." in text
    assert "# Proposed by the builder." in text
    # the report: what was built, where, and a usage table with the builder's call
    assert f"built prime-team -> {out}: 2 agents (Analyst, Reviewer)" in r.stderr
    row = next(line for line in r.stderr.splitlines() if line.startswith("(builder)"))
    assert row.split()[1] == "1"           # one call
    # --run: the team ran right away on the same server, ended by the keyword (exit 0)
    spoke = [c.headers.get("X-Agentteam-Agent") for c in server.completions()]
    assert spoke == ["(builder)", "Analyst", "Reviewer"]


def test_invalid_names_and_unknown_keys_go_back_by_key_path_and_are_repaired(cli, server,
                                                                             tmp_path):
    bad = with_(GOOD, agents=[{**ANALYST, "name": "Data Analyst"},
                              {k if k != "system_message" else "sytem_message": v
                               for k, v in REVIEWER.items()}], speaker_selecton="auto")
    builds(server, [bad, GOOD])
    out = tmp_path / "team.yaml"
    r = build(cli, server, "-o", out)
    assert r.exit_code == 0, r.stderr
    first, second = builder_requests(server)
    # the second request carries the first answer and its problems, by key path
    assert second.body["messages"][:2] == first.body["messages"]
    assert json.loads(second.body["messages"][2]["content"]) == bad
    repair = second.body["messages"][3]["content"]
    assert ('- agents[0].name: "Data Analyst" may only use letters, digits, _ and - '
            "(no spaces; like Data_Analyst)") in repair
    assert "- agents[1].sytem_message: unknown key `sytem_message`; did you mean " \
           "`system_message`?" in repair
    assert "- agents[1].system_message: required key `system_message` is missing" in repair
    assert "- speaker_selecton: unknown key `speaker_selecton`; did you mean " \
           "`speaker_selection`?" in repair
    assert ".yaml" not in repair and "<" not in repair      # no file:line of a draft
    assert load_team(out).agents[0].name == "Analyst"
    assert "0 repairs" not in out.read_text() and "2 answers, 1 repair" in out.read_text()


def test_problems_found_by_the_team_loader_name_the_answers_own_paths(cli, server, tmp_path):
    # with coding on, User_proxy is the team's agents[0]: the builder's agents[1] is the
    # team's agents[2], and a problem there is told as agents[1]
    twice = with_(GOOD, coding=True, agents=[ANALYST, {**REVIEWER, "name": "Analyst"}],
                  transitions={"Analyst": ["Reviewr", "User_proxy"]})
    builds(server, [twice, GOOD])
    r = build(cli, server, "-o", tmp_path / "team.yaml")
    assert r.exit_code == 0, r.stderr
    repair = builder_requests(server)[1].body["messages"][-1]["content"]
    assert "- agents[1].name: agent name `Analyst` is used twice (also agents[0])" in repair
    assert "- transitions.Analyst[0]: unknown agent `Reviewr`" in repair


def test_an_answer_still_invalid_after_two_repairs_fails_and_leaves_the_file(cli, server,
                                                                             tmp_path):
    out = tmp_path / "team.yaml"
    out.write_text("name: mine\n")
    builds(server, [with_(GOOD, agents=[{**ANALYST, "name": "Bad Name"}, REVIEWER])])
    r = build(cli, server, "-o", out, "--force")
    assert r.exit_code == 1
    assert len(builder_requests(server)) == 3            # the answer and two repairs
    assert "error: the builder's answer is still not a valid team after 2 repairs " \
           "(model openai/fake-model); its problems:" in r.stderr
    assert '  - agents[0].name: "Bad Name" may only use letters' in r.stderr
    assert "try a stronger model with --model" in r.stderr
    assert "Traceback" not in r.stderr
    assert out.read_text() == "name: mine\n"            # nothing written over it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "team.yaml"]


def test_a_reply_in_prose_with_a_fenced_object_is_read_leniently(cli, server, tmp_path):
    fenced = "Here is the team:\n```json\n" + json.dumps(GOOD)[:-1] + ",}\n```\nGood luck!"
    builds(server, [fenced])
    r = build(cli, server, "-o", tmp_path / "team.yaml")
    assert r.exit_code == 0, r.stderr
    assert len(builder_requests(server)) == 1


def test_malformed_json_is_sent_back_and_repaired(cli, server, tmp_path):
    builds(server, ['{"name": "prime-team", "agents": [{"name": "Analyst",', GOOD])
    r = build(cli, server, "-o", tmp_path / "team.yaml")
    assert r.exit_code == 0, r.stderr
    repair = builder_requests(server)[1].body["messages"][-1]["content"]
    assert "- the answer could not be read: the reply is not valid JSON (" in repair


LIBRARY = """\
agents:
  - name: Planner
    description: Breaks a task into steps.
    system_message: You are the Planner. Write a numbered plan.
  - name: Critic
    description: Finds the flaws in a plan or an answer.
    system_message: You are the Critic. Reply TERMINATE when the answer is right.
  - name: Coder
    description: Writes Python.
    system_message: You write Python code.
"""


def test_a_library_pick_by_name_an_unknown_name_repaired(cli, server, tmp_path):
    lib = tmp_path / "lib.yaml"
    lib.write_text(LIBRARY)
    picked = {"name": "plan-team", "speaker_selection": "auto", "coding": False}
    builds(server, [{**picked, "agents": [{"name": "Planner"}, {"name": "Critik"}]},
                    {**picked, "agents": [{"name": "Planner"}, {"name": "Critic"}]}])
    out = tmp_path / "team.yaml"
    r = build(cli, server, "-o", out, "--library", lib)
    assert r.exit_code == 0, r.stderr
    first, second = builder_requests(server)
    system = first.body["messages"][0]["content"]
    assert "- Planner: Breaks a task into steps." in system
    assert "You are the Planner" not in system        # the builder sees names, not prompts
    items = first.body["response_format"]["json_schema"]["schema"]["properties"]["agents"]
    assert items["items"]["properties"]["name"]["enum"] == ["Planner", "Critic", "Coder"]
    assert '- agents[1].name: "Critik" is not in the library; did you mean `Critic`?' in \
        second.body["messages"][-1]["content"]
    team = load_team(out)
    assert [a.name for a in team.agents] == ["Planner", "Critic"]
    assert team.agent("Critic").system_message.startswith("You are the Critic.")
    assert f"# From the library {lib}." in out.read_text()


def test_a_bad_library_is_a_file_line_error_before_any_call(cli, server, tmp_path):
    lib = tmp_path / "lib.yaml"
    lib.write_text("agents:\n  - name: Planner\n    descripton: Plans.\n")
    r = build(cli, server, "--library", lib)
    assert r.exit_code == 2 and server.completions() == []
    assert f"error: {lib}:3:5: agents[0].descripton: unknown key `descripton`; did you " \
           "mean `description`?\n" in r.stderr
    assert f"error: {lib}:2:5: agents[0].system_message: required key `system_message` is " \
           "missing" in r.stderr


def test_autogen_library_json_is_read(cli, server, tmp_path):
    lib = tmp_path / "agent_library.json"
    lib.write_text(json.dumps([{"name": "Critic", "description": "Checks.",
                                "system_message": "Check it. Reply TERMINATE."}]))
    builds(server, [{"name": "t", "speaker_selection": "auto", "coding": False,
                     "agents": [{"name": "Critic"}]}])
    r = build(cli, server, "-o", tmp_path / "t.yaml", "--library", lib)
    assert r.exit_code == 0, r.stderr


def test_no_coding_gives_no_code_runner_and_coding_one(cli, server, tmp_path):
    builds(server, [with_(GOOD, coding=True)])
    r = build(cli, server, "-o", tmp_path / "a.yaml", "--no-coding")
    assert r.exit_code == 0, r.stderr
    team = load_team(tmp_path / "a.yaml")
    assert [a.kind for a in team.agents] == ["assistant", "assistant"]
    assert team.code_execution.executor == "none"
    req = builder_requests(server)[0].body
    assert "The team runs no code" in req["messages"][0]["content"]
    assert "coding" not in req["response_format"]["json_schema"]["schema"]["properties"]
    builds(server, [with_(GOOD, coding=False)])
    r = build(cli, server, "-o", tmp_path / "b.yaml", "--coding", "--executor", "local")
    assert r.exit_code == 0, r.stderr
    team = load_team(tmp_path / "b.yaml")
    assert (team.agents[0].name, team.agents[0].kind) == ("User_proxy", "user_proxy")
    assert team.code_execution.executor == "local"


def test_the_builder_decides_coding_when_no_flag_says(cli, server, tmp_path):
    undecided = {k: v for k, v in GOOD.items() if k != "coding"}
    builds(server, [undecided, with_(GOOD, coding=True)])
    r = build(cli, server, "-o", tmp_path / "a.yaml")
    assert r.exit_code == 0, r.stderr
    assert "- coding: required key `coding` is missing" in \
        builder_requests(server)[1].body["messages"][-1]["content"]
    assert load_team(tmp_path / "a.yaml").agents[0].name == "User_proxy"


def test_the_request_carries_the_schema_as_response_format(cli, server):
    builds(server, [GOOD])
    r = build(cli, server, "--max-agents", "3")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("# Built by")               # no -o: the file on stdout
    body = builder_requests(server)[0].body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "agent_team"
    assert fmt["json_schema"]["schema"] == schema(3, None)["schema"]
    assert fmt["json_schema"]["schema"]["properties"]["agents"]["maxItems"] == 3
    assert "at most 3, fewer is better" in body["messages"][0]["content"]


def test_too_many_agents_are_sent_back(cli, server, tmp_path):
    many = with_(GOOD, agents=[ANALYST, REVIEWER, {**ANALYST, "name": "Third"}])
    builds(server, [many, GOOD])
    r = build(cli, server, "-o", tmp_path / "a.yaml", "--max-agents", "2")
    assert r.exit_code == 0, r.stderr
    assert "- agents: 3 agents; at most 2 are allowed" in \
        builder_requests(server)[1].body["messages"][-1]["content"]


def test_a_second_identical_build_is_served_by_the_cache(cli, server, tmp_path):
    builds(server, [GOOD])
    assert build(cli, server, "-o", tmp_path / "a.yaml").exit_code == 0
    r = build(cli, server, "-o", tmp_path / "b.yaml")
    assert r.exit_code == 0, r.stderr
    assert len(builder_requests(server)) == 1
    assert "1 of 1 answers from the cache" in r.stderr
    assert (tmp_path / "a.yaml").read_text() == (tmp_path / "b.yaml").read_text()
    r = build(cli, server, "-o", tmp_path / "c.yaml", "--no-cache")
    assert r.exit_code == 0 and len(builder_requests(server)) == 2


def test_an_existing_output_is_refused_without_force(cli, server, tmp_path):
    out = tmp_path / "team.yaml"
    out.write_text("name: mine\n")
    builds(server, [GOOD])
    r = build(cli, server, "-o", out)
    assert r.exit_code == 2 and server.completions() == []
    assert r.stderr.strip() == f"error: {out} exists; choose another -o FILE or pass --force"
    assert out.read_text() == "name: mine\n"
    r = build(cli, server, "-o", out, "--force")
    assert r.exit_code == 0 and load_team(out).name == "prime-team"


@pytest.mark.parametrize("flags, message", [
    (["--max-agents", "0"], "error: --max-agents must be 1 to 20 (got 0)"),
    (["--executor", "vm"], "error: --executor 'vm': expected one of docker, local, none"),
    (["--executor", "local", "--no-coding"], "error: --executor is for a team that runs code"),
    (["--max-agents", "many"], "Error: Invalid value for '--max-agents'"),
    (["--colour"], "Error: No such option: --colour"),
    (["--library", "nope.yaml"], "error: --library nope.yaml: no such file"),
    (["-o", "no/such/dir/t.yaml"], "error: -o no/such/dir/t.yaml: no folder no/such/dir"),
    (["--api-key-var", "NO_SUCH_VAR"], "error: --api-key-var NO_SUCH_VAR: the environment "
                                       "variable NO_SUCH_VAR is not set"),
])
def test_bad_flags_are_one_line_and_exit_2(cli, server, flags, message):
    r = build(cli, server, *flags)
    assert r.exit_code == 2 and server.completions() == []
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[-1].startswith("Error:"), r.stderr
    assert "Traceback" not in r.stderr
    assert message in r.stderr


def test_an_empty_task_is_refused(cli, server):
    r = cli("build", "  ", "--model", "fake-model", "--api-base", server.url)
    assert r.exit_code == 2 and "error: TASK is empty" in r.stderr


def test_the_embedded_model_failing_says_to_pass_model(server):
    profiles = {"default": Profile("default", "openai/fake-model",
                                   {"api_base": server.url, "api_key": "NULL"}, num_retries=0)}
    script(server, {"(builder)": ["Team: a coder and a critic."]})
    steps = build_team(ProviderModel(profiles), "default", BuildOptions(TASK),
                       "model local (embedded)", embedded=True)
    with pytest.raises(BuildFailed) as failed:
        for _ in steps:
            pass
    message = str(failed.value)
    assert "the answer could not be read: the reply holds no JSON object" in message
    assert "the embedded local model (a 270M base model) often cannot make a valid team; pass " \
           "--model" in message
    assert failed.value.exit_code == 1


def test_the_schema_and_the_answer_model_agree():
    invent = schema(5, None)["schema"]
    assert set(invent["properties"]) == set(Proposal.model_fields)
    agent = invent["properties"]["agents"]["items"]
    assert set(agent["properties"]) == set(Invented.model_fields) == set(agent["required"])


def test_a_built_team_with_transitions_through_user_proxy_validates(cli, server, tmp_path):
    coded = with_(GOOD, coding=True, speaker_selection="auto",
                  transitions={"Analyst": ["User_proxy", "Reviewer"], "User_proxy": ["Analyst"],
                               "Reviewer": ["Analyst"]})
    builds(server, [coded])
    out = tmp_path / "team.yaml"
    r = build(cli, server, "-o", out)
    assert r.exit_code == 0, r.stderr
    r = cli("validate", out)
    assert r.exit_code == 0, r.stderr
    assert textwrap.dedent("""\
        transitions:
          Analyst: [User_proxy, Reviewer]
          User_proxy: [Analyst]
          Reviewer: [Analyst]
        """) in out.read_text()


def test_transitions_that_never_reach_the_code_runner_are_sent_back(cli, server, tmp_path):
    stuck = with_(GOOD, coding=True, transitions={"Analyst": ["Reviewer"],
                                                  "Reviewer": ["Analyst"]})
    builds(server, [stuck, with_(GOOD, coding=True)])
    r = build(cli, server, "-o", tmp_path / "team.yaml")
    assert r.exit_code == 0, r.stderr
    assert "- transitions: no agent may hand over to User_proxy, so no code would run" in \
        builder_requests(server)[1].body["messages"][-1]["content"]


def test_run_without_output_keeps_the_team_under_agentteam_built(cli, server, tmp_path):
    builds(server, [GOOD], Analyst=["Prime."], Reviewer=["Yes. TERMINATE"])
    r = build(cli, server, "--run")
    assert r.exit_code == 0, r.stderr
    [written] = list((tmp_path / ".agentteam" / "built").glob("*-prime-team.yaml"))
    assert load_team(written).name == "prime-team"
    assert f"-> .agentteam/built/{written.name}:" in r.stderr


def test_a_team_nobody_is_told_to_end_gets_the_keyword_instruction_without_a_repair(
        cli, server, tmp_path):
    """As AutoGen's builder tells every expert to reply TERMINATE, agentteam tells the last
    agent when the builder told no one: no repair call is spent on it."""
    quiet = with_(GOOD, agents=[ANALYST, {**REVIEWER, "system_message": "You check it."}])
    builds(server, [quiet])
    out = tmp_path / "team.yaml"
    r = build(cli, server, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert len(builder_requests(server)) == 1
    team = load_team(out)
    assert team.agent("Reviewer").system_message == (
        "You check it. When the task is done and the result checked, reply TERMINATE.")
    assert team.agent("Analyst").system_message == ANALYST["system_message"]
    assert "agentteam added the TERMINATE instruction" in out.read_text()


def test_the_team_can_run_on_another_model_than_the_builders(cli, server, tmp_path):
    """AutoGen's builder_model and agent_model: --agent-model is what the team runs on."""
    builds(server, [GOOD], Analyst=["Prime."], Reviewer=["Right. TERMINATE"])
    out = tmp_path / "team.yaml"
    r = build(cli, server, "--agent-model", "backup-model", "-o", out, "--run")
    assert r.exit_code == 0, r.stderr
    assert load_team(out).models["default"].model == "openai/backup-model"
    used = {c.headers.get("X-Agentteam-Agent"): c.body["model"] for c in server.completions()}
    assert used == {"(builder)": "fake-model", "Analyst": "backup-model",
                    "Reviewer": "backup-model"}


def test_an_endpoint_without_a_model_is_refused(cli, server, tmp_path):
    r = cli("build", TASK, "--api-base", server.url, "-o", tmp_path / "t.yaml")
    assert r.exit_code == 2 and "go with --model or --agent-model" in r.stderr
    assert server.completions() == []


def test_the_team_file_is_written_with_the_usual_permissions(cli, server, tmp_path):
    import os
    builds(server, [GOOD])
    out = tmp_path / "team.yaml"
    old = os.umask(0o022)
    try:
        assert build(cli, server, "-o", out).exit_code == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_the_library_file_is_never_the_output(cli, server, tmp_path):
    lib = tmp_path / "lib.yaml"
    lib.write_text(LIBRARY)
    r = build(cli, server, "--library", lib, "-o", lib, "--force")
    assert r.exit_code == 2 and "is the --library file" in r.stderr
    assert lib.read_text() == LIBRARY and server.completions() == []
