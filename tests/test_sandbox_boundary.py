"""The host stays out of reach of run code: input copies never follow links, the work dir
stays inside the team's folder and keeps its mode, leftovers of others are never removed,
a block never runs twice, and sandbox settings, output and the work dir are bounded.

Runs use the real command against the fake server and, where marked, the real Docker engine.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from agentteam.conversation.messages import CodeBlock
from agentteam.executors import make_executor
from agentteam.team import CodeExecution

from .conftest import docker_ready, run_process, script

docker = pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox user's access as root")

TEAM = """\
name: boundary
task: Do the thing.
models:
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, timeout: 30}}
max_round: 4
speaker_selection: round_robin
code_execution:
  executor: {executor}
  timeout: 60
  files: [data.csv]
{extra}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder. You write code."}}
"""


def make_team(team_file, tmp_path, executor="docker", extra=""):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    return team_file(TEAM, executor=executor, extra=extra)


def events(r) -> list[dict]:
    return [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]


def our_containers() -> set[str]:
    from agentteam.executors.docker import client
    return {c.id for c in client().containers.list(all=True, sparse=True,
                                                   filters={"label": "agentteam"})}


# -- 1. input files are copied without following links --------------------------------

@docker
def test_input_copy_never_writes_through_a_link_left_by_run_code(server, team_file, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "pwned.csv"
    team = make_team(team_file, tmp_path)
    link = f"```python\nimport os\nos.remove('data.csv')\nos.symlink({str(target)!r}, 'data.csv')\n" \
           "print('linked')\n```"
    script(server, {"Coder": [link, "TERMINATE"]})
    r = run_process("run", team, "--json", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "linked" in [e for e in events(r) if e["type"] == "code_result"][0]["output"]
    data = tmp_path / "groupchat" / "data.csv"
    assert data.is_symlink()
    script(server, {"Coder": ["TERMINATE"]})
    r = run_process("run", team, "--json", cwd=tmp_path, timeout=300)   # as root, here
    assert r.returncode == 0, r.stderr
    assert not os.path.lexists(target)                       # nothing written on the host
    assert not data.is_symlink() and data.read_text() == "a,b\n1,2\n"
    assert [p.name for p in (tmp_path / "groupchat").iterdir()] == ["data.csv"]


@pytest.mark.parametrize("kind", ["folder", "FIFO"])
def test_input_copy_refuses_a_folder_or_fifo_in_its_place(server, team_file, tmp_path, kind):
    team = make_team(team_file, tmp_path, executor="none")
    work = tmp_path / "groupchat"
    work.mkdir()
    if kind == "folder":
        (work / "data.csv").mkdir()
    else:
        os.mkfifo(work / "data.csv")
    r = run_process("run", team, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"data.csv is a {kind}, not a file" in r.stderr and "remove or rename it" in r.stderr
    assert not server.completions()


def test_the_runs_own_input_file_is_kept(server, team_file, tmp_path):
    team = make_team(team_file, tmp_path, executor="none")
    (tmp_path / "groupchat").mkdir()
    (tmp_path / "groupchat" / "data.csv").write_text("changed by an earlier run\n")
    script(server, {"Coder": ["TERMINATE"]})
    r = run_process("run", team, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "groupchat" / "data.csv").read_text() == "changed by an earlier run\n"


# -- 2. the work dir: inside the team's folder, and its mode is never changed --------------

@pytest.mark.parametrize("where", ["../elsewhere", "/tmp", "link", "."])
def test_a_work_dir_outside_the_team_folder_is_refused(server, team_file, tmp_path, where):
    (tmp_path / "real").mkdir()
    (tmp_path / "team").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "team" / "link")
    team = tmp_path / "team" / "team.yaml"
    team.write_text(TEAM.format(url=server.url, executor="none",
                                extra=f"  work_dir: {where}").replace("  files: [data.csv]\n", ""))
    r = run_process("validate", team)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "code_execution.work_dir:" in r.stderr and "not a folder inside the team's" in r.stderr
    assert "allow_work_dir_outside_team: true" in r.stderr
    r = run_process("run", team, cwd=tmp_path)
    assert r.returncode == 2 and "allow_work_dir_outside_team" in r.stderr
    assert not server.completions()


def test_a_work_dir_outside_allowed_by_the_key_is_reported(server, team_file, tmp_path):
    team = team_file(TEAM.replace("  files: [data.csv]\n", ""), executor="none",
                     extra="  work_dir: ../shared-out\n  allow_work_dir_outside_team: true")
    r = run_process("validate", team)
    assert r.returncode == 0, r.stderr
    assert f"the work dir {tmp_path.parent / 'shared-out'} is outside the team's folder" in r.stdout


@docker
@as_root
def test_docker_never_changes_the_mode_of_a_work_dir_it_did_not_create(server, team_file,
                                                                        tmp_path):
    work = tmp_path / "groupchat"
    work.mkdir(mode=0o750)
    os.chown(work, 1000, 1000)
    team = make_team(team_file, tmp_path)
    script(server, {"Coder": ["```sh\necho made > out.txt\nid -u\n```", "TERMINATE"]})
    r = run_process("run", team, "--json", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(work.stat().st_mode) == 0o750
    assert (work / "out.txt").read_text() == "made\n" and (work / "out.txt").stat().st_uid == 1000
    assert (work / "data.csv").stat().st_uid == 1000      # the copy belongs to the dir's owner


@docker
@as_root
def test_docker_refuses_a_root_owned_work_dir_it_did_not_create(server, team_file, tmp_path):
    work = tmp_path / "groupchat"
    work.mkdir(mode=0o755)
    team = make_team(team_file, tmp_path)
    r = run_process("run", team, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "belongs to root" in r.stderr and "chown 1000:1000" in r.stderr
    assert stat.S_IMODE(work.stat().st_mode) == 0o755 and work.stat().st_uid == 0
    assert not server.completions()


# -- 3. leftovers: only provably orphaned containers are removed --------------------------

@docker
def test_leftovers_of_other_hosts_and_live_runs_are_left_alone():
    from agentteam.executors.docker import client, owner_labels, remove_leftovers
    c = client()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        from agentteam.executors.leftovers import _start_time
        ours = {**owner_labels(), "agentteam": "1"}
        cases = {
            "other host, dead pid": {**ours, "agentteam.host": "another-runner",
                                     "agentteam.pid": "999999"},
            "other pid namespace": {**ours, "agentteam.pidns": "pid:[1]",
                                    "agentteam.pid": "999999"},
            "live run": {**ours, "agentteam.pid": str(live.pid),
                         "agentteam.started": _start_time(live.pid)},
            "pid reused": {**ours, "agentteam.pid": str(live.pid), "agentteam.started": "1"},
            "dead pid": {**ours, "agentteam.pid": "999999"},
        }
        made = {name: c.containers.create("agentteam-sandbox:latest", ["true"], labels=labels)
                for name, labels in cases.items()}
        try:
            done = remove_leftovers(c)
            left = our_containers()
            assert {n for n, ct in made.items() if ct.id in left} == {
                "other host, dead pid", "other pid namespace", "live run"}
            assert done.removed >= 2 and done.kept >= 3
        finally:
            for ct in made.values():
                if ct.id in our_containers():
                    ct.remove(force=True)
    finally:
        live.kill()
        live.wait()


# -- 5. a block runs once: "the runtime failed" is Docker's word, not the block's output --

@pytest.fixture
def sandbox(tmp_path):
    ex = make_executor(CodeExecution(timeout=30, output_limit=5000, work_dir_max_files=500,
                                     work_dir_max_size="5m"), tmp_path / "work")
    ex.check()
    ex.start()
    yield ex
    ex.close()


@docker
def test_a_block_that_prints_a_runtime_error_runs_once(sandbox, tmp_path):
    r = sandbox.run(CodeBlock("sh", "echo ran >> runs.txt\n"
                                    "echo 'OCI runtime exec failed: exec failed: unable to start "
                                    "container process' >&2\nexit 126"))
    assert r.exit_code == 126 and "OCI runtime exec failed" in r.output
    assert (tmp_path / "work" / "runs.txt").read_text() == "ran\n"


@docker
def test_a_stopped_container_is_reset_and_the_block_runs_once(sandbox, tmp_path):
    sandbox.container.kill()          # Docker refuses the exec: no process was started
    r = sandbox.run(CodeBlock("sh", "echo ran >> runs.txt; echo ok"))
    assert (r.exit_code, r.output.strip()) == (0, "ok")
    assert (tmp_path / "work" / "runs.txt").read_text() == "ran\n"


# -- weak spots: settings, output bytes, the work dir's size -----------------------------

BAD_SETTINGS = {"memory": "lots", "cpus": "0", "tmpfs_size": "-1", "image": "Bad Image!",
                "user": "root", "work_dir_max_size": "x"}


def test_sandbox_settings_are_checked_before_any_model_call(server, team_file, tmp_path):
    extra = "\n".join(f"  {k}: {v!r}" if k != "cpus" else f"  {k}: {v}"
                      for k, v in BAD_SETTINGS.items())
    team = make_team(team_file, tmp_path, extra=extra)
    r = run_process("validate", team)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for key in BAD_SETTINGS:
        assert f"code_execution.{key}:" in r.stderr, key
    assert "'lots' is not a size" in r.stderr and "not a Docker image name" in r.stderr
    assert "not a numeric user" in r.stderr
    r = run_process("run", team, cwd=tmp_path)
    assert r.returncode == 2 and not server.completions()
    team = make_team(team_file, tmp_path, extra="  user: '0:0'")
    r = run_process("validate", team)
    assert r.returncode == 2 and "never runs code as root" in r.stderr


@docker
def test_more_cpus_than_the_engine_has_is_refused_before_any_call(server, team_file, tmp_path):
    team = make_team(team_file, tmp_path, extra="  cpus: 1000")
    r = run_process("run", team, cwd=tmp_path)
    assert r.returncode == 2 and "code_execution.cpus is 1000" in r.stderr
    assert not server.completions()


def test_local_output_limit_is_bytes_cut_at_a_character(tmp_path):
    ex = make_executor(CodeExecution(executor="local", output_limit=1000), tmp_path / "w")
    r = ex.run(CodeBlock("python", "print('€' * 10000)"))
    shown = r.output.encode()
    assert "\ufffd" not in r.output and 997 <= len(shown) <= 1000
    assert len(shown) + r.truncated_bytes == 30001


@docker
def test_docker_output_limit_is_bytes_cut_at_a_character(sandbox):
    r = sandbox.run(CodeBlock("python", "print('€' * 10000)"))
    shown = r.output.encode()
    assert "\ufffd" not in r.output and 4997 <= len(shown) <= 5000
    assert len(shown) + r.truncated_bytes == 30001


@docker
def test_a_block_that_writes_100k_files_is_stopped_and_reported(sandbox, tmp_path):
    r = sandbox.run(CodeBlock("python", "import os\nos.mkdir('many')\nfor i in range(100000):\n"
                                        "    open(f'many/{i}', 'w').close()\nprint('done')"))
    assert "done" not in r.output and r.exit_code != 0
    assert "more than 500 files" in r.output and "work_dir_max_files" in r.output
    assert len(os.listdir(tmp_path / "work" / "many")) < 100000
    # a later block that cleans up is not stopped
    r = sandbox.run(CodeBlock("sh", "rm -rf many; echo clean"))
    assert (r.exit_code, r.output.strip()) == (0, "clean")


@docker
def test_a_block_that_writes_a_huge_file_is_stopped_and_reported(sandbox, tmp_path):
    r = sandbox.run(CodeBlock("python", "with open('big', 'wb') as f:\n"
                                        "    for _ in range(1000): f.write(b'x' * 2**20)\n"
                                        "print('done')"))
    assert "done" not in r.output and r.exit_code != 0
    assert "File too large" in r.output and "work_dir_max_size" in r.output
    assert (tmp_path / "work" / "big").stat().st_size <= 5 * 2**20


def test_local_huge_file_is_stopped_too(tmp_path):
    ex = make_executor(CodeExecution(executor="local", work_dir_max_size="5m"), tmp_path / "w")
    r = ex.run(CodeBlock("python", "with open('big', 'wb') as f:\n"
                                   "    for _ in range(1000): f.write(b'x' * 2**20)\n"
                                   "print('done')"))
    assert "done" not in r.output and "work_dir_max_size" in r.output
    assert (tmp_path / "w" / "big").stat().st_size <= 5 * 2**20


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_local_background_processes_do_not_outlive_their_block(tmp_path):
    ex = make_executor(CodeExecution(executor="local"), tmp_path / "w")
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        open('daemon.pid', 'w').write(str(os.getpid()))\n        time.sleep(300)\n"
              "    os._exit(0)\n")
    (tmp_path / "daemon.py").write_text(daemon)
    r = ex.run(CodeBlock("sh", f"setsid sleep 301 & echo $! > setsid.pid\nnohup sleep 302 "
                               f">/dev/null 2>&1 & echo $! > nohup.pid\n"
                               f"python3 {tmp_path / 'daemon.py'}\n"
                               "while [ ! -s daemon.pid ]; do sleep 0.05; done; echo started"))
    ex.close()
    assert r.output.strip() == "started", r.output
    pids = [int((tmp_path / "w" / f).read_text()) for f in ("setsid.pid", "nohup.pid",
                                                              "daemon.pid")]
    assert all(_gone(p) for p in pids), [p for p in pids if not _gone(p)]


def test_an_input_file_inside_the_work_dir_is_refused(server, team_file, tmp_path):
    """Run code could have made it a link to any host file, copied back for it to read."""
    (tmp_path / "groupchat").mkdir()
    os.symlink("/etc/hostname", tmp_path / "groupchat" / "in.csv")
    team = team_file(TEAM.replace("files: [data.csv]", "files: [groupchat/in.csv]"),
                     executor="none", extra="")
    r = run_process("run", team, cwd=tmp_path)
    assert r.returncode == 2 and "code_execution.files[0]: groupchat/in.csv is in the work dir" \
        in r.stderr
    assert not (tmp_path / "groupchat" / "hostname").exists() and not server.completions()


@docker
@as_root
def test_a_runs_own_work_dir_is_usable_by_the_sandbox(server, team_file, tmp_path, monkeypatch):
    """run_team(own_work_dir=True) as root: the fresh folder agentteam made goes to the
    sandbox user, so code can write there (a root-owned folder would be refused)."""
    import agentteam
    team = make_team(team_file, tmp_path)
    monkeypatch.chdir(tmp_path)
    script(server, {"Coder": ["```sh\necho hi > out.txt && head -1 data.csv\n```", "TERMINATE"]})
    evs = list(agentteam.run_team(team, own_work_dir=True, max_round=4))
    results = [e for e in evs if e.type == "code_result"]
    assert results and results[0].exit_code == 0, [getattr(e, "error", "") for e in evs]
    (work,) = (tmp_path / ".agentteam" / "work").iterdir()
    assert (work / "out.txt").read_text() == "hi\n"
    assert work.stat().st_uid != 0
