"""Code execution: block extraction and formatting (engine-free), the local executor, and
the Docker sandbox against a real engine (marked `docker`)."""

from __future__ import annotations

import os
import time

import pytest

from agentteam.conversation.codeblocks import extract, format_results
from agentteam.conversation.messages import CodeBlock, CodeResult
from agentteam.errors import ExecutionError
from agentteam.executors import make_executor
from agentteam.team import CodeExecution

from .conftest import docker_ready

# -- engine-free -------------------------------------------------------------------


def test_extract_languages_and_order():
    text = ("Run this:\n```py\nprint(1)\n```\nthen\n```bash\necho hi\n```\n"
            "```rust\nfn main() {}\n```\n```\npip install x\n```\n```\nx = 1\n```")
    blocks = extract(text)
    assert [b.language for b in blocks] == ["python", "sh", "rust", "sh", "python"]
    assert blocks[0].code == "print(1)\n"
    assert [b.supported for b in blocks] == [True, True, False, True, True]


def test_extract_ignores_empty_and_inline_fences():
    assert extract("use `x` and ```python\n```") == []
    assert extract("no code here") == []


def test_format_results():
    ok = CodeResult("python", 0, "hello\n", 0.5)
    bad = CodeResult("sh", 2, "boom", 0.1, truncated_bytes=10)
    out = format_results([ok, bad], skipped=1, unsupported=["rust"])
    assert out.splitlines()[0] == "exitcode: 2 (execution failed)"
    assert "Code block 1 (python): exit 0, 0.50s\nhello" in out
    assert "[output cut: 10 more bytes not shown]" in out
    assert "(1 later block(s) not run because a block failed)" in out
    assert "unsupported language: rust" in out
    assert format_results([], unsupported=["rust"]).startswith("No code was run")


# -- local executor ------------------------------------------------------------------

def local(tmp_path, **kw):
    return make_executor(CodeExecution(executor="local", **kw), tmp_path / "work")


