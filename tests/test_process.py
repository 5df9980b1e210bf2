"""The real console script in a subprocess: imports stay lean, Ctrl-C and kill -9 lose nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from .conftest import ROOT, run_process, script


def test_help_and_validate_do_not_import_litellm():
    code = ("import sys, runpy\nsys.argv=['agentteam','validate',{files!r}]\n"
            "try:\n    runpy.run_module('agentteam.cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\nprint('LITELLM' if 'litellm' in sys.modules else 'lean')")
    out = subprocess.run([sys.executable, "-c", code.format(
        files=str(ROOT / "teams" / "cars_critic.yaml"))], capture_output=True, text=True)
    assert out.stdout.strip().endswith("lean"), out.stderr


def test_an_openai_wire_run_never_imports_litellm(server, team_file, tmp_path):
    script(server, {"Coder": ["hi"], "Critic": ["TERMINATE"]})
    code = ("import sys, runpy\nsys.argv=['agentteam','run',{team!r},'--quiet']\n"
            "try:\n    runpy.run_module('agentteam.cli', run_name='__main__')\n"
            "except SystemExit as e:\n    print('exit', e.code)\n"
            "print('LITELLM' if 'litellm' in sys.modules else 'lean')")
    out = subprocess.run([sys.executable, "-c", code.format(team=str(team_file()))],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-2:] == ["exit 0", "lean"], out.stderr


def test_library_and_conversation_layer_import_neither_rich_nor_typer():
    code = ("import sys, agentteam\nagentteam.run_team, agentteam.TeamSpec, agentteam.Message\n"
            "import agentteam.conversation.groupchat, agentteam.conversation.transcript\n"
            "import agentteam.conversation.prompts, agentteam.runner\n"
            "print([m for m in ('rich', 'typer', 'litellm', 'httpx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_validate_exit_codes_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: [unclosed\n")
    r = run_process("validate", ROOT / "teams" / "cars_critic.yaml", bad)
    assert r.returncode == 2
    assert "ok: " in r.stdout and "bad.yaml:3:1: YAML syntax" in r.stderr
    assert "Traceback" not in r.stderr


def _start_run(server, team_file, tmp_path, transcript):
    script(server, {"Coder": ["alpha beta gamma delta epsilon zeta eta theta iota kappa"]})
    server.chunk_delay = 0.3
    return subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team_file()),
                             "--json", "--transcript", str(transcript)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_deltas(transcript, n=3, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if transcript.exists() and transcript.read_text().count("message_delta") >= n:
            return
        time.sleep(0.05)
    raise AssertionError("no streamed text appeared")


def test_ctrl_c_during_a_streamed_reply(server, team_file, tmp_path):
    t = tmp_path / "int.jsonl"
    proc = _start_run(server, team_file, tmp_path, t)
    _wait_for_deltas(t)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    events = [json.loads(x) for x in t.read_text().splitlines()]
    shown = "".join(e["text"] for e in events if e["type"] == "message_delta")
    kept = [e for e in events if e["type"] == "message" and e.get("incomplete")]
    assert kept and kept[0]["content"] == shown
    assert events[-1]["type"] == "run_ended" and events[-1]["reason"] == "interrupted"


def test_kill_9_loses_nothing_shown_and_resume_continues(server, team_file, tmp_path):
    t = tmp_path / "kill.jsonl"
    proc = _start_run(server, team_file, tmp_path, t)
    _wait_for_deltas(t)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    from agentteam.conversation.transcript import read
    rec = read(t)
    partial = [e for e in rec.events if e["type"] == "message" and e.get("incomplete")]
    assert partial and partial[0]["content"].startswith("alpha beta")
    server.chunk_delay = 0
    r = run_process("run", "--resume", t, "--json", "--max-round", "2", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    msgs = [json.loads(x) for x in t.read_text().splitlines()]
    done = [e for e in msgs if e["type"] == "message" and not e.get("incomplete")]
    assert [e["agent"] for e in done] == ["User_proxy", "Coder", "Critic"]
