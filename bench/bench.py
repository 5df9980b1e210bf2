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
FRAMEWORKS = ["agentteam", "ag2", "agentchat"]
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONWARNINGS": "ignore"}


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


def peak_rss_mb(cmd: list[str]) -> float:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{cmd} failed")
    return usage.ru_maxrss / 1024


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
              "chat excluded. min / median of the repetitions.")
    per: dict = {}
    rows = []
    for mode in ("auto", "round_robin"):
        for fw in FRAMEWORKS + (["litellm_loop"] if mode == "round_robin" else []):
            values = []
            for _ in range(reps):
                t = worker(fw, mode, url, 2, 10, 60)
                values.append((t["60"] - t["10"]) / 50)
            per[(fw, mode)] = values
            rows.append([mode, fw, fmt(values)])
    r.table(["selection", "framework", "per round (min / median)"], rows)
    med = {k: statistics.median(v) for k, v in per.items()}
    ratio_rows = []
    for mode, goal_ag2, goal_ac in (("auto", 0.5, 1.0), ("round_robin", 1.0, 1.0)):
        a = med[("agentteam", mode)]
        ratio_rows.append([mode, f"{a / med[('ag2', mode)]:.2f}× (goal ≤ {goal_ag2})",
                           f"{a / med[('agentchat', mode)]:.2f}× (goal ≤ {goal_ac})"])
    r.table(["selection", "agentteam / AG2", "agentteam / AgentChat"], ratio_rows)
    return med


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
    for fw in FRAMEWORKS:
        cmd = [PY, str(ROOT / "bench" / "workers.py"), fw, "round_robin", url, "10"]
        rows.append([f"{fw}: a whole 10-round chat process", fmt(timed(cmd, reps))])
    r.table(["what", "time"], rows)


def memory(r: Report, url: str) -> None:
    r.section("Peak memory (auto selection)", "Peak RSS of the whole process.")
    rows = []
    for fw in FRAMEWORKS:
        rss = {n: peak_rss_mb([PY, str(ROOT / "bench" / "workers.py"), fw, "auto", url, str(n)])
               for n in (10, 50, 100)}
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
                         ("agentteam", "ag2", "autogen-agentchat", "litellm", "openai")
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
                f"{machine()}.", "", "All frameworks talk to the same fake OpenAI-compatible "
                "server (`bench/server.py`, its own process) in the same run. agentteam "
                "streams every reply; AG2 and AgentChat use their defaults (not streamed)."]
    try:
        overhead(r, url, args.reps)
        tokens(r, url)
        startup(r, url, args.reps)
        memory(r, url)
        cache(r, url)
        code_execution(r, args.reps)
        prefixes(r, url)
    finally:
        server.terminate()
        server.wait(10)
    Path(args.out).write_text("\n".join(r.lines) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
