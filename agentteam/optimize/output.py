"""Where an optimization writes, which model it asks, and what it leaves: the best team
as a commented team file (with its tools beside it), the diff against the team as given,
and the end event.
"""

from __future__ import annotations

import difflib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AgentTeamError, UsageError
from ..models import profiles as profiles_mod
from ..models.profiles import Profile
from ..runner import resolve_profiles
from ..team import TeamSpec, load_team
from ..team.write import dump_team
from .condense import clip
from .events import OptimizeEnded, Row
from .prompts import Revision
from .revise import Candidate, rebase, team_keys, tool_file, write

if TYPE_CHECKING:
    from .loop import Optimizer, _Scored


def output_path(team_file: Path, given: Path | None, team: TeamSpec) -> Path:
    """``-o``, checked; by default ``TEAM.optimized.yaml`` beside the team file."""
    path = given or team_file.with_name(f"{team_file.stem}.optimized.yaml")
    if path.resolve() == team_file.resolve():
        raise UsageError(f"-o {path}: that is the team file being optimized; write the "
                         "optimized team to another file")
    if path.is_dir():
        raise UsageError(f"-o {path}: is a folder; give a file name, like "
                         f"{path / 'team.optimized.yaml'}")
    if path.suffix not in (".yaml", ".yml"):
        raise UsageError(f"-o {path}: a team file ends in .yaml or .yml")
    tools = tool_file(path).resolve()
    if any(t.function and (team.base_dir / t.function.rpartition(":")[0]).resolve() == tools
           for t in team.tools):
        raise UsageError(f"-o {path}: its tool file {tools.name} would replace a tool file "
                         "the team uses; choose another -o")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"-o {path}: cannot create its folder ({e.strerror}); choose "
                         "another -o") from None
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"-o {path}: its folder is not writable; choose another -o")
    return path


def out_dir(given: Path | None, team: str, tasks_file: Path) -> Path:
    """The iterations' folder: ``--out`` (new or empty), else a new one under
    ``.agentteam/optimize/``."""
    if given is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return (Path(".agentteam") / "optimize" / f"{team}-{tasks_file.stem}-{stamp}").resolve()
    if given.exists() and not given.is_dir():
        raise UsageError(f"--out {given}: is a file; give a folder for the iterations")
    if given.is_dir() and any(given.iterdir()):
        raise UsageError(f"--out {given}: the folder is not empty; give a new one (every "
                         "optimization starts from the team as given)")
    return given.resolve()


def optimizer_profile(team: TeamSpec, model: str | None) -> tuple[dict[str, Profile], str,
                                                                   list[str]]:
    """The profiles the optimizer is called with and the one it uses: ``--model`` naming
    a profile of the team, or a model id (with the default profile's temperature and
    limits), else the team's ``default`` profile (its first without one)."""
    if model is not None and model not in team.models:
        found = profiles_mod.resolve(team, model)
        return found, "default" if "default" in found else next(iter(found)), []
    profiles, notices = resolve_profiles(team, None)
    if not profiles:
        raise UsageError("no model for the optimizer: the team names no profile; pass "
                         "--model MODEL")
    name = model or ("default" if "default" in profiles else next(iter(profiles)))
    return profiles, name, [n.text for n in notices]


def described(cand: Candidate, rev: Revision) -> str:
    """A revision in a line or a few, for the optimizer's list of what was tried."""
    out = []
    for a in rev.agents:
        for key in ("system_message", "description", "tools"):
            value = getattr(a, key)
            if value is not None:
                out.append(f"{a.name}.{key} = {clip(str(value), 240)!r}")
    if rev.selection_prompt:
        out.append(f"selection prompt = {clip(rev.selection_prompt, 240)!r}")
    out += [f"new tool {t.name}" for t in rev.new_tools]
    return "; ".join(out) or ", ".join(cand.changes)


