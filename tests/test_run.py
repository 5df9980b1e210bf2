"""`agentteam run` against a fake OpenAI-compatible server over a real socket."""

from __future__ import annotations

import json
from pathlib import Path

from agentteam.models.base import SELECTOR

from .conftest import script


def speakers(server) -> list[str]:
    """Which agent each completion request was for (the X-Agentteam-Agent header), in order."""
    return ["selector" if r.headers.get("X-Agentteam-Agent") == SELECTOR
            else r.headers.get("X-Agentteam-Agent") for r in server.completions()]


def test_round_robin_ends_on_keyword_with_exit_0(cli, server, team_file):
    script(server, {"Coder": ["print it", "done TERMINATE."], "Critic": ["looks good"]})
    r = cli("run", team_file(), "--json")
    assert r.exit_code == 0, r.stderr
    ev = r.events()
    assert [e["type"] for e in ev][0] == "run_started"
    msgs = [(e["round"], e["agent"], e["content"]) for e in ev if e["type"] == "message"]
    assert msgs == [(0, "User_proxy", "Do the thing."), (1, "Coder", "print it"),
                    (2, "Critic", "looks good"), (3, "Coder", "done TERMINATE.")]
    assert ev[-1]["type"] == "run_ended" and ev[-1]["reason"] == "keyword"
    assert ev[-1]["rounds"] == 3
    # the user proxy had nothing to say (no code, never asks): it sent no message
    assert speakers(server) == ["Coder", "Critic", "Coder"]


def test_max_round_exit_3_and_usage(cli, server, team_file):
    script(server, {"Coder": ["a"], "Critic": ["b"]})
    r = cli("run", team_file(max_round=4), "--json")
    assert r.exit_code == 3
    end = r.events()[-1]
    assert end["reason"] == "max_round" and end["rounds"] == 4
    assert end["usage"]["total"]["calls"] == 4
    assert end["usage"]["agents"]["Coder"]["completion_tokens"] >= 2
    assert "openai/fake-model" in end["usage"]["models"]


def test_max_round_flag_and_task_override(cli, server, team_file):
    r = cli("run", team_file(), "--json", "--max-round", "2", "--task", "Other task")
    assert r.exit_code == 3
    ev = r.events()
    assert ev[1]["content"] == "Other task"
    first_request = server.completions()[0].body["messages"]
    assert first_request[-1]["content"] == "User_proxy: Other task"


def test_message_roles_and_names_for_openai(cli, server, team_file, tmp_path):
    """Own messages are `assistant`; others are `user` with their name (prefixed for
    providers that reject `name`; the fake is an OpenAI-compatible base URL)."""
    script(server, {"Coder": ["c1"], "Critic": ["k1"]})
    cli("run", team_file(max_round=3), "--json")
    third = server.completions()[2].body["messages"]   # Coder's second turn
    assert third[0]["role"] == "system"
    assert [m["role"] for m in third[1:]] == ["user", "assistant", "user"]
    assert all("name" not in m for m in third)
    assert third[1]["content"] == "User_proxy: Do the thing."
    assert third[3]["content"] == "Critic: k1"


def test_transcript_has_every_message_and_resume_continues(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["one", "three"], "Critic": ["two", "four TERMINATE"]})
    path = tmp_path / "t.jsonl"
    r = cli("run", team_file(), "--json", "--max-round", "2", "--transcript", path)
    assert r.exit_code == 3
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    done = [(e["agent"], e["content"]) for e in lines if e["type"] == "message"]
    assert done == [("User_proxy", "Do the thing."), ("Coder", "one"), ("Critic", "two")]
    # deltas are written before they are shown, so a kill loses no shown text
    assert "".join(e["text"] for e in lines if e["type"] == "message_delta") == "onetwo"
    r = cli("run", "--resume", path, "--json", "--max-round", "10")
    assert r.exit_code == 0
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    done = [(e["round"], e["agent"], e["content"]) for e in lines if e["type"] == "message"]
    assert done[3:] == [(3, "Coder", "three"), (4, "Critic", "four TERMINATE")]
    # the resumed call saw the whole earlier conversation
    resumed = server.completions()[2].body["messages"]
    assert [m["content"] for m in resumed[1:]] == ["User_proxy: Do the thing.", "one",
                                                   "Critic: two"]


