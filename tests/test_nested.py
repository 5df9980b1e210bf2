"""Teams inside teams (`kind: team`) and chats in sequence (`chats:`), against the fake server.

Each test runs the real command (in-process, or as a subprocess for Ctrl-C) and checks
what a user or a script sees: the events and their `scope`, the requests that reached
the server (named by the X-Agentteam-Agent header), exit codes, the transcript, and
what `--resume` and `--replay` do with it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

from agentteam.conversation.transcript import read

from .conftest import script

MODELS = """\
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, timeout: 30}}
"""


def write(tmp_path, name: str, body: str, url: str | None = None) -> str:
    text = textwrap.dedent(body)
    if url is not None:
        text = MODELS.format(url=url) + text
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def agents_of(server) -> list[str]:
    return [r.headers.get("X-Agentteam-Agent") for r in server.completions()]


def messages(events, scope=None) -> list[tuple[str, str]]:
    return [(e["agent"], e["content"]) for e in events
            if e["type"] == "message" and e.get("scope") == scope and e["round"] > 0]


def run_json(cli, *args):
    r = cli("run", *args, "--json")
    events = r.events()
    assert events and events[-1]["type"] == "run_ended", r.stdout + r.stderr
    return r, events


OUTER = """\
name: blog
task: Write a short post about octopuses.
max_round: 4
speaker_selection: round_robin
code_execution: {executor: none}
agents:
  - {name: Research_team, kind: team, team: research.yaml}
  - {name: Writer, system_message: You write the post.}
"""

RESEARCH = """\
name: research
max_round: 4
speaker_selection: round_robin
code_execution: {executor: none}
agents:
  - {name: Searcher, system_message: You find facts.}
  - {name: Checker, system_message: You check them.}
"""


def test_a_member_of_kind_team_runs_its_team_and_posts_the_last_message(cli, server,
                                                                       tmp_path):
    script(server, {"Searcher": ["Octopuses have three hearts."],
                    "Checker": ["Checked: three hearts, blue blood. TERMINATE"],
                    "Writer": ["Post: three hearts and blue blood. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    r, ev = run_json(cli, outer)
    assert r.exit_code == 0 and ev[-1]["reason"] == "keyword"
    assert agents_of(server) == ["Searcher", "Checker", "Writer"]
    inner = [e for e in ev if e.get("scope")]
    assert {tuple(e["scope"]) for e in inner} == {("Research_team",)}
    assert inner[0]["type"] == "chat_started" and inner[0]["team"] == "research"
    assert inner[0]["task"] == "Write a short post about octopuses."   # sees: last
    assert inner[-1]["type"] == "chat_ended" and inner[-1]["reason"] == "keyword"
    assert messages(ev, ["Research_team"]) == [
        ("Searcher", "Octopuses have three hearts."),
        ("Checker", "Checked: three hearts, blue blood. TERMINATE")]
    # the summary leaves the inner keyword out: it does not end the outer chat
    assert messages(ev) == [("Research_team", "Checked: three hearts, blue blood."),
                            ("Writer", "Post: three hearts and blue blood. TERMINATE")]
    # top-level events are as they always were: no `scope` key at all
    assert all("scope" not in e for e in ev if e not in inner)
    writer = server.completions()[-1].body["messages"]
    assert writer[-1]["content"].endswith("Checked: three hearts, blue blood.")
    usage = ev[-1]["usage"]
    assert usage["agents"]["Research_team"]["calls"] == 2
    assert usage["total"]["calls"] == 3
    assert set(usage["scopes"]["Research_team"]["agents"]) == {"Searcher", "Checker"}


DEEP = """\
name: top
task: Plan a trip.
max_round: 2
speaker_selection: round_robin
code_execution: {executor: none}
agents:
  - name: Planning
    kind: team
    team: planning.yaml
    task: "Plan this: {context}"
  - {name: Boss}
"""

PLANNING = """\
name: planning
max_round: 3
speaker_selection: round_robin
agents:
  - {name: Planner}
  - name: Costs
    kind: team
    sees: all
    team:
      max_round: 1
      agents: [{name: Accountant}]
  - {name: Approver}
