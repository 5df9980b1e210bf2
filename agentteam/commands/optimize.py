"""``agentteam optimize``: the command only (parse, call, map errors to exit codes); the
loop is ``agentteam/optimize/``, the views ``ui/optimize.py``. Heavy imports wait until
the command runs, so that ``agentteam --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import _fail, _verbose, app, stopped_code


@app.command()
def optimize(
    team_file: Path = typer.Argument(..., help="The team file (YAML) to improve."),
    tasks_file: Path = typer.Argument(..., help="The tasks: one JSON object a line, as for "
                                      "`batch`; their checks decide what passes."),
    iterations: int = typer.Option(3, "--iterations", "-n", help="Revisions to try."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where the best team "
                                          "goes (default TEAM.optimized.yaml beside TEAM)."),
    model: Optional[str] = typer.Option(None, "--model", help="The optimizer: a profile of "
                                        "the team or a model id (default: the default "
                                        "profile)."),
    team_model: Optional[str] = typer.Option(None, "--team-model", help="Run the team's "
                                             "batches on this model (every profile)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", help="Runs at once "
                                              "(default 4)."),
    repeat: int = typer.Option(1, "--repeat", help="Runs per task and iteration."),
    out: Optional[Path] = typer.Option(None, "--out", help="A new folder for the iterations "
                                       "(default .agentteam/optimize/TEAM-TASKS-TIME)."),
    filters: Optional[List[str]] = typer.Option(None, "--filter", help="Only these task ids "
                                                "(shell patterns; repeat or comma-separate)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="docker | local | none"),
    max_round: Optional[int] = typer.Option(None, "--max-round", help="Cap on messages."),
    new_tools: bool = typer.Option(True, "--new-tools/--no-new-tools", help="Let the "
                                   "optimizer write Python tools (run in the sandbox)."),
    prompt_chars: int = typer.Option(24_000, "--prompt-chars", help="Characters of runs "
                                     "shown to the optimizer per iteration."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs on stderr."),
) -> None:
    """Improve a team's prompts, descriptions, selection and tools from its scored runs."""
    from ..errors import AgentTeamError
    from ..optimize import OptimizeOptions, Optimizer
    from ..ui.optimize import OptimizeConsole, OptimizeJson
    _verbose(verbose)
    opts = OptimizeOptions(team_file, tasks_file, output, out, iterations, model, team_model,
                           concurrency, repeat,
                           [f for v in filters or [] for f in v.split(",") if f], executor,
                           max_round, new_tools, prompt_chars)
    try:
        job = Optimizer(opts).prepare()
        ended = job.run(OptimizeJson() if as_json else OptimizeConsole())
    except AgentTeamError as e:
        _fail(e, as_json)
    raise typer.Exit(stopped_code(ended.exit_code))

