"""`agentteam batch`: one team over many tasks, against the fake server over a real socket.

The Solver of the test team answers from the task it is given ("Solve 6*7"): first a
code block that computes it (and writes answer.txt), then, once the code result is in
the chat, "Result: <output>. TERMINATE". Checks and `expected` judge that.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentteam.batch.run import final_message
from agentteam.batch.tasks import fill

from .conftest import docker_ready

TEAM = """\
name: bt
task: "Solve {{problem}}"
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: NULL
    num_retries: {retries}
    max_retry_wait: 2
    timeout: 30
max_round: 6
termination: TERMINATE
speaker_selection: round_robin
code_execution: {{executor: {executor}, timeout: 120}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - name: Solver
    system_message: "Solver. Scores look like {{bugs: n}}; that brace is not a placeholder."
"""


def write_team(tmp_path: Path, server, executor: str = "local", retries: int = 0,
               name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(TEAM.format(url=server.url, executor=executor, retries=retries))
    return path


def write_tasks(tmp_path: Path, lines: list[dict | str], name: str = "tasks.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def task(id: str, problem: str, **kw) -> dict:
    return {"id": id, "vars": {"problem": problem}, **kw}


CHECK_42 = 'test "$(cat answer.txt)" = 42'


def solver(body: dict, agent: str, before=None) -> str:
    """The Solver: code for the task's expression, then the result and TERMINATE."""
    texts = [str(m.get("content") or "") for m in body.get("messages", [])]
    joined = "\n".join(texts)
    last = texts[-1] if texts else ""
    if "exitcode:" in last:
        out = last.strip().splitlines()[-1]
        return f"Result: {out}. TERMINATE"
    problem = re.search(r"Solve (\S+)", joined).group(1)
    if before:
        before(problem)
    if problem == "sleep":
        return "```python\nimport time\nprint('sleeping', flush=True)\ntime.sleep(300)\n```"
    return (f"```python\nvalue = {problem}\nopen('answer.txt', 'w').write(str(value))\n"
            f"print(value)\n```")


def results(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def run_cli(*args, cwd, timeout=240, env=None):
    return subprocess.run([sys.executable, "-m", "agentteam.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# -- one machine ---------------------------------------------------------------------------

def test_concurrent_repeated_runs_are_judged_written_and_resumed(server, tmp_path, cli):
    both_in = threading.Barrier(2, timeout=30)
    admitted = iter(range(2))
    overlap = []

    def first_two_wait(problem: str) -> None:
        # The first two first turns wait for each other: they meet only if two runs
        # are in progress at once (a serial batch breaks the barrier instead).
        if next(admitted, None) is None:
            return
        try:
            both_in.wait()
            overlap.append(True)
        except threading.BrokenBarrierError:
            overlap.append(False)
    server.responder = lambda body, agent: solver(body, agent, first_two_wait)
    team = write_team(tmp_path, server)
    tasks = write_tasks(tmp_path, [
        "# comments and blank lines are skipped", "",
        task("answer", "6*7", expected="42", check=CHECK_42),
        task("small", "2+2", expected="4"),
        task("failing-check", "1+1", check="echo not good; exit 3")])
    out = tmp_path / "out"
    r = cli("batch", team, tasks, "--out", out, "--concurrency", "3", "--repeat", "2")
    assert r.exit_code == 0, r.stderr
    assert overlap[:2] == [True, True]
    assert server.stats["max_in_flight"] >= 2
    rows = results(out)
    assert sorted((x["id"], x["repeat"]) for x in rows) == [
        ("answer", 1), ("answer", 2), ("failing-check", 1), ("failing-check", 2),
        ("small", 1), ("small", 2)]
    by = {(x["id"], x["repeat"]): x for x in rows}
    a = by[("answer", 1)]
    assert a["passed"] and a["expected_found"] and a["check_exit_code"] == 0
    assert a["reason"] == "keyword" and a["exit_code"] == 0 and a["rounds"] == 3
    assert a["tokens"] > 0 and a["seconds"] > 0 and a["transcript"] == "runs/answer-r1.jsonl"
    bad = by[("failing-check", 2)]
    assert not bad["passed"] and bad["check_exit_code"] == 3
    assert "not good" in bad["check_output"]
    # each run: its own work dir (with its own answer) and transcript
    for rep in (1, 2):
        assert (out / "work" / f"answer-r{rep}" / "answer.txt").read_text() == "42"
        ended = json.loads((out / "runs" / f"answer-r{rep}.jsonl").read_text()
                           .splitlines()[-1])
        assert ended["type"] == "run_ended" and ended["reason"] == "keyword"
    # placeholders: {problem} was filled, {bugs: n} left alone
    first = [q for q in server.completions() if q.body["messages"][0]["content"].startswith(
        "Solver.")][0]
    assert "{bugs: n}" in first.body["messages"][0]["content"]
    sent = "\n".join(str(m["content"]) for q in server.completions() for m in q.body["messages"])
    assert "Solve 6*7" in sent and "Solve 2+2" in sent and "{problem}" not in sent
    # what a person sees without a terminal: a line per run, the table, the summary
    assert len(re.findall(r"^\[\d/6\] ", r.stdout, re.M)) == 6
    assert re.search(r"failing-check #\d FAILED .*check exited 3", r.stdout)
    assert re.search(r"^all\s+6\s+4\s+67%", r.stdout, re.M)
    summary = (out / "summary.md").read_text()
    assert "| answer | 2 | 2 | 100% |" in summary and "check exited 3" in summary

    # the same command again: nothing runs; a higher bar fails the batch
    calls = server.stats["completions"]
    r = cli("batch", team, tasks, "--out", out, "--repeat", "2", "--min-pass-rate", "0.9")
    assert r.exit_code == 1
    assert "6 already finished" in r.stdout and server.stats["completions"] == calls
    # more repeats: only the new ones run
    r = cli("batch", team, tasks, "--out", out, "--repeat", "3", "--filter", "ans*", "--json")
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["type"], x.get("id"), x.get("repeat")) for x in lines] == [
        ("run_finished", "answer", 3), ("batch_ended", None, None)]
    assert lines[-1]["planned"] == 3 and lines[-1]["passed"] == 3
    assert len(results(out)) == 7


def test_bad_task_files_are_exit_2_naming_the_line(server, tmp_path, cli):
    team = write_team(tmp_path, server)
    cases = [
        (["{\"id\": \"a\", \"vars\": {\"problem\": \"1\"}}", "{not json"],
         r"tasks.jsonl:2:2: not valid JSON"),
        ([{"id": "a", "vars": {"problem": "1"}, "expect": "1"}],
         r"tasks.jsonl:1: expect: unknown key `expect`; did you mean `expected`\?"),
        ([{"id": "a", "vars": {"problem": "1", "problm": "2"}}],
         r"tasks.jsonl:1: vars.problm: the team uses no \{problm\} placeholder"),
        ([task("a", "1"), {"id": "b", "task": "Solve {problem} now"}],
         r"tasks.jsonl:2: vars: placeholder \{problem\} has no value on this line"),
        ([task("a", "1"), task("a", "2")], r"tasks.jsonl:2: id: id `a` is used twice"),
        ([{"id": "a b", "vars": {"problem": "1"}}], r"tasks.jsonl:1: id: 'a b': an id is"),
        (["[1, 2]"], r"tasks.jsonl:1: a task line is a JSON object, not list"),
        ([{"vars": {"problem": "1"}}], r"tasks.jsonl:1: id: required key `id` is missing"),
        (["# only a comment"], r"tasks.jsonl: no task lines"),
    ]
    for lines, message in cases:
        tasks = write_tasks(tmp_path, lines)
        r = cli("batch", team, tasks, "--out", tmp_path / "out")
        assert r.exit_code == 2, (lines, r.stdout)
        assert re.search(message, r.stderr), (message, r.stderr)
        assert "Traceback" not in r.stderr
    tasks = write_tasks(tmp_path, [task("a", "1", check="true")])
    r = cli("batch", team, tasks, "--executor", "none")
    assert r.exit_code == 2 and "tasks.jsonl:1: check: a check runs in the run's sandbox, " \
        "but the executor is `none`" in r.stderr
    r = cli("batch", team, tasks, "--filter", "zzz*")
    assert r.exit_code == 2 and "--filter 'zzz*' matches no task id" in r.stderr
    r = cli("batch", team, tmp_path / "missing.jsonl")
    assert r.exit_code == 2 and "missing.jsonl: no such task file" in r.stderr
    r = cli("batch", team, tasks, "--repeat", "0", "--min-pass-rate", "80")
    assert r.exit_code == 2 and "--repeat must be at least 1" in r.stderr \
        and "--min-pass-rate is a fraction from 0 to 1 (got 80)" in r.stderr
    assert server.completions() == []


def test_a_run_that_errors_is_recorded_and_the_batch_goes_on(server, tmp_path, cli):
    server.responder = solver
    server.fail("500", times=1)          # the first run's first call, with no retries left
    team = write_team(tmp_path, server, retries=0)
    tasks = write_tasks(tmp_path, [task("first", "6*7"), task("second", "6*7", check=CHECK_42)])
    out = tmp_path / "out"
    r = cli("batch", team, tasks, "--out", out, "--concurrency", "1", "--min-pass-rate", "0.9")
    assert r.exit_code == 1
    by = {x["id"]: x for x in results(out)}
    assert by["first"]["reason"] == "error" and by["first"]["exit_code"] == 1
    assert "500 from" in by["first"]["error"] and not by["first"]["passed"]
    assert by["second"]["passed"]
    assert "first #1 FAILED" in r.stdout and "error: 500 from" in r.stdout
    assert "`first` #1: error: 500 from" in (out / "summary.md").read_text()


def test_429s_slow_the_whole_batch_down_instead_of_failing_runs(server, tmp_path, cli):
    server.responder = solver
    server.fail("429", times=4, retry_after=0.3)
    team = write_team(tmp_path, server, retries=0)     # on its own, a run fails on a 429
    tasks = write_tasks(tmp_path, [task(f"t{i}", "6*7", check=CHECK_42) for i in range(3)])
    out = tmp_path / "out"
    r = cli("batch", team, tasks, "--out", out, "--concurrency", "3", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert all(x["passed"] for x in results(out))
    retries = [json.loads(line) for p in (out / "runs").glob("*.jsonl")
               for line in p.read_text().splitlines() if '"retry"' in line]
    assert len(retries) == 4 and all("429" in e["error"] for e in retries)


def test_a_429_holds_every_runs_next_call(server):
    """One run's 429 (Retry-After 30 s) holds another run's call at the shared gate: it
    never reaches the server while the gate is held; stopping the batch ends both waits."""
    from agentteam.models.profiles import Profile
    from agentteam.models.provider import ProviderModel
    from agentteam.models.shared import SharedModels
    profile = Profile("default", "openai/fake-model", {"api_base": server.url,
                                                      "api_key": "NULL"}, num_retries=0)
    shared = SharedModels({"default": profile})
    server.fail("429", times=1, retry_after=30)
    outcome: dict[str, str] = {}

    def call(name: str) -> None:
        stream = ProviderModel(shared.profiles, shared=shared).stream(
            "default", [{"role": "user", "content": "hi"}], name)
        try:
            while True:
                next(stream)
        except StopIteration:
            outcome[name] = "answered"
        except KeyboardInterrupt:
            outcome[name] = "stopped"
    first = threading.Thread(target=call, args=("first",))
    first.start()
    _wait_for(lambda: shared.gate.remaining() > 0)
    second = threading.Thread(target=call, args=("second",))
    second.start()
    second.join(0.5)
    assert second.is_alive() and len(server.completions()) == 1
    shared.gate.stop.set()
    first.join(10)
    second.join(10)
    assert outcome == {"first": "stopped", "second": "stopped"}
    assert len(server.completions()) == 1


def test_compare_two_result_sets(server, tmp_path, cli):
    server.responder = solver
    team = write_team(tmp_path, server)
    good = write_tasks(tmp_path, [task("q1", "6*7", check=CHECK_42),
                                  task("q2", "6*7", check=CHECK_42)], "good.jsonl")
    worse = write_tasks(tmp_path, [task("q1", "6*7", check=CHECK_42),
                                   task("q2", "6*8", check=CHECK_42)], "worse.jsonl")
    assert cli("batch", team, good, "--out", tmp_path / "a").exit_code == 0
    assert cli("batch", team, worse, "--out", tmp_path / "b").exit_code == 0
    r = cli("batch", "--compare", tmp_path / "a", tmp_path / "b")
    assert r.exit_code == 0, r.stderr
    assert re.search(r"^q2\s+100%\s+0%", r.stdout, re.M)
    assert re.search(r"^all\s+100%\s+50%\s+—\s+—\s+3\.0\s+3\.0", r.stdout, re.M)
    rows = json.loads(cli("batch", "--compare", tmp_path / "a", tmp_path / "b",
                          "--json").stdout)["rows"]
    assert rows[1] == {"task": "q2", "pass rate a": "100%", "pass rate b": "0%",
                       "cost/run a": "—", "cost/run b": "—", "rounds a": "3.0",
                       "rounds b": "3.0"}
    r = cli("batch", "--compare", tmp_path / "a", tmp_path / "nothing")
    assert r.exit_code == 2 and "no results.jsonl here" in r.stderr


def test_a_missing_input_file_stops_the_batch_before_any_run(server, tmp_path, cli):
    team = write_team(tmp_path, server)
    team.write_text(team.read_text().replace("timeout: 120}", "timeout: 120, files: [gone.csv]}"))
    tasks = write_tasks(tmp_path, [task("q1", "6*7")])
    r = cli("batch", team, tasks, "--out", tmp_path / "out")
    assert r.exit_code == 2 and "code_execution.files[0]: no file gone.csv" in r.stderr
    assert server.completions() == [] and not (tmp_path / "out").exists()


def test_a_changed_team_needs_a_new_out_dir(server, tmp_path, cli):
    server.responder = solver
    team = write_team(tmp_path, server)
    tasks = write_tasks(tmp_path, [task("q1", "6*7")])
    assert cli("batch", team, tasks, "--out", tmp_path / "out").exit_code == 0
    team.write_text(team.read_text().replace("max_round: 6", "max_round: 7"))
    r = cli("batch", team, tasks, "--out", tmp_path / "out")
    assert r.exit_code == 2 and "holds the results of another version of" in r.stderr


def test_kill_9_then_the_same_command_finishes_the_rest(server, tmp_path):
    server.responder = solver
    server.delay = 0.2
    team = write_team(tmp_path, server)
    tasks = write_tasks(tmp_path, [task(f"t{i}", "6*7", check=CHECK_42) for i in range(4)])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "agentteam.cli", "batch", str(team), str(tasks), "--out",
           str(out), "--concurrency", "1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_for(lambda: (out / "results.jsonl").exists()
              and (out / "results.jsonl").read_text().count("\n") >= 1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    first = results(out)
    assert 1 <= len(first) < 4
    with open(out / "results.jsonl", "a") as f:       # a line torn by the kill
        f.write('{"id": "t3", "repe')
    r = run_cli("batch", team, tasks, "--out", out, "--concurrency", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"{len(first)} already finished" in r.stdout
    rows = results(out)
    assert sorted(x["id"] for x in rows) == ["t0", "t1", "t2", "t3"]
    assert rows[:len(first)] == first and all(x["passed"] for x in rows)


@pytest.mark.docker
@pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")
def test_ctrl_c_keeps_finished_runs_and_leaves_no_container(server, tmp_path):
    server.responder = solver
    team = write_team(tmp_path, server, executor="docker")
    tasks = write_tasks(tmp_path, [task("quick", "6*7", check=CHECK_42),
                                   task("slow", "sleep")])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "agentteam.cli", "batch", str(team), str(tasks), "--out",
           str(out), "--concurrency", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    label = f"agentteam.pid={proc.pid}"
    _wait_for(lambda: (out / "results.jsonl").exists()
              and _sleeping(out / "runs" / "slow-r1.jsonl"), timeout=180)
    assert _containers(label), "the slow run's sandbox should be up"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "stopped: the runs that had finished are kept" in stderr
    assert [x["id"] for x in results(out)] == ["quick"]
    assert _containers(label) == []
    # the same command again does the rest (the Solver no longer sleeps)
    server.responder = lambda body, agent: solver(body, agent).replace("time.sleep(300)", "")
    r = run_cli("batch", team, tasks, "--out", out, "--concurrency", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 already finished" in r.stdout
    assert sorted(x["id"] for x in results(out)) == ["quick", "slow"]


def _sleeping(transcript: Path) -> bool:
    return transcript.exists() and "time.sleep(300)" in transcript.read_text()


def _containers(label: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"],
                         capture_output=True, text=True)
    return out.stdout.split()


def _wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


# -- pieces --------------------------------------------------------------------------------

def test_placeholders_fill_only_given_names():
    text = "Solve {problem} {other} {{problem}} {bugs: n} {problem}"
    assert fill(text, {"problem": "6*7"}, ["problem"]) == \
        "Solve 6*7 {other} {6*7} {bugs: n} 6*7"
    assert fill("{flag}", {"flag": True}, ["flag"]) == "true"


def test_final_message_skips_a_bare_keyword():
    assert final_message(["Result: 42. TERMINATE"], "TERMINATE") == "Result: 42."
    assert final_message(["The answer is 42.", "TERMINATE"], "TERMINATE") == "The answer is 42."
    assert final_message([], "TERMINATE") == ""


def test_live_progress_in_a_terminal():
    from io import StringIO

    from rich.console import Console

    from agentteam.batch.events import BatchEnded, BatchStarted, RunBegan, RunFinished
    from agentteam.batch.results import RunResult
    from agentteam.ui.batch import BatchConsole
    buf = StringIO()
    view = BatchConsole(Console(file=buf, force_terminal=True, width=140), live=True)
    view(BatchStarted("bt", "tasks.jsonl", "out", 3, 1, 2, "this machine"))
    view(RunBegan("a", 1))
    view(RunBegan("b", 1))
    done = RunResult("a", 1, "keyword", 0, True, 3, 1200, 0.0123, 2.0, "runs/a-r1.jsonl")
    view(RunFinished(done))
    assert view.tally.status().startswith("running 1 · failed 0 · pass rate 100% · "
                                          "1,200 tokens · $0.0123 · ETA ")
    failed = RunResult("b", 1, "max_round", 3, False, 6, 800, None, 3.0, "runs/b-r1.jsonl")
    view(RunFinished(failed))
    view(BatchEnded(3, [done, failed], order=["a", "b"], summary="out/summary.md"))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "[2/3] a #1 passed" in text and "[3/3] b #1 FAILED" in text
    assert "ended by max_round (exit 3)" in text
    assert "2 of 3 runs finished" in text and "summary: out/summary.md" in text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                 lambda kids: st.lists(kids, max_size=3)
                 | st.dictionaries(st.sampled_from(["id", "task", "vars", "expected", "check",
                                                    "problem", "x"]), kids, max_size=4),
                 max_leaves=8).map(json.dumps)), max_size=5))
def test_fuzzed_task_files_give_config_errors_only(lines):
    """Whatever a task file holds, reading and checking it raises nothing but ConfigError."""
    from agentteam.batch.tasks import check_vars, load_tasks
    from agentteam.errors import ConfigError
    from agentteam.team import parse_team
    team = parse_team('name: t\ntask: "Solve {problem}"\nagents: [{name: A}]\n', "t.yaml", {})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tasks.jsonl"
        path.write_text("\n".join(lines), encoding="utf-8")
        try:
            check_vars(team, load_tasks(path))
        except ConfigError as e:
            assert all(str(p).startswith(str(path)) for p in e.problems)


def test_bare_ray_flag_means_auto():
    from agentteam.cli import _optional_ray_address as fix
    assert fix(["batch", "t.yaml", "x.jsonl", "--ray"]) == ["batch", "t.yaml", "x.jsonl",
                                                           "--ray", "auto"]
    assert fix(["batch", "--ray", "t.yaml", "x.jsonl"]) == ["batch", "--ray", "auto", "t.yaml",
                                                           "x.jsonl"]
    assert fix(["batch", "--ray", "--json", "t.yaml"])[2] == "auto"
    assert fix(["batch", "t.yaml", "x.jsonl", "--ray", "10.0.0.5:6379"])[-1] == "10.0.0.5:6379"
    assert fix(["run", "t.yaml"]) == ["run", "t.yaml"]


def test_task_ids_become_file_names_safely(tmp_path):
    from agentteam.batch.tasks import load_tasks
    from agentteam.errors import ConfigError
    path = write_tasks(tmp_path, [{"id": "../escape"}])
    with pytest.raises(ConfigError, match="an id is 1-100 letters"):
        load_tasks(path)
    path = write_tasks(tmp_path, [{"id": 7}])
    assert load_tasks(path).lines[0].id == "7"


def test_examples_are_valid(tmp_path):
    from agentteam.batch.tasks import check_vars, load_tasks
    from agentteam.team import load_team
    root = Path(__file__).resolve().parent.parent
    for team, tasks in (("cars_analyst.yaml", "cars.jsonl"), ("coder.yaml", "coding.jsonl")):
        check_vars(load_team(root / "teams" / team), load_tasks(root / "tasks" / tasks))



# -- the example task sets -----------------------------------------------------------------

ANALYST_CODE = {
    "Miles_per_Gallon (ignoring": "print(round(df['Miles_per_Gallon'].mean(), 2))",
    "Origin Japan": "print(int((df['Origin'] == 'Japan').sum()))",
    "most Horsepower": "print(df.loc[df['Horsepower'].idxmax(), 'Name'])",
    "scatter plot": ("import matplotlib.pyplot as plt\n"
                     "ax = df.plot.scatter(x='Weight_in_lbs', y='Horsepower')\n"
                     "ax.set_xlabel('Weight (lbs)')\nax.set_ylabel('Horsepower')\n"
                     "plt.savefig('plot.svg')\nprint('saved plot.svg')"),
}


def analyst(body: dict, agent: str) -> str:
    """Plays the Analyst of teams/cars_analyst.yaml: real pandas code, then the answer."""
    texts = [str(m.get("content") or "") for m in body.get("messages", [])]
    if "exitcode: 0" in texts[-1]:
        return f"The answer is {texts[-1].strip().splitlines()[-1]}. TERMINATE"
    code = next(c for key, c in ANALYST_CODE.items() if key in "\n".join(texts))
    return f"```python\nimport pandas as pd\ndf = pd.read_csv('cars.csv')\n{code}\n```"


MODULES = {
    "primes": "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
    "fizz": ("def fizzbuzz(n):\n    return ['FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 "
             "else 'Buzz' if i % 5 == 0 else str(i) for i in range(1, n + 1)]\n"),
    "words": "def reverse_words(s):\n    return ' '.join(reversed(s.split()))\n",
}


def coder(buggy: set[str]):
    """Plays the Coder of teams/coder.yaml: writes the module (a wrong one for ``buggy``)."""
    def respond(body: dict, agent: str) -> str:
        texts = [str(m.get("content") or "") for m in body.get("messages", [])]
        module = re.search(r"in the file (\w+)\.py", "\n".join(texts)).group(1)
        if "exitcode: 0" in texts[-1]:
            return f"{module}.py is saved and works. TERMINATE"
        source = MODULES[module] if module not in buggy else "def is_prime(n):\n    return n % 2 == 1\n"
        return (f"```python\nopen('{module}.py', 'w').write({source!r})\nimport {module}\n"
                f"print('saved', {module}.__name__)\n```")
    return respond


@pytest.mark.docker
@pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")
def test_cars_questions_in_the_sandbox(server, tmp_path):
    """tasks/cars.jsonl on teams/cars_analyst.yaml: the code and the checks run in Docker."""
    import shutil
    root = Path(__file__).resolve().parent.parent
    shutil.copytree(root / "teams", tmp_path / "teams")
    server.responder = analyst
    server.models.append("gpt-4o-mini")
    env = {"OPENAI_API_KEY": "sk-test-0123456789abcdefghij", "OPENAI_BASE_URL": server.url}
    out = tmp_path / "out"
    r = run_cli("batch", tmp_path / "teams" / "cars_analyst.yaml", root / "tasks" / "cars.jsonl",
                "--out", out, "--concurrency", "2", "--min-pass-rate", "1", cwd=tmp_path,
                env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    by = {x["id"]: x for x in results(out)}
    assert set(by) == {"mean-mpg", "japan-count", "most-horsepower", "plot-weight-hp"}
    assert by["mean-mpg"]["expected_found"] and by["japan-count"]["expected_found"]
    assert by["plot-weight-hp"]["check_exit_code"] == 0
    assert (out / "work" / "plot-weight-hp-r1" / "plot.svg").exists()
    assert (out / "work" / "mean-mpg-r1" / "cars.csv").exists()      # input copied in


def test_coding_tasks_with_unit_test_checks(server, tmp_path):
    root = Path(__file__).resolve().parent.parent
    env = {"OPENAI_API_KEY": "sk-test-0123456789abcdefghij", "OPENAI_BASE_URL": server.url}
    server.responder = coder(buggy={"primes"})
    server.models.append("gpt-4o-mini")
    out = tmp_path / "out"
    r = run_cli("batch", root / "teams" / "coder.yaml", root / "tasks" / "coding.jsonl",
                "--out", out, "--executor", "local", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    by = {x["id"]: x for x in results(out)}
    assert by["fizzbuzz"]["passed"] and by["reverse-words"]["passed"]
    assert not by["is-prime"]["passed"] and by["is-prime"]["check_exit_code"] == 1
    assert "FAILED (failures=" in by["is-prime"]["check_output"]


# -- Ray -----------------------------------------------------------------------------------

# A test cluster on loopback only, with Ray's token auth (the driver reads the token the
# head wrote to ~/.ray). RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every Ray address on
# 127.0.0.1 instead of this machine's network address.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "RAY_USAGE_STATS_ENABLED": "0"}


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(p) for p, s in (line.split() for line in out.splitlines()) if int(s) == sid]


@pytest.fixture(scope="module")
def ray_cluster():
    """`ray start --head` on 127.0.0.1 in a session of its own; stopped (all of it) after."""
    import importlib.util
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("AGENTTEAM_REQUIRE_RAY") == "1":
            raise RuntimeError("AGENTTEAM_REQUIRE_RAY=1 but Ray is not installed")
        pytest.skip('Ray is not installed (pip install "agentteam[ray]")')
    from agentteam.models.localmodel import free_port
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head",
                             f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                             "--disable-usage-stats", "--block"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, **RAY_ENV})
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            log.append(line)
            if "Ray runtime started" in line:
                ready.set()
    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(180):
            raise RuntimeError("the Ray head did not start:\n" + "".join(log[-20:]))
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        deadline = time.monotonic() + 30
        while _session_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _session_pids(proc.pid)
        for pid in left:        # only what this fixture started: its own session
            os.kill(pid, signal.SIGKILL)
        # `ray start` leaves its address for later `ray.init()` calls; it is gone now
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.exists() and current.read_text().strip() == f"127.0.0.1:{port}":
            current.unlink()
        assert left == [], f"Ray processes left after the head stopped: {left}"


