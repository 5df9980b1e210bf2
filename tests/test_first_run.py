"""A first run that looks finished: live build progress with a log named on failure, a
live line while the model server starts, `--version`, and shell completion."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from agentteam.cli import _building
from agentteam.conversation.events import Notice, RunStarted
from agentteam.errors import ExecutionError
from agentteam.executors.sandbox import BuildStep, _Steps
from agentteam.ui.console import ConsoleView
from agentteam.ui.progress import BuildDisplay

from .conftest import run_process

DEBOOTSTRAP = """\
I: Retrieving InRelease
I: Checking Release signature
I: Retrieving Packages
I: Validating Packages
I: Resolving dependencies of required packages...
I: Retrieving libacl1 2.3.1-3
I: Validating libacl1 2.3.1-3
I: Retrieving libc6 2.36-9+deb12u4
I: Validating libc6 2.36-9+deb12u4
I: Retrieving python3 3.11.2-1+b1
I: Validating python3 3.11.2-1+b1
I: Extracting libacl1...
I: Installing core packages...
I: Unpacking required packages...
I: Configuring required packages...
I: Configuring libc6:amd64...
I: Base system installed successfully.
""".splitlines()


def test_build_lines_become_stages_and_a_package_count():
    seen: list[BuildStep] = []
    steps = _Steps(seen.append, "starting debootstrap")
    for line in DEBOOTSTRAP:
        steps.debootstrap(line)
    assert [s.line for s in seen] == DEBOOTSTRAP          # every raw line, in order
    assert seen[-1].fetched == 3                            # packages, not index files
    stages = list(dict.fromkeys(s.stage for s in seen))
    assert stages[:2] == ["fetching Debian packages", "extracting packages"]
    assert "configuring packages" in stages

    docker: list[BuildStep] = []
    steps = _Steps(docker.append, "starting docker build")
    for line in ("Step 1/5 : FROM python:3.11-slim", "3.11-slim Pulling from library/python",
                 "Step 2/5 : RUN pip install --no-cache-dir pandas numpy",
                 "Collecting pandas", "Collecting numpy", "Step 3/5 : ENV MPLBACKEND=Agg"):
        steps.docker(line)
    assert [s.stage for s in docker][:3] == ["pulling the base image"] * 2 + \
        ["installing Python packages"]
    assert docker[-1].fetched == 2 and docker[-1].stage == "step 3/5"


def test_a_failed_build_names_its_full_log(monkeypatch):
    err = io.StringIO()

    def build(show):
        steps = _Steps(show, "starting debootstrap")
        for line in DEBOOTSTRAP[:8]:
            steps.debootstrap(line)
        raise ExecutionError("debootstrap failed: E: Couldn't download packages")

    import agentteam.ui.progress as progress
    monkeypatch.setattr(progress, "BuildDisplay", lambda title: BuildDisplay(
        title, Console(file=err, highlight=False)))     # no terminal
    with pytest.raises(ExecutionError) as caught:
        _building("building img", build)
    message = str(caught.value)
    assert "debootstrap failed" in message and "the build log: " in message
    log = message.split("the build log: ", 1)[1].rstrip(")")
    assert open(log).read().splitlines() == DEBOOTSTRAP[:8]
    os.unlink(log)
    shown = err.getvalue()               # no terminal: one line per stage, no log flood
    assert "building img: fetching Debian packages" in shown
    assert "I: Validating libacl1" not in shown


def test_a_finished_build_says_how_long_and_how_many_packages():
    out = io.StringIO()
    display = BuildDisplay("building img", Console(file=out, force_terminal=True, width=100))
    with display:
        steps = _Steps(display, "starting debootstrap")
        for line in DEBOOTSTRAP:
            steps.debootstrap(line)
    assert "building img: done in " in out.getvalue() and ", 3 packages" in out.getvalue()
    assert not display.log_path.exists()             # kept only when the build fails


def test_a_progress_notice_shows_a_live_line_until_the_next_event():
    err = io.StringIO()
    view = ConsoleView(console=Console(file=io.StringIO()),
                       err=Console(file=err, force_terminal=True, width=100))
    view(Notice("starting the local model server …", "progress"))
    assert view.waiting.progress is not None and view.waiting.progress.live.is_started
    view(RunStarted("t", "task", ["A"], "x.jsonl"))
    assert view.waiting.progress is None
    assert "starting the local model server" in err.getvalue()


def test_version():
    r = run_process("--version")
    assert r.returncode == 0
    name, version = r.stdout.split()
    assert name == "agentteam" and version[0].isdigit()


def test_bash_completion_script_and_completions():
    r = run_process("--show-completion", "bash")
    assert r.returncode == 0, r.stderr
    assert "complete -o default -F _agentteam_completion agentteam" in r.stdout
    assert "_AGENTTEAM_COMPLETE=complete_bash" in r.stdout
    env = {**os.environ, "_AGENTTEAM_COMPLETE": "complete_bash", "COMP_CWORD": "1",
           "COMP_WORDS": "agentteam ru"}
    out = subprocess.run([sys.executable, "-m", "agentteam.cli"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split() == ["run", "runs"]
    env.update(COMP_CWORD="2", COMP_WORDS="agentteam run --max")
    out = subprocess.run([sys.executable, "-m", "agentteam.cli"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split() == ["--max-round"]
