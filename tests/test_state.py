"""Files and state: transcripts that round-trip any text, are checked line by line, survive
a full disk and are written by one run at a time; team files and transcripts that are not
regular files; damaged cache entries; `${VAR}` in extra_headers; the time budget."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentteam.conversation.events import MessageDone, RunStarted
from agentteam.conversation.transcript import TranscriptWriter, read

from .conftest import ROOT, run_process, script

ODD = "one\u2028two\u0085three\u2029four\r\nfive\x0bsix\x1cseven"


def messages_of(path: Path) -> list[dict]:
    return [e for e in (json.loads(x) for x in path.read_bytes().decode().split("\n") if x)
            if e["type"] == "message"]


# -- 15: any text round-trips ----------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=())), min_size=1,
                max_size=4))
def test_any_text_round_trips_through_a_transcript(texts):
    with tempfile.TemporaryDirectory() as d:
        w = TranscriptWriter(Path(d) / "t.jsonl")
        w.write(RunStarted("team", "task", ["A"], ""))
        for i, text in enumerate(texts, 1):
            w.write(MessageDone(i, "A", text))
        w.close()
        rec = read(Path(d) / "t.jsonl")
        assert [m.content for m in rec.messages] == texts
        # each event is exactly one line, whatever a reader counts as a line break
        assert len((Path(d) / "t.jsonl").read_text(encoding="utf-8").splitlines()) == \
            len(texts) + 1


def test_unicode_line_breaks_in_a_reply_resume_and_replay(cli, server, team_file, tmp_path):
    script(server, {"Coder": [ODD], "Critic": ["fine"]})
    t = tmp_path / "odd.jsonl"
    r = cli("run", team_file(max_round=1), "--json", "--transcript", t)
    assert r.exit_code == 3
    assert [e["content"] for e in r.events() if e["type"] == "message"][1] == ODD
    assert messages_of(t)[1]["content"] == ODD
    r = cli("run", "--resume", t, "--json", "--max-round", "2")
    assert r.exit_code == 3, r.stderr
    assert server.completions()[-1].body["messages"][-1]["content"].endswith(f"Coder: {ODD}")
    r = cli("run", team_file(max_round=2), "--replay", t, "--json")
    assert r.exit_code == 3, r.stderr
    assert [e["content"] for e in r.events() if e["type"] == "message"][1:] == [ODD, "fine"]


# -- 16: hand-edited and foreign transcripts ------------------------------------------------

def recorded(cli, server, team_file, tmp_path) -> Path:
    script(server, {"Coder": ["one"], "Critic": ["two"]})
    t = tmp_path / "rec.jsonl"
    assert cli("run", team_file(max_round=2), "--json", "--transcript", t).exit_code == 3
    return t


@pytest.mark.parametrize("edit,said", [
    (lambda e: e.pop("content"), "message event: `content` is missing"),
    (lambda e: e.update(round=[2]), "message event: `round`: input should be a valid integer "
                                    "(got list)"),
    (lambda e: e.update(content=5), "`content` must be text or a list of parts (got 5)"),
    (lambda e: e.update(content=[{"type": "video"}]), "content[0] is not a part"),
    (lambda e: e.update(usage={"prompt_tokens": "many"}), "usage: `prompt_tokens`"),
    (lambda e: e.update(kind="poem"), "`kind` must be text, code_result or tool_result"),
    (lambda e: e.update(type="telegram"), "unknown event type `telegram`"),
])
def test_hand_edited_transcripts_are_refused_naming_the_line(cli, server, team_file, tmp_path,
                                                             edit, said):
    t = recorded(cli, server, team_file, tmp_path)
    lines = t.read_text().split("\n")
    n = next(i for i, x in enumerate(lines) if '"type": "message"' in x and '"Coder"' in x)
    event = json.loads(lines[n])
    edit(event)
    lines[n] = json.dumps(event)
    t.write_text("\n".join(lines))
    before = len(server.completions())
    for args in (("--resume", t), ("--replay", t)):
        r = cli("run", team_file(max_round=4), *args, "--json")
        assert r.exit_code == 2, r.stdout
        assert f"{t}:{n + 1}: " in r.stderr and said in r.stderr
    assert len(server.completions()) == before


def test_another_teams_transcript_is_refused(cli, server, team_file, tmp_path):
    t = recorded(cli, server, team_file, tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(team_file(max_round=4).read_text().replace("name: test-team",
                                                                "name: other-team"))
    before = len(server.completions())
    for flag in ("--replay", "--resume"):
        r = cli("run", other, flag, t, "--json")
        assert r.exit_code == 2
        assert "recorded by team `test-team`" in r.stderr and flag in r.stderr
    renamed = tmp_path / "renamed.yaml"      # same name, but the agent who spoke is gone
    renamed.write_text(team_file(max_round=4).read_text().replace("Critic", "Reviewer"))
    r = cli("run", renamed, "--replay", t, "--json")
    assert r.exit_code == 2 and "its agents Critic are not in" in r.stderr
    assert len(server.completions()) == before


# -- 17: a full disk ---------------------------------------------------------------------------

def test_transcript_on_a_full_device_is_a_clear_error(cli, server, team_file):
    r = cli("run", team_file(max_round=2), "--transcript", "/dev/full")
    assert r.exit_code == 1
    assert "/dev/full: cannot write the transcript (No space left on device)" in r.stderr
    r = cli("run", team_file(max_round=2), "--transcript", "/dev/full", "--json")
    assert r.exit_code == 1 and r.events()[-1]["type"] == "run_ended"


@pytest.fixture
def tiny_disk(tmp_path):
    where = tmp_path / "tiny"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the /dev/full test still runs)")
    yield where
    subprocess.run(["umount", str(where)], capture_output=True)


def test_a_disk_that_fills_up_mid_run_leaves_a_readable_transcript(cli, server, team_file,
                                                                 tiny_disk):
    script(server, {"Coder": ["code " * 600], "Critic": ["review " * 600]})
    t = tiny_disk / "t.jsonl"
    r = cli("run", team_file(max_round=40), "--json", "--transcript", t)
    assert r.exit_code == 1
    end = r.events()[-1]
    assert end["type"] == "run_ended" and end["reason"] == "error"
    assert "cannot write the transcript (No space left on device)" in end["error"]
    raw = t.read_bytes()
    assert raw.endswith(b"\n")
    assert all(json.loads(x) for x in raw.decode().split("\n") if x)   # no torn line
    assert read(t).messages                                            # resumable


# -- 18: not regular files ----------------------------------------------------------------------

def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_devices_and_fifos_are_refused_before_reading(tmp_path, team_file):
    fifo = tmp_path / "team.fifo"
    os.mkfifo(fifo)
    cases = [(("validate", "/dev/zero"), "/dev/zero: is a device, not a regular file"),
             (("validate", fifo), "is a FIFO (named pipe), not a regular file"),
             (("run", team_file(), "--resume", "/dev/zero"), "/dev/zero: is a device"),
             (("run", team_file(), "--replay", fifo), "is a FIFO")]
    for args, said in cases:
        r = subprocess.run([sys.executable, "-m", "agentteam.cli", *map(str, args)],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                           capture_output=True, text=True, timeout=120, preexec_fn=_limited)
        assert r.returncode == 2, (args, r.stderr)
        assert said in r.stderr and "Traceback" not in r.stderr


def test_a_team_file_over_the_cap_is_refused_by_its_size(cli, tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(5_000_000)
    r = cli("validate", big)
    assert r.exit_code == 2 and "file is 5000000 bytes; a team file may be at most" in r.stderr


# -- 19: damaged cache entries ---------------------------------------------------------------

@pytest.mark.parametrize("damage", ["[]", '{"usage": 1}', '{"text": 5}',
                                    '{"text": "x", "usage": {"prompt_tokens": "lots"}}',
                                    "not json {"])
def test_a_damaged_cache_entry_is_a_miss_said_once(cli, server, team_file, tmp_path, damage):
    team = team_file(max_round=3)
    team.write_text(team.read_text() + f"cache: {{seed: 3, dir: {tmp_path / 'cache'}}}\n")
    script(server, {"Coder": ["a"], "Critic": ["b"]})
    assert cli("run", team, "--json").exit_code == 3
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert len(entries) == 3
    for e in entries:
        e.write_text(damage)
    t = tmp_path / "t.jsonl"
    r = cli("run", team, "--json", "--transcript", t)
    assert r.exit_code == 3
    notes = [e for e in r.events() if e["type"] == "notice" and "is damaged" in e["text"]]
    assert len(notes) == 1 and "calling the model instead" in notes[0]["text"]
    assert len(server.completions()) == 6                 # every damaged entry was a miss
    assert sum("is damaged" in x for x in t.read_text().split("\n")) == 1
    r = cli("run", team, "--json")                        # the misses rewrote the entries
    assert len(server.completions()) == 6 and r.exit_code == 3
    assert not [e for e in r.events() if e["type"] == "notice" and "damaged" in e["text"]]


# -- 20: one run per transcript -----------------------------------------------------------------

def test_a_second_run_on_the_same_transcript_is_refused(cli, server, team_file, tmp_path):
    server.fail("hang", retry_after=60)
    t = tmp_path / "shared.jsonl"
    team = team_file(max_round=1)
    first = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team),
                              "--transcript", str(t), "--json"], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not server.completions() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.completions(), "the first run never called the model"
        r = cli("run", team, "--transcript", t, "--json")
        assert r.exit_code == 2
        assert f"another agentteam run (pid {first.pid}) is writing this transcript" in r.stderr
        assert len(server.completions()) == 1             # the second called nothing
        assert sum('"run_started"' in x for x in t.read_text().split("\n")) == 1
    finally:
        first.kill()
        first.communicate(timeout=30)
    r = run_process("run", team, "--transcript", t, "--json", cwd=tmp_path)
    assert r.returncode == 3, r.stderr                    # the lock went with the process


# -- weak spots: ${VAR} in extra_headers; the time budget stops a reply --------------------------

HEADERS = """\
    extra_headers:
      X-Team-Token: "Bearer ${{HDR_TOKEN}}"
