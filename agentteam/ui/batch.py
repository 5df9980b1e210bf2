"""The views of a batch: a live progress display in a terminal, one plain line per run
elsewhere, one JSON object per run with ``--json``; the final table; ``--compare``.
"""

from __future__ import annotations

import json
import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from ..batch.events import BatchEnded, BatchEvent, BatchNotice, BatchStarted, RunBegan, RunFinished
from ..batch.results import (
    STATS_HEADER,
    RunResult,
    compare_header,
    compare_rows,
    money,
    pct,
    stats_row,
    summarize,
    why_failed,
)


class Tally:
    """The running numbers of a batch: done, running, failed, pass rate, tokens, cost, ETA."""

    def __init__(self) -> None:
        self.planned = self.before = self.done = self.passed = self.failed = self.tokens = 0
        self.running: set[tuple[str, int]] = set()
        self.cost: float | None = None
        self.started = time.monotonic()

    def start(self, ev: BatchStarted) -> None:
        self.planned, self.before = ev.planned, ev.finished_before
        self.started = time.monotonic()

    def finish(self, r: RunResult) -> None:
        self.running.discard((r.id, r.repeat))
        self.done += 1
        self.passed += int(r.passed)
        self.failed += int(not r.passed)
        self.tokens += r.tokens
        if r.cost is not None:
            self.cost = (self.cost or 0.0) + r.cost

    @property
    def finished(self) -> int:
        """Runs of the plan finished, this time and before."""
        return self.before + self.done

    def eta(self) -> str:
        left = self.planned - self.finished
        if not self.done or left <= 0:
            return "—"
        seconds = (time.monotonic() - self.started) / self.done * left
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s" if seconds >= 60 \
            else f"{seconds:.0f}s"

    def status(self) -> str:
        rate = pct(self.passed / self.done) if self.done else "—"
        return (f"running {len(self.running)} · failed {self.failed} · pass rate {rate} · "
                f"{self.tokens:,} tokens · {money(self.cost)} · ETA {self.eta()}")


def run_line(r: RunResult, n: int, total: int) -> Text:
    """One finished run, for people."""
    mark = Text("passed", "green") if r.passed else Text("FAILED", "bold red")
    cost = f" · {money(r.cost)}" if r.cost is not None else ""
    text = Text.assemble((f"[{n}/{total}] ", "dim"), (f"{r.id} #{r.repeat} ", "bold"), mark,
                         (f" · {r.reason} · {r.rounds} rounds · {r.tokens:,} tokens{cost} · "
                          f"{r.seconds:.1f}s", "dim"))
    if not r.passed:
        text.append(f" · {why_failed(r)}", "red")
    return text


class BatchConsole:
    """Terminal view: a live progress display (``live``) or one plain line per run."""

    def __init__(self, console: Console | None = None, live: bool | None = None):
        self.console = console or Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)
        self.live_on = self.console.is_terminal if live is None else live
        self.tally = Tally()
        self.progress: Progress | None = None
        self.live: Live | None = None
        self.task_id = TaskID(0)

    def __call__(self, ev: BatchEvent) -> None:
        getattr(self, "_" + ev.type)(ev)

    def _batch_started(self, ev: BatchStarted) -> None:
        self.tally.start(ev)
        before = f" ({ev.finished_before} already finished)" if ev.finished_before else ""
        where = f" · {ev.concurrency} at a time on {ev.where}" if ev.where else ""
        self.console.print(Text.assemble(("batch ", "dim"), (ev.team, "bold"), (
            f" · {ev.planned} runs{before}{where} · results in {ev.out}", "dim")),
            soft_wrap=True)
        if self.live_on and ev.planned > ev.finished_before:
            self.progress = Progress(SpinnerColumn(), TextColumn("runs"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                                     console=self.console)
            self.task_id = self.progress.add_task("runs", total=ev.planned,
                                                  completed=ev.finished_before,
                                                  status=self.tally.status())
            self.live = Live(Group(self.progress), console=self.console,
                             refresh_per_second=4, transient=True)
            self.live.start()

    def _refresh(self) -> None:
        if self.progress is not None:
            self.progress.update(self.task_id, completed=self.tally.finished,
                                 status=self.tally.status())

    def _run_began(self, ev: RunBegan) -> None:
        self.tally.running.add((ev.id, ev.repeat))
        self._refresh()

    def _run_finished(self, ev: RunFinished) -> None:
        self.tally.finish(ev.result)
        self.console.print(run_line(ev.result, self.tally.finished, self.tally.planned),
                           soft_wrap=True)
        self._refresh()

    def _batch_notice(self, ev: BatchNotice) -> None:
        self.err.print(Text(ev.text, style="yellow" if ev.level == "warning" else "dim"),
                       soft_wrap=True)

    def _batch_ended(self, ev: BatchEnded) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.console.print()
        self.console.print(results_table(ev))
        style = "green" if ev.exit_code == 0 else ("yellow" if ev.interrupted else "red")
        finished = f"{len(ev.results)} of {ev.planned} runs finished"
        verdict = (f"interrupted · {finished}" if ev.interrupted else
                   f"{finished} · pass rate {pct(ev.pass_rate)} (at least "
                   f"{pct(ev.min_pass_rate)} asked)")
        self.console.print(Text(verdict, style=f"bold {style}"), soft_wrap=True)
        self.console.print(Text(f"summary: {ev.summary}", style="dim"), soft_wrap=True)


class BatchJson:
    """``--json``: one JSON object per finished run, then one for the batch; notices on stderr."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.err = Console(stderr=True, highlight=False)

    def __call__(self, ev: BatchEvent) -> None:
        if isinstance(ev, RunFinished):
            self._write({"type": "run_finished", **ev.result.to_dict()})
        elif isinstance(ev, BatchNotice):
            self.err.print(Text(ev.text))
        elif isinstance(ev, BatchEnded):
            self._write({"type": "batch_ended", "planned": ev.planned,
                         "finished": len(ev.results), "passed": sum(r.passed for r in ev.results),
                         "pass_rate": round(ev.pass_rate, 4), "interrupted": ev.interrupted,
                         "exit_code": ev.exit_code, "summary": ev.summary})

    def _write(self, obj: dict) -> None:
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.out.flush()


def results_table(ev: BatchEnded) -> Table:
    """The final table: one row per task, then all runs."""
    per, overall = summarize(ev.results, ev.order)
    table = Table(show_edge=False, pad_edge=False, box=None)
    for i, col in enumerate(STATS_HEADER):
        table.add_column(col, justify="left" if i == 0 else "right")
    for s in per:
        table.add_row(*stats_row(s))
    table.add_row(*stats_row(overall), style="bold")
    return table


def compare_table(a: str, b: str, ra: list[RunResult], rb: list[RunResult]) -> Table:
    """Two result sets side by side: pass rate, cost per run, mean rounds per task."""
    table = Table(show_edge=False, pad_edge=False, box=None)
    for i, col in enumerate(compare_header("A", "B")):
        table.add_column(col, justify="left" if i == 0 else "right")
    rows = compare_rows(ra, rb)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_row(*rows[-1], style="bold")
    table.caption = f"A: {a}   B: {b}"
    return table
