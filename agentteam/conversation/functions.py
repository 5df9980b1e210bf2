"""``speaker_selection: {method: function}``: a Python function of the team's own picks who
speaks next.

``function: module:func`` imports an installed module; ``function: file.py:func`` loads
a file next to the team file (once per run, however often it is asked). The function
is called as ``func(history, candidates)``: ``history`` a list of ``Message`` values
(the task first), ``candidates`` the names ``transitions`` allow after the last speaker.
It returns an agent's name, a method's name (``auto``, ``round_robin``, ``random``,
``manual``) to let that method pick, or None to end the chat.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ..errors import AgentTeamError, ConfigError
from ..team import TeamSpec
from .messages import Message

METHODS = ("auto", "round_robin", "random", "manual")
SelectFn = Callable[[list[Message], list[str]], Any]


class FunctionFailed(AgentTeamError):
    """The team's selection function raised, or answered something that is not a choice."""


def load(team: TeamSpec) -> tuple[SelectFn, str]:
    """The team's selection function and its label (``file.py:func``); ConfigError when it
    cannot be loaded."""
    spec = (team.speaker_selection.function or "").strip()
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise ConfigError(f"{team.source}: speaker_selection.function: {spec!r} is not "
                          "`module:func` or `file.py:func`")
    module = _module(where, team.base_dir, team.source)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ConfigError(f"{team.source}: speaker_selection.function: {where} has no "
                          f"function `{name}`")
    return fn, spec


def _module(where: str, base_dir: Path, source: str | None) -> Any:
    try:
        if not where.endswith(".py"):
            return importlib.import_module(where)
        path = (base_dir / where).resolve()
        # One module per file (and version of it): loaded once, however often it is asked.
        key = "agentteam_fn_" + hashlib.sha1(f"{path}:{path.stat().st_mtime_ns}".encode()
                                             ).hexdigest()[:16]
        if key not in sys.modules:
            loader_spec = importlib.util.spec_from_file_location(key, path)
            if loader_spec is None or loader_spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
            sys.modules[key] = module
        return sys.modules[key]
    except Exception as e:   # the user's module: anything may go wrong in it
        raise ConfigError(f"{source}: speaker_selection.function: cannot load {where} "
                          f"({type(e).__name__}: {e})") from None


def call(fn: SelectFn, label: str, history: list[Message], candidates: list[str],
         names: list[str]) -> str | None:
    """Ask the function; its answer checked: an agent, a method, or None."""
    try:
        # copies: the function may change what it is given, never the chat's history
        answer = fn([replace(m) for m in history], list(candidates))
    except Exception as e:   # noqa: BLE001 - the user's code: report whatever it raised
        raise FunctionFailed(f"speaker_selection.function {label} raised "
                             f"{type(e).__name__}: {e}") from None
    if answer is None:
        return None
    answer = getattr(answer, "name", answer)   # an object with a name, as AutoGen's agents
    if isinstance(answer, str) and (answer in names or answer in METHODS):
        return answer
    raise FunctionFailed(f"speaker_selection.function {label} returned {answer!r}: not an "
                         f"agent of the team ({', '.join(names)}), a method "
                         f"({', '.join(METHODS)}) or None")
