"""`validate`, `run`, `chat` and `import`: team files checked, run and converted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import AgentTeamError, ConfigError, ExecutionError
from ..ui.safe import safe
from .common import EXECUTORS, _check_choices, _fail, _interactive, _progress, _verbose, app


@app.command()
def validate(files: List[Path] = typer.Argument(..., help="Team files to check.")) -> None:
    """Validate team files without calling any model."""
    from ..team import load_team
    bad = 0
    for f in files:
        try:
            team = load_team(f)
            if team.tools:      # their signatures: a function without type hints is an error
                from ..tools import load_functions
                load_functions(team)
            size = f"{len(team.chats)} chats" if team.chats else f"{len(team.agents)} agents"
            print(safe(f"ok: {f} ({team.name}, {size})"))
            if team.work_dir_outside():
                print(safe(f"note: {f}: the work dir {team.work_dir} is outside the team's "
                           "folder (allow_work_dir_outside_team: true); code can write there"))
        except ConfigError as e:
            bad += 1
            for line in [str(p) for p in e.problems] or [str(e)]:
                print(safe(f"error: {line}"), file=sys.stderr)
    raise typer.Exit(2 if bad else 0)


@app.command()
def run(
    team_file: Optional[Path] = typer.Argument(None, help="The team file (YAML)."),
    task: Optional[str] = typer.Option(None, "--task", help="Replace the team's task."),
    model: Optional[str] = typer.Option(None, "--model", help="Use this model for every profile."),
    max_round: Optional[int] = typer.Option(None, "--max-round", help="Cap on messages."),
    executor: Optional[str] = typer.Option(None, "--executor", help="docker | local | none"),
    human: Optional[str] = typer.Option(None, "--human", help="always | terminate | never"),
    transcript: Optional[Path] = typer.Option(None, "--transcript", help="Transcript path."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue from a transcript."),
    replay: Optional[Path] = typer.Option(None, "--replay", help="Answer from a recorded "
                                          "transcript instead of calling models (CI)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON event per line on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show only the end of the run."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the completion cache."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs on stderr."),
    otel: bool = typer.Option(False, "--otel", help="Send OpenTelemetry traces (OTLP/HTTP; "
                              "also on when OTEL_EXPORTER_OTLP_ENDPOINT is set)."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="With --model: every "
                                           "profile at this OpenAI-compatible endpoint."),
    api_key_var: Optional[str] = typer.Option(None, "--api-key-var", help="The environment "
                                              "variable with the --api-base key (default: "
                                              "no key)."),
) -> None:
    """Run a team on its task, streaming every message live."""
    from ..runner import RunRequest
    _verbose(verbose)
    _check_choices(as_json, executor=(executor, EXECUTORS),
                   human=(human, ("always", "terminate", "never")))
    req = RunRequest(str(team_file) if team_file else None, task, model, max_round, executor,
                     human, str(transcript) if transcript else None,
                     str(resume) if resume else None, str(replay) if replay else None,
                     no_cache, _interactive(), otel=otel, api_base=api_base,
                     api_key_var=api_key_var)
    raise typer.Exit(_run(req, as_json, quiet))


def _run(req, as_json: bool, quiet: bool) -> int:
    from ..ui.console import ConsoleHuman, ConsoleView, JsonPrinter
    view = JsonPrinter() if as_json else ConsoleView(quiet=quiet)
    human = ConsoleHuman() if req.interactive else None
    return _drive(req, view, human, as_json).exit_code


def _drive(req, view, human, as_json: bool = False, team=None, soft_interrupt: bool = False,
           on_session=None):
    """Run a request to its end through ``TeamRun``, for `run` and `chat` alike; any
    problem before the chat starts is a one-line error and its exit code."""
    from ..conversation.groupchat import drive
    from ..runner import TeamRun
    run = TeamRun(req, human, _ask_executor, _build_missing_image, team, soft_interrupt)
    try:
        run.prepare()
        events = run.events()
        if on_session:
            on_session(run)
        return drive(events, view)
    except AgentTeamError as e:
        _end_live(view)
        _fail(e, as_json)
        raise   # unreachable: _fail exits
    except KeyboardInterrupt as e:   # before the run started: nothing to close yet
        _end_live(view)
        print("interrupted", file=sys.stderr)
        raise typer.Exit(getattr(e, "exit_code", 130)) from None


def _end_live(view) -> None:
    """Take down a live line (a wait the run announced) before an error is printed."""
    waiting = getattr(view, "waiting", None)
    if waiting is not None:
        waiting.stop()


def _build_missing_image(image: str) -> None:
    """First run: build the default sandbox image (online, else offline where possible)."""
    from ..executors import sandbox
    if image != sandbox.DEFAULT_IMAGE:
        raise ExecutionError(f"the sandbox image `{image}` is missing; build it yourself "
                             "(it is not agentteam's default image)")
    _progress(f"the sandbox image {image} is missing; building it once (first run only)…")
    try:
        _building(f"building {image}", lambda show: sandbox.build(image, progress=show))
        return
    except ExecutionError as online:
        why = sandbox.offline_possible()
        if why:
            raise ExecutionError(f"{online}; an offline build is not possible here either "
                                 f"({why})") from None
    _progress("no registry; building from Debian packages instead…")
    _building(f"building {image} offline",
              lambda show: sandbox.build_offline(image, progress=show))


def _building(title: str, build) -> None:
    """Run ``build(show)`` under a live line (stage, packages fetched, elapsed); the raw
    log goes to a file that a failure names."""
    from ..ui.progress import BuildDisplay
    display = BuildDisplay(title)
    try:
        with display:
            build(display)
    except ExecutionError as e:
        raise ExecutionError(f"{e} (the build log: {display.log_path})") from None


@app.command("import")
def import_team(
    source: Path = typer.Argument(..., help="An AutoGen AgentChat / AutoGen Studio team "
                                  "(component JSON), or a gallery."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the team file "
                                          "here (default: print it)."),
    team: Optional[str] = typer.Option(None, "--team", help="A gallery's team: its label, "
                                       "name or number."),
    task: Optional[str] = typer.Option(None, "--task", help="The team's task."),
    name: Optional[str] = typer.Option(None, "--name", help="The team's name ([a-z0-9-]+)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output file."),
) -> None:
    """Convert an AutoGen AgentChat team (component JSON) into a team file."""
    from ..importer import import_file
    if output is not None and output.exists() and not force:
        _fail(ConfigError(f"{output} exists; choose another -o FILE or pass --force"))
    try:
        imported = import_file(source, team, task, name)
    except AgentTeamError as e:
        _fail(e)
    text = imported.yaml()
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            _fail(ConfigError(f"{output}: cannot write ({e.strerror}); choose another -o FILE"))
    where = str(output) if output else "stdout"
    _progress(f"imported {source} (AgentChat {imported.kind}, "
              f"{len(imported.data['agents'])} agents) -> {where}")
    if imported.notes:
        _progress(f"not carried over, or changed ({len(imported.notes)}):")
        for note in imported.notes:
            _progress(f"  - {note}")


@app.command()
def chat(
    team_file: Optional[Path] = typer.Argument(None, help="A team to chat with; without it, "
                                               "one assistant on the default model."),
    model: Optional[str] = typer.Option(None, "--model", help="Use this model for every profile."),
    executor: Optional[str] = typer.Option(None, "--executor", help="docker | local | none"),
    transcript: Optional[Path] = typer.Option(None, "--transcript", help="Transcript path."),
) -> None:
    """Chat with a team (or one assistant) as its user proxy."""
    from rich.console import Console
    from rich.text import Text

    from ..runner import RunRequest, chat_team
    from ..team import load_team
    from ..ui.console import ConsoleView
    from ..ui.interactive import HELP, PromptHuman
    if not _interactive():
        _fail(ConfigError("agentteam chat needs a terminal to type in; use `agentteam run` "
                          "for scripts and CI"))
    _check_choices(False, executor=(executor, EXECUTORS))
    try:
        team = chat_team(load_team(team_file) if team_file else None)
        req = RunRequest(str(team_file) if team_file else None, None, model, None, executor,
                         "always", str(transcript) if transcript else None, interactive=True)
    except AgentTeamError as e:
        _fail(e)
    console = Console(highlight=False)
    view = ConsoleView(console, typed_by_person=frozenset(
        a.name for a in team.agents if a.kind == "user_proxy"))
    human = PromptHuman(console)

    def started(run) -> None:
        human.run = run
        console.print(Text(HELP, style="dim"))
    ended = _drive(req, view, human, team=team, soft_interrupt=True, on_session=started)
    raise typer.Exit(ended.exit_code)


def _ask_executor(problem: str) -> str:
    from rich.console import Console
    from rich.text import Text
    err = Console(stderr=True, highlight=False)
    err.print(Text(safe(problem), style="yellow"))
    for _ in range(5):
        err.print(Text("Run code blocks [l]ocally on this machine, [s]kip code execution, "
                       "or [q]uit?", style="bold"))
        try:
            answer = input("> ").strip().lower()
        except EOFError:
            return "stop"
        if answer in ("l", "local"):
            return "local"
        if answer in ("s", "skip", "none"):
            return "none"
        if answer in ("q", "quit", "stop", "exit"):
            return "stop"
        err.print(Text(safe(f"`{answer}` is not an option; type l, s or q."), style="red"))
    return "stop"
