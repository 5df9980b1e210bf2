"""Measure agentteam beside AG2 and AutoGen AgentChat on one fake server, in one run.

Prints a table per measurement and writes docs/benchmarks.md. Every timing is
repeated (--reps) and reported as min and median; ratios use medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FRAMEWORKS = ["agentteam", "ag2", "agentchat", "agent_framework"]
# agentteam with its OpenAI-wire path on the openai SDK: measured beside today's httpx path.
OVERHEAD = ["agentteam", "agentteam_openai_sdk", "ag2", "agentchat", "agent_framework"]
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONWARNINGS": "ignore"}


INTRO = """\
All frameworks talk to the same fake OpenAI-compatible server (`bench/server.py`, its own
process) in the same run, with the same three assistants, system messages and task.
agentteam streams every reply; the others use their defaults (not streamed). The
frameworks:

- **agentteam**: `speaker_selection: auto` (its selector) and `round_robin`.
- **AG2** 0.14 (`autogen` GroupChat): `speaker_selection_method` `auto` and `round_robin`,
  `allow_repeat_speaker=False`.
- **AgentChat** (AutoGen 0.7): `SelectorGroupChat` (`allow_repeated_speaker=False`) and
  `RoundRobinGroupChat`.
- **Agent Framework** (`agent_framework`; Microsoft's successor of AutoGen,
  `agent-framework-core` + `agent-framework-openai` + `agent-framework-orchestrations`):
  `GroupChatBuilder` with an orchestrator agent for `auto` (each round it asks the model
  for a JSON object naming the next speaker; the orchestrator keeps its own session, so it
  sees the whole chat plus one ~600-character instruction per round) and with a selection
  function for `round_robin` (as in Agent Framework's own round-robin sample). It has no
  "no repeated speaker" option; the bench server never names the previous speaker
  instead. Its workflow runner stops after 100 supersteps (two per round) and
  `GroupChatBuilder` has no setting for that, so a group chat of 50 or more rounds raises
  `WorkflowConvergenceException`; the bench raises the runner's limit (a private attribute)
  to measure 60 and 100 rounds.

Every agent reply is the same ~40 words plus a running number (`(17)`): Agent Framework's
session history drops a message whose role and text equal an earlier one's, so identical
replies would shrink its prompts. The number adds ~5 characters per reply to every
framework's prompt volume compared with runs before Agent Framework was added."""


def worker(framework: str, mode: str, url: str, *counts: int) -> dict:
    out = subprocess.run([PY, str(ROOT / "bench" / "workers.py"), framework, mode, url,
                          *map(str, counts)], capture_output=True, text=True, env=ENV,
                         timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{framework} {mode}: {out.stderr[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def stats(url: str) -> dict:
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/_stats") as r:
        return json.loads(r.read())


def reset(url: str) -> None:
    req = urllib.request.Request(url.rsplit("/v1", 1)[0] + "/_reset", data=b"{}",
                                 method="POST")
    urllib.request.urlopen(req).read()


def timed(cmd: list[str], reps: int, **kw) -> list[float]:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=ENV, check=False, **kw)
        out.append(time.perf_counter() - start)
    return out


def fmt(values: list[float], scale: float = 1000.0, unit: str = "ms") -> str:
    return f"{min(values) * scale:.1f} / {statistics.median(values) * scale:.1f} {unit}"


class Report:
    def __init__(self):
        self.lines: list[str] = []

    def section(self, title: str, text: str = "") -> None:
        self.lines += ["", f"## {title}", ""] + ([text, ""] if text else [])
        print(f"\n== {title}")

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        if self.lines and self.lines[-1]:
            self.lines.append("")
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "---|" * len(header))
        for row in rows:
            self.lines.append("| " + " | ".join(row) + " |")
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
        for row in [header] + rows:
            print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)))