"""


def test_three_levels_carry_their_scopes_and_roll_usage_up(cli, server, tmp_path):
    script(server, {"Planner": ["Go to Lisbon."], "Accountant": ["It costs 900 EUR."],
                    "Approver": ["Approved: Lisbon, 900 EUR."], "Boss": ["Fine. TERMINATE"]})
    outer = write(tmp_path, "top.yaml", DEEP, server.url)
    write(tmp_path, "planning.yaml", PLANNING)
    r, ev = run_json(cli, outer)
    assert r.exit_code == 0
    assert agents_of(server) == ["Planner", "Accountant", "Approver", "Boss"]
    starts = [(e["scope"], e["task"]) for e in ev if e["type"] == "chat_started"]
    assert starts[0] == (["Planning"], "Plan this: Plan a trip.")          # task template
    assert starts[1][0] == ["Planning", "Costs"]
    assert starts[1][1] == "user: Plan this: Plan a trip.\n\nPlanner: Go to Lisbon."  # sees: all
    assert messages(ev, ["Planning", "Costs"]) == [("Accountant", "It costs 900 EUR.")]
    assert messages(ev, ["Planning"]) == [("Planner", "Go to Lisbon."),
                                          ("Costs", "It costs 900 EUR."),
                                          ("Approver", "Approved: Lisbon, 900 EUR.")]
    assert messages(ev) == [("Planning", "Approved: Lisbon, 900 EUR."), ("Boss", "Fine. TERMINATE")]
    ends = {tuple(e["scope"]): e for e in ev if e["type"] == "chat_ended"}
    assert ends[("Planning", "Costs")]["reason"] == "max_round"
    assert ends[("Planning",)]["usage"]["agents"]["Costs"]["calls"] == 1
    usage = ev[-1]["usage"]
    assert usage["agents"]["Planning"]["calls"] == 3 and usage["total"]["calls"] == 4
    assert set(usage["scopes"]) == {"Planning", "Planning/Costs"}
    assert usage["scopes"]["Planning/Costs"]["agents"]["Accountant"]["calls"] == 1
    assert sum(s["total"]["calls"] for s in usage["scopes"].values()) + \
        usage["agents"]["Boss"]["calls"] == usage["total"]["calls"]


def test_a_reflection_summary_is_one_call_named_after_the_member(cli, server, tmp_path):
    script(server, {"Searcher": ["Fact one."], "Checker": ["Fact two. TERMINATE"],
                    "Research_team (summary)": ["Octopuses: three hearts, blue blood."],
                    "Writer": ["Done. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER.replace(
        "team: research.yaml}", "team: research.yaml, summary: reflection,\n"
        "     summary_prompt: Give the facts in one line.}"), server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    r, ev = run_json(cli, outer)
    assert r.exit_code == 0
    assert agents_of(server) == ["Searcher", "Checker", "Research_team (summary)", "Writer"]
    call = server.completions()[2].body["messages"]
    assert call[0] == {"role": "system", "content": "Give the facts in one line."}
    sent = json.dumps(call)
    assert "Fact one." in sent and "Fact two. TERMINATE" in sent
    assert messages(ev)[0] == ("Research_team", "Octopuses: three hearts, blue blood.")
    summary = [e for e in ev if e["type"] == "message" and e["agent"] == "Research_team"][0]
    assert summary["usage"]["calls"] == 1 and "scope" not in summary
    assert ev[-1]["usage"]["agents"]["Research_team"]["calls"] == 3


CHATS = """\
name: pipeline
chats:
  - {team: research.yaml, task: Find facts about octopuses.}
  - name: Drafting
    task: Draft a post.
    team:
      max_round: 1
      agents: [{name: Drafter}]
  - name: Review
    task: Review the draft.
    summary: reflection
    team:
      max_round: 1
      agents: [{name: Reviewer}]
