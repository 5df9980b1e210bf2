"""`batch`: a team over many tasks, and two batches compared."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import typer

from ..errors import AgentTeamError, ConfigError
from ..ui.safe import json_line
from .common import _fail, _verbose, app, stopped_code


@app.command()
def batch(
    team_file: Optional[Path] = typer.Argument(None, help="The team file (YAML)."),
    tasks_file: Optional[Path] = typer.Argument(None, help="The tasks: one JSON object a line."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", help="Runs at once "
                                              "(default 4; on Ray, the cluster's CPUs)."),
    repeat: int = typer.Option(1, "--repeat", help="Runs per task."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results directory (default "
                                       ".agentteam/batches/TEAM-TASKS)."),
    min_pass_rate: float = typer.Option(0.0, "--min-pass-rate", help="Exit 1 below this "
                                        "fraction of passed runs (0 to 1)."),
    filters: Optional[List[str]] = typer.Option(None, "--filter", help="Only these task ids "
                                                "(shell patterns; repeat or comma-separate)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on a Ray cluster: --ray "
                                      "(RAY_ADDRESS or the local one), --ray local, --ray "
                                      "HOST:PORT, --ray ray://HOST:10001."),
    executor: Optional[str] = typer.Option(None, "--executor", help="docker | local | none"),
    model: Optional[str] = typer.Option(None, "--model", help="Use this model for every profile."),
    max_round: Optional[int] = typer.Option(None, "--max-round", help="Cap on messages."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per finished run."),
    compare: Optional[Tuple[Path, Path]] = typer.Option(None, "--compare", help="Show two "
                                                        "--out directories side by side."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs on stderr."),
) -> None:
    """Run a team over many tasks, repeated and scored; resumable; here or on Ray."""
    from ..batch import Batch, BatchOptions
    from ..ui.batch import BatchConsole, BatchJson
    _verbose(verbose)
    if compare:
        raise typer.Exit(_compare(*compare, as_json))
    if team_file is None or tasks_file is None:
        _fail(ConfigError("give a team file and a task file: agentteam batch TEAM.yaml "
                          "TASKS.jsonl (or --compare OUT1 OUT2)"), as_json)
        return
    opts = BatchOptions(team_file, tasks_file, out, concurrency, repeat, min_pass_rate,
                        [f for v in filters or [] for f in v.split(",") if f], ray, executor,
                        model, max_round)
    try:
        job = Batch(opts).prepare()
        ended = job.run(BatchJson() if as_json else BatchConsole())
    except AgentTeamError as e:
        _fail(e, as_json)
    raise typer.Exit(stopped_code(ended.exit_code))


def _compare(a: Path, b: Path, as_json: bool) -> int:
    from ..batch import read_results
    from ..batch.results import compare_header, compare_rows
    try:
        ra, rb = read_results(a), read_results(b)
    except AgentTeamError as e:
        _fail(e, as_json)
    if as_json:
        header = compare_header("a", "b")
        print(json_line({"a": str(a), "b": str(b), "rows": [dict(zip(header, row, strict=True))
                                                             for row in compare_rows(ra, rb)]}))
        return 0
    from rich.console import Console

    from ..ui.batch import compare_table
    Console(highlight=False).print(compare_table(str(a), str(b), ra, rb))
    return 0


def _optional_ray_address(argv: list[str]) -> list[str]:
    """``batch --ray`` with no address means "auto": Typer options cannot take an optional
    value, so the bare flag gets one here (as Click would: the next word is the address
    unless it is another option or a team/task file)."""
    if "batch" not in argv or "--ray" not in argv:
        return argv
    i = argv.index("--ray")
    nxt = argv[i + 1] if i + 1 < len(argv) else None
    if nxt is None or nxt.startswith("-") or nxt.endswith((".yaml", ".yml", ".jsonl", ".json")):
        return argv[:i + 1] + ["auto"] + argv[i + 1:]
    return argv
