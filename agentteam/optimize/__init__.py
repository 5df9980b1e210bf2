"""Improving a team from the record of its runs (``agentteam optimize``), the way
AutoGen's AgentOptimizer improves agents: no model weights change, only what the agents
are told and given.

``condense`` shortens runs for the optimizer model; ``prompts`` is what it is told and
the shape of its answer (a ``Revision``); ``learned`` checks and writes the tools it
writes; ``revise`` applies a revision to the team's keys and writes the team file;
``loop`` runs the batches and keeps the better version; ``output`` writes the result.
Nothing here prints or exits: ``ui/optimize.py`` shows the events and
``cli_optimize.py`` maps errors to exit codes.
"""

from .events import (
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
from .loop import OptimizeOptions, Optimizer

__all__ = ["IterationBatch", "IterationEnded", "IterationStarted", "OptimizeEnded",
           "OptimizeEvent", "OptimizeNotice", "OptimizeOptions", "OptimizeStarted",
           "Optimizer", "RevisionProposed", "Row"]
