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
