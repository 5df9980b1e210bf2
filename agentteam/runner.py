"""Put a run together from the command line's request: team, models, executor, transcript.

Everything that can be found wrong is found here, before any model call, and
raised as an AgentTeamError; nothing here prints or exits.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import profiles as profiles_mod
from .chat import GroupChat, Human
from .config import TeamSpec, executes_code, human_input, load_team
from .defaults import default_profiles
from .errors import ConfigError, ExecutionError, UsageError
from .events import Notice
from .executors import make_executor
from .executors.base import CodeExecutor
from .profiles import Profile
from .transcript import Recorded, TranscriptWriter, default_path, read


@dataclass
class RunRequest:
    """What the person asked for on the command line."""

    team_file: str | None
    task: str | None = None
    model: str | None = None
    max_round: int | None = None
    executor: str | None = None
    human: str | None = None
    transcript: str | None = None
    resume: str | None = None
    replay: str | None = None
    no_cache: bool = False
    interactive: bool = False


@dataclass
class Prepared:
    team: TeamSpec
    profiles: dict[str, Profile]
    executor: CodeExecutor | None
    transcript: TranscriptWriter
    resume: Recorded | None = None
    notices: list[Notice] = field(default_factory=list)
    replay: Recorded | None = None

    def model(self, no_cache: bool = False):
        """The ChatModel for this run: replayed, cached, or LiteLLM."""
        from .models import LiteLLMModel
        if self.replay is not None:
            from .replay import ReplayModel
            return ReplayModel(self.replay, self.team)
        model = LiteLLMModel(self.profiles)
        if self.team.cache is not None and not no_cache:
            from .cache import CachedModel
            c = self.team.cache
            model = CachedModel(model, self.profiles, c.seed,
                                (self.team.base_dir / c.dir) if c.dir else None)
        return model


# Ask the person what to do when Docker cannot be used: returns "local", "none" or "stop".
ExecutorChoice = Callable[[str], str]


def resolve_profiles(team: TeamSpec, model: str | None) -> tuple[dict[str, Profile], list[Notice]]:
    """The team's profiles, with the default one resolved when the team names none."""
    notices: list[Notice] = []
    found = profiles_mod.resolve(team, model)
    if "default" not in found and _uses_default(team):
        defaults, why = default_profiles()
        found.update(defaults)
        notices.append(Notice(why))
    return found, notices


def _uses_default(team: TeamSpec) -> bool:
    refs = {a.model for a in team.agents if a.kind != "user_proxy"}
    if team.speaker_selection.method == "auto":
        refs.add(team.speaker_selection.model or "default")
    return "default" in refs


def check_people(team: TeamSpec, human: str | None, interactive: bool) -> None:
    """A team that must ask a person cannot run without a terminal: say so up front."""
    if interactive:
        return
    for a in team.agents:
        if a.kind == "user_proxy" and (human or human_input(a)) == "always":
            raise UsageError(f"agent `{a.name}` has human_input: always, but there is no "
                             "terminal to ask; run in a terminal or pass --human never")
    if team.speaker_selection.method == "manual":
        raise UsageError("speaker_selection: manual asks a person, but there is no terminal; "
                         "run in a terminal or choose auto/round_robin")


def choose_executor(team: TeamSpec, kind: str | None, ask: ExecutorChoice | None,
                    notices: list[Notice],
                    build_image: Callable[[str], None] | None = None) -> CodeExecutor | None:
    """The executor, checked; never a silent fallback from Docker to the host."""
    if not any(executes_code(a) for a in team.agents):
        return None
    kind = kind or team.code_execution.executor
    executor = make_executor(team.code_execution, team.work_dir, kind)
    try:
        try:
            executor.check()
        except ExecutionError as e:
            if not (build_image and "is missing" in str(e)):
                raise
            build_image(team.code_execution.image)   # first run: build it, then go on
            executor.check()
    except ExecutionError as e:
        if ask is None:
            raise UsageError(f"{e}. Fix: start Docker, run `agentteam sandbox build`, or pass "
                             "--executor local|none") from None
        answer = ask(str(e))
        if answer == "stop":
            raise UsageError(str(e)) from None
        kind = answer
        executor = make_executor(team.code_execution, team.work_dir, kind)
    if kind == "local":
        notices.append(Notice(f"code blocks will run ON THIS MACHINE in {team.work_dir} "
                              "(executor: local), without a sandbox", "warning"))
    return executor