def overhead(r: Report, url: str, reps: int) -> dict:
    r.section("Framework overhead per round",
              "(T(60 rounds) − T(10 rounds)) / 50 against an instant fake server; three "
              "assistants, no repeated speaker. In-process timing, imports and a warm-up "
              "chat excluded; min / median of the repetitions. The repetitions are "
              "interleaved (every framework once, then again), so a busy spell of the "
              "machine hits all of them alike. Wall time is what a user waits; CPU time "
              "is the worker process's own (all its threads; the server runs elsewhere), "
              "which a busy neighbour on a shared machine disturbs far less. "
              "`agentteam_openai_sdk` is agentteam with its OpenAI-wire path on the `openai` "
              "SDK instead of httpx (see below); `litellm_loop` is a hand-written loop on "
              "`litellm.completion`, the floor.")
    runs = [(mode, fw) for mode in ("auto", "round_robin")
            for fw in OVERHEAD + (["litellm_loop"] if mode == "round_robin" else [])]
    per: dict = {run: [] for run in runs}
    cpu: dict = {run: [] for run in runs}
    for _ in range(reps):
        for mode, fw in runs:
            t = worker(fw, mode, url, 2, 10, 60)
            per[(mode, fw)].append((t["60"] - t["10"]) / 50)
            cpu[(mode, fw)].append((t["cpu"]["60"] - t["cpu"]["10"]) / 50)
    r.table(["selection", "framework", "wall per round (min / median)",
             "CPU per round (min / median)"],
            [[mode, fw, fmt(per[(mode, fw)]), fmt(cpu[(mode, fw)])] for mode, fw in runs])
    med = {(fw, mode): statistics.median(v) for (mode, fw), v in per.items()}
    cpu_med = {(fw, mode): statistics.median(v) for (mode, fw), v in cpu.items()}
    ratio_rows = []
    for mode, goal_ag2, goal_ac in (("auto", 0.5, 1.0), ("round_robin", 1.0, 1.0)):
        for label, m in (("wall", med), ("CPU", cpu_med)):
            a = m[("agentteam", mode)]
            ratio_rows.append([mode, label, f"{a / m[('ag2', mode)]:.2f}× (goal ≤ {goal_ag2})",
                               f"{a / m[('agentchat', mode)]:.2f}× (goal ≤ {goal_ac})",
                               f"{a / m[('agent_framework', mode)]:.2f}×"])
    r.table(["selection", "medians", "agentteam / AG2", "agentteam / AgentChat",
             "agentteam / Agent Framework"], ratio_rows)
    sdk_vs_httpx(r, per, cpu)
    return med


def sdk_vs_httpx(r: Report, per: dict, cpu: dict) -> None:
    """The rule of issue 7: use the openai SDK if it is within 10 % of the httpx path."""
    r.section("OpenAI wire path: httpx or the openai SDK",
              "agentteam streams OpenAI-wire replies over httpx itself "
              "(`agentteam/models/wire.py`, `WireClient.stream`). `agentteam_openai_sdk` "
              "swaps that one method for `openai.OpenAI(base_url=..., api_key=..., "
              "max_retries=0).chat.completions.create(stream=True, stream_options="
              "{\"include_usage\": True}, extra_headers={\"X-Agentteam-Agent\": agent})`, "
              "yielding the same items (`bench/workers.py`, `sdk_wire`); everything else is "
              "the same code, measured in the same run as the rows above. The rule: keep the "
              "faster one, and prefer the SDK if it is within 10 %. The two ran back to back "
              "in each repetition; the last column is the range of those paired ratios.")
    rows, verdicts = [], []
    for mode in ("auto", "round_robin"):
        for label, m in (("wall", per), ("CPU", cpu)):
            httpx_, sdk = m[(mode, "agentteam")], m[(mode, "agentteam_openai_sdk")]
            ratio = statistics.median(sdk) / statistics.median(httpx_)
            paired = [b / a for a, b in zip(httpx_, sdk, strict=True)]
            rows.append([mode, label, f"{statistics.median(httpx_) * 1000:.2f} ms",
                         f"{statistics.median(sdk) * 1000:.2f} ms", f"{ratio:.2f}×",
                         f"{min(paired):.2f}× – {max(paired):.2f}×"])
            verdicts.append(ratio)
    r.table(["selection", "per round", "httpx (today, median)", "openai SDK (median)",
             "SDK / httpx", "SDK / httpx per repetition"], rows)
    best = min(verdicts)   # the SDK's best showing (wall or CPU, either mode) decides
    if best <= 1.10:
        text = (f"Verdict: the SDK path is within 10 % of the httpx path ({best:.2f}×): "
                "by the rule, agentteam could use the `openai` package.")
    else:
        text = (f"Verdict: the SDK path costs at least {best:.2f}× the httpx path per round, more than "
                "the 10 % the rule allows, so agentteam keeps streaming over httpx and does "
                "not depend on `openai`. Where the time goes (measured below, in this run): "
                "on every call the SDK walks the whole request, every message of the history, "
                "through its `TypedDict` transform, a cost that grows with the chat; and it "
                "builds a pydantic `ChatCompletionChunk` for every streamed token where the "
                "httpx path does one `json.loads`. Importing `openai` also lengthens a whole "
                "process (start-up table: `agentteam_openai_sdk` beside `agentteam`).")
    r.lines += ["", text]
    print(text)
    costs = sdk_costs()
    if costs:
        r.table(["inside one call", "openai SDK", "httpx path"], costs)


