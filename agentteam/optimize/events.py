"""What an optimization reports as it goes; the terminal view and ``--json`` subscribe.

Every event is delivered in the optimizer's own (main) thread, in order. The batch of
each iteration reports through ``IterationBatch``, which wraps the batch's own events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Union

from ..batch.events import BatchEvent


@dataclass
class Row:
    """One iteration, as the table shows it.

    ``status``: ``baseline`` (the team as given), ``kept`` (the new best), ``not kept``
    (scored, not better), ``rejected`` (invalid: not run), ``skipped`` (the optimizer's
    answer held no revision), ``interrupted``. The score fields are None when nothing ran.
    """

    iteration: int
    status: str
    changes: list[str] = field(default_factory=list)
    note: str = ""
    passed: int | None = None
    runs: int | None = None
    tokens: int | None = None
    cost: float | None = None
    optimizer_tokens: int = 0
    optimizer_cost: float | None = None
    dir: str = ""

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.runs if self.runs and self.passed is not None else None

    def to_dict(self) -> dict:
        return {**asdict(self), "pass_rate": None if self.pass_rate is None
                else round(self.pass_rate, 4)}


@dataclass
class OptimizeStarted:
    team: str
    tasks: str
    out: str                     # the iterations' folder
    output: str                  # where the optimized team goes
    iterations: int
    optimizer: str               # the optimizer's model, for people
    runs: int                    # runs per iteration (tasks × repeats)
    type: Literal["optimize_started"] = "optimize_started"


@dataclass
class IterationStarted:
    iteration: int               # 0: the team as given
    iterations: int
    type: Literal["iteration_started"] = "iteration_started"


@dataclass
class RevisionProposed:
    iteration: int
    changes: list[str]
    analysis: str
    type: Literal["revision_proposed"] = "revision_proposed"


@dataclass
class IterationBatch:
    iteration: int
    event: BatchEvent
    type: Literal["iteration_batch"] = "iteration_batch"


@dataclass
class IterationEnded:
    row: Row
    type: Literal["iteration_ended"] = "iteration_ended"


@dataclass
class OptimizeNotice:
    text: str
    level: str = "info"          # info | warning
    type: Literal["optimize_notice"] = "optimize_notice"


@dataclass
class OptimizeEnded:
    rows: list[Row]
    best: int                    # the iteration whose team was written
    output: str                  # the team file written ("" when none could be)
    diff_path: str
    diff: str
    tool_file: str = ""          # the learned tools' file, when the team has some
    interrupted: bool = False
    error: str | None = None     # the optimizer model failed (after its retries)
    type: Literal["optimize_ended"] = "optimize_ended"

    @property
    def exit_code(self) -> int:
        """130 interrupted; 1 when the optimizer model failed; else 0."""
        return 130 if self.interrupted else 1 if self.error else 0


OptimizeEvent = Union[OptimizeStarted, IterationStarted, RevisionProposed, IterationBatch,
                      IterationEnded, OptimizeNotice, OptimizeEnded]
