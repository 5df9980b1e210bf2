"""The views of an optimization: lines per iteration and per run in the terminal, the
table of iterations and the diff at the end; one JSON object per event with ``--json``.

Everything a model wrote (analyses, system messages in the diff) goes through ``safe``
and is shown as ``Text``, never as markup.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..batch.events import BatchNotice, RunFinished
from ..batch.results import money, pct
from ..optimize.events import (
    IterationBatch,
    IterationEnded,
    IterationStarted,
    OptimizeEnded,
    OptimizeEvent,
    OptimizeNotice,
    OptimizeStarted,
    RevisionProposed,
    Row,
)
from .batch import run_line
from .safe import json_line, safe

STYLES = {"baseline": "bold", "kept": "bold green", "not kept": "yellow",
          "rejected": "red", "skipped": "yellow", "interrupted": "yellow"}
TABLE_HEADER = ["iteration", "result", "passed", "pass rate", "tokens", "cost",
                "optimizer tokens", "optimizer cost", "changes"]


def table_row(r: Row) -> list[str]:
    """One iteration as table cells."""
    return [str(r.iteration), r.status, "—" if r.passed is None else f"{r.passed}/{r.runs}",
            pct(r.pass_rate), "—" if r.tokens is None else f"{r.tokens:,}", money(r.cost),
            f"{r.optimizer_tokens:,}" if r.iteration else "—",
            money(r.optimizer_cost) if r.iteration else "—",
            ", ".join(r.changes) or ("(as given)" if r.iteration == 0 else "—")]


def iterations_table(rows: list[Row]) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None)
    for i, col in enumerate(TABLE_HEADER):
        table.add_column(col, justify="left" if i in (1, 8) else "right",
                         overflow="fold")
    for r in rows:
        table.add_row(*map(safe, table_row(r)), style=STYLES.get(r.status, ""))
    table.add_row(*totals(rows), style="bold")
    return table


def totals(rows: list[Row]) -> list[str]:
    """What the whole optimization cost: the runs of every iteration, the optimizer's calls."""
    def add(values: list) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None
    runs = add([r.runs for r in rows if r.passed is not None])
    return ["all", "", f"{int(runs or 0)} runs", "", f"{int(add([r.tokens for r in rows]) or 0):,}",
            money(add([r.cost for r in rows])), f"{sum(r.optimizer_tokens for r in rows):,}",
            money(add([r.optimizer_cost for r in rows])), ""]