"""


def test_three_chats_in_sequence_carry_the_summaries_over(cli, server, tmp_path):
    script(server, {"Searcher": ["Three hearts."], "Checker": ["Blue blood. TERMINATE"],
                    "Drafter": ["Draft: hearts and blood."], "Reviewer": ["Looks good."],
                    "Review (summary)": ["Approved draft."]})
    team = write(tmp_path, "pipeline.yaml", CHATS, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    r, ev = run_json(cli, team)
    assert (r.exit_code, ev[-1]["reason"]) == (0, "chats")
    assert agents_of(server) == ["Searcher", "Checker", "Drafter", "Reviewer",
                                 "Review (summary)"]
    starts = [e for e in ev if e["type"] == "chat_started"]
    assert [e["scope"] for e in starts] == [["research"], ["Drafting"], ["Review"]]
    assert starts[0]["task"] == "Find facts about octopuses."
    assert starts[1]["task"] == "Draft a post.\nContext: \nBlue blood."
    assert starts[2]["task"] == "Review the draft.\nContext: \nBlue blood.\nDraft: hearts and blood."
    assert messages(ev) == [("research", "Blue blood."), ("Drafting", "Draft: hearts and blood."),
                            ("Review", "Approved draft.")]
    assert ev[0]["agents"] == ["research", "Drafting", "Review"]
    drafter = server.completions()[2].body["messages"]
    assert "Draft a post.\nContext: \nBlue blood." in drafter[-1]["content"]


def test_an_outer_budget_stops_the_whole_run_from_inside_an_inner_chat(cli, server, tmp_path):
    script(server, {"Searcher": ["More facts, many more facts."], "Checker": ["Still checking."]})
    outer = write(tmp_path, "blog.yaml", OUTER + "budget: {tokens: 150}\n", server.url)
    write(tmp_path, "research.yaml", RESEARCH.replace("max_round: 4", "max_round: 40"))
    r, ev = run_json(cli, outer)
    assert (r.exit_code, ev[-1]["reason"]) == (3, "budget")
    ended = [e for e in ev if e["type"] == "chat_ended"]
    assert ended and ended[0]["reason"] == "budget" and ended[0]["scope"] == ["Research_team"]
    assert "Writer" not in agents_of(server)
    assert 2 <= len(server.completions()) < 40
    assert not messages(ev)       # the member never got to post a summary
    total = ev[-1]["usage"]["total"]
    assert total["prompt_tokens"] + total["completion_tokens"] >= 150


def test_an_inner_budget_ends_only_the_inner_chat(cli, server, tmp_path):
    script(server, {"Searcher": ["More facts, many more facts."], "Checker": ["Checked."],
                    "Writer": ["Post. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH.replace("max_round: 4", "max_round: 40")
          + "budget: {tokens: 100}\n")
    r, ev = run_json(cli, outer)
    assert (r.exit_code, ev[-1]["reason"]) == (0, "keyword")
    ended = [e for e in ev if e["type"] == "chat_ended"][0]
    assert ended["reason"] == "budget"
    assert [a for a, _ in messages(ev)] == ["Research_team", "Writer"]


# -- validation ---------------------------------------------------------------------------

def test_a_cycle_of_team_files_is_refused_with_the_chain(cli, tmp_path):
    write(tmp_path, "a.yaml", "name: a\ntask: t\nagents:\n  - {name: B, kind: team, team: b.yaml}\n")
    write(tmp_path, "b.yaml", "name: b\nagents:\n  - {name: C, kind: team, team: c.yaml}\n")
    write(tmp_path, "c.yaml", "name: c\nagents:\n  - {name: A, kind: team, team: a.yaml}\n")
    for cmd in (("validate",), ("run", "--json")):
        r = cli(*cmd[:1], tmp_path / "a.yaml", *cmd[1:])
        assert r.exit_code == 2, r.stdout
        err = r.stderr + r.stdout
        assert "c.yaml:3:" in err and "a cycle of team files: a.yaml → b.yaml → c.yaml → " \
            "a.yaml" in err
        assert "Traceback" not in err


def test_bad_keys_in_inner_teams_name_the_inner_file_and_line(cli, tmp_path):
    write(tmp_path, "outer.yaml", """\
        name: outer
        task: t
        agents:
          - {name: Research, kind: team, team: inner.yaml}
          - name: Review
            kind: team
            team:
              agents:
                - {name: Critic, modle: x}
          - {name: Writer, summary: reflection}
        """)
    write(tmp_path, "inner.yaml", "name: inner\nagents:\n  - name: Searcher\n    systm_message: hi\n")
    r = cli("validate", tmp_path / "outer.yaml")
    assert r.exit_code == 2
    err = r.stderr + r.stdout
    assert "inner.yaml:4:5: agents[0].systm_message: unknown key `systm_message`; did you mean " \
        "`system_message`?" in err
    assert "outer.yaml:4:" in err and "inner.yaml has 1 problem(s)" in err
    assert "outer.yaml:9:26: agents[1].team.agents[0].modle: unknown key `modle`; did you mean " \
        "`model`?" in err
    assert "outer.yaml:10:20: agents[2].summary: `summary` applies only to agents with " \
        "`kind: team`" in err


def test_nesting_deeper_than_the_limit_is_refused(cli, tmp_path):
    for i in range(6):
        write(tmp_path, f"t{i}.yaml", f"name: t{i}\ntask: t\nagents:\n"
              f"  - {{name: M, kind: team, team: t{i + 1}.yaml}}\n")
    write(tmp_path, "t6.yaml", "name: t6\nagents: [{name: A}]\n")
    r = cli("validate", tmp_path / "t0.yaml")
    assert r.exit_code == 2 and "teams nest at most 4 deep" in r.stderr + r.stdout


def test_chats_and_agents_together_are_refused(cli, tmp_path):
    write(tmp_path, "x.yaml", "name: x\nagents: [{name: A}]\nchats:\n  - {team: {agents: "
          "[{name: B}]}, task: go, sumary: last}\n")
    r = cli("validate", tmp_path / "x.yaml")
    err = r.stderr + r.stdout
    assert r.exit_code == 2
    assert "x.yaml:3:1: chats: a team file has `agents:` (one chat) or `chats:`" in err
    assert "chats[0].sumary: unknown key `sumary`; did you mean `summary`?" in err


# -- transcripts: resume, replay, old formats ------------------------------------------------

def recorded_then_cut(cli, team, tmp_path, marker: str):
    """Run ``team``, then cut its transcript after the first message line with ``marker``
    (what a kill at that point leaves)."""
    t = tmp_path / "run.jsonl"
    run_json(cli, team, "--transcript", t)
    lines = t.read_text().splitlines()
    cut = next(i for i, x in enumerate(lines) if '"type": "message"' in x and marker in x)
    t.write_text("\n".join(lines[:cut + 1]) + "\n")
    return t


def test_resume_goes_on_inside_the_inner_chat_that_was_running(cli, server, tmp_path):
    script(server, {"Searcher": ["Fact one."], "Checker": ["Checked. TERMINATE"],
                    "Writer": ["Post. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    # cut the transcript after the Searcher's message: as if killed inside the inner chat
    t = recorded_then_cut(cli, outer, tmp_path, '"agent": "Searcher"')
    rec = read(t)
    assert rec.open is not None and rec.open.scope == ("Research_team",)
    server.requests.clear()
    r, ev = run_json(cli, "--resume", t)
    assert r.exit_code == 0
    assert agents_of(server) == ["Checker", "Writer"]       # the Searcher is not asked again
    started = [e for e in ev if e["type"] == "chat_started"]
    assert started[0]["resumed_at"] == 1 and started[0]["scope"] == ["Research_team"]
    assert messages(ev) == [("Research_team", "Checked."), ("Writer", "Post. TERMINATE")]
    checker = server.completions()[0].body["messages"]
    assert "Fact one." in json.dumps(checker)            # the inner history is back


def test_replay_plays_a_nested_run_back_without_a_model(cli, server, tmp_path):
    script(server, {"Planner": ["Go to Lisbon."], "Accountant": ["It costs 900 EUR."],
                    "Approver": ["Approved."], "Boss": ["Fine. TERMINATE"]})
    outer = write(tmp_path, "top.yaml", DEEP, server.url)
    write(tmp_path, "planning.yaml", PLANNING)
    t = tmp_path / "rec.jsonl"
    _, first = run_json(cli, outer, "--transcript", t)
    calls = len(server.completions())
    r, again = run_json(cli, outer, "--replay", t, "--transcript", tmp_path / "again.jsonl")
    assert r.exit_code == 0 and len(server.completions()) == calls
    shown = [(e["type"], e.get("scope"), e.get("agent"), e.get("content")) for e in again
             if e["type"] in ("message", "chat_started")]
    assert shown == [(e["type"], e.get("scope"), e.get("agent"), e.get("content")) for e in first
                     if e["type"] in ("message", "chat_started")]


def test_a_transcript_without_scopes_still_resumes_replays_and_shows(cli, server, team_file,
                                                                   tmp_path):
    """A flat transcript of the old format (no `scope`, no `format`, no chat events)."""
    script(server, {"Coder": ["print(1)"], "Critic": ["Good. TERMINATE"]})
    team = team_file()
    old = tmp_path / "old.jsonl"
    lines = [{"type": "run_started", "team": "test-team", "task": "Do the thing.",
              "agents": ["User_proxy", "Coder", "Critic"], "transcript": str(old),
              "team_file": str(team)},
             {"type": "message", "round": 0, "agent": "User_proxy", "content": "Do the thing.",
              "usage": {}, "model": None, "kind": "text"},
             {"type": "message", "round": 1, "agent": "Coder", "content": "print(1)",
              "usage": {"calls": 1}, "model": "default", "kind": "text"}]
    old.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r, ev = run_json(cli, "--resume", old)
    assert r.exit_code == 0 and messages(ev)[-1] == ("Critic", "Good. TERMINATE")
    assert all("scope" not in e for e in ev)
    r, ev = run_json(cli, team, "--replay", old, "--max-round", "1",
                     "--transcript", tmp_path / "re.jsonl")
    assert r.exit_code == 3 and messages(ev) == [("Coder", "print(1)")]
    shown = cli("show", old)
    assert shown.exit_code == 0 and "print(1)" in shown.stdout


def test_the_terminal_draws_inner_chats_indented_under_their_member(cli, server, tmp_path):
    script(server, {"Searcher": ["Three hearts."], "Checker": ["Blue blood. TERMINATE"],
                    "Writer": ["Post. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    r = cli("run", outer)
    assert r.exit_code == 0
    out = r.stdout
    assert "│ ▸ Research_team · team research, agents: Searcher, Checker" in out
    assert "\n│ Three hearts.\n" in out and "\n│ Blue blood. TERMINATE\n" in out
    assert "│ ◂ Research_team · ended by the termination keyword · 2 rounds" in out
    assert "\nBlue blood.\n" in out           # the member's message, at the top level
    assert "Research_team › Searcher" in out  # the usage table's per-scope rows


# -- Ctrl-C inside an inner chat, for real --------------------------------------------------

def test_ctrl_c_inside_an_inner_chat_loses_nothing_and_resume_goes_on_there(server, tmp_path):
    script(server, {"Searcher": ["alpha beta gamma delta epsilon zeta eta theta iota kappa"]})
    server.chunk_delay = 0.3
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    t = tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", outer, "--json",
                             "--transcript", str(t)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    from .test_signals import wait_for
    wait_for(t, '"type": "message_delta"', 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    ev = [json.loads(x) for x in t.read_text().splitlines()]
    cut = [e for e in ev if e["type"] == "message" and e.get("incomplete")]
    assert cut and cut[0]["scope"] == ["Research_team"] and cut[0]["content"].startswith("alpha")
    assert [e["type"] for e in ev[-2:]] == ["chat_ended", "run_ended"]
    assert ev[-2]["reason"] == "interrupted" and ev[-2]["scope"] == ["Research_team"]
    assert (ev[-1]["reason"], ev[-1]["exit_code"]) == ("interrupted", 130)
    assert json.loads(out.splitlines()[-1])["type"] == "run_ended"
    # resume: the inner chat goes on where it stopped
    server.chunk_delay = 0.0
    script(server, {"Searcher": ["Fact."], "Checker": ["Checked. TERMINATE"],
                    "Writer": ["Post. TERMINATE"]})
    server.requests.clear()
    proc = subprocess.run([sys.executable, "-m", "agentteam.cli", "run", "--resume", str(t),
                           "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ev = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    started = [e for e in ev if e["type"] == "chat_started"]
    assert started[0]["scope"] == ["Research_team"] and started[0]["resumed_at"] == 0
    assert agents_of(server) == ["Searcher", "Checker", "Writer"]
    assert messages(ev) == [("Research_team", "Checked."), ("Writer", "Post. TERMINATE")]


def test_validate_counts_the_chats_of_a_sequence(cli, server, tmp_path):
    team = write(tmp_path, "pipeline.yaml", CHATS, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    r = cli("validate", team)
    assert r.exit_code == 0 and "(pipeline, 3 chats)" in r.stdout


def test_resume_goes_on_two_levels_down(cli, server, tmp_path):
    script(server, {"Planner": ["Go to Lisbon."], "Accountant": ["It costs 900 EUR."],
                    "Approver": ["Approved."], "Boss": ["Fine. TERMINATE"]})
    outer = write(tmp_path, "top.yaml", DEEP, server.url)
    write(tmp_path, "planning.yaml", PLANNING)
    # killed right after the innermost chat started (its task written, no reply yet)
    t = recorded_then_cut(cli, outer, tmp_path, '"scope": ["Planning", "Costs"]')
    server.requests.clear()
    r, ev = run_json(cli, "--resume", t)
    assert r.exit_code == 0
    assert agents_of(server) == ["Accountant", "Approver", "Boss"]
    started = [(e["scope"], e["resumed_at"]) for e in ev if e["type"] == "chat_started"]
    assert started == [(["Planning"], 1), (["Planning", "Costs"], 0)]
    assert messages(ev, ["Planning"]) == [("Costs", "It costs 900 EUR."),
                                          ("Approver", "Approved.")]
    assert messages(ev) == [("Planning", "Approved."), ("Boss", "Fine. TERMINATE")]


def test_run_task_replaces_the_first_chats_task(cli, server, tmp_path):
    script(server, {"Searcher": ["Squid facts."], "Checker": ["Ok. TERMINATE"]})
    team = write(tmp_path, "pipeline.yaml", CHATS, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    r, ev = run_json(cli, team, "--task", "Find facts about squids.")
    assert r.exit_code == 0
    tasks = [e["task"] for e in ev if e["type"] == "chat_started"]
    assert tasks[0] == "Find facts about squids." and tasks[1].startswith("Draft a post.")


# -- what inner teams have of their own: tools, a sandbox ----------------------------------

def test_an_inner_team_calls_its_own_tools(cli, server, tmp_path):
    from agentteam.testing.fakeserver import by_agent, tool_calls
    (tmp_path / "fx.py").write_text(
        "def convert(amount: float) -> str:\n    \"\"\"Dollars to euros.\"\"\"\n"
        "    return f'{amount * 0.9:.2f} EUR'\n")
    server.responder = by_agent({
        "Banker": [tool_calls(("convert", {"amount": 10})), "10 USD is 9.00 EUR. TERMINATE"],
        "Writer": ["Noted. TERMINATE"]})
    outer = write(tmp_path, "money.yaml", """\
        name: money
        task: How much is 10 USD in EUR?
        max_round: 2
        speaker_selection: round_robin
        code_execution: {executor: none}
        agents:
          - name: Bank
            kind: team
            team:
              tools: [{function: fx.py:convert, run: host}]
              agents:
                - {name: Teller, kind: user_proxy}
                - {name: Banker, tools: [convert]}
          - {name: Writer}
        """, server.url)
    r, ev = run_json(cli, outer)
    assert r.exit_code == 0, r.stderr
    results = [e for e in ev if e["type"] == "tool_result"]
    assert results[0]["output"] == "9.00 EUR" and results[0]["scope"] == ["Bank"]
    assert messages(ev)[0] == ("Bank", "10 USD is 9.00 EUR.")
    offered = server.completions()[0].body["tools"]
    assert offered[0]["function"]["name"] == "convert"
    assert "tools" not in server.completions()[-1].body       # the Writer is offered none


def test_an_inner_team_with_its_own_code_execution_runs_code_in_its_own_work_dir(
        cli, server, tmp_path):
    script(server, {"Coder": ["```python\nopen('mark.txt', 'w').write('inner')\n"
                              "print('wrote')\n```", "Done. TERMINATE"],
                    "Boss": ["```python\nopen('mark.txt', 'w').write('outer')\n```",
                             "Fine. TERMINATE"]})
    outer = write(tmp_path, "top.yaml", """\
        name: top
        task: Mark the folders.
        max_round: 4
        speaker_selection: round_robin
        code_execution: {executor: local, work_dir: outer_work}
        agents:
          - {name: Proxy, kind: user_proxy}
          - {name: Boss}
          - {name: Lab, kind: team, team: lab.yaml}
        """, server.url)
    write(tmp_path, "lab.yaml", """\
        name: lab
        max_round: 3
        speaker_selection: round_robin
        code_execution: {executor: local, work_dir: lab_work}
        agents:
          - {name: Coder}
          - {name: Runner, kind: user_proxy}
        """)
    r, ev = run_json(cli, outer)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "outer_work" / "mark.txt").read_text() == "outer"
    assert (tmp_path / "lab_work" / "mark.txt").read_text() == "inner"
    ran = [(e.get("scope"), e["exit_code"]) for e in ev if e["type"] == "code_result"]
    assert sorted(ran, key=str) == [(None, 0), (["Lab"], 0)]


def test_a_team_file_without_a_task_runs_with_task_and_is_refused_without(cli, server,
                                                                         tmp_path):
    script(server, {"Searcher": ["Fact."], "Checker": ["Ok. TERMINATE"]})
    team = write(tmp_path, "research.yaml", RESEARCH, server.url)
    assert cli("validate", team).exit_code == 0     # a team meant to be nested needs none
    r = cli("run", team, "--json")
    assert r.exit_code == 2 and "the team has no task; add `task:` to the file or pass " \
        "--task TEXT" in r.stderr
    r, ev = run_json(cli, team, "--task", "Find a fact.")
    assert r.exit_code == 0 and ev[0]["task"] == "Find a fact."
