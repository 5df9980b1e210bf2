"""Load: 8 agents for 200 rounds, and 20 runs at once, against the fake server.

Memory is measured with tracemalloc, counting only what agentteam and its libraries
hold (the in-process fake server's request log is filtered out).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest

from agentteam.conversation.groupchat import GroupChat, drive
from agentteam.conversation.transcript import TranscriptWriter
from agentteam.models.profiles import resolve
from agentteam.models.provider import ProviderModel
from agentteam.team import parse_team

pytestmark = pytest.mark.slow

# tracemalloc's own snapshots are not ours
NOT_OURS = [tracemalloc.Filter(False, "*/tracemalloc.py")]
SERVERS: set[int] = set()      # the fake server processes this module started


@pytest.fixture(scope="module")
def remote_server():
    """The fake server in a process of its own, so that only agentteam is measured here."""
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.testing.fakeserver", "--no-record",
                             "--reply", "a short reply of about eight words, ok"],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    SERVERS.add(proc.pid)
    yield url
    SERVERS.discard(proc.pid)
    proc.terminate()
    proc.wait(10)


def big_team(url: str, rounds: int):
    agents = "\n".join(f"  - {{name: A{i}, system_message: 'A{i}. You are agent {i}.'}}"
                       for i in range(8))
    return parse_team(f"name: load\ntask: go\nmodels: {{default: {{model: openai/fake-model, "
                      f"api_base: '{url}', api_key: NULL}}}}\nmax_round: {rounds}\n"
                      f"speaker_selection: round_robin\ncode_execution: {{executor: none}}\n"
                      f"agents:\n{agents}\n", "load.yaml", {})


def test_memory_is_flat_per_round_over_200_rounds(remote_server, tmp_path):
    team = big_team(remote_server, 200)
    chat = GroupChat(team, ProviderModel(resolve(team)), None, None,
                     TranscriptWriter(tmp_path / "load.jsonl"))
    snaps = {}
    tracemalloc.start(1)

    def on(ev):
        if ev.type == "message" and ev.round in (50, 200):
            gc.collect()
            snaps[ev.round] = tracemalloc.take_snapshot().filter_traces(NOT_OURS)
    try:
        end = drive(chat.run(), on)
    finally:
        tracemalloc.stop()
    assert end.rounds == 200
    grown = sum(s.size_diff for s in snaps[200].compare_to(snaps[50], "filename"))
    per_round = grown / 150
    print(f"memory growth: {per_round / 1024:.2f} KB per round")
    # the conversation itself (message objects and text) is the only thing that grows
    assert per_round < 4096, f"{per_round:.0f} bytes per round"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def batch(team, folder, n: int = 20) -> None:
    """n runs at once, each in its own thread; every transcript must be complete."""
    folder.mkdir()
    ends, errors = {}, []

    def one(i: int) -> None:
        try:
            chat = GroupChat(team, ProviderModel(resolve(team)), None, None,
                             TranscriptWriter(folder / f"run{i}.jsonl"))
            ends[i] = drive(chat.run(), lambda ev: None)
        except Exception as e:   # reported below with the run's number
            errors.append((i, e))
    workers = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    assert not errors
    assert all(ends[i].reason == "max_round" and ends[i].rounds == team.max_round
               for i in range(n))
    for i in range(n):
        lines = [json.loads(x) for x in (folder / f"run{i}.jsonl").read_text().splitlines()]
        rounds = [e["round"] for e in lines if e["type"] == "message"]
        assert rounds == list(range(team.max_round + 1))
        assert lines[-1]["type"] == "run_ended"


def test_twenty_runs_at_once_leak_nothing(remote_server, tmp_path):
    team = big_team(remote_server, 40)
    batch(team, tmp_path / "warm-up")       # LiteLLM's worker pools fill up once
    gc.collect()
    fds_before, ours_before = open_fds(), our_threads()
    batch(team, tmp_path / "measured")
    # Threads that end by themselves (a stream's reader, another test's request handler)
    # may still be finishing on a busy machine: wait for them, with a bound, so that only
    # what never ends counts, however slow the machine is.
    settle(lambda: our_threads() == ours_before and open_fds() <= fds_before
           and children() == [])
    assert open_fds() <= fds_before         # no file descriptor left open by a run
    assert our_threads() == ours_before     # no thread of ours outlives its run
    assert children() == []                 # no child process left (the server aside)
    # LiteLLM's logging pool grows with concurrency, but only up to its own bound
    from litellm.litellm_core_utils.thread_pool_executor import MAX_THREADS
    assert len(threading.enumerate()) - len(ours_before) <= MAX_THREADS


def our_threads() -> list[str]:
    """Threads other than LiteLLM's own pools (which keep their workers by design)."""
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith("litellm-"))


def children() -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit() and _parent(p) == os.getpid()
            and int(p) not in SERVERS]


def settle(done, limit: float = 120.0) -> None:
    """Wait until ``done()`` holds or ``limit`` seconds have passed."""
    deadline = time.monotonic() + limit
    while not done() and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.2)


def _parent(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1
