"""`sandbox build` and `sandbox check`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import AgentTeamError
from ..ui.safe import json_line, safe
from .common import _fail, sandbox_app
from .run import _building


@sandbox_app.command("build")
def sandbox_build(
    offline: bool = typer.Option(False, "--offline", help="Build from Debian packages "
                                 "(debootstrap + docker import), no container registry."),
    image: str = typer.Option("agentteam-sandbox:latest", "--image", help="Image name:tag."),
    mirror: Optional[str] = typer.Option(None, "--mirror", help="Debian mirror (--offline)."),
) -> None:
    """Build the default code-execution image."""
    from ..executors import sandbox
    try:
        if offline:
            _building(f"building {image} offline",
                      lambda show: sandbox.build_offline(image, mirror, progress=show))
        else:
            _building(f"building {image}", lambda show: sandbox.build(image, progress=show))
    except AgentTeamError as e:
        _fail(e)
    print(f"ok: {image} built")


@sandbox_app.command("check")
def sandbox_check(
    team_file: Optional[Path] = typer.Argument(None, help="Check this team's sandbox settings."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """Check Docker, the image, and that the sandbox limits are really enforced."""
    from ..executors import sandbox
    from ..team import load_team
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
