"""Conversation core 2.0, end to end against the fake server: every call names its agent
(replay, cache, headers), run_team(), message parts and transcript formats, `stalled`,
termination in prose only, and a proxy that never runs its own code."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

import agentteam
from agentteam import run_inputs, runner
from agentteam.models.base import SELECTOR

from .conftest import script

AGENT_HEADER = "x-agentteam-agent"

# Critic and Reviewer have no system message: both get the same default one.
PAIR = """\
name: pair
task: Review the plan.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, timeout: 5}}
max_round: {max_round}
termination: TERMINATE
speaker_selection: {selection}
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: {first}}}
  - {{name: {second}}}
"""


def pair(team_file, selection="round_robin", max_round=10, first="Critic", second="Reviewer",
         name="pair.yaml"):
    return team_file(PAIR, name=name, selection=selection, max_round=max_round, first=first,
                     second=second)


def header(request) -> str | None:
    """The agent a request was for, whatever case the client sent the header in."""
    return next((v for k, v in request.headers.items() if k.lower() == AGENT_HEADER), None)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def messages(events: list[dict]) -> list[tuple]:
    return [(e["round"], e["agent"], e["content"]) for e in events if e["type"] == "message"]


# -- every call names its agent ----------------------------------------------------------

@pytest.mark.parametrize("selection", ["round_robin", "auto"])
def test_replay_tells_apart_agents_that_share_a_system_message(cli, server, team_file, tmp_path,
                                                               selection):
    script(server, {"Critic": ["c1", "c2"], "Reviewer": ["r1", "r2 TERMINATE"],
                    SELECTOR: ["Reviewer", "Critic", "Reviewer"]})
    team, t = pair(team_file, selection), tmp_path / "rec.jsonl"
    first = cli("run", team, "--json", "--transcript", t)
    assert first.exit_code == 0, first.stdout
    systems = {header(r): r.body["messages"][0]["content"] for r in server.completions()
               if header(r) != SELECTOR}
    assert set(systems) == {"Critic", "Reviewer"}
    assert systems["Critic"] == systems["Reviewer"]        # nothing to tell them apart by
    calls = len(server.requests)
    server.stop()
    again = cli("run", team, "--replay", t, "--json", "--transcript", tmp_path / "re.jsonl")
    assert again.exit_code == 0, again.stdout
    assert messages(again.events()) == messages(first.events())
    assert len(server.requests) == calls


@pytest.mark.parametrize("transport", ["wire", "litellm"])
def test_every_completion_request_names_its_agent(cli, server, team_file, monkeypatch,
                                                  transport):
    if transport == "litellm":
        monkeypatch.setenv("AGENTTEAM_TRANSPORT", "litellm")
    script(server, {SELECTOR: ["Critic", "Coder", "Critic"], "Coder": ["c1", "c2"],
                    "Critic": ["k1", "k2 TERMINATE"]})
    r = cli("run", team_file(selection="auto", max_round=10), "--json")
    assert r.exit_code == 0, r.stdout
    expected = []
    for e in r.events():
        if e["type"] == "speaker_selected" and "selector model" in e["reason"]:
            expected.append(SELECTOR)
        elif e["type"] == "message" and e["round"] > 0:
            expected.append(e["agent"])
    reqs = server.completions()
    assert [header(q) for q in reqs] == expected
    assert {SELECTOR, "Coder", "Critic"} <= set(expected)
    # the request really took the transport under test (LiteLLM sends through the openai SDK)
    agents = {q.headers.get("User-Agent", "").split("/")[0] for q in reqs}
    assert agents == ({"OpenAI"} if transport == "litellm" else {"python-httpx"})


def test_cache_keeps_a_reply_per_agent_for_identical_prompts(cli, server, team_file, tmp_path):
    script(server, {"Critic": ["from the critic"], "Reviewer": ["from the reviewer"]})
    cache = f"cache: {{seed: 1, dir: {tmp_path / 'cache'}}}\n"
    critic_first = pair(team_file, max_round=1)
    reviewer_first = pair(team_file, max_round=1, first="Reviewer", second="Critic",
                          name="swapped.yaml")
    for team in (critic_first, reviewer_first):
        team.write_text(team.read_text() + cache)

    def reply(team):
        r = cli("run", team, "--json")
        assert r.exit_code == 3, r.stdout
        return messages(r.events())[-1][1:]

    assert reply(critic_first) == ("Critic", "from the critic")
    assert reply(reviewer_first) == ("Reviewer", "from the reviewer")
    bodies = [q.body["messages"] for q in server.completions()]
    assert len(bodies) == 2 and bodies[0] == bodies[1]     # the same prompt, twice
    # and both are cached, each for its own agent
    assert reply(critic_first) == ("Critic", "from the critic")
    assert reply(reviewer_first) == ("Reviewer", "from the reviewer")
    assert len(server.completions()) == 2


# -- run_team() --------------------------------------------------------------------------

@pytest.mark.parametrize("replies,reason,code", [(["done TERMINATE"], "keyword", 0),
                                                 (["more"], "max_round", 3)])
def test_run_team_yields_events_and_ends_with_run_ended(server, team_file, tmp_path, monkeypatch,
                                                        capsys, replies, reason, code):
    monkeypatch.chdir(tmp_path)
    script(server, {"Coder": replies, "Critic": ["k"]})
    events = list(agentteam.run_team(team_file(), max_round=3))
    assert events[0].type == "run_started"
    end = events[-1]
    assert isinstance(end, agentteam.RunEnded)
    assert (end.reason, end.exit_code) == (reason, code)
    assert sum(isinstance(e, agentteam.RunEnded) for e in events) == 1
    assert Path(end.transcript).is_file()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


CODE_TEAM = """\
name: code
task: Write the file.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, timeout: 5}}
max_round: {max_round}
termination: {termination}
speaker_selection: round_robin
code_execution: {{executor: local, timeout: 30}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder."}}
  - {{name: Critic, system_message: "Critic."}}
"""

WRITE = "```python\nopen('out.txt', 'w').write('hi')\nprint('wrote')\n```"


def code_team(team_file, max_round=2, termination="TERMINATE", **kw):
    return team_file(CODE_TEAM, max_round=max_round, termination=termination, **kw)


def test_run_team_own_work_dir_gives_each_run_a_new_one(server, team_file, tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    script(server, {"Coder": [WRITE], "Critic": ["k"]})
    team = code_team(team_file, max_round=3)
    ends = [list(agentteam.run_team(team, own_work_dir=True))[-1] for _ in range(2)]
    assert [e.reason for e in ends] == ["max_round", "max_round"]
    dirs = sorted((tmp_path / ".agentteam" / "work").iterdir())
    assert len(dirs) == 2 and all(d.is_dir() for d in dirs)
    assert all((d / "out.txt").read_text() == "hi" for d in dirs)
    assert not (tmp_path / "groupchat").exists()      # the team's own work dir is untouched


class _FrozenClock(datetime):
    """A clock whose every reading is the same instant (as on a coarse system clock)."""

    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=tz or timezone.utc)


def test_own_work_dirs_differ_even_within_one_clock_tick(server, team_file, tmp_path,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_inputs, "datetime", _FrozenClock)
    team = agentteam.load_team(code_team(team_file))
    req = runner.RunRequest(None, own_work_dir=True)
    a, b = (run_inputs.with_work_dir(team, req).work_dir for _ in range(2))
    # not created yet: the executor creates it for whoever runs the code (the sandbox
    # user as root); tests/test_sandbox_boundary.py runs code in one
    assert a != b and not a.exists() and not b.exists()
    assert a.parent == b.parent == (tmp_path / ".agentteam" / "work").resolve()


def test_run_team_raises_config_error_before_start_and_prints_nothing(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagents:\n  - {name: Coder, modle: default}\n")
    events = agentteam.run_team(bad)
    with pytest.raises(agentteam.ConfigError) as info:
        next(events)
    assert "modle" in str(info.value)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert not (tmp_path / ".agentteam").exists()     # nothing was started or written


# -- message parts in transcripts ---------------------------------------------------------

def _started(team: Path, fmt: int | None) -> dict:
    ev = {"type": "run_started", "team": "test-team", "task": "Do the thing.",
          "agents": ["User_proxy", "Coder", "Critic"], "transcript": "t.jsonl",
          "team_file": str(team), "resumed_at": None}
    if fmt is not None:
        ev["format"] = fmt
    return ev


def _message(round_no: int, agent: str, content, kind: str = "text") -> dict:
    return {"type": "message", "round": round_no, "agent": agent, "content": content,
            "usage": {}, "model": None if round_no == 0 else "default", "kind": kind,
            "incomplete": False}


PARTS = [{"type": "text", "text": "let me look"},
         {"type": "tool_call", "id": "call_1", "name": "ls", "arguments": "{\"path\": \".\"}"}]


def _write(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_a_transcript_with_parts_resumes_and_replays(cli, server, team_file, tmp_path):
    team = team_file()
    t = _write(tmp_path / "parts.jsonl", [
        _started(team, 2), _message(0, "User_proxy", "Do the thing."),
        _message(1, "Coder", PARTS),
        _message(2, "Critic", [{"type": "text", "text": "see the plot"},
                               {"type": "image", "path": "plot.png", "width": 640,
                                "height": 480}]),
        {"type": "run_ended", "reason": "max_round", "rounds": 2, "exit_code": 3}])
    script(server, {"Coder": ["c2"], "Critic": ["k2 TERMINATE"]})
    r = cli("run", "--resume", t, "--json", "--max-round", "10")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert [m[1:] for m in messages(r.events())] == [("Coder", "c2"), ("Critic", "k2 TERMINATE")]
    coder = server.completions()[0].body["messages"]
    call = next(m for m in coder if m.get("tool_calls"))
    assert call["role"] == "assistant" and call["tool_calls"][0]["id"] == "call_1"
    assert any("[image: plot.png 640x480]" in str(m["content"]) for m in coder)
    # the parts are still parts in the transcript; replaying it gives the same messages
    recorded = messages(lines(t))
    assert recorded[1][2] == PARTS
    server.stop()
    re_json, re_shown = tmp_path / "re.jsonl", tmp_path / "shown.jsonl"
    again = cli("run", team, "--replay", t, "--json", "--transcript", re_json)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert messages(lines(re_json)) == recorded
    deltas = [e["text"] for e in lines(re_json) if e["type"] == "message_delta"]
    assert "let me look\n[calls ls({\"path\": \".\"})]" in deltas
    shown = cli("run", team, "--replay", t, "--transcript", re_shown)    # the terminal view
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert "[image: plot.png 640x480]" in shown.stdout


def test_text_only_content_stays_a_string(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["c1"], "Critic": ["k1"]})
    t = tmp_path / "t.jsonl"
    r = cli("run", team_file(max_round=2), "--json", "--transcript", t)
    for events in (r.events(), lines(t)):
        assert [m[2] for m in messages(events)] == ["Do the thing.", "c1", "k1"]
    assert lines(t)[0]["format"] == 2


def test_a_format_1_transcript_still_resumes_and_replays(cli, server, team_file, tmp_path):
    """Written by hand in the shape of transcripts before message parts (no `format`)."""
    team = team_file()
    code = "```python\nprint(1)\n```"
    old = [_started(team, None), _message(0, "User_proxy", "Do the thing."),
           _message(1, "Coder", code),
           {"type": "code_result", "round": 2, "agent": "User_proxy", "language": "python",
            "exit_code": 0, "output": "1\n", "duration_s": 0.01, "timed_out": False,
            "source_round": 1},
           _message(2, "User_proxy", "exitcode: 0 (execution succeeded)\n1", "code_result"),
           _message(3, "Critic", "fine"),
           {"type": "run_ended", "reason": "max_round", "rounds": 3, "usage": {},
            "transcript": "t.jsonl", "error": None, "exit_code": 3}]
    for e in old:
        e.pop("format", None)
    t = _write(tmp_path / "old.jsonl", old)
    recorded = _write(tmp_path / "old-copy.jsonl", old)
    script(server, {"Coder": ["c2 TERMINATE"]})
    r = cli("run", "--resume", t, "--json", "--max-round", "10")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert [m[1:] for m in messages(r.events())] == [("Coder", "c2 TERMINATE")]
    assert not [e for e in r.events() if e["type"] == "code_result"]   # ran already
    sent = server.completions()[0].body["messages"]
    assert sent[2] == {"role": "assistant", "content": code}
    assert sent[3]["content"].startswith("User_proxy: exitcode: 0")
    server.stop()
    again = cli("run", team, "--replay", recorded, "--json", "--max-round", "3")
    assert again.exit_code == 3, again.stdout + again.stderr
    spoken = lambda events: [m[1:] for m in messages(events) if m[1] != "User_proxy"]
    assert spoken(again.events()) == spoken(old) == [("Coder", code), ("Critic", "fine")]


# -- how a run ends -----------------------------------------------------------------------

STALL = """\
name: stall
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, timeout: 5}}
max_round: 10
speaker_selection: round_robin
code_execution: {{executor: none}}
transitions: {transitions}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Critic, system_message: "Critic."}}
"""


@pytest.mark.parametrize("transitions", ["{{Critic: []}}", "{{Critic: [User_proxy]}}"])
def test_nobody_able_to_speak_ends_stalled_with_exit_3(cli, server, team_file, tmp_path,
                                                       transitions):
    team = team_file(STALL.replace("{transitions}", transitions))
    t = tmp_path / "t.jsonl"
    r = cli("run", team, "--json", "--transcript", t)
    assert r.exit_code == 3
    end = r.events()[-1]
    assert (end["reason"], end["exit_code"], end["rounds"]) == ("stalled", 3, 1)
    assert lines(t)[-1]["reason"] == "stalled"
    shown = cli("run", team)
    assert shown.exit_code == 3
    assert "no agent had anything more to say · 1 rounds" in shown.stdout


def test_keyword_inside_a_code_block_does_not_end_the_chat(cli, server, team_file, tmp_path):
    code = "Run this:\n```python\nprint(\"TERMINATE\")\n```"
    script(server, {"Coder": [code, "all done TERMINATE"], "Critic": ["k"]})
    team = code_team(team_file, max_round=6, termination="{keyword: TERMINATE, match: suffix}")
    r = cli("run", team, "--json")
    assert r.exit_code == 0, r.stdout
    ev = r.events()
    ran = [e for e in ev if e["type"] == "code_result"]
    assert [(e["source_round"], e["output"].strip()) for e in ran] == [(1, "TERMINATE")]
    assert [m[1] for m in messages(ev)] == ["User_proxy", "Coder", "Critic", "User_proxy",
                                            "Coder"]
    assert ev[-1]["reason"] == "keyword" and ev[-1]["rounds"] == 4


def test_proxy_never_runs_code_from_its_own_messages(cli, server, team_file, tmp_path):
    task = "Like this example:\n```python\nopen('from_task.txt', 'w').write('x')\n```"
    script(server, {"Coder": ["I will not write code.", WRITE], "Critic": ["k"]})
    team = code_team(team_file, max_round=5)
    r = cli("run", team, "--json", "--task", task)
    assert r.exit_code == 3, r.stdout
    ran = [e for e in r.events() if e["type"] == "code_result"]
    assert [e["source_round"] for e in ran] == [3]              # the Coder's code only
    work = tmp_path / "groupchat"
    assert (work / "out.txt").exists() and not (work / "from_task.txt").exists()


@pytest.mark.parametrize("bad,says", [
    ({"content": [{"type": "text", "text": 5}]}, "content[0].text must be a string"),
    ({"content": [{"type": "video"}]}, "content[0] is not a part"),
    ({"content": [{"type": "image"}]}, "needs a path or a url"),
    ({"agent": None}, "`agent`: input should be a valid string"),
    ({"round": "one"}, "`round`: input should be a valid integer")])
@pytest.mark.parametrize("flag", ["--resume", "--replay"])
def test_a_broken_message_in_a_transcript_is_a_clear_error(cli, team_file, tmp_path, bad, says,
                                                           flag):
    team = team_file()
    t = _write(tmp_path / "t.jsonl", [_started(team, 2), _message(0, "User_proxy", "Do it."),
                                      {**_message(1, "Coder", "x"), **bad}])
    r = cli("run", team, flag, t, "--json")
    assert r.exit_code == 2
    err = r.events()[-1]["error"]
    assert err.startswith(f"{t}:3: ") and says in err
    assert "Traceback" not in r.stdout + r.stderr


# -- the test helpers ---------------------------------------------------------------------

def test_fake_server_by_agent_answers_each_agent_from_its_own_queue(cli, server, team_file):
    script(server, {"Coder": ["c1", "c2"], "Critic": ["k1"]}, default="(nobody)")
    r = cli("run", team_file(max_round=5), "--json")
    assert [m[1:] for m in messages(r.events())][1:] == [
        ("Coder", "c1"), ("Critic", "k1"), ("Coder", "c2"), ("Critic", "k1"), ("Coder", "c2")]
    respond = agentteam.testing.fakeserver.by_agent({"A": ["a1"], "B": []}, default="d")
    assert [respond({}, who) for who in ("A", "A", "B", "", "C")] == ["a1", "a1", "d", "d", "d"]


def test_scripted_model_answers_by_agent_and_checks_every_reply_was_used():
    from agentteam.conversation.groupchat import GroupChat, drive
    from agentteam.team import parse_team
    from agentteam.testing import ScriptedModel
    team = parse_team("name: t\ntask: go\nmax_round: 3\nspeaker_selection: auto\n"
                      "agents:\n  - {name: Coder}\n  - {name: Critic}\n", "t.yaml", {})
    model = ScriptedModel().enqueue("Coder", "c1").enqueue("Critic", "k1")
    model.enqueue("selector", "Critic").enqueue(None, "shared")
    events: list = []
    drive(GroupChat(team, model).run(), events.append)
    said = [(e.agent, e.content) for e in events if e.type == "message"]
    assert said == [("user", "go"), ("Critic", "k1"), ("Coder", "c1"), ("Critic", "shared")]
    assert [who for _, _, who in model.calls] == [SELECTOR, "Critic", "Coder", "Critic"]
    model.assert_complete()
    model.enqueue("Coder", "never asked for")
    with pytest.raises(AssertionError, match="never asked for"):
        model.assert_complete()
