"""`agentteam optimize`: the loop against the fake server over a real socket.

The Solver of the test team answers from its system message: told to CHECK YOUR WORK it
is right; told to GUESS it is wrong; otherwise it is right only on products (so the
team as given passes one task of two). The optimizer's calls (`(optimizer)` in the
X-Agentteam-Agent header) are answered from a script, so each revision really changes
what the Solver is told, and so the pass rate.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentteam.batch.results import RunResult
from agentteam.errors import ConfigError
from agentteam.optimize.condense import condense, runs_for_prompt
from agentteam.optimize.learned import check_code
from agentteam.optimize.prompts import Revision
from agentteam.optimize.revise import Candidate, apply, write
from agentteam.team import load_team, yamlsafe
from agentteam.testing.fakeserver import by_agent, tool_calls

from .conftest import ROOT, docker_ready

TEAM = """\
name: ot
task: "Solve {{problem}}"
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: ${{OPTIMIZE_TEST_KEY}}
    num_retries: 0
    timeout: 30
max_round: 4
termination: TERMINATE
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - name: Solver
    description: Solves arithmetic.
    system_message: "{system}"
"""
GIVEN = "Solver. Answer the question."
HELPS = "Solver. CHECK YOUR WORK before you answer."
HURTS = "Solver. GUESS quickly."
LONGER = ("Solver. CHECK YOUR WORK before you answer, and explain every step of it in great "
          "detail, twice, so that the reader can follow.")
KEY = "opt-test-key-0123456789"
TASKS = [{"id": "product", "vars": {"problem": "6*7"}, "expected": "42"},
         {"id": "sum", "vars": {"problem": "2+2"}, "expected": "4"}]


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPTIMIZE_TEST_KEY", KEY)


def system_of(body: dict) -> str:
    return "\n".join(str(m.get("content")) for m in body.get("messages", [])
                     if m.get("role") == "system")


def solve(body: dict) -> str:
    """The Solver: its answer depends on what its system message tells it."""
    system = system_of(body)
    joined = "\n".join(str(m.get("content")) for m in body.get("messages", []))
    problem = re.search(r"Solve (\S+)", joined).group(1)
    value = eval(problem)   # the test's own arithmetic
    if "GUESS" in system:
        value += 1
    elif "CHECK YOUR WORK" not in system and "*" not in problem:
        value -= 1
    return f"The answer is {value}. TERMINATE"


def revision(system: str | None = None, **more) -> str:
    agents = [{"name": "Solver", "system_message": system}] if system else []
    return json.dumps({"analysis": "The Solver slips on sums.", "agents": agents, **more})


def serve(server, optimizer: list, solver=solve) -> None:
    """The optimizer answers from its script; every other call is the Solver."""
    scripted = by_agent({"(optimizer)": optimizer})
    server.responder = lambda body, agent: scripted(body, agent) if agent == "(optimizer)" \
        else solver(body)


def setup(tmp_path: Path, server, system: str = GIVEN, tasks=TASKS) -> tuple[Path, Path]:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM.format(url=server.url, system=system))
    lines = tmp_path / "tasks.jsonl"
    lines.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return team, lines


def optimizer_calls(server) -> list:
    return [r for r in server.completions() if r.headers.get("X-Agentteam-Agent") == "(optimizer)"]


def solver_systems(server) -> list[str]:
    return [system_of(r.body) for r in server.completions()
            if r.headers.get("X-Agentteam-Agent") == "Solver"]


def rows(out: Path) -> list[dict]:
    return json.loads((out / "history.json").read_text())["rows"]


def test_only_a_revision_that_raises_the_pass_rate_is_kept(server, tmp_path, cli):
    serve(server, [revision(HURTS), revision(HELPS), revision(LONGER)])
    team, tasks = setup(tmp_path, server)
    out = tmp_path / "iters"
    r = cli("optimize", team, tasks, "--iterations", "3", "--out", out)
    assert r.exit_code == 0, r.stderr
    table = [(x["iteration"], x["status"], x["passed"], x["runs"]) for x in rows(out)]
    assert table == [(0, "baseline", 1, 2), (1, "not kept", 0, 2), (2, "kept", 2, 2),
                     (3, "not kept", 2, 2)]
    longer = rows(out)[3]
    assert longer["tokens"] > rows(out)[2]["tokens"]
    written = tmp_path / "team.optimized.yaml"
    assert load_team(written).agent("Solver").system_message == HELPS
    text = written.read_text()
    assert "# revised by agentteam optimize (iteration 2)" in text
    # the key stays a reference: its value is in no file and no output
    assert "api_key: ${OPTIMIZE_TEST_KEY}" in text
    assert not any(KEY in p.read_text(errors="replace") for p in tmp_path.rglob("*")
                   if p.is_file()) and KEY not in r.stdout + r.stderr
    diff = (tmp_path / "team.optimized.diff").read_text()
    assert f"-    system_message: {GIVEN}" in diff and f"+    system_message: {HELPS}" in diff
    assert f"+    system_message: {HELPS}" in r.stdout          # the diff is shown
    assert "kept: more runs passed" in r.stdout and "no better than the best" in r.stdout
    # each revision ran with what it said: the Solver was told each system message in turn
    systems = solver_systems(server)
    assert [systems.count(s) for s in (GIVEN, HURTS, HELPS, LONGER)] == [2, 2, 2, 2]
    # the optimizer: named, asked for a schema, given the failure and then what was tried
    calls = optimizer_calls(server)
    assert len(calls) == 3
    assert calls[0].body["response_format"]["json_schema"]["name"] == "team_revision"
    first = calls[0].body["messages"][-1]["content"]
    assert "task `sum` (run 1): FAILED: the expected text was not in the final message" in first
    assert "The answer is 3." in first and "1 of 2 runs passed" in first
    second = calls[1].body["messages"][-1]["content"]
    assert "did not help" in second and "GUESS" in second
    third = calls[2].body["messages"][-1]["content"]
    assert HELPS in third and "2 of 2 runs passed" in third     # the best so far
    # every iteration is inspectable
    for i in range(4):
        assert (out / f"iter-{i}" / "team.yaml").is_file()
        assert len((out / f"iter-{i}" / "batch" / "results.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "iter-1" / "optimizer.json").read_text())["reply"] == revision(HURTS)


def test_a_tie_is_kept_only_with_fewer_tokens(server, tmp_path, cli):
    serve(server, [revision(LONGER + " And once more."), revision(HELPS)])
    team, tasks = setup(tmp_path, server, system=LONGER)
    out = tmp_path / "iters"
    r = cli("optimize", team, tasks, "-n", "2", "--out", out, "-o", tmp_path / "best.yaml",
            "--json")
    assert r.exit_code == 0, r.stderr
    ended = [e for e in r.events() if e["type"] == "optimize_ended"][0]
    got = [(x["status"], x["passed"]) for x in ended["rows"]]
    assert got == [("baseline", 2), ("not kept", 2), ("kept", 2)]
    assert ended["rows"][2]["note"] == "as many runs passed, with fewer tokens"
    assert ended["rows"][2]["tokens"] < ended["rows"][0]["tokens"] < ended["rows"][1]["tokens"]
    assert ended["best"] == 2 and ended["exit_code"] == 0
    assert load_team(tmp_path / "best.yaml").agent("Solver").system_message == HELPS
    types = {e["type"] for e in r.events()}
    assert {"optimize_started", "iteration_started", "revision_proposed", "run_finished",
            "iteration_ended"} <= types


def test_invalid_revisions_are_rejected_and_not_run(server, tmp_path, cli):
    marker = tmp_path / "imported"
    evil = (f"import os\nos.system('touch {marker}')\n\n"
            "def add(a: int, b: int) -> int:\n    return a + b\n")
    serve(server, [
        revision("x", agents=[{"name": "Solvr", "system_message": HELPS}]),
        revision(agents=[{"name": "Solver", "tools": ["calculator"]}]),
        revision(selection_prompt="Who speaks next? {names}"),
        revision(new_tools=[{"name": "add", "description": "Adds.", "code": evil,
                             "agents": ["Solver"]}])])
    team, tasks = setup(tmp_path, server)
    out = tmp_path / "iters"
    r = cli("optimize", team, tasks, "-n", "4", "--out", out)
    assert r.exit_code == 0, r.stderr
    got = rows(out)
    assert [x["status"] for x in got] == ["baseline"] + ["rejected"] * 4
    notes = [x["note"] for x in got[1:]]
    assert "agent `Solvr` is not in the team (its agents: User_proxy, Solver)" in notes[0]
    assert "agents[1].tools" in notes[1] and "calculator" in notes[1]
    assert "speaker selection is `round_robin`" in notes[2]
    assert "`Call` at the top level runs when the module is imported" in notes[3] or \
        "`Expr` at the top level" in notes[3]
    assert "rejected (not run)" in r.stdout
    assert not marker.exists()                             # the code was never imported
    assert solver_systems(server) == [GIVEN, GIVEN]        # only the team as given ran
    assert not any((out / f"iter-{i}" / "batch").exists() for i in range(1, 5))
    # the optimizer was told what failed, so that it does not try it again
    last = optimizer_calls(server)[-1].body["messages"][-1]["content"]
    assert "invalid, not run" in last and "Solvr" in last
    assert "no revision did better" in r.stdout
    assert (tmp_path / "team.optimized.diff").read_text() == ""


def test_a_malformed_answer_is_read_leniently_or_skipped(server, tmp_path, cli):
    fenced = ('Here is my revision:\n```json\n{"agents": [{"name": "Solver", '
              f'"system_message": "{HELPS}",}},],}}\n```\nGood luck!')   # trailing commas
    serve(server, [fenced, "I would rather not change anything.", '{"agents": "Solver"}'])
    team, tasks = setup(tmp_path, server)
    out = tmp_path / "iters"
    r = cli("optimize", team, tasks, "-n", "3", "--out", out)
    assert r.exit_code == 0, r.stderr
    got = rows(out)
    assert [x["status"] for x in got] == ["baseline", "kept", "skipped", "skipped"]
    assert got[2]["note"] == ("the optimizer's answer holds no revision (the reply holds no "
                              "JSON object)")
    assert got[3]["note"].startswith("the optimizer's answer is not a revision (agents: ")
    assert "skipped (nothing run): the optimizer's answer holds no revision" in r.stdout
    assert got[2]["optimizer_tokens"] > 0
    assert load_team(tmp_path / "team.optimized.yaml").agent("Solver").system_message == HELPS


def test_ctrl_c_writes_the_best_team_so_far(server, tmp_path):
    reached, release = threading.Event(), threading.Event()

    def slow_solver(body: dict) -> str:
        if "SLOW" in system_of(body):
            reached.set()
            release.wait(60)
        return solve(body)
    serve(server, [revision(HELPS), revision(HELPS + " SLOW")], solver=slow_solver)
    team, tasks = setup(tmp_path, server)
    out = tmp_path / "iters"
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "optimize", str(team),
                             str(tasks), "-n", "2", "--out", str(out)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert reached.wait(120), "the second revision's batch did not start"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: the best team so far is written" in stdout
    assert load_team(tmp_path / "team.optimized.yaml").agent("Solver").system_message == HELPS
    assert [x["status"] for x in rows(out)] == ["baseline", "kept", "interrupted"]
    assert "interrupted" in stdout.split("iteration 2 of 2")[-1]


def test_a_failing_optimizer_model_ends_with_exit_1_and_the_best_team(server, tmp_path, cli):
    serve(server, [revision(HELPS)])
    team, tasks = setup(tmp_path, server)
    server.fail("401", after=2)      # the team as given makes two calls, then the optimizer
    r = cli("optimize", team, tasks, "-n", "2", "--out", tmp_path / "iters")
    assert r.exit_code == 1, r.stdout
    assert "the optimizer model failed" in r.stderr and KEY not in r.stdout + r.stderr
    assert [x["status"] for x in rows(tmp_path / "iters")] == ["baseline"]
    assert load_team(tmp_path / "team.optimized.yaml").agent("Solver").system_message == GIVEN


def test_learned_tool_code_must_do_nothing_when_imported():
    ok = ('"""Tools."""\nimport math\nfrom typing import Annotated\nLIMIT = 10\n\n'
          'def area(r: Annotated[float, "radius"], digits: int = 2) -> float:\n'
          '    import numpy\n    return round(math.pi * r * r, digits)\n')
    assert check_code("area", ok) == []
    bad = {
        "import pandas\ndef f(x: int) -> int:\n    return x\n": "`import pandas`",
        "def f(x: int = print('hi')) -> int:\n    return x\n": "annotations and defaults",
        "@staticmethod\ndef f(x: int) -> int:\n    return x\n": "decorators",
        "X = open('/etc/passwd').read()\ndef f(x: int) -> int:\n    return x\n": "constant",
        "class A:\n    pass\ndef f(x: int) -> int:\n    return x\n": "`ClassDef`",
        "import antigravity\ndef f(x: int) -> int:\n    return x\n": "`import antigravity`",
        "def g(x: int) -> int:\n    return x\n": "defines no function `f`",
        "def f(x: int) -> int\n    return x\n": "not valid Python",
    }
    for code, why in bad.items():
        problems = check_code("f", code)
        assert problems and why in problems[0], (code, problems)


def test_runs_are_condensed_to_a_bounded_size(tmp_path):
    lines = [{"type": "run_started", "team": "t", "task": "T", "agents": ["a"],
              "transcript": "x", "team_file": "f", "resumed_at": None, "format": 2}]
    lines += [{"type": "message", "round": i, "agent": "a", "content": f"word {i} " * 1000}
              for i in range(200)]
    lines.append({"type": "run_ended", "reason": "max_round", "rounds": 199, "usage": {},
                  "transcript": "x", "error": None, "exit_code": 3})
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    failed = [RunResult(f"t{i}", 1, "max_round", 3, False, transcript="r.jsonl")
              for i in range(20)]
    passed = [RunResult(f"p{i}", 1, "keyword", 0, True, transcript="r.jsonl") for i in range(5)]
    one = condense(failed[0], tmp_path, 3000)
    assert len(one) <= 3000
    assert one.startswith("task `t0` (run 1): FAILED: ended by max_round (exit 3)\n[0] a: word 0")
    assert "messages left out]" in one and "characters left out]" in one
    assert one.endswith("(run ended: max_round after 199 rounds)")
    assert "[199] a: word 199" in one            # the end, where runs go wrong
    runs = runs_for_prompt(failed + passed, tmp_path, 20_000)
    assert len(runs) == 8 + 3 and sum(map(len, runs)) <= 20_000
    assert runs[0].startswith("task `t0`") and runs[-1].startswith("task `p2`")


def test_a_team_written_elsewhere_still_points_at_its_files(tmp_path):
    """Every iteration's team file lives in the --out folder: the original's relative
    paths (tools, input files) are rebased so that they still find the same files."""
    src = ROOT / "teams" / "currency_calculator.yaml"
    data, _, _, _ = yamlsafe.load(src.read_text(), str(src))
    data["code_execution"] = {"executor": "none", "files": ["data/cars.csv"]}
    target = tmp_path / "deep" / "er" / "team.yaml"
    write(Candidate(data), target, src.parent, "a copy")
    team = load_team(target)
    assert team.tools[0].function == \
        f"{os.path.relpath(ROOT / 'teams' / 'tools', target.parent)}/currency.py:currency_calculator"
    assert (team.base_dir / team.code_execution.files[0]).resolve() == \
        (ROOT / "teams" / "data" / "cars.csv").resolve()
    assert team.code_execution.work_dir == "groupchat"     # a work dir of its own


def test_a_selection_prompt_and_descriptions_are_applied_then_validated(tmp_path):
    src = ROOT / "teams" / "cars_critic.yaml"
    data, _, _, _ = yamlsafe.load(src.read_text(), str(src))
    data["speaker_selection"] = "auto"
    good = Revision.model_validate({"selection_prompt": "Roles:\n{roles}\nPick one of {names}.",
                                    "agents": [{"name": "Critic", "description": "Reviews."}]})
    cand = apply(Candidate(data), good, 1, new_tools=True)
    assert cand.changes == ["Critic.description", "speaker_selection.prompt"]
    write(cand, tmp_path / "a" / "team.yaml", src.parent, "revised")
    team = load_team(tmp_path / "a" / "team.yaml", env={"OPENAI_API_KEY": "x"})
    assert team.speaker_selection.method == "auto"
    assert team.speaker_selection.prompt.startswith("Roles:")
    assert team.agent("Critic").description == "Reviews."
    bad = Revision.model_validate({"selection_prompt": "Pick one of {agents_list}."})
    write(apply(Candidate(data), bad, 2, True), tmp_path / "b" / "team.yaml", src.parent, "")
    with pytest.raises(ConfigError, match="speaker_selection.prompt"):
        load_team(tmp_path / "b" / "team.yaml", env={"OPENAI_API_KEY": "x"})


@pytest.mark.parametrize("args, says", [
    (["missing.yaml", "tasks.jsonl"], "missing.yaml: no such file"),
    (["team.yaml", "missing.jsonl"], "missing.jsonl: no such task file"),
    (["team.yaml", "tasks.jsonl", "-n", "0"], "--iterations must be from 1 to 100"),
    (["team.yaml", "tasks.jsonl", "-c", "0"], "--concurrency must be at least 1"),
    (["team.yaml", "tasks.jsonl", "--executor", "vm"], "--executor 'vm': expected one of"),
    (["team.yaml", "tasks.jsonl", "-o", "team.yaml"], "that is the team file being optimized"),
    (["team.yaml", "tasks.jsonl", "-o", "."], "is a folder"),
    (["team.yaml", "tasks.jsonl", "-o", "best.txt"], "a team file ends in .yaml"),
    (["team.yaml", "tasks.jsonl", "--out", "full"], "the folder is not empty"),
    (["team.yaml", "tasks.jsonl", "--bogus"], "No such option: --bogus"),
    (["team.yaml"], "Missing argument"),
])
def test_bad_input_is_one_line_and_exit_2(server, tmp_path, cli, args, says):
    serve(server, [revision(HELPS)])
    setup(tmp_path, server)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    r = cli("optimize", *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith(("Usage:",
                                                                                 "Try "))]
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert "Traceback" not in r.stderr and not server.completions()


@pytest.mark.docker
@pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")
def test_a_new_tool_is_written_beside_the_team_and_runs_in_the_sandbox(server, tmp_path, cli):
    code = ('import os\n\n'
            'def calc(expression: str) -> str:\n'
            '    """Evaluates an arithmetic expression."""\n'
            '    inside = os.path.exists("/.dockerenv")\n'
            '    return f"{eval(expression)} (sandbox: {inside})"\n')

    def tool_solver(body: dict) -> object:
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        if "calc" not in tools:
            return solve(body)
        last = body["messages"][-1]
        if last.get("role") == "tool":
            return f"The answer is {last['content']}. TERMINATE"
        joined = "\n".join(str(m.get("content")) for m in body["messages"])
        return tool_calls(("calc", {"expression": re.search(r"Solve (\S+)", joined).group(1)}))
    serve(server, [revision(new_tools=[{"name": "calc", "description": "A calculator.",
                                        "code": code, "agents": ["Solver"]}])],
          solver=tool_solver)
    team, tasks = setup(tmp_path, server)
    out = tmp_path / "iters"
    r = cli("optimize", team, tasks, "-n", "1", "--out", out, "-o", tmp_path / "o" / "t.yaml")
    assert r.exit_code == 0, r.stderr
    assert [(x["status"], x["passed"]) for x in rows(out)] == [("baseline", 1), ("kept", 2)]
    written = load_team(tmp_path / "o" / "t.yaml")
    tool = written.tools[0]
    assert tool.function == "t_tools.py:calc" and tool.run == "sandbox"
    assert "def calc(expression: str)" in (tmp_path / "o" / "t_tools.py").read_text()
    assert written.agent("Solver").tools == ["calc"]
    ran = "".join(p.read_text() for p in (out / "iter-1" / "batch" / "runs").iterdir())
    assert "42 (sandbox: True)" in ran and "4 (sandbox: True)" in ran
    assert "+++ " + str(tmp_path / "o" / "t_tools.py") in r.stdout     # shown in the diff
