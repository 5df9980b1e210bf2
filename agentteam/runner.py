"""``run_team()``: everything a run needs, put together and taken down.

``prepare`` loads and checks the team, the profiles, the executor and the
transcript; everything that can be found wrong is found there, before any model
call, and raised as an AgentTeamError. ``TeamRun.events()`` then starts what the
models need (the embedded llama.cpp server), runs the group chat and yields its
events, and releases everything on every way out. Nothing here prints or exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

from .conversation.events import Event, Notice
from .conversation.groupchat import GroupChat, Human
from .conversation.redaction import redact_event
from .conversation.termination import ends_chat
from .conversation.transcript import Recorded, TranscriptWriter, default_path, read
from .errors import ConfigError, ExecutionError, UsageError
from .executors import check_or_build, make_executor
from .executors.base import CodeExecutor
from .models import profiles as profiles_mod
from .models.base import ChatModel
from .models.defaults import default_profiles
from .models.profiles import Profile
from .models.shared import SharedModels
from .run_inputs import check_work_dir, copy_inputs, input_files, with_work_dir
from .runtree import Tree, check_people_in_tree, prepare_tree
from .team import Cache, TeamSpec, human_input, load_team
from .team.checks import ModelsOverridden
from .team.nesting import chat_names, needs_sandbox, profile_refs


@dataclass
class RunRequest:
    """What a run is asked to do (the command line's flags, or ``run_team``'s arguments).

    ``work_dir`` replaces the team's work dir; ``own_work_dir`` gives the run a new
    one of its own under ``.agentteam/work/`` (concurrent runs of one team then
    never share files).
    """

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
    work_dir: str | None = None
    own_work_dir: bool = False
    otel: bool = False      # OpenTelemetry traces even without OTEL_EXPORTER_OTLP_ENDPOINT
    api_base: str | None = None      # with `model`: every profile at this endpoint
    api_key_var: str | None = None   # the variable holding that endpoint's key


@dataclass
class Prepared:
    team: TeamSpec
    profiles: dict[str, Profile]
    executor: CodeExecutor | None
    transcript: TranscriptWriter
    resume: Recorded | None = None
    notices: list[Notice] = field(default_factory=list)
    replay: Recorded | None = None
    tracer: Any = None          # the run's OpenTelemetry subscriber, when tracing is on
    shared: SharedModels | None = None
    tools: Any = None           # the run's ToolBox, when the team has tools
    tree: Tree = field(default_factory=Tree)   # what inner teams have of their own

    def model(self, no_cache: bool = False, profiles: dict[str, Profile] | None = None) \
            -> ChatModel:
        """The ChatModel for this run (or for an inner team file's ``profiles``): replayed,
        cached, or a provider's."""
        if self.replay is not None:
            from .models.replay import ReplayModel
            return ReplayModel(self.replay, self.team)
        return model_stack(self.profiles if profiles is None else profiles,
                           None if no_cache else self.team.cache, self.team.base_dir,
                           self.shared)


def model_stack(profiles: dict[str, Profile], cache: Cache | None = None,
                base_dir: Path | None = None, shared: SharedModels | None = None) -> ChatModel:
    """The models of a run (or of `agentteam build`): a provider's, behind the completion
    cache when ``cache`` is set (its ``dir`` relative to ``base_dir``; else the user's)."""
    from .models.provider import ProviderModel
    model: ChatModel = ProviderModel(profiles, shared=shared)
    if cache is not None:
        from .models.cache import CachedModel
        where = (base_dir or Path.cwd()) / cache.dir if cache.dir else None
        model = CachedModel(model, profiles, cache.seed, where)
    return model


# Ask the person what to do when Docker cannot be used: returns "local", "none" or "stop".
ExecutorChoice = Callable[[str], str]


def resolve_profiles(team: TeamSpec, model: str | None, api_base: str | None = None,
                     api_key_var: str | None = None) -> tuple[dict[str, Profile], list[Notice]]:
    """The team's profiles, with the default one resolved when the team names none."""
    notices: list[Notice] = []
    found = profiles_mod.resolve(team, model, endpoint=profiles_mod.endpoint_override(
        model, api_base, api_key_var))
    if "default" not in found and _uses_default(team):
        defaults, why = default_profiles()
        found.update(defaults)
        notices.append(Notice(why))
    return found, notices


def _uses_default(team: TeamSpec) -> bool:
    return "default" in profile_refs(team)


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
    if not needs_sandbox(team):
        return None
    kind = kind or team.code_execution.executor
    executor = make_executor(team.code_execution, team.work_dir, kind)
    try:
        check_or_build(executor, build_image)    # first run: the image is built, then used
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
            team: TeamSpec | None = None, shared: SharedModels | None = None) -> Prepared:
    """Load and check everything a run needs; raise before any model is called.

    ``shared``: what the runs of a batch share (their profiles, pools, rate gate).
    """
    resume = read(req.resume) if req.resume else None
    if team is None:
        team_file = req.team_file or (resume.team_file if resume else None)
        if not team_file:
            raise UsageError("give a team file: agentteam run TEAM.yaml")
        if resume and not Path(team_file).exists():
            raise ConfigError(f"{req.resume}: its team file {team_file} is gone; pass it: "
                              f"agentteam run TEAM.yaml --resume {req.resume}")
        # A replay calls no model, so it needs none of the keys the team file names.
        team = load_team(team_file, _AnyEnv() if req.replay else
                         ModelsOverridden(os.environ) if req.model else None)
    team = with_work_dir(team, req)
    resume_notices = _check_resume(resume, team) if resume else []
    check_work_dir(team, req)
    if req.max_round is not None and req.max_round < 1:
        raise ConfigError(f"--max-round must be at least 1 (got {req.max_round})")
    check_people(team, req.human, req.interactive)
    check_people_in_tree(team, req.human, req.interactive, check_people)
    # (`chat` gives its team an empty task on purpose: the person speaks first)
    if team.task is None and not (team.chats or req.task or resume):
        raise ConfigError(f"{team.source or 'team'}: the team has no task; add `task:` to the "
                          "file or pass --task TEXT")
    if team.speaker_selection.method == "function":
        from .conversation import functions
        functions.load(team)    # its errors now, before any model is called
    inputs = input_files(team)
    replay = read(req.replay) if req.replay else None
    for recorded, flag in ((resume, "--resume"), (replay, "--replay")):
        if recorded is not None:
            recorded.check_team(team, flag)
    if replay:
        profiles, notices = {}, [Notice(f"replaying {req.replay}: no model is called")]
    elif shared is not None and shared.profiles is not None:
        profiles, notices = shared.profiles, []
    else:
        profiles, notices = resolve_profiles(team, req.model, req.api_base, req.api_key_var)
    notices = resume_notices + notices
    executor = choose_executor(team, req.executor, ask_executor if req.interactive else None,
                               notices, build_image)
    if executor is not None and executor.name != team.code_execution.executor:
        # --executor (or the answer to "Docker is missing") replaces the team's choice
        # everywhere, speaker selection included: `none` means no proxy has code to run.
        team = team.model_copy(update={"code_execution": team.code_execution.model_copy(
            update={"executor": executor.name})})
    tools = None
    if team.tools or team.code_execution.mode == "tool":
        from .tools.setup import cannot_call_tools, prepare_tools
        tools = prepare_tools(team, executor, replay, notices, build_image)
        notices += cannot_call_tools(team, profiles)
    tree = prepare_tree(
        team, lambda t: resolve_profiles(t, req.model, req.api_base, req.api_key_var),
        lambda t: choose_executor(t, req.executor, ask_executor if req.interactive else None,
                                  notices, build_image), replay, notices, build_image, executor)
    copy_inputs(team, inputs, executor)
    path = Path(req.transcript) if req.transcript else \
        (resume.path if resume else default_path(team.name))
    tracer = _tracer(req, profiles, notices)
    return Prepared(team, profiles, executor, TranscriptWriter(path), resume, notices, replay,
                    tracer=tracer, shared=shared, tools=tools, tree=tree)


