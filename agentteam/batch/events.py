"""What a batch reports as it goes; the progress view, the plain lines and ``--json`` subscribe.

Every event is delivered in the batch's own (main) thread, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from .results import RunResult


@dataclass
class BatchStarted:
    team: str
    tasks: str
    out: str
    planned: int                 # runs in the plan (tasks × repeats)
    finished_before: int         # of those, already in results.jsonl (skipped)
    concurrency: int
    where: str                   # "this machine" or "Ray cluster at …"
    type: Literal["batch_started"] = "batch_started"


@dataclass
class RunBegan:
    id: str
    repeat: int
    type: Literal["run_began"] = "run_began"


@dataclass
class RunFinished:
    result: RunResult
    type: Literal["run_finished"] = "run_finished"


@dataclass
class BatchNotice:
    text: str
    level: str = "info"          # info | warning
    type: Literal["batch_notice"] = "batch_notice"


@dataclass
class BatchEnded:
    planned: int
    results: list[RunResult] = field(default_factory=list)   # every finished run of the plan
    interrupted: bool = False
    min_pass_rate: float = 0.0
    summary: str = ""            # path of summary.md
    order: list[str] = field(default_factory=list)           # task ids in file order
    type: Literal["batch_ended"] = "batch_ended"

    @property
    def pass_rate(self) -> float:
        return sum(r.passed for r in self.results) / self.planned if self.planned else 0.0

    @property
    def exit_code(self) -> int:
        """130 interrupted; 0 when every run finished and the pass rate is reached; else 1."""
        if self.interrupted:
            return 130
        complete = len(self.results) == self.planned
        return 0 if complete and self.pass_rate >= self.min_pass_rate else 1


BatchEvent = Union[BatchStarted, RunBegan, RunFinished, BatchNotice, BatchEnded]