def test_default_transcript_location(cli, server, team_file, tmp_path):
    r = cli("run", team_file(max_round=1), "--json")
    end = r.events()[-1]
    path = Path(end["transcript"])
    assert path.parent == tmp_path / ".agentteam" / "runs"
    assert path.name.endswith("-test-team.jsonl") and path.exists()


def test_auto_selection_calls_selector_and_parses_chatty_answers(cli, server, team_file):
    script(server, {SELECTOR: ["I think **Critic** should go next."],
                    "Coder": ["code"], "Critic": ["fine TERMINATE"]})
    # transitions absent: after the task, Coder and Critic (and the proxy) are candidates
    r = cli("run", team_file(selection="auto"), "--json")
    assert r.exit_code == 0
    sel = [e for e in r.events() if e["type"] == "speaker_selected"]
    assert sel[0]["agent"] == "Critic" and sel[0]["reason"] == "chosen by the selector model"
    assert speakers(server)[:2] == ["selector", "Critic"]


def test_selector_retry_then_fallback(cli, server, team_file):
    script(server, {SELECTOR: ["nobody", "still nobody"], "Coder": ["x TERMINATE"],
                    "User_proxy": ["?"]})
    r = cli("run", team_file(selection="auto"), "--json")
    sel = [e for e in r.events() if e["type"] == "speaker_selected"][0]
    assert sel["agent"] == "Coder"   # next in order after the User_proxy
    assert "no valid name" in sel["reason"]
    assert speakers(server)[:3] == ["selector", "selector", "Coder"]
    retry_prompt = server.completions()[1].body["messages"][-1]["content"]
    assert "Reply with only one of" in retry_prompt


def test_no_selector_call_when_one_candidate_or_named(cli, server, team_file):
    text = """\
    name: t
    task: go
    models: {{default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL}}}}
    speaker_selection: auto
    max_round: 4
    code_execution: {{executor: none}}
    transitions:
      User_proxy: [Coder]
      Coder: [Critic, Reviewer]
      Critic: [Coder]
    agents:
      - {{name: User_proxy, kind: user_proxy}}
      - {{name: Coder, system_message: Coder.}}
      - {{name: Critic, system_message: Critic.}}
      - {{name: Reviewer, system_message: Reviewer.}}
    """
    script(server, {"Coder": ["Critic, please look at this."], "Critic": ["ok"]})
    r = cli("run", team_file(text), "--json")
    sel = [(e["agent"], e["reason"]) for e in r.events() if e["type"] == "speaker_selected"]
    assert sel[0] == ("Coder", "only candidate allowed")
    assert sel[1] == ("Critic", "named in the last message")
    assert sel[2] == ("Coder", "only candidate allowed")
    assert "selector" not in speakers(server)


def test_termination_match_modes(cli, server, team_file):
    base = team_file(max_round=3)
    text = base.read_text()
    for match, reply, ends in [("suffix", "All done. TERMINATE!", True),
                               ("suffix", "TERMINATE is not said last", False),
                               ("substring", "I TERMINATE here maybe", True),
                               ("exact", "ok TERMINATE", False),
                               ("exact", "  TERMINATE. ", True)]:
        base.write_text(text.replace("termination: TERMINATE",
                                     f"termination: {{keyword: TERMINATE, match: {match}}}"))
        script(server, {"Coder": [reply]}, default="nothing")
        r = cli("run", base, "--json")
        assert (r.exit_code == 0) == ends, (match, reply)


