"""``results.jsonl``: one line per finished run, appended and fsynced as runs finish.

A batch that is run again reads it back and skips the runs it holds; a line
torn by a ``kill -9`` mid-write is cut off before anything is appended. Also
here: the numbers per task and overall, ``summary.md``, and two result sets side
by side (``--compare``).
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ConfigError

RESULTS = "results.jsonl"


@dataclass
class RunResult:
    """One finished run, as a line of ``results.jsonl``.

    ``transcript`` is relative to the batch's ``--out`` directory. ``passed``:
    see ``judge``. ``check_exit_code``/``expected_found`` are ``None`` when the
    task line has no ``check``/``expected``.
    """

    id: str
    repeat: int
    reason: str
    exit_code: int
    passed: bool
    rounds: int = 0
    tokens: int = 0
    cost: float | None = None
    seconds: float = 0.0
    transcript: str = ""
    error: str | None = None
    expected_found: bool | None = None
    check_exit_code: int | None = None
    check_output: str | None = None
    finished_at: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.repeat)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def judge(exit_code: int, reason: str, expected_found: bool | None,
          check_exit_code: int | None) -> bool:
    """Did the run pass? With ``expected`` or ``check``, every one given must hold and the
    run must not have failed (``error``); without either, the run must have ended by its
    termination keyword (exit code 0)."""
    criteria = [c for c in (expected_found, None if check_exit_code is None
                            else check_exit_code == 0) if c is not None]
    if not criteria:
        return exit_code == 0
    return reason not in ("error", "interrupted") and all(criteria)


class ResultsFile:
    """The append-only results of one ``--out`` directory."""

    def __init__(self, out: Path):
        self.path = out / RESULTS

    def load(self) -> dict[tuple[str, int], RunResult]:
        """The finished runs; a torn last line (a kill mid-write) is cut off the file."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        good = data if data.endswith(b"\n") or not data else data[:data.rfind(b"\n") + 1]
        if len(good) != len(data):
            with open(self.path, "r+b") as f:
                f.truncate(len(good))
        out: dict[tuple[str, int], RunResult] = {}
        for n, line in enumerate(good.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = RunResult.from_dict(json.loads(line))
            except (ValueError, TypeError) as e:
                raise ConfigError(f"{self.path}:{n}: not a result line ({e}); was the file "
                                  "edited by hand? Move it away to start over") from None
            out[r.key] = r
        return out

    def append(self, result: RunResult) -> None:
        """Add one line and make it durable before the run counts as finished."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(result.to_dict(), ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def read_results(out: Path) -> list[RunResult]:
    """The results of a batch directory (for ``--compare``)."""
    if not (out / RESULTS).is_file():
        raise ConfigError(f"{out}: no {RESULTS} here; give the --out directory of a batch")
    return list(ResultsFile(out).load().values())


# -- numbers ---------------------------------------------------------------------------

@dataclass
class Stats:
    """The numbers of a group of runs (one task, or all)."""

    name: str
    runs: int = 0
    passed: int = 0
    errors: int = 0
    rounds: list[int] = field(default_factory=list)
    tokens: int = 0
    cost: float | None = None
    seconds: list[float] = field(default_factory=list)

    def add(self, r: RunResult) -> None:
        self.runs += 1
        self.passed += int(r.passed)
        self.errors += int(r.reason == "error")
        self.rounds.append(r.rounds)
        self.tokens += r.tokens
        if r.cost is not None:
            self.cost = (self.cost or 0.0) + r.cost
        self.seconds.append(r.seconds)

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.runs if self.runs else None

    @property
    def mean_rounds(self) -> float | None:
        return statistics.fmean(self.rounds) if self.rounds else None

    @property
    def mean_seconds(self) -> float | None:
        return statistics.fmean(self.seconds) if self.seconds else None

    @property
    def mean_cost(self) -> float | None:
        return self.cost / self.runs if self.cost is not None and self.runs else None


def summarize(results: list[RunResult], order: list[str] | None = None) -> tuple[list[Stats],
                                                                                  Stats]:
    """Numbers per task (in ``order``, else first-seen order) and overall."""
    per: dict[str, Stats] = {name: Stats(name) for name in order or []}
    overall = Stats("all")
    for r in sorted(results, key=lambda r: r.repeat):
        per.setdefault(r.id, Stats(r.id)).add(r)
        overall.add(r)
    return list(per.values()), overall


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def money(cost: float | None) -> str:
    return "—" if cost is None else f"${cost:.4f}"


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def stats_row(s: Stats) -> list[str]:
    """One row of the results table: task, runs, passed, pass rate, rounds, tokens, cost, time."""
    return [s.name, str(s.runs), str(s.passed), pct(s.pass_rate), num(s.mean_rounds),
            f"{s.tokens:,}", money(s.cost),
            "—" if s.mean_seconds is None else f"{s.mean_seconds:.1f}s"]


STATS_HEADER = ["task", "runs", "passed", "pass rate", "rounds/run", "tokens", "cost",
                "time/run"]


def compare_rows(a: list[RunResult], b: list[RunResult]) -> list[list[str]]:
    """Per task and overall: pass rate, cost per run and mean rounds of two result sets."""
    sa, oa = summarize(a)
    sb, ob = summarize(b)
    by_a, by_b = {s.name: s for s in sa}, {s.name: s for s in sb}
    names = sorted(set(by_a) | set(by_b))
    rows = []
    for name in names + ["all"]:
        x = oa if name == "all" else by_a.get(name)
        y = ob if name == "all" else by_b.get(name)
        rows.append([name, pct(x.pass_rate) if x else "—", pct(y.pass_rate) if y else "—",
                     money(x.mean_cost) if x else "—", money(y.mean_cost) if y else "—",
                     num(x.mean_rounds) if x else "—", num(y.mean_rounds) if y else "—"])
    return rows


def compare_header(a: str, b: str) -> list[str]:
    return ["task", f"pass rate {a}", f"pass rate {b}", f"cost/run {a}", f"cost/run {b}",
            f"rounds {a}", f"rounds {b}"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(x: str) -> str:
        return x.replace("|", "\\|")
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(title: str, planned: int, results: list[RunResult], order: list[str],
                     meta: dict[str, str]) -> str:
    """``summary.md``: what ran, the table per task and overall, and the runs that failed."""
    per, overall = summarize(results, order)
    lines = [f"# {title}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += [f"- runs finished: {overall.runs} of {planned}",
              f"- pass rate: {pct(overall.pass_rate)}", "",
              markdown_table(STATS_HEADER, [stats_row(s) for s in per] + [stats_row(overall)])]
    failed = sorted((r for r in results if not r.passed), key=lambda r: (r.id, r.repeat))
    if failed:
        lines += ["", "## Runs that did not pass", ""]
        lines += [f"- `{r.id}` #{r.repeat}: {why_failed(r)} ([transcript]({r.transcript}))"
                  for r in failed]
    return "\n".join(lines) + "\n"


def why_failed(r: RunResult) -> str:
    """A short reason a run did not pass, for people."""
    if r.reason == "error":
        return f"error: {r.error or 'unknown'}"
    parts = []
    if r.expected_found is False:
        parts.append("the expected text was not in the final message")
    if r.check_exit_code not in (None, 0):
        parts.append(f"check exited {r.check_exit_code}")
    if not parts:
        parts.append(f"ended by {r.reason} (exit {r.exit_code})")
    return "; ".join(parts)
