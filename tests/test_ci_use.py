"""CI use: replaying a recorded run, and the completion cache."""

from __future__ import annotations

from agentteam.models.base import SELECTOR

from .conftest import script


def record(cli, server, team_file, tmp_path, selection="auto"):
    script(server, {SELECTOR: ["Coder", "Critic", "Coder"], "Coder": ["c1", "c2 TERMINATE"],
                    "Critic": ["k1"]})
    t = tmp_path / "rec.jsonl"
    team = team_file(selection=selection, max_round=10)
    r = cli("run", team, "--json", "--transcript", t)
    assert r.exit_code == 0
    return team, t, r


def test_replay_calls_no_model_and_reproduces_the_run(cli, server, team_file, tmp_path):
    team, t, first = record(cli, server, team_file, tmp_path)
    calls = len(server.requests)
    server.stop()           # nothing may be called: the server is gone
    r = cli("run", team, "--replay", t, "--json", "--transcript", tmp_path / "re.jsonl")
    assert r.exit_code == 0, r.stdout
    msgs = lambda res: [(e["agent"], e["content"]) for e in res.events() if e["type"] == "message"]
    assert msgs(r) == msgs(first)
    assert calls == len(server.requests)


def test_replay_needs_no_key(cli, server, team_file, tmp_path, monkeypatch):
    team, t, _ = record(cli, server, team_file, tmp_path)
    team.write_text(team.read_text().replace("api_key: NULL", "api_key: ${UNSET_IN_CI}"))
    r = cli("run", team, "--replay", t, "--json")
    assert r.exit_code == 0, r.stdout + r.stderr


def test_replay_fails_clearly_when_the_conversation_diverges(cli, server, team_file, tmp_path):
    team, t, _ = record(cli, server, team_file, tmp_path)
    # a changed team: round robin makes the Critic speak where the recording has the Coder
    changed = tmp_path / "changed.yaml"
    changed.write_text(team.read_text().replace("speaker_selection: auto",
                                                "speaker_selection: round_robin")
                       .replace("  - name: Coder\n    system_message: Coder. You write code.\n", "")
                       + "  - name: Coder\n    system_message: Coder. You write code.\n")
    r = cli("run", changed, "--replay", t, "--json")
    assert r.exit_code == 1
    err = r.events()[-1]["error"]
    assert "diverged" in err and "Critic" in err and "Coder" in err


def test_replay_of_a_shorter_recording(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["c1"], "Critic": ["k1"]})
    t = tmp_path / "short.jsonl"
    team = team_file(max_round=2)
    cli("run", team, "--json", "--transcript", t)
    r = cli("run", team, "--replay", t, "--json", "--max-round", "5")
    assert r.exit_code == 1 and "more replies than" in r.events()[-1]["error"]


def test_cache_hit_sends_no_request(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["c1", "c2"], "Critic": ["k1", "k2"]})
    team = team_file(max_round=3)
    team.write_text(team.read_text() + f"cache: {{seed: 7, dir: {tmp_path / 'cache'}}}\n")
    r1 = cli("run", team, "--json")
    n = len(server.completions())
    assert n == 3
    r2 = cli("run", team, "--json")
    assert len(server.completions()) == n             # everything came from the cache
    m = lambda r: [e["content"] for e in r.events() if e["type"] == "message"]
    assert m(r1) == m(r2)
    assert r2.events()[-1]["usage"]["total"]["calls"] == 0
    cli("run", team, "--json", "--no-cache")
    assert len(server.completions()) == n + 3         # --no-cache calls the model again
    team.write_text(team.read_text().replace("seed: 7", "seed: 8"))
    cli("run", team, "--json")
    assert len(server.completions()) == n + 6         # another seed, another cache
