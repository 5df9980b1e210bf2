"""A run's work dir and its input files: the run's own folder when asked for, the check
that code writes only where it may, and the team's `code_execution.files` copied in."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError
from .executors import workdir
from .executors.base import CodeExecutor
from .team import TeamSpec

if TYPE_CHECKING:
    from .runner import RunRequest


def with_work_dir(team: TeamSpec, req: "RunRequest") -> TeamSpec:
    """The team with the run's own work dir, when the request asks for one."""
    if req.work_dir:
        where = Path(req.work_dir).resolve()
    elif req.own_work_dir:
        # A random part keeps runs started within one clock tick apart. The folder does not
        # exist yet: the executor creates it, for the sandbox user when agentteam runs as
        # root (a root-owned folder would be refused; see executors.workdir.ensure).
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        where = (Path.cwd() / ".agentteam" / "work"
                 / f"{stamp}-{team.name}-{secrets.token_hex(6)}").resolve()
    else:
        return team
    spec = team.code_execution.model_copy(update={"work_dir": str(where)})
    return team.model_copy(update={"code_execution": spec})


def check_work_dir(team: TeamSpec, req: "RunRequest") -> None:
    """Code gets write access to the work dir: one outside the team's folder must be asked
    for (by the team file's key, or by the caller's own ``work_dir``/``own_work_dir``)."""
    from .team.load import work_dir_outside_message
    if req.work_dir or req.own_work_dir or team.code_execution.allow_work_dir_outside_team:
        return
    if team.work_dir_outside():   # checked again here: a link may have changed since loading
        raise ConfigError(f"{team.source or 'team'}: code_execution.work_dir: "
                          f"{work_dir_outside_message(team)}")


def input_files(team: TeamSpec) -> list[Path]:
    out, problems = [], []
    for i, name in enumerate(team.code_execution.files):
        path = (team.base_dir / name).resolve()
        # Run code controls the work dir: an input read from there could be a link to any
        # file of the host, copied back for the code to read.
        if workdir.inside(team.base_dir / name, team.work_dir):
            problems.append(f"{team.source}: code_execution.files[{i}]: {name} is in the work "
                            "dir, which run code can change; list files from outside it")
        elif not path.is_file():
            problems.append(f"{team.source}: code_execution.files[{i}]: no file {name} next to "
                            "the team file")
        out.append(path)
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def copy_inputs(team: TeamSpec, files: list[Path], executor: CodeExecutor | None) -> None:
    """Put the team's input files into the work dir (never overwriting the run's own file,
    never through a link; see ``executors.workdir``). The executor creates the work dir
    when it starts, for whoever runs the code (the sandbox user, as root)."""
    if not files:
        return
    owner = executor.work_dir_owner() if executor is not None else None
    workdir.ensure(team.work_dir, owner)
    workdir.copy_inputs(files, team.work_dir)