class OptimizeConsole:
    """Terminal view: what each iteration tried, its runs, its score; the end."""

    def __init__(self, console: Console | None = None, err: Console | None = None):
        self.console = console or Console(highlight=False)
        self.err = err or Console(stderr=True, highlight=False)
        self.done = 0
        self.planned = 0

    def __call__(self, ev: OptimizeEvent) -> None:
        getattr(self, "_" + ev.type)(ev)

    def _optimize_started(self, ev: OptimizeStarted) -> None:
        self.planned = ev.runs
        self.console.print(Text.assemble(("optimize ", "dim"), (safe(ev.team), "bold"), (
            f" · {ev.iterations} iteration{'s' if ev.iterations > 1 else ''} of {ev.runs} "
            f"runs · optimizer {safe(ev.optimizer)} · iterations in {ev.out}", "dim")),
            soft_wrap=True)

    def _iteration_started(self, ev: IterationStarted) -> None:
        self.done = 0
        title = "the team as given" if ev.iteration == 0 else \
            f"iteration {ev.iteration} of {ev.iterations}"
        self.console.rule(Text(title, "bold"), align="left")

    def _revision_proposed(self, ev: RevisionProposed) -> None:
        self.console.print(Text.assemble(("revision: ", "bold"),
                                         safe(", ".join(ev.changes))), soft_wrap=True)
        if ev.analysis.strip():
            self.console.print(Text(safe(ev.analysis.strip()), "dim"), soft_wrap=True)

    def _iteration_batch(self, ev: IterationBatch) -> None:
        inner = ev.event
        if isinstance(inner, RunFinished):
            self.done += 1
            self.console.print(run_line(inner.result, self.done, self.planned), soft_wrap=True)
        elif isinstance(inner, BatchNotice):
            self.err.print(Text(safe(inner.text), "yellow" if inner.level == "warning"
                                else "dim"), soft_wrap=True)

    def _iteration_ended(self, ev: IterationEnded) -> None:
        r = ev.row
        style = STYLES.get(r.status, "")
        if r.passed is None:
            what = "not run" if r.status == "rejected" else "nothing run"
            line = Text.assemble((f"{r.status} ({what}): ", style), safe(r.note))
        else:
            line = Text.assemble((f"{r.passed}/{r.runs} passed ({pct(r.pass_rate)}) · "
                                  f"{r.tokens:,} tokens · {money(r.cost)}", "bold"),
                                 (f" → {r.status}", style),
                                 (f": {safe(r.note)}" if r.note else "", style))
        self.console.print(line, soft_wrap=True)

    def _optimize_notice(self, ev: OptimizeNotice) -> None:
        self.err.print(Text(safe(ev.text), "yellow" if ev.level == "warning" else "dim"),
                       soft_wrap=True)

    def _optimize_ended(self, ev: OptimizeEnded) -> None:
        self.console.print()
        self.console.print(iterations_table(ev.rows))
        self.console.print()
        if ev.diff:
            for line in ev.diff.splitlines():
                style = "green" if line.startswith("+") else "red" \
                    if line.startswith("-") else "cyan" if line.startswith("@@") else ""
                self.console.print(Text(safe(line), style), soft_wrap=True)
            self.console.print()
        else:
            self.console.print(Text("no revision did better than the team as given: the "
                                    "team written is the same team", "yellow"), soft_wrap=True)
        counts = [f"{sum(r.status == s for r in ev.rows[1:])} {s}" for s in
                  ("kept", "not kept", "rejected", "skipped") if any(r.status == s
                                                                     for r in ev.rows[1:])]
        if counts:
            self.console.print(Text(f"revisions: {', '.join(counts)}", "dim"), soft_wrap=True)
        if ev.interrupted:
            self.console.print(Text("interrupted: the best team so far is written",
                                    "bold yellow"), soft_wrap=True)
        if ev.error:
            self.err.print(Text(f"error: {safe(ev.error)}", "red"), soft_wrap=True)
        if not ev.output:
            return
        wrote = f"wrote {ev.output} (iteration {ev.best}) · diff: {ev.diff_path}"
        if ev.tool_file:
            wrote += f" · tools: {ev.tool_file}"
        self.console.print(Text(wrote, "bold green" if not ev.error else "bold"),
                           soft_wrap=True)


class OptimizeJson:
    """``--json``: one JSON object per event (runs included, with their iteration);
    notices on stderr."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.err = Console(stderr=True, highlight=False)

    def __call__(self, ev: OptimizeEvent) -> None:
        if isinstance(ev, OptimizeStarted):
            self._write({"type": ev.type, "team": ev.team, "tasks": ev.tasks, "out": ev.out,
                         "output": ev.output, "iterations": ev.iterations,
                         "optimizer": ev.optimizer, "runs": ev.runs})
        elif isinstance(ev, IterationStarted):
            self._write({"type": ev.type, "iteration": ev.iteration})
        elif isinstance(ev, RevisionProposed):
            self._write({"type": ev.type, "iteration": ev.iteration, "changes": ev.changes,
                         "analysis": ev.analysis})
        elif isinstance(ev, IterationBatch) and isinstance(ev.event, RunFinished):
            self._write({"type": "run_finished", "iteration": ev.iteration,
                         **ev.event.result.to_dict()})
        elif isinstance(ev, IterationBatch) and isinstance(ev.event, BatchNotice):
            self.err.print(Text(safe(ev.event.text)), soft_wrap=True)
        elif isinstance(ev, IterationEnded):
            self._write({"type": ev.type, **ev.row.to_dict()})
        elif isinstance(ev, OptimizeNotice):
            self.err.print(Text(safe(ev.text)), soft_wrap=True)
        elif isinstance(ev, OptimizeEnded):
            self._write({"type": ev.type, "rows": [r.to_dict() for r in ev.rows],
                         "best": ev.best, "output": ev.output, "diff_path": ev.diff_path,
                         "diff": ev.diff, "tool_file": ev.tool_file or None,
                         "interrupted": ev.interrupted, "error": ev.error,
                         "exit_code": ev.exit_code})

    def _write(self, obj: dict) -> None:
        self.out.write(json_line(obj) + "\n")
        self.out.flush()