def _tracer(req: RunRequest, profiles: dict[str, Profile], notices: list[Notice]):
    """The OpenTelemetry subscriber when tracing is asked for; OpenTelemetry (and the
    module that uses it) is not even imported otherwise."""
    import os
    if not (req.otel or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None
    from .otel import tracer_for
    tracer, warning = tracer_for(req.otel, profiles)
    if warning:
        notices.append(Notice(warning, "warning"))
    return tracer


def _check_resume(resume: Recorded, team: TeamSpec) -> list[Notice]:
    """A transcript can only go on with the team that wrote it: refuse one whose speakers
    the team lacks; warn when its last message already ended the chat."""
    names = {a.name for a in team.agents} | set(chat_names(team))
    spoke = [e.get("agent") for e in resume.events if e.get("type") == "message"
             and not e.get("scope")      # inner chats' agents are their teams'
             and not (e.get("round") == 0 and e.get("agent") == "user")]  # a task without a proxy
    missing = sorted({str(a) for a in spoke if a not in names})
    if missing:
        where = team.source or "the team"
        raise ConfigError(f"{resume.path}: agent(s) {', '.join(missing)} spoke in this "
                          f"transcript but {where} has no such agent (its agents: "
                          f"{', '.join(a.name for a in team.agents)}); resume with the team "
                          "file the run used")
    last = resume.messages[-1] if resume.messages else None
    t = team.termination
    if last is not None and ends_chat(last, t):
        return [Notice(f"the transcript's last message (round {last.round}, {last.agent}) "
                       f"already ends the chat (termination keyword `{t.keyword}`); "
                       "resuming goes on past it", "warning")]
    return []


class _AnyEnv(dict):
    """An environment in which every variable is set (to ""), for replays."""

    def __contains__(self, key) -> bool:
        return True

    def get(self, key, default=None):
        return ""


def _all_agent_names(team: TeamSpec) -> list[str]:
    """Every agent of the team, its inner teams' too (their lines end a local model's reply)."""
    from .team.nesting import walk
    return list(dict.fromkeys(a.name for _, t in walk(team) for a in t.agents))


def _tool_profiles(p: Prepared) -> frozenset[str]:
    if p.tools is None:
        return frozenset()
    from .tools.setup import tool_profiles
    return tool_profiles(p.team, p.profiles)


class TeamRun:
    """One run: ``prepare()`` (raises before any call), then iterate ``events()``.

    ``chat`` is the GroupChat once the run has started (``agentteam chat`` reads
    its history for ``/save``).
    """

    def __init__(self, req: RunRequest, human: Human | None = None,
                 ask_executor: ExecutorChoice | None = None,
                 build_image: Callable[[str], None] | None = None,
                 team: TeamSpec | None = None, soft_interrupt: bool = False,
                 shared: SharedModels | None = None):
        self.req, self.human, self.soft_interrupt = req, human, soft_interrupt
        self._ask_executor, self._build_image, self._team = ask_executor, build_image, team
        self._shared = shared
        self.prepared: Prepared | None = None
        self.chat: GroupChat | None = None

    def prepare(self) -> Prepared:
        if self.prepared is None:
            self.prepared = prepare(self.req, self._ask_executor, self._build_image, self._team,
                                    self._shared)
        return self.prepared

    def events(self) -> Generator[Event, None, None]:
        """The run's events, ``RunEnded`` last; raises AgentTeamError if it cannot start."""
        from .models.localmodel import LocalServers
        from .models.provider import needs_litellm, preload
        p = self.prepare()
        if not self.req.replay and needs_litellm(p.profiles):
            preload()   # the LiteLLM import overlaps the sandbox and local server start
        yield from map(redact_event, p.notices)
        try:
            with LocalServers(p.tree.all_profiles(p.profiles), names=_all_agent_names(p.team),
                              tool_profiles=_tool_profiles(p)) as local:
                yield from map(redact_event, local.starting())
                if p.tools is not None:
                    p.tools.start()     # the MCP servers: they list their tools
                p.tree.start_tools()
                model = p.model(self.req.no_cache)
                nest = p.tree.nest(lambda profiles: p.model(self.req.no_cache, profiles),
                                   model if p.replay is not None else None)
                self.chat = GroupChat(p.team, model, p.executor, self.human,
                                      p.transcript, task=self.req.task,
                                      max_round=self.req.max_round,
                                      human_override=self.req.human, resume=p.resume,
                                      soft_interrupt=self.soft_interrupt, tools=p.tools,
                                      nest=nest)
                events = self.chat.run()
                if p.tracer is not None:
                    from .otel import observed
                    events = observed(events, p.tracer)
                yield from events
        finally:
            if p.tools is not None:
                p.tools.close()
            p.tree.close()
            if p.tracer is not None:
                p.tracer.shutdown()
            # the chat closes both when it ran; here for a run that never got that far
            p.transcript.close()
            if p.executor is not None:
                p.executor.close()


def run_team(team: str | Path | TeamSpec, task: str | None = None, *,
             model: str | None = None, max_round: int | None = None,
             executor: str | None = None, transcript: str | Path | None = None,
             resume: str | Path | None = None, replay: str | Path | None = None,
             no_cache: bool = False, work_dir: str | Path | None = None,
             own_work_dir: bool = False, human: Human | None = None) -> Iterator[Event]:
    """Run a team (a team file's path, or a loaded ``TeamSpec``) and yield its events.

    The last event is ``RunEnded`` (its ``exit_code`` follows the CLI's). Nothing is
    printed; the embedded model server, the sandbox container and the transcript are
    started and released by the run. Without ``human``, the team must not need a person
    (``human_input: always`` and manual selection are refused). Problems found before
    the run starts raise ``AgentTeamError`` (``ConfigError`` for the team file).

        for event in run_team("teams/cars_critic.yaml", max_round=6):
            print(event.type)
    """
    spec = team if isinstance(team, TeamSpec) else None
    req = RunRequest(None if spec else str(team), task, model, max_round, executor, None,
                     str(transcript) if transcript else None, str(resume) if resume else None,
                     str(replay) if replay else None, no_cache, human is not None,
                     str(work_dir) if work_dir else None, own_work_dir)
    return TeamRun(req, human, team=spec).events()



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
    from .team import AgentSpec, parse_team
    if team is None:
        team = parse_team(CHAT_TEAM, "chat.yaml", {})
        team.source = None
    elif not any(a.kind == "user_proxy" for a in team.agents):
        team = team.model_copy(update={"agents": [AgentSpec(name="User", kind="user_proxy")]
                                       + list(team.agents)})
    return team.model_copy(update={"task": "", "max_round": max(team.max_round, 100000)})