def _ray_team(tmp_path: Path, server) -> Path:
    """The test team in a folder of its own, with an input file that must travel along."""
    folder = tmp_path / "team"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "secret.txt").write_text("swordfish\n")
    team = write_team(folder, server)
    team.write_text(team.read_text().replace(
        "code_execution: {executor: local, timeout: 120}",
        "code_execution: {executor: local, timeout: 120, files: [data/secret.txt]}"))
    return team


def _sandbox_procs() -> list[str]:
    out = subprocess.run(["pgrep", "-af", r"agentteam-ray-.*\.agentteam_"], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


@pytest.mark.ray
def test_ray_batch_end_to_end_resumes_and_stops(ray_cluster, server, tmp_path):
    server.responder = solver
    team = _ray_team(tmp_path, server)
    check = CHECK_42 + " && grep -q swordfish secret.txt"
    tasks = write_tasks(tmp_path, [task(f"t{i}", "6*7", check=check) for i in range(3)])
    out = tmp_path / "out"
    args = ("batch", team, tasks, "--out", out, "--ray", ray_cluster)
    r = run_cli(*args, "--filter", "t0", cwd=tmp_path, env=RAY_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"on the Ray cluster at {ray_cluster} (2 CPUs)" in r.stdout
    r = run_cli(*args, "--json", cwd=tmp_path, env=RAY_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [json.loads(x)["type"] for x in r.stdout.splitlines()] == ["run_finished"] * 2 + [
        "batch_ended"]
    rows = results(out)
    assert sorted(x["id"] for x in rows) == ["t0", "t1", "t2"] and all(x["passed"] for x in rows)
    for x in rows:                        # transcripts came back; the runs ran elsewhere
        events = [json.loads(line) for line in (out / x["transcript"]).read_text().splitlines()]
        assert "agentteam-ray-" in events[0]["team_file"] and events[-1]["reason"] == "keyword"

    # Ctrl-C: what finished is kept; the running task is stopped, its code block too
    tasks = write_tasks(tmp_path, [task("quick", "6*7"), task("slow", "sleep")], "t2.jsonl")
    out2 = tmp_path / "out2"
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "batch", str(team),
                             str(tasks), "--out", str(out2), "--ray", ray_cluster],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **RAY_ENV})
    _wait_for(lambda: (out2 / "results.jsonl").exists() and _sandbox_procs(), timeout=180)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert [x["id"] for x in results(out2)] == ["quick"]
    _wait_for(lambda: not _sandbox_procs(), timeout=60)