def sdk_costs() -> list[list[str]]:
    """The SDK's per-call and per-token work beside what the httpx path does instead."""
    try:   # private helpers of the openai package: skip this table if they move
        from openai._models import construct_type
        from openai._utils import maybe_transform
        from openai.types.chat import ChatCompletionChunk, completion_create_params
    except ImportError:
        return []
    history = [{"role": "system", "content": "Coder. You write Python code."}] + [
        {"role": "user", "content": "Critic: " + "word " * 45} for _ in range(60)]
    body = {"model": "m", "messages": history, "stream": True,
            "stream_options": {"include_usage": True}, "temperature": 0}
    chunk = json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                        "model": "m", "choices": [{"index": 0, "delta": {"content": "word "},
                                                   "finish_reason": None}]})
    params = completion_create_params.CompletionCreateParamsStreaming
    sdk_chunk = lambda: construct_type(type_=ChatCompletionChunk, value=json.loads(chunk))

    def each(fn, n: int) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n

    return [["request of a 60-message history (per call)",
             f"{each(lambda: maybe_transform(body, params), 50) * 1000:.2f} ms (transform)",
             f"{each(lambda: json.dumps(body), 50) * 1000:.2f} ms (`json.dumps`)"],
            ["one streamed chunk (per token)",
             f"{each(sdk_chunk, 2000) * 1e6:.0f} µs "
             "(`ChatCompletionChunk`)", f"{each(lambda: json.loads(chunk), 2000) * 1e6:.1f} µs "
             "(`json.loads`)"]]


def tokens(r: Report, url: str) -> None:
    r.section("Prompt volume of a 50-round chat",
              "Characters of prompt content the server received (all calls, selector "
              "calls included), and the number of calls.")
    rows = []
    volume = {}
    for fw in FRAMEWORKS:
        for mode in ("auto", "round_robin"):
            reset(url)
            worker(fw, mode, url, 50)
            s = stats(url)
            volume[(fw, mode)] = s["prompt_chars"]
            rows.append([fw, mode, str(s["completions"]), f"{s['prompt_chars']:,}"])
    r.table(["framework", "selection", "calls", "prompt characters"], rows)
    r.table(["framework", "auto / round robin (goal for agentteam ≤ 1.2)"],
            [[fw, f"{volume[(fw, 'auto')] / volume[(fw, 'round_robin')]:.2f}×"]
             for fw in FRAMEWORKS])


def startup(r: Report, url: str, reps: int) -> None:
    r.section("Start-up", "Wall time of whole processes, min / median.")
    team = ROOT / "teams" / "cars_critic.yaml"
    cli = [PY, "-m", "agentteam.cli"]
    rows = [["import litellm", fmt(timed([PY, "-c", "import litellm"], reps))],
            ["agentteam --help", fmt(timed(cli + ["--help"], reps))],
            ["agentteam validate teams/cars_critic.yaml", fmt(timed(cli + ["validate", str(team)],
                                                                    reps))]]
    for fw in OVERHEAD:
        cmd = [PY, str(ROOT / "bench" / "workers.py"), fw, "round_robin", url, "10"]
        rows.append([f"{fw}: a whole 10-round chat process", fmt(timed(cmd, reps))])
    r.table(["what", "time"], rows)