def finish(opt: "Optimizer", best: "_Scored | None", current: int, interrupted: bool,
           error: str | None) -> OptimizeEnded:
    """Write the best team so far, its tools and the diff; the end event."""
    rows = list(opt.rows)
    if interrupted and not any(r.iteration == current for r in rows):
        rows.append(Row(current, "interrupted", note="stopped by Ctrl-C",
                        dir=str(opt.out / f"iter-{current}")))
    write_history(opt, rows)
    cand = best.cand if best is not None else Candidate(opt.original)
    kept = best.row.iteration if best is not None else 0
    path = opt.output
    base = next((r for r in rows if r.status == "baseline"), None)
    top = best.row if best is not None else None
    header = _header(opt, base, top, kept, interrupted)
    keys = team_keys(cand, path, opt.origin)
    diff_path = path.with_suffix(".diff")
    try:
        _, tools = write(cand, path, opt.origin, header, _comments(cand, keys, path))
        diff = _diff(opt, keys, path, tools)
        diff_path.write_text(diff, encoding="utf-8")
    except OSError as e:
        return OptimizeEnded(rows, kept, "", "", "", "", interrupted,
                             f"cannot write {e.filename or path}: {e.strerror}")
    try:
        load_team(path)      # write.py's promise: what it writes reads back
    except AgentTeamError as e:
        error = error or f"the written team does not load ({e}); please report this"
    return OptimizeEnded(rows, kept, str(path), str(diff_path), diff,
                         str(tool_file(path)) if tools else "", interrupted, error)


def _diff(opt: "Optimizer", keys: dict, path: Path, tools: str) -> str:
    """The written team against the team as given, both written the same way (so only
    what changed shows, not the original's comments or layout), and the new tool file."""
    before = dump_team(rebase(opt.original, opt.origin, path.parent))
    diff = "".join(difflib.unified_diff(before.splitlines(True), dump_team(keys).splitlines(True),
                                        f"{opt.opts.team_file} (its keys)", str(path)))
    if tools:
        diff += "".join(difflib.unified_diff([], tools.splitlines(True), "/dev/null",
                                             str(tool_file(path))))
    return diff


def write_history(opt: "Optimizer", rows: list[Row]) -> None:
    """``history.json`` in the iterations' folder: the table so far."""
    (opt.out / "history.json").write_text(json.dumps(
        {"team": str(opt.opts.team_file), "tasks": str(opt.opts.tasks_file),
         "rows": [r.to_dict() for r in rows]}, indent=2) + "\n", encoding="utf-8")


def _header(opt: "Optimizer", base: Row | None, top: Row | None, kept: int,
            interrupted: bool) -> str:
    o = opt.opts
    lines = [f"Optimized by `agentteam optimize` from {o.team_file.name} on the tasks of "
             f"{o.tasks_file.name} ({datetime.now(timezone.utc).strftime('%Y-%m-%d')})."]
    if base is not None and top is not None and base.runs:
        lines.append(f"Runs passed: {base.passed}/{base.runs} as given, {top.passed}/"
                     f"{top.runs} with this version (iteration {kept}"
                     f"{'; stopped early' if interrupted else ''}).")
    elif interrupted:
        lines.append("Stopped before the team as given was scored: this is that team.")
    lines.append("The original's comments are not carried over; the .diff beside this "
                 "file shows what changed.")
    return "\n".join(lines)


def _comments(cand: Candidate, keys: dict, path: Path) -> dict[tuple, str]:
    comments: dict[tuple, str] = {}
    for i, a in enumerate(keys.get("agents") or []):
        if isinstance(a, dict) and a.get("name") in cand.revised:
            comments[("agents", i)] = (f"revised by agentteam optimize (iteration "
                                       f"{cand.revised[a['name']]})")
    own = tool_file(path).name + ":"
    for i, t in enumerate(keys.get("tools") or []):
        if isinstance(t, dict) and str(t.get("function", "")).startswith(own):
            comments[("tools", i)] = ("written by agentteam optimize; runs only in the "
                                      "sandbox")
    return comments
