"""Batches: one team over many tasks, repeated, scored (``agentteam batch``).

``tasks`` reads the task file and fills ``{placeholders}``; ``run`` is one run
(built on ``TeamRun``) and its judgement; ``local`` runs them in threads of
this process, ``cluster`` as Ray tasks; ``results`` is ``results.jsonl``, the
numbers and ``summary.md``; ``plan`` puts a batch together. Nothing here prints
or exits: ``ui/batch.py`` shows the events and ``cli.py`` maps errors to exit codes.
"""

from .events import BatchEnded, BatchEvent, BatchNotice, BatchStarted, RunBegan, RunFinished
from .plan import Batch, BatchOptions
from .results import RunResult, read_results

__all__ = ["Batch", "BatchEnded", "BatchEvent", "BatchNotice", "BatchOptions", "BatchStarted",
           "RunBegan", "RunFinished", "RunResult", "read_results"]
