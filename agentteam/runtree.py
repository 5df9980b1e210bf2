"""What the inner teams of a run need (``kind: team`` members and ``chats:``), put together
by ``runner.prepare`` with the rest and taken down with it.

An inner team file with its own ``models:`` gets its own profiles (``--model`` still
replaces them all); one that sets ``code_execution`` gets its own sandbox; one with
tools gets its own tool box. Everything else is the outer team's: one sandbox per run
for the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .conversation.events import Notice
from .conversation.subteams import Nest
from .conversation.transcript import Recorded
from .executors.base import CodeExecutor
from .models.profiles import Profile
from .run_inputs import copy_inputs, input_files
from .team import TeamSpec
from .team.nesting import needs_sandbox, own_profiles, walk


@dataclass
class Tree:
    """The inner teams' own profiles, sandboxes and tool boxes, by team (``id``)."""

    profiles: dict[int, dict[str, Profile]] = field(default_factory=dict)
    executors: dict[int, CodeExecutor | None] = field(default_factory=dict)
    tools: dict[int, Any] = field(default_factory=dict)

    def nest(self, model_for: Callable[[dict[str, Profile]], Any], replay: Any = None) -> Nest:
        """The Nest the run loop uses: a model per profile set (or the one replay)."""
        models = {key: replay if replay is not None else model_for(profiles)
                  for key, profiles in self.profiles.items()}
        return Nest(models, dict(self.executors), dict(self.tools))

    def all_profiles(self, outer: dict[str, Profile]) -> dict[str, Profile]:
        """Every profile of the run under a unique key (for starting local model servers)."""
        out = dict(outer)
        for key, profiles in self.profiles.items():
            out.update({f"{key}:{name}": p for name, p in profiles.items()})
        return out

    def start_tools(self) -> None:
        for box in self.tools.values():
            box.start()

    def close(self) -> None:
        for box in self.tools.values():
            box.close()
        for executor in self.executors.values():
            if executor is not None:
                executor.close()


def inner_teams(team: TeamSpec) -> list[tuple[tuple[str, ...], TeamSpec]]:
    return [(scope, t) for scope, t in walk(team) if scope]


def check_people_in_tree(team: TeamSpec, human: str | None, interactive: bool,
                         check: Callable[[TeamSpec, str | None, bool], None]) -> None:
    """``check`` (runner.check_people) for every inner team too."""
    for _, inner in inner_teams(team):
        check(inner, human, interactive)


def prepare_tree(team: TeamSpec, resolve: Callable[[TeamSpec], tuple[dict, list[Notice]]],
                 choose: Callable[[TeamSpec], CodeExecutor | None], replay: Recorded | None,
                 notices: list[Notice], build_image: Callable[[str], None] | None,
                 shared: CodeExecutor | None) -> Tree:
    """Profiles, sandboxes and tools of the inner teams that have their own; raises (like
    ``prepare``) before any model is called. ``resolve`` and ``choose`` are the runner's
    for one team."""
    tree = Tree()
    try:
        for _, inner in inner_teams(team):
            key = id(inner)
            if own_profiles(inner) and replay is None:
                tree.profiles[key], found = resolve(inner)
                notices += found
            elif own_profiles(inner):
                tree.profiles[key] = {}
            if inner._own_sandbox and needs_sandbox(inner):
                tree.executors[key] = choose(inner)
                copy_inputs(inner, input_files(inner), tree.executors[key])
            if inner.tools or inner.code_execution.mode == "tool":
                from .tools.setup import prepare_tools
                executor = tree.executors[key] if key in tree.executors else shared
                tree.tools[key] = prepare_tools(inner, executor, replay, notices, build_image)
    except BaseException:
        tree.close()
        raise
    return tree