def memory(r: Report, url: str) -> None:
    r.section("Peak memory (auto selection)",
              "Peak RSS of the whole worker process (`VmHWM`, which the worker reads itself: "
              "the `ru_maxrss` a parent gets from `wait4` also counts the parent's own pages "
              "from before the child's `exec`, so it could never read below the benchmark "
              "process).")
    rows = []
    for fw in OVERHEAD:
        rss = {n: worker(fw, "auto", url, n)["peak_rss_mb"] for n in (10, 50, 100)}
        rows.append([fw] + [f"{rss[n]:.0f} MB" for n in (10, 50, 100)]
                    + [f"{(rss[100] - rss[10]) / 90 * 1024:.0f} KB"])
    r.table(["framework", "10 rounds", "50 rounds", "100 rounds", "growth per round"], rows)


def cache(r: Report, url: str) -> None:
    r.section("Completion cache", "The same team run twice with `cache: {seed: 1}`.")
    with tempfile.TemporaryDirectory() as tmp:
        team = Path(tmp) / "cached.yaml"
        team.write_text(f"name: cached\ntask: hello\nmodels: {{default: {{model: openai/m, "
                        f"api_base: '{url}', api_key: NULL}}}}\nmax_round: 10\n"
                        f"termination: NEVER\nspeaker_selection: round_robin\n"
                        f"cache: {{seed: 1, dir: {tmp}/cache}}\ncode_execution: {{executor: none}}\n"
                        "agents:\n  - {name: Coder, system_message: Coder.}\n"
                        "  - {name: Critic, system_message: Critic.}\n")
        rows = []
        for label in ("first run", "second run"):
            reset(url)
            start = time.perf_counter()
            out = subprocess.run([PY, "-m", "agentteam.cli", "run", str(team), "--json"],
                                 capture_output=True, text=True, env=ENV, cwd=tmp)
            wall = time.perf_counter() - start
            end = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append([label, str(stats(url)["completions"]),
                         f"{end['usage']['total']['seconds'] * 1000:.1f} ms", f"{wall:.2f} s"])
    r.table(["", "requests to the server", "model time", "whole process"], rows)


