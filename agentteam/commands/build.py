"""``agentteam build "TASK"``: a team file written by a model.

Parses the flags, asks the builder (``agentteam.build``), writes the commented team file
(never over an existing one without ``--force``, never half-written), shows what the
build cost, and with ``--run`` runs the team the way ``agentteam run`` does.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from ..errors import AgentTeamError, ConfigError
from ..ui.safe import safe
from .common import EXECUTORS, _fail, _interactive, _verbose, app

MAX_AGENTS = 20


@app.command()
def build(
    task: str = typer.Argument(..., help="What the team is for (the team's task)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the team file "
                                          "here (default: print it; with --run, "
                                          ".agentteam/built/)."),
    model: Optional[str] = typer.Option(None, "--model", help="The builder's model, written "
                                        "into the team as its default profile (default: "
                                        "the default model, as for run)."),
    agent_model: Optional[str] = typer.Option(None, "--agent-model", help="The model the "
                                              "team's agents use, written as its default "
                                              "profile (default: --model)."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="With --model or "
                                           "--agent-model: the OpenAI-compatible endpoint "
                                           "that serves them."),
    api_key_var: Optional[str] = typer.Option(None, "--api-key-var", help="The environment "
                                              "variable with the --api-base key."),
    library: Optional[Path] = typer.Option(None, "--library", help="Pick the agents from "
                                           "this library of agent definitions (YAML/JSON)."),
    max_agents: int = typer.Option(5, "--max-agents", help="At most this many experts "
                                   f"(1 to {MAX_AGENTS})."),
    coding: Optional[bool] = typer.Option(None, "--coding/--no-coding", help="Give the team "
                                          "a code-running User_proxy, or none (default: "
                                          "the builder decides)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="docker | local | none: "
                                           "where a team that runs code runs it."),
    run_it: bool = typer.Option(False, "--run", help="Run the team right away."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output file."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ask the model even when the "
                                  "same build was answered before."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs on stderr."),
) -> None:
    """Ask a model for the experts a task needs and write them as a team file."""
    _verbose(verbose)
    try:
        opts, builder = _prepare(task, output, model, api_base, api_key_var, library,
                                 max_agents, coding, executor, force, run_it, no_cache,
                                 agent_model)
        built = _build(builder, opts)
    except AgentTeamError as e:
        _fail(e)
        raise       # unreachable: _fail exits
    text = built.draft.text(_header(built, builder.describe(), opts))
    target = output or (_default_path(built.draft.data["name"]) if run_it else None)
    if target is None:
        sys.stdout.write(text)
    else:
        try:
            _write(target, text, force)
        except AgentTeamError as e:
            _fail(e)
    _report(built, builder, target)
    if run_it:
        from ..runner import RunRequest
        from .run import _run
        assert target is not None
        req = RunRequest(str(target), no_cache=no_cache, interactive=_interactive())
        raise typer.Exit(_run(req, False, False))


def _prepare(task, output, model, api_base, api_key_var, library, max_agents, coding,
             executor, force, run_it, no_cache, agent_model=None):
    """Every check that needs no model call, so a bad flag costs nothing."""
    from ..build import BuildOptions, load_library, models_section
    from ..build.stack import builder as make_builder
    if not task.strip():
        raise ConfigError("TASK is empty: describe what the team is for, like "
                          'agentteam build "Plot the cars data and critique the chart"')
    if not 1 <= max_agents <= MAX_AGENTS:
        raise ConfigError(f"--max-agents must be 1 to {MAX_AGENTS} (got {max_agents})")
    if executor is not None and executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if executor is not None and coding is False:
        raise ConfigError("--executor is for a team that runs code; --no-coding builds one "
                          "that runs none: drop one of them")
    if output is not None:
        if output.exists() and not force:
            raise ConfigError(f"{output} exists; choose another -o FILE or pass --force")
        if output.is_dir():
            raise ConfigError(f"-o {output}: is a folder; give a .yaml file name")
        if not output.parent.is_dir():
            raise ConfigError(f"-o {output}: no folder {output.parent}; create it first")
    if output is not None and library is not None and output.resolve() == library.resolve():
        raise ConfigError(f"-o {output} is the --library file; write the team elsewhere")
    lib = load_library(library) if library is not None else None
    if (api_base or api_key_var) and not (model or agent_model):
        raise ConfigError("--api-base and --api-key-var go with --model or --agent-model: "
                          "name the model the endpoint serves")
    section = models_section(model, api_base, api_key_var)
    # AutoGen's builder_model and agent_model: the team may run on another model
    team_section = models_section(agent_model, api_base, api_key_var) if agent_model \
        else section
    where = output or Path(".agentteam/built/team.yaml" if run_it else "built.yaml")
    opts = BuildOptions(task.strip("\n"), max_agents, coding, lib, team_section, executor,
                        str(where))
    return opts, make_builder(section, no_cache)


def _build(builder, opts):
    """The build loop, shown live on stderr."""
    from rich.console import Console
    from rich.text import Text

    from ..build import build_team
    from ..conversation.events import Notice
    from ..models.base import Note, RetryNote
    from ..models.localmodel import LocalServers
    from ..ui.progress import Waiting
    err = Console(stderr=True, highlight=False)
    waiting = Waiting(err)

    def show(item) -> None:
        if isinstance(item, Notice) and item.level == "progress":
            waiting.start(item.text)
        elif isinstance(item, Notice):
            waiting.stop()
            err.print(Text(safe(item.text), style="yellow" if item.level == "warning"
                           else "dim"), soft_wrap=True)
        elif isinstance(item, RetryNote):
            err.print(Text(safe(f"{item.model}: {item.error}; retrying in "
                                f"{item.wait_s:.0f}s"), style="yellow"), soft_wrap=True)
        elif isinstance(item, Note):
            err.print(Text(safe(item.text), style="yellow"), soft_wrap=True)
    try:
        for notice in builder.notices:
            show(notice)
        with LocalServers(builder.profiles, on_notice=show) as local:
            local.start()
            steps = build_team(builder.model, builder.profile, opts, builder.describe(),
                               builder.embedded)
            while True:
                try:
                    show(next(steps))
                except StopIteration as stop:
                    return stop.value
    finally:
        waiting.stop()


def _header(built, describe: str, opts) -> str:
    repairs = built.answers - 1
    tokens = built.usage.prompt_tokens + built.usage.completion_tokens
    lines = [f"Built by `agentteam build` ({describe}, {built.answers} answer"
             f"{'s' if built.answers > 1 else ''}, {repairs} repair{'s' if repairs != 1 else ''},"
             f" {tokens} tokens)."]
    if opts.library is not None:
        lines.append(f"Agents picked from the library {opts.library.source}.")
    if built.draft.rationale:
        lines.append(f"Why this team: {built.draft.rationale}")
    lines.append("Read the system messages before you run it; `agentteam validate` checks "
                 "any edit.")
    return "\n".join(lines)


def _default_path(name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(".agentteam") / "built" / f"{stamp}-{name}.yaml"


def _write(target: Path, text: str, force: bool) -> None:
    """Write whole or not at all: a temporary file beside it, then renamed over it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not force:    # appeared while the builder was thinking
            raise ConfigError(f"{target} exists; choose another -o FILE or pass --force")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            umask = os.umask(0)          # a team file is readable as any new file is
            os.umask(umask)              # (mkstemp's file is 0600)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise ConfigError(f"{target}: cannot write ({e.strerror}); choose another -o FILE") \
            from None


def _report(built, builder, target: Optional[Path]) -> None:
    """What was built and what it cost, on stderr (stdout may be the team file)."""
    from rich.console import Console
    from rich.text import Text

    from ..ui.console import usage_table
    err = Console(stderr=True, highlight=False)
    data = built.draft.data
    names = ", ".join(a["name"] for a in data["agents"])
    where = str(target) if target else "stdout"
    err.print(Text(safe(f"built {data['name']} -> {where}: {len(data['agents'])} agents "
                        f"({names}), speaker_selection {data['speaker_selection']}, "
                        f"{'runs code' if built.draft.coding else 'no code'}")), soft_wrap=True)
    if built.cached:
        err.print(Text(f"{built.cached} of {built.answers} answers from the cache "
                       "(--no-cache asks again)", style="dim"), soft_wrap=True)
    usage = built.usage.to_dict()
    model = builder.profiles[builder.profile].model
    err.print(usage_table({"agents": {"(builder)": usage}, "models": {model: usage}}))