def prepare(req: RunRequest, ask_executor: ExecutorChoice | None = None,
            build_image: Callable[[str], None] | None = None,
            team: TeamSpec | None = None) -> Prepared:
    """Load and check everything a run needs; raise before any model is called."""
    resume = read(req.resume) if req.resume else None
    if team is None:
        team_file = req.team_file or (resume.team_file if resume else None)
        if not team_file:
            raise UsageError("give a team file: agentteam run TEAM.yaml")
        if resume and not Path(team_file).exists():
            raise ConfigError(f"{req.resume}: its team file {team_file} is gone; pass it: "
                              f"agentteam run TEAM.yaml --resume {req.resume}")
        # A replay calls no model, so it needs none of the keys the team file names.
        team = load_team(team_file, _AnyEnv() if req.replay else None)
    if req.max_round is not None and req.max_round < 1:
        raise ConfigError(f"--max-round must be at least 1 (got {req.max_round})")
    check_people(team, req.human, req.interactive)
    input_files = _input_files(team)
    replay = read(req.replay) if req.replay else None
    profiles, notices = ({}, [Notice(f"replaying {req.replay}: no model is called")]) \
        if replay else resolve_profiles(team, req.model)
    executor = choose_executor(team, req.executor, ask_executor if req.interactive else None,
                               notices, build_image)
    _copy_inputs(team, input_files)
    path = Path(req.transcript) if req.transcript else \
        (resume.path if resume else default_path(team.name))
    return Prepared(team, profiles, executor, TranscriptWriter(path), resume, notices, replay)


def _input_files(team: TeamSpec) -> list[Path]:
    out, problems = [], []
    for i, name in enumerate(team.code_execution.files):
        path = (team.base_dir / name).resolve()
        if not path.is_file():
            problems.append(f"{team.source}: code_execution.files[{i}]: no file {name} next to "
                            "the team file")
        out.append(path)
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def _copy_inputs(team: TeamSpec, files: list[Path]) -> None:
    """Put the team's input files into the work dir (never overwriting the run's own)."""
    if not files:
        return
    team.work_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = team.work_dir / f.name
        if not target.exists():
            shutil.copyfile(f, target)


class _AnyEnv(dict):
    """An environment in which every variable is set (to ""), for replays."""

    def __contains__(self, key) -> bool:
        return True

    def get(self, key, default=None):
        return ""


def build_chat(p: Prepared, model, req: RunRequest, human: Human | None,
               soft_interrupt: bool = False) -> GroupChat:
    return GroupChat(p.team, model, p.executor, human, p.transcript, task=req.task,
                     max_round=req.max_round, human_override=req.human, resume=p.resume,
                     soft_interrupt=soft_interrupt)


CHAT_TEAM = """\
name: chat
task: (chat)
speaker_selection: round_robin
max_round: 100000
code_execution: {executor: none}
agents:
  - {name: User, kind: user_proxy, human_input: always}
  - name: Assistant
    system_message: >-
      You are a helpful assistant. Answer clearly and briefly; put code in fenced
      blocks with their language.
"""


def chat_team(team: TeamSpec | None) -> TeamSpec:
    """The team for `agentteam chat`: the person is the user proxy; no task is sent first."""
    from .config import AgentSpec, parse_team
    if team is None:
        team = parse_team(CHAT_TEAM, "chat.yaml", {})
        team.source = None
    elif not any(a.kind == "user_proxy" for a in team.agents):
        team = team.model_copy(update={"agents": [AgentSpec(name="User", kind="user_proxy")]
                                       + list(team.agents)})
    return team.model_copy(update={"task": "", "max_round": max(team.max_round, 100000)})