def code_execution(r: Report, reps: int) -> None:
    r.section("Code execution", "A `print(1)` block: `docker exec` in the run's warm "
                                "container vs a new container per block (`docker run`).")
    try:
        from agentteam.conversation.messages import CodeBlock
        from agentteam.executors.docker import DockerExecutor
        from agentteam.team import CodeExecution
    except ImportError as e:
        r.lines.append(f"skipped: {e}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        ex = DockerExecutor(CodeExecution(), Path(tmp))
        try:
            ex.check()
        except Exception as e:  # no engine here: say so in the report
            r.lines.append(f"skipped: {e}")
            print(f"skipped: {e}")
            return
        start = time.perf_counter()
        ex.start()
        started = time.perf_counter() - start
        warm = []
        for _ in range(max(reps, 5)):
            t = time.perf_counter()
            ex.run(CodeBlock("python", "print(1)"))
            warm.append(time.perf_counter() - t)
        ex.close()
    cold = timed(["docker", "run", "--rm", "--network", "none", "agentteam-sandbox:latest",
                  "python3", "-c", "print(1)"], max(reps, 3))
    r.table(["", "time (min / median)"], [["container start (once per run)",
                                            f"{started * 1000:.0f} ms"],
                                           ["block in the warm container", fmt(warm)],
                                           ["new container per block", fmt(cold)]])


BATCH_TEAM = """\
name: bench-batch
task: "Task {{n}}: say something useful."
models: {{default: {{model: openai/m, api_base: '{url}', api_key: NULL}}}}
max_round: 2
termination: NEVER
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: Coder, system_message: Coder.}}
  - {{name: Critic, system_message: Critic.}}
"""


def _timed_batch(team: Path, tasks: Path, out: Path, concurrency: int,
                 ray: str | None = None) -> float:
    """Seconds from the batch's first run to its end (start-up, Ray's included, left out)."""
    from agentteam.batch import Batch, BatchOptions
    marks: dict[str, float] = {}

    def on_event(ev) -> None:
        if ev.type in ("batch_started", "batch_ended"):
            marks[ev.type] = time.perf_counter()
    ended = Batch(BatchOptions(team, tasks, out, concurrency, ray=ray)).prepare().run(on_event)
    if len(ended.results) != ended.planned:
        raise RuntimeError(f"batch at concurrency {concurrency}: {len(ended.results)} of "
                           f"{ended.planned} runs finished")
    return marks["batch_ended"] - marks["batch_started"]


def batch_throughput(r: Report, runs: int = 16) -> None:
    r.section("Batches: throughput and the Ray path",
              f"`agentteam batch` of {runs} runs (2 model calls each, no code) against a fake "
              "server that holds every completion 200 ms, in its own process. Time from the "
              "first run to the last, in-process (start-up and, for Ray, the cluster's start "
              "left out); the speed-up goal is ≥ 0.8 × N.")
    server = subprocess.Popen([PY, "-m", "agentteam.testing.fakeserver", "--reply",
                               "Noted; the numbers line up.", "--delay", "0.2", "--no-record"],
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            team, tasks = Path(tmp) / "team.yaml", Path(tmp) / "tasks.jsonl"
            team.write_text(BATCH_TEAM.format(url=url))
            tasks.write_text("".join(json.dumps({"id": f"t{i}", "vars": {"n": i}}) + "\n"
                                     for i in range(runs)))
            times = {n: _timed_batch(team, tasks, Path(tmp) / f"c{n}", n) for n in (1, 2, 4, 8)}
            r.table(["concurrency", "time", "runs/s", "speed-up (goal ≥ 0.8 × N)"],
                    [[str(n), f"{t:.2f} s", f"{runs / t:.2f}", f"{times[1] / t:.2f}× "
                      f"({times[1] / t / n:.2f} × N)"] for n, t in times.items()])
            _ray_overhead(r, team, tasks, Path(tmp), times, runs)
    finally:
        server.terminate()
        server.wait(10)


def _ray_overhead(r: Report, team: Path, tasks: Path, tmp: Path, local: dict, runs: int) -> None:
    import importlib.util
    if importlib.util.find_spec("ray") is None:
        r.lines.append('Ray: skipped (pip install "agentteam[ray]" in the benchmark venv)')
        return
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"   # every Ray address on loopback
    rows = []
    for n in (1, 2):
        t = _timed_batch(team, tasks, tmp / f"ray{n}", n, ray="local")
        rows.append([str(n), f"{local[n]:.2f} s", f"{t:.2f} s",
                     f"{(t - local[n]) / runs * 1000:+.0f} ms"])
    r.table(["concurrency", "this machine", "Ray (a local instance, 2 CPUs)",
             "Ray overhead per run"], rows)


TOOL_PY = ("def convert(amount: float) -> str:\n    \"\"\"Convert dollars to euros.\"\"\"\n"
           "    return f'{amount * 0.9:.2f} EUR'\n")


def tool_calls(r: Report, reps: int) -> None:
    """Time per tool call (the runner in the warm sandbox, and on the host), and one tool
    round trip (call, result, answer: two model calls) in agentteam and AG2 on one fake
    server that answers with a tool call, then with the final text."""
    r.section("Tool calls", "`convert(amount=10)`, a typed Python function. The runner: "
                            "one `docker exec` in the run's warm container (or a host "
                            "subprocess). The round trip: a whole two-agent chat, in-process, "
                            "against a fake server that calls the tool, then answers.")
    from agentteam.testing.fakeserver import FakeOpenAIServer
    from agentteam.testing.fakeserver import tool_calls as calls
    from agentteam.tools.python import PythonFunction, PythonRunner, ToolFiles, load_functions

    def respond(body: dict, agent: str):
        last = (body.get("messages") or [{}])[-1]
        return "9.00 EUR. TERMINATE" if last.get("role") == "tool" else \
            calls(("convert", {"amount": 10}))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(respond, models=[]) as server:
        (Path(tmp) / "tools.py").write_text(TOOL_PY)
        rows += _tool_runner_rows(Path(tmp), reps, load_functions, PythonFunction, PythonRunner,
                                  ToolFiles)
        rows.append(["round trip, agentteam (run: host)",
                     fmt(_agentteam_round_trips(Path(tmp), server.url, reps))])
        if _has("ag2"):
            rows.append(["round trip, AG2 (function in-process)",
                         fmt(_ag2_round_trips(server.url, reps))])
    r.table(["", "time (min / median)"], rows)


def _tool_runner_rows(tmp: Path, reps: int, load_functions, PythonFunction, PythonRunner,
                      ToolFiles) -> list[list[str]]:
    from agentteam.executors.docker import DockerExecutor
    from agentteam.team import parse_team
    team = parse_team("name: b\ntask: x\ntools:\n  - {function: tools.py:convert}\n"
                      "agents:\n  - {name: U, kind: user_proxy}\n  - {name: A, tools: [convert]}\n",
                      str(tmp / "team.yaml"), {})
    [fn] = load_functions(team)
    files = ToolFiles([fn])
    out = []
    try:
        host = PythonRunner(files, tmp / "work", 20000)
        fn.spec = fn.spec.model_copy(update={"run": "host"})
        out.append(["tool call on the host (subprocess)",
                    fmt([_time(lambda: host.call(fn, {"amount": 10})) for _ in range(reps)])])
        fn.spec = fn.spec.model_copy(update={"run": "sandbox"})
        # its own work dir, which the executor creates for the sandbox user (a folder
        # root made, like the host runner's, is refused)
        ex = DockerExecutor(team.code_execution, tmp / "sandbox-work")
        ex.mounts[str(files.dir)] = "/opt/agentteam-tools"
        try:
            ex.check()
            ex.start()
        except Exception as e:  # no engine here: say so in the report
            return out + [["tool call in the sandbox", f"skipped: {e}"]]
        try:
            runner = PythonRunner(files, tmp / "sandbox-work", 20000, ex)
            runner.call(fn, {"amount": 10})       # warm-up
            out.append(["tool call in the warm sandbox (docker exec)",
                        fmt([_time(lambda: runner.call(fn, {"amount": 10}))
                             for _ in range(max(reps, 5))])])
        finally:
            ex.close()
    finally:
        files.remove()
    return out


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _agentteam_round_trips(tmp: Path, url: str, reps: int) -> list[float]:
    from agentteam import run_team
    from agentteam.team import parse_team
    team = parse_team(f"name: b\ntask: Convert 10 USD.\nmodels:\n  default: {{model: "
                      f"openai/x, api_base: '{url}', api_key: NULL}}\nmax_round: 4\n"
                      "speaker_selection: round_robin\ncode_execution: {executor: none}\n"
                      "tools:\n  - {function: tools.py:convert, run: host}\nagents:\n"
                      "  - {name: U, kind: user_proxy}\n  - {name: A, tools: [convert]}\n",
                      str(tmp / "team.yaml"), {})
    out = []
    for i in range(reps + 1):
        t = time.perf_counter()
        events = list(run_team(team, transcript=tmp / f"t{i}.jsonl"))
        assert events[-1].reason == "keyword", events[-1]
        out.append(time.perf_counter() - t)
    return out[1:]      # the first run imports and warms up


def _ag2_round_trips(url: str, reps: int) -> list[float]:
    import autogen
    out = []
    for _ in range(reps + 1):
        config = {"config_list": [{"model": "x", "base_url": url, "api_key": "NULL"}],
                  "cache_seed": None}
        user = autogen.UserProxyAgent("U", human_input_mode="NEVER",
                                      code_execution_config=False,
                                      is_termination_msg=lambda m: "TERMINATE" in
                                      (m.get("content") or ""))
        bot = autogen.AssistantAgent("A", llm_config=config)

        def convert(amount: float) -> str:
            return f"{amount * 0.9:.2f} EUR"
        autogen.register_function(convert, caller=bot, executor=user,
                                  description="Convert dollars to euros.")
        t = time.perf_counter()
        user.initiate_chat(bot, message="Convert 10 USD.", max_turns=3, silent=True)
        out.append(time.perf_counter() - t)
    return out[1:]


def prefixes(r: Report, url: str) -> None:
    """The selector's prompt against AG2's, and the embedded model before and after
    prefix reuse (``bench/embedded.py``; BENCH_EMBEDDED_REPS=0 skips it)."""
    r.section("Prompt characters: agentteam ÷ AG2, `auto` selection",
              "Three assistants, ~300-character replies, every call's prompt counted "
              "(selector calls included). Goal ≤ 0.6 at 20 rounds.")
    rows = []
    for rounds in (10, 20, 50):
        volume = {}
        for fw in ("agentteam", "ag2"):
            reset(url)
            worker(fw, "auto", url, rounds)
            volume[fw] = stats(url)["prompt_chars"]
        rows.append([str(rounds), f"{volume['agentteam']:,}", f"{volume['ag2']:,}",
                     f"{volume['agentteam'] / volume['ag2']:.2f}×"])
    r.table(["rounds", "agentteam", "AG2", "agentteam ÷ AG2"], rows)
    reps = int(os.environ.get("BENCH_EMBEDDED_REPS", "1"))
    if reps <= 0:
        return
    r.section("The embedded model before and after prefix reuse",
              "`teams/cars_critic.yaml --max-round 10 --executor none --model local`, the "
              "code of `main` (before) and of this tree (after), runs interleaved on the same "
              "machine. Seconds per round are between two messages' arrivals on `--json`; "
              "in brackets, the prompt tokens the model evaluated for that message and the "
              "tokens it wrote (`before` reports no usage when streaming: its counts are "
              "agentteam's estimates).")
    out = subprocess.run([PY, str(ROOT / "bench" / "embedded.py"), "--reps", str(reps)],
                         capture_output=True, text=True, env=ENV, timeout=6 * 3600)
    runs = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not runs:
        r.lines.append(f"skipped: {out.stderr.strip()[-300:]}")
        return
    rows = []
    for run in runs:
        pr = {int(k): v for k, v in run["per_round"].items()}
        tok = {int(k): v for k, v in run.get("per_round_tokens", {}).items()}
        sel = run["selector"]
        cells = [f"{pr[k]:.1f} s" + (f" ({tok[k][0]} in, {tok[k][1]} out)" if k in tok else "")
                 if k in pr else "—" for k in (2, 5, 10)]
        rows.append([run["version"], *cells,
                     f"{sel['calls']} / {sel['seconds']:.1f} s / {sel['completion_tokens']}",
                     f"{run['total_s']:.0f} s", f"{run['rounds']} ({run['reason']})"])
    r.table(["version", "round 2", "round 5", "round 10",
             "selector calls / time / tokens written", "whole run", "rounds"], rows)
    total = {v: statistics.median(x["total_s"] for x in runs if x["version"] == v)
             for v in ("before", "after")}
    r.lines.append(f"Whole run: {total['before'] / total['after']:.1f}× faster "
                   "(median of the runs; goal ≥ 3×).")


def machine() -> str:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in
                         ("agentteam", "ag2", "autogen-agentchat", "agent-framework-core",
                          "agent-framework-orchestrations", "litellm", "openai")
                         if _has(p))
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores "
            f"({cpu}) · {round(os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30)} GB · "
            f"Python {platform.python_version()} · {versions}")