"""


@pytest.mark.parametrize("transport", ["wire", "litellm"])
def test_extra_headers_expand_vars_and_never_show_them(server, team_file, tmp_path, transport):
    env = {"HDR_TOKEN": "hdr-secret-0123456789",
           "AGENTTEAM_TRANSPORT": "litellm" if transport == "litellm" else "auto"}
    path = team_file(max_round=1)
    path.write_text(path.read_text().replace("    timeout: 5\n", "    timeout: 5\n"
                                             + HEADERS.replace("{{", "{").replace("}}", "}")))
    t = tmp_path / "h.jsonl"
    r = run_process("run", path, "--json", "--verbose", "--transcript", t, cwd=tmp_path, env=env)
    assert r.returncode == 3, r.stderr
    sent = server.completions()[0].headers
    assert sent.get("X-Team-Token") == "Bearer hdr-secret-0123456789"
    assert "hdr-secret" not in r.stdout + r.stderr + t.read_text()


def test_extra_headers_unset_var_or_literal_key_is_refused(cli, team_file, monkeypatch):
    monkeypatch.delenv("HDR_TOKEN", raising=False)
    path = team_file(max_round=1)
    text = path.read_text()
    path.write_text(text.replace("    timeout: 5\n", "    timeout: 5\n" + HEADERS.replace(
        "{{", "{").replace("}}", "}")))
    r = cli("validate", path)
    assert r.exit_code == 2 and "models.default.extra_headers.X-Team-Token" in r.stderr
    assert "${HDR_TOKEN} is not set" in r.stderr
    path.write_text(text.replace("    timeout: 5\n", "    timeout: 5\n    extra_headers: "
                                 "{Authorization: Bearer sk-abcdefghijklmnop1234}\n"))
    r = cli("validate", path)
    assert r.exit_code == 2 and "looks like a literal key" in r.stderr
    assert "sk-abcdefghijklmnop1234" not in r.stderr


def test_the_time_budget_stops_a_reply_in_progress(cli, server, team_file, tmp_path):
    script(server, {"Coder": [" ".join(f"w{i}" for i in range(40))]})
    server.chunk_delay = 0.25                     # ten seconds for the whole reply
    path = team_file(max_round=3)
    path.write_text(path.read_text() + "budget: {seconds: 1}\n")
    t = tmp_path / "b.jsonl"
    r = cli("run", path, "--json", "--transcript", t)
    assert r.exit_code == 3
    ev = r.events()
    assert ev[-1]["reason"] == "budget"
    [kept] = [e for e in ev if e["type"] == "message" and e["agent"] == "Coder"]
    assert kept["incomplete"] is True and kept["content"].startswith("w0 ")
    assert not kept["content"].endswith("w39")
    assert messages_of(t)[-1]["incomplete"] is True