# -- the embedded model ----------------------------------------------------------------------

LOCAL_TEAM = """\
name: local-batch
task: "Say {word} in one short sentence."
models:
  default: {model: local, max_tokens: 8, timeout: 120}
max_round: 1
speaker_selection: round_robin
code_execution: {executor: none}
agents:
  - {name: Alice, system_message: You are Alice. Answer briefly.}
"""


@pytest.mark.llama
def test_concurrent_runs_share_one_embedded_model_server(tmp_path):
    from .conftest import local_model_ready
    if not local_model_ready():
        pytest.skip("local model not installed")
    team = tmp_path / "local.yaml"
    team.write_text(LOCAL_TEAM)
    tasks = write_tasks(tmp_path, [{"id": w, "vars": {"word": w}} for w in ("hello", "bye")])
    r = run_cli("batch", team, tasks, "--out", tmp_path / "out", "--concurrency", "2",
                cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.count("starting the local model server") == 1
    rows = results(tmp_path / "out")
    assert sorted(x["id"] for x in rows) == ["bye", "hello"]
    # both replies whole: a second request no longer cuts off the first one's stream
    assert all(x["reason"] == "max_round" and x["tokens"] > 0 for x in rows), rows
    port = re.search(r"on http://127\.0\.0\.1:(\d+)/v1", r.stderr).group(1)
    left = subprocess.run(["pgrep", "-af", "llama_cpp.server"], capture_output=True, text=True)
    assert [x for x in left.stdout.splitlines() if f"--port {port} " in x] == []


def test_sigterm_ends_a_batch_with_143_like_a_run(server, tmp_path):
    """A stop signal ends a batch in the same order as Ctrl-C, with the shell's code for
    the signal (128 + 15), as `run` does: CI can tell a kill from a Ctrl-C."""
    server.responder = solver
    server.delay = 30          # every reply held: the runs are in progress when it comes
    team = write_team(tmp_path, server, executor="none")
    tasks = write_tasks(tmp_path, [task("a", "6*7"), task("b", "6*8")])
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "batch", str(team),
                             str(tasks), "--out", str(out)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(server.completions()) >= 1, timeout=120)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