def _has(package: str) -> bool:
    try:
        metadata.version(package)
        return True
    except metadata.PackageNotFoundError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    server = subprocess.Popen([PY, str(ROOT / "bench" / "server.py")], stdout=subprocess.PIPE,
                              text=True, env=ENV)
    url = server.stdout.readline().strip()
    r = Report()
    r.lines += ["# Benchmarks", "", f"Measured by `bash bench/run --reps {args.reps}` on: "
                f"{machine()}.", "", "", "", INTRO]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        overhead(r, url, args.reps)
        tokens(r, url)
        startup(r, url, args.reps)
        memory(r, url)
        cache(r, url)
        code_execution(r, args.reps)
        batch_throughput(r)
        tool_calls(r, args.reps)
        prefixes(r, url)
    finally:
        server.terminate()
        server.wait(10)
    # Others share the machine: say how busy it was, so numbers from two runs are not
    # compared as if both machines were idle.
    r.lines[4] = (f"Load average (1 min) {load:.1f} at the start and {os.getloadavg()[0]:.1f} "
                  f"at the end, on {os.cpu_count()} cores; the run took "
                  f"{(time.perf_counter() - started) / 60:.0f} minutes. On a busy machine compare "
                  "ratios within one run, and CPU times, rather than wall times across runs.")
    Path(args.out).write_text("\n".join(r.lines) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