def test_local_runs_in_work_dir_with_scrubbed_env(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-local-123456789")
    ex = local(tmp_path)
    ex.start()
    r = ex.run(CodeBlock("python", "import os\nopen('f.txt','w').write('x')\n"
                                   "print(sorted(k for k in os.environ if 'KEY' in k))"))
    assert r.exit_code == 0 and r.output.strip() == "[]"
    assert (tmp_path / "work" / "f.txt").read_text() == "x"
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["f.txt"]  # no script left


def test_local_timeout_kills_the_process_group(tmp_path):
    ex = local(tmp_path, timeout=1)
    start = time.monotonic()
    r = ex.run(CodeBlock("sh", "sleep 30 & sleep 30\n"))
    assert r.timed_out and r.exit_code == 124 and "killed" in r.output
    assert time.monotonic() - start < 10


def test_local_output_is_capped(tmp_path):
    ex = local(tmp_path, output_limit=1000)
    r = ex.run(CodeBlock("python", "print('x' * 100000)"))
    assert len(r.output) == 1000 and r.truncated_bytes > 99000


# -- docker ----------------------------------------------------------------------------

docker = pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")


@pytest.fixture
def sandbox(tmp_path):
    ex = make_executor(CodeExecution(timeout=5, memory="256m", pids_limit=64,
                                     output_limit=5000), tmp_path / "work")
    ex.check()
    ex.start()
    yield ex
    ex.close()


def containers() -> list:
    from agentteam.executors.docker import client
    return client().containers.list(all=True, sparse=True, filters={"label": "agentteam"})


@docker
def test_docker_round_trip_and_files_stay_on_host(sandbox, tmp_path):
    r = sandbox.run(CodeBlock("python", "import pandas, matplotlib\nprint('hi', 6 * 7)\n"
                                        "open('out.txt', 'w').write('made in sandbox')"))
    assert r.exit_code == 0 and r.output.strip() == "hi 42"
    assert (tmp_path / "work" / "out.txt").read_text() == "made in sandbox"
    r = sandbox.run(CodeBlock("sh", "echo err >&2; exit 3"))
    assert r.exit_code == 3 and "err" in r.output


@docker
def test_docker_no_network_no_secrets_not_root_readonly(sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-docker-123456789")
    code = """
import os, socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); print("NET OPEN")
except OSError as e:
    print("no network")
print("uid", os.getuid())
print("keys", [k for k in os.environ if "KEY" in k or "TOKEN" in k])
try:
    open("/etc/x", "w"); print("ROOT WRITABLE")
except OSError:
    print("root read-only")
print(open("/etc/hostname").read() != "", os.path.exists("/workspace"))
"""
    r = sandbox.run(CodeBlock("python", code))
    lines = r.output.splitlines()
    assert lines[:4] == ["no network", "uid 1000", "keys []", "root read-only"]


@docker
def test_docker_host_files_are_not_visible(sandbox, tmp_path):
    secret = tmp_path / "host_secret.txt"
    secret.write_text("top secret")
    r = sandbox.run(CodeBlock("sh", f"cat {secret} ../host_secret.txt /workspace/../host_secret.txt"
                                    " 2>&1; ls /workspace/.."))
    assert "top secret" not in r.output


@docker
def test_docker_endless_loop_killed_at_timeout(sandbox):
    start = time.monotonic()
    r = sandbox.run(CodeBlock("python", "import time\nwhile True: time.sleep(1)"))
    assert r.timed_out and r.exit_code == 124
    assert time.monotonic() - start < 20
    # the container is still usable afterwards
    assert sandbox.run(CodeBlock("sh", "echo alive")).output.strip() == "alive"


@docker
def test_docker_fork_bomb_and_memory_bomb_contained(sandbox):
    r = sandbox.run(CodeBlock("sh", "bomb() { bomb | bomb & }; bomb; sleep 2"))
    assert "Cannot fork" in r.output or r.exit_code != 0
    r = sandbox.run(CodeBlock("python", "b = []\nwhile True: b.append(bytearray(50 * 2**20))"))
    assert r.exit_code != 0
    assert sandbox.run(CodeBlock("sh", "echo alive")).output.strip() == "alive"


@docker
def test_docker_huge_output_capped(sandbox):
    r = sandbox.run(CodeBlock("python", "import sys\nfor _ in range(2000): "
                                        "sys.stdout.write('y' * 10000 + '\\n')"))
    assert r.exit_code == 0
    assert len(r.output) == 5000 and r.truncated_bytes > 19_000_000


@docker
def test_docker_container_removed_after_close(tmp_path):
    ex = make_executor(CodeExecution(), tmp_path / "w")
    ex.check()
    ex.start()
    # only this executor's container (by its run label): other runs may share the engine
    mine = {"label": f"agentteam.run={ex.run_id}"}
    from agentteam.executors.docker import client
    assert len(client().containers.list(all=True, sparse=True, filters=mine)) == 1
    ex.close()
    assert client().containers.list(all=True, sparse=True, filters=mine) == []


@docker
def test_docker_missing_image_is_a_clear_error(tmp_path):
    ex = make_executor(CodeExecution(image="agentteam-nope:none"), tmp_path)
    with pytest.raises(ExecutionError, match="agentteam sandbox build"):
        ex.check()


@docker
def test_docker_leftovers_of_dead_runs_are_removed(tmp_path):
    from agentteam.executors.docker import client, remove_leftovers
    c = client()
    ct = c.containers.create("agentteam-sandbox:latest", ["sleep", "infinity"],
                             labels={"agentteam": "1", "agentteam.pid": "999999",
                                     "agentteam.host": os.uname().nodename})
    try:
        assert remove_leftovers(c).removed >= 1
        assert ct.id not in [x.id for x in containers()]
    finally:
        if ct.id in [x.id for x in containers()]:
            ct.remove(force=True)


@docker
def test_docker_reads_outlast_a_silent_block(tmp_path):
    """Docker API reads must not give up before the block's own time limit."""
    ex = make_executor(CodeExecution(timeout=90), tmp_path / "w")
    ex.check()
    assert ex.client.api.timeout > 90
    ex.start()
    try:
        r = ex.run(CodeBlock("python", "import time\ntime.sleep(3)\nprint('done')"))
    finally:
        ex.close()
    assert (r.exit_code, r.output.strip()) == (0, "done")


@docker
def test_background_processes_of_a_block_do_not_outlive_it(sandbox):
    """Each block leaves 40 sleepers behind; with a 64-pid limit the later blocks only work
    because leftovers are killed after every block and init reaps their zombies."""
    for _ in range(4):
        r = sandbox.run(CodeBlock("sh", "for i in $(seq 40); do sleep 300 & done; echo forked"))
        assert r.exit_code == 0 and r.output.strip() == "forked", r.output
    r = sandbox.run(CodeBlock("sh", "kill -9 -1; echo still here"))
    assert "still here" in r.output
    assert sandbox.run(CodeBlock("sh", "echo alive")).output.strip() == "alive"
