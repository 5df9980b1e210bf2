"""Review of teams inside teams and chats in sequence: regressions for bugs a user hit.

Each test runs the real command against the fake server (see tests/test_nested.py).
"""

from __future__ import annotations

import json

from agentteam.conversation.transcript import read

from .conftest import script
from .test_nested import OUTER, RESEARCH, agents_of, messages, recorded_then_cut, run_json, write


def cut_after(t, marker: str) -> None:
    """Cut transcript ``t`` after its first message line with ``marker`` (a kill there)."""
    lines = t.read_text().splitlines()
    cut = min(i for i, x in enumerate(lines) if '"type": "message"' in x and marker in x)
    t.write_text("\n".join(lines[:cut + 1]) + "\n")


def test_a_second_resume_inside_an_inner_chat_keeps_its_whole_history(cli, server, tmp_path):
    """Killed inside an inner chat, resumed, killed there again: the second --resume must
    still know the inner chat's task and first messages (it used to keep only what the
    first resumed run wrote, so the inner agents lost the task)."""
    script(server, {"Searcher": ["Fact one.", "Fact three."], "Checker": ["Fact two."],
                    "Writer": ["Post. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    t = recorded_then_cut(cli, outer, tmp_path, '"agent": "Searcher"')
    run_json(cli, "--resume", t)
    cut_after(t, '"agent": "Checker"')        # killed again, after the resumed Checker
    rec = read(t)
    assert [m.agent for m in rec.open.messages] == ["user", "Searcher", "Checker"]
    server.requests.clear()
    r, ev = run_json(cli, "--resume", t)
    assert r.exit_code == 0 and agents_of(server) == ["Searcher", "Checker", "Writer"]
    sent = json.dumps(server.completions()[0].body["messages"])
    assert "Write a short post about octopuses." in sent and "Fact one." in sent
    assert [e["resumed_at"] for e in ev if e["type"] == "chat_started"] == [2]
    assert messages(ev)[-1] == ("Writer", "Post. TERMINATE")


def test_a_member_whose_team_is_null_is_a_load_error_not_a_run_error(cli, tmp_path):
    """`team:` left empty used to pass `validate` and fail the run with "load the team file
    with load_team()" (exit 1), after a model call."""
    write(tmp_path, "x.yaml", "name: x\ntask: t\nagents:\n  - {name: A, kind: team, team: null}\n"
          "  - {name: W}\n")
    for cmd in (("validate",), ("run", "--json")):
        r = cli(cmd[0], tmp_path / "x.yaml", *cmd[1:])
        err = r.stderr + r.stdout
        assert r.exit_code == 2, err
        assert "x.yaml:4:" in err and "agents[0].team" in err and "needs `team:`" in err
        assert "load_team" not in err and "Traceback" not in err
    # in `chats:` it is one error, not one per type the key may have
    write(tmp_path, "y.yaml", "name: y\nchats: [{team: null, task: go}]\n")
    r = cli("validate", tmp_path / "y.yaml")
    err = r.stderr + r.stdout
    assert r.exit_code == 2 and "chats[0].team: expected a team file's path" in err
    assert "team.str" not in err


def test_an_inner_team_with_its_own_sandbox_gets_its_input_files(cli, server, tmp_path):
    """`code_execution.files` of an inner team with a sandbox of its own were never copied
    into its work dir (only the outermost team's were)."""
    script(server, {"Coder": ["```python\nprint(open('data.txt').read())\n```",
                              "Done. TERMINATE"],
                    "Boss": ["Fine. TERMINATE"]})
    (tmp_path / "data.txt").write_text("inner input 42\n")
    outer = write(tmp_path, "top.yaml", """\
        name: top
        task: Read the data.
        max_round: 2
        speaker_selection: round_robin
        code_execution: {executor: none}
        agents:
          - {name: Lab, kind: team, team: lab.yaml}
          - {name: Boss}
        """, server.url)
    write(tmp_path, "lab.yaml", """\
        name: lab
        max_round: 3
        speaker_selection: round_robin
        code_execution: {executor: local, work_dir: lab_work, files: [data.txt]}
        agents:
          - {name: Coder}
          - {name: Runner, kind: user_proxy}
        """)
    r, ev = run_json(cli, outer)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "lab_work" / "data.txt").read_text() == "inner input 42\n"
    ran = [e for e in ev if e["type"] == "code_result"]
    assert ran and ran[0]["exit_code"] == 0 and "inner input 42" in ran[0]["output"]


def test_an_inner_team_in_a_mode_tool_sandbox_still_runs_its_code_blocks(cli, server, tmp_path):
    """With `code_execution: {mode: tool}` on the outer team, an inner team sharing its
    sandbox was neither offered run_code nor had its blocks run: its chat stalled."""
    script(server, {"Coder": ["```python\nprint('ran' + '-it')\n```", "Done. TERMINATE"],
                    "Boss": ["Fine. TERMINATE"]})
    outer = write(tmp_path, "top.yaml", """\
        name: top
        task: Run it.
        max_round: 2
        speaker_selection: round_robin
        code_execution: {executor: local, mode: tool}
        agents:
          - name: Lab
            kind: team
            team:
              max_round: 3
              speaker_selection: round_robin
              agents: [{name: Coder}, {name: Runner, kind: user_proxy}]
          - {name: Boss}
          - {name: Proxy, kind: user_proxy}
        """, server.url)
    r, ev = run_json(cli, outer)
    assert r.exit_code == 0, r.stderr
    ran = [e for e in ev if e["type"] == "code_result"]
    assert ran and ran[0]["scope"] == ["Lab"] and ran[0]["output"].strip() == "ran-it"
    assert messages(ev, ["Lab"])[-1] == ("Coder", "Done. TERMINATE")
    assert (tmp_path / "groupchat").is_dir()        # the outer team's work dir


class _Gone:
    """A person whose input has closed (EOF): every question gets no answer."""

    def __init__(self):
        self.asked = 0

    def ask(self, prompt: str) -> str | None:
        self.asked += 1
        return None


def test_the_end_of_the_persons_input_inside_an_inner_chat_ends_the_whole_run(
        server, tmp_path, monkeypatch):
    """EOF at an inner chat's question used to end only that chat: the outer chat went on
    calling models and asking the person again, and the run ended as if nothing happened."""
    from agentteam.conversation.events import to_dict
    from agentteam.runner import run_team
    monkeypatch.chdir(tmp_path)
    script(server, {"Boss": ["Fine."], "Helper": ["How can I help?"]})
    outer = write(tmp_path, "top.yaml", """\
        name: top
        task: Ask the person.
        max_round: 3
        speaker_selection: round_robin
        code_execution: {executor: none}
        agents:
          - name: Desk
            kind: team
            team:
              max_round: 3
              speaker_selection: round_robin
              agents: [{name: Person, kind: user_proxy, human_input: always}, {name: Helper}]
          - {name: Boss}
        """, server.url)
    person = _Gone()
    ev = [to_dict(e) for e in run_team(outer, human=person)]
    assert (ev[-1]["reason"], ev[-1]["exit_code"]) == ("interrupted", 130)
    assert ev[-2]["type"] == "chat_ended" and ev[-2]["scope"] == ["Desk"]
    assert agents_of(server) == ["Helper"] and person.asked == 1
    assert not messages(ev)          # the member posted nothing: the run stopped inside


def test_resume_cut_right_after_an_inner_chat_started_still_sends_its_task(cli, server,
                                                                          tmp_path):
    """Killed between an inner chat's `chat_started` and its first message: the resumed
    inner chat used to start with no task at all ("(the conversation starts)")."""
    script(server, {"Searcher": ["Fact one."], "Checker": ["Checked. TERMINATE"],
                    "Writer": ["Post. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    t = tmp_path / "run.jsonl"
    run_json(cli, outer, "--transcript", t)
    lines = t.read_text().splitlines()
    cut = next(i for i, x in enumerate(lines) if '"chat_started"' in x)
    t.write_text("\n".join(lines[:cut + 1]) + "\n")
    server.requests.clear()
    r, ev = run_json(cli, "--resume", t)
    assert r.exit_code == 0 and agents_of(server) == ["Searcher", "Checker", "Writer"]
    sent = server.completions()[0].body["messages"]
    assert "Write a short post about octopuses." in json.dumps(sent)
    task = [e for e in ev if e["type"] == "message" and e["round"] == 0]
    assert [(e["scope"], e["agent"]) for e in task] == [(["Research_team"], "user")]
    # the same for the outermost chat, cut right after run_started
    t.write_text(lines[0] + "\n")
    server.requests.clear()
    r, ev = run_json(cli, "--resume", t)
    assert r.exit_code == 0
    assert messages(ev)[-1] == ("Writer", "Post. TERMINATE")
    assert [e["agent"] for e in ev if e["type"] == "message" and e["round"] == 0] == [
        "user", "user"]


def test_replay_of_an_auto_selector_that_picked_a_member_of_kind_team(cli, server, tmp_path):
    """`--replay` answered the selector with the next model reply's agent: an inner agent
    (`Searcher`) when the recorded pick was the member that runs the inner chat, so the
    replay picked another agent and diverged (exit 1)."""
    script(server, {"(selector)": ["Research_team", "Writer"], "Searcher": ["Fact one."],
                    "Checker": ["Checked. TERMINATE"], "Writer": ["Post. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER.replace(
        "speaker_selection: round_robin", "speaker_selection: auto").replace(
        "  - {name: Research_team", "  - {name: Editor}\n  - {name: Research_team"), server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    t = tmp_path / "rec.jsonl"
    _, first = run_json(cli, outer, "--transcript", t)
    assert [a for a, _ in messages(first)] == ["Research_team", "Writer"]
    calls = len(server.completions())
    r, again = run_json(cli, outer, "--replay", t, "--transcript", tmp_path / "again.jsonl")
    assert r.exit_code == 0, again[-1].get("error")
    assert len(server.completions()) == calls
    assert messages(again) == messages(first)
    picked = [(e.get("scope"), e["agent"], e["reason"]) for e in again
              if e["type"] == "speaker_selected"]
    assert picked[0] == (None, "Research_team", "chosen by the selector model")


def test_a_streamed_line_with_a_bad_scope_is_a_one_line_error(cli, tmp_path):
    """A hand-edited `message_delta` with `"scope": 5` made `show` end in a TypeError
    traceback (the delta's fields are checked by hand, and `scope` was not)."""
    start = {"type": "run_started", "team": "x", "task": "t", "agents": ["A"],
             "transcript": "", "team_file": "", "format": 2}
    for scope in (5, ["Research", 3], "Research"):
        t = tmp_path / "bad.jsonl"
        delta = {"type": "message_delta", "round": 1, "agent": "A", "text": "hi",
                 "scope": scope}
        t.write_text(json.dumps(start) + "\n" + json.dumps(delta) + "\n")
        for args in (("show", t), ("run", "--resume", t, "--json")):
            r = cli(*args)
            err = r.stderr + r.stdout
            assert r.exit_code == 2, err
            assert "bad.jsonl:2: message_delta event: `scope` must be a list of names" in err
            assert "Traceback" not in err


def test_resume_after_the_outer_budget_ran_out_goes_on_inside_the_inner_chat(cli, server,
                                                                            tmp_path):
    """The outer budget stops the whole run from inside an inner chat; its `chat_ended`
    said `budget`, which --resume read as "the chat ended on its own": the member posted
    a summary of the cut-short chat instead of going on inside it."""
    script(server, {"Searcher": ["More facts, many more facts."] * 3 + ["Enough."],
                    "Checker": ["Still checking."] * 3 + ["Checked. TERMINATE"],
                    "Writer": ["Post. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER + "budget: {tokens: 150}\n", server.url)
    write(tmp_path, "research.yaml", RESEARCH.replace("max_round: 4", "max_round: 40"))
    t = tmp_path / "run.jsonl"
    r, ev = run_json(cli, outer, "--transcript", t)
    assert ev[-1]["reason"] == "budget"
    spoke = len(messages(ev, ["Research_team"]))
    rec = read(t)
    assert rec.open is not None and rec.open.ended is None      # it goes on when resumed
    write(tmp_path, "blog.yaml", OUTER, server.url)                # the budget raised
    server.requests.clear()
    r, ev = run_json(cli, "--resume", t)
    assert r.exit_code == 0, ev[-1]
    started = [e for e in ev if e["type"] == "chat_started"]
    assert started and started[0]["resumed_at"] == spoke
    assert agents_of(server)[0] in ("Searcher", "Checker") and "Writer" in agents_of(server)
    assert messages(ev)[-1] == ("Writer", "Post. TERMINATE")