def test_bad_flags_are_usage_errors(cli, team_file):
    r = cli("run", team_file(), "--executor", "podman")
    assert r.exit_code == 2 and "expected one of docker, local, none" in r.stderr
    r = cli("run", team_file(), "--max-round", "0")
    assert r.exit_code == 2 and "--max-round must be at least 1" in r.stderr


def test_bad_team_file_exit_2_before_any_call(cli, server, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ntask: x\nagents:\n  - name: A\n    modle: x\n")
    r = cli("run", bad)
    assert r.exit_code == 2
    assert "bad.yaml:5:5: agents[0].modle: unknown key `modle`; did you mean `model`?" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert server.requests == []


def test_human_always_without_terminal_fails_before_model_call(cli, server, team_file):
    path = team_file()
    path.write_text(path.read_text().replace("kind: user_proxy",
                                             "kind: user_proxy\n    human_input: always"))
    r = cli("run", path)
    assert r.exit_code == 2
    assert "human_input: always" in r.stderr and "--human never" in r.stderr
    assert server.requests == []
    assert cli("run", path, "--human", "never", "--max-round", "1").exit_code == 3


def test_console_output_streams_headers_and_table(cli, server, team_file):
    script(server, {"Coder": ["see [bold]this[/bold]\n```python\nprint(1)\n```"],
                    "Critic": ["TERMINATE"]})
    r = cli("run", team_file())
    assert r.exit_code == 0
    out = r.stdout
    assert "Coder" in out and "round 1" in out
    assert "see [bold]this[/bold]" in out          # model text is never markup
    assert "print(1)" in out
    assert "ended by the termination keyword" in out
    assert "total" in out and "transcript:" in out


def test_quiet_shows_only_the_end(cli, server, team_file):
    script(server, {"Coder": ["hello there"], "Critic": ["TERMINATE"]})
    r = cli("run", team_file(), "--quiet")
    assert r.exit_code == 0
    assert "hello there" not in r.stdout
    assert "ended by the termination keyword" in r.stdout


DOCKER_TEAM_TEXT = """\
name: t
task: go
models: {{default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL}}}}
speaker_selection: {selection}
max_round: 6
code_execution: {{executor: docker}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: Coder.}}
  - {{name: Critic, system_message: Critic.}}
"""


def test_executor_none_says_the_code_was_not_run(cli, server, team_file, tmp_path):
    # the team asks for docker; --executor none on the command line replaces it
    script(server, {"Coder": ["```python\nprint(1)\n```", "done TERMINATE"],
                    "Critic": ["looks fine"]})
    path = tmp_path / "t.jsonl"
    r = cli("run", team_file(DOCKER_TEAM_TEXT, selection="round_robin"), "--executor", "none",
            "--transcript", path)
    assert r.exit_code == 0, r.stdout + r.stderr
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    reply = [e for e in lines if e["type"] == "message" and e["agent"] == "User_proxy"][-1]
    assert reply["content"].startswith("Code was not run: code execution is off for this run "
                                       "(executor: none)")
    assert "exitcode" not in reply["content"] and "succeeded" not in reply["content"]
    assert not [e for e in lines if e["type"] == "code_result"]   # nothing ran
    assert "Code was not run" in r.stdout                          # the terminal shows it
    # and the agents read it
    last = server.completions()[-1].body["messages"]
    assert any("Code was not run" in str(m["content"]) for m in last)


def test_executor_none_flag_does_not_pick_the_proxy_to_run_code(cli, server, team_file):
    script(server, {SELECTOR: ["Coder", "Critic"], "Coder": ["```python\nprint(1)\n```"],
                    "Critic": ["fine TERMINATE"]})
    r = cli("run", team_file(DOCKER_TEAM_TEXT, selection="auto"), "--executor", "none", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    sel = [(e["agent"], e["reason"]) for e in r.events() if e["type"] == "speaker_selected"]
    assert sel[1] == ("Critic", "chosen by the selector model")   # not "has code to run"


STORY_TEAM_TEXT = """\
name: t
task: go
models: {{default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL}}}}
speaker_selection: auto
max_round: {max_round}
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Story_writer, system_message: Writes stories.}}
  - {{name: Critic, system_message: Critic.}}
"""


def test_selector_names_with_markdown_escapes_or_spaces_are_recognised(cli, server, team_file):
    script(server, {SELECTOR: ["Story\\_writer", "critic", "Next: Story writer."],
                    "Story_writer": ["a draft", "done TERMINATE"], "Critic": ["more"]})
    r = cli("run", team_file(STORY_TEAM_TEXT), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    sel = [(e["agent"], e["reason"]) for e in r.events() if e["type"] == "speaker_selected"]
    assert sel == [("Story_writer", "chosen by the selector model"),
                   ("Critic", "chosen by the selector model"),
                   ("Story_writer", "chosen by the selector model")]
    assert speakers(server).count("selector") == 3          # no retry was needed


def test_selector_answer_naming_several_is_asked_again(cli, server, team_file):
    script(server, {SELECTOR: ["Story_writer or Critic", "Critic"], "Critic": ["ok TERMINATE"]})
    r = cli("run", team_file(STORY_TEAM_TEXT), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    sel = [(e["agent"], e["reason"]) for e in r.events() if e["type"] == "speaker_selected"]
    assert sel[0] == ("Critic", "chosen by the selector model on retry")
    retry_prompt = server.completions()[1].body["messages"][-1]["content"]
    assert "named several candidates (Story_writer, Critic)" in retry_prompt
    assert "Reply with only one of: Story_writer, Critic" in retry_prompt


def test_selector_naming_several_twice_falls_back_to_next_in_order(cli, server, team_file):
    script(server, {SELECTOR: ["Critic, then Story_writer", "Story writer and critic"],
                    "Story_writer": ["a draft"]})
    r = cli("run", team_file(STORY_TEAM_TEXT, max_round=1), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    sel = [(e["agent"], e["reason"]) for e in r.events() if e["type"] == "speaker_selected"]
    assert sel == [("Story_writer", "selector named several candidates (Story_writer, Critic), "
                                    "not one; next in order")]
    assert speakers(server) == ["selector", "selector", "Story_writer"]


def test_resume_refuses_a_transcript_whose_agents_the_team_lacks(cli, server, team_file,
                                                                  tmp_path):
    script(server, {"Coder": ["one"], "Critic": ["two"]})
    path = tmp_path / "t.jsonl"
    assert cli("run", team_file(), "--json", "--max-round", "2", "--transcript",
               path).exit_code == 3
    other = team_file(name="other.yaml").read_text().replace("Coder", "Writer") \
        .replace("Critic", "Reviewer")
    (tmp_path / "other.yaml").write_text(other)
    calls = len(server.completions())
    r = cli("run", tmp_path / "other.yaml", "--resume", path, "--max-round", "10")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "agent(s) Coder, Critic spoke in this transcript" in r.stderr
    assert "has no such agent" in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert len(server.completions()) == calls                   # no model was called


def test_resume_warns_when_the_last_message_already_ended_the_chat(cli, server, team_file,
                                                                   tmp_path):
    script(server, {"Coder": ["done TERMINATE", "more"], "Critic": ["ok"]})
    path = tmp_path / "t.jsonl"
    assert cli("run", team_file(), "--json", "--transcript", path).exit_code == 0
    r = cli("run", "--resume", path, "--json", "--max-round", "3")
    warnings = [e for e in r.events() if e["type"] == "notice" and e["level"] == "warning"]
    assert any("last message (round 1, Coder) already ends the chat" in w["text"]
               for w in warnings), r.stdout
    assert r.exit_code == 3          # it went on (to max_round), as the warning says
