"""A batch from start to end: check everything, plan the runs, run them, write it down.

``Batch.prepare`` finds every problem before any model is called (the team, the
task file and its vars, the executor, the ``--out`` directory) and raises an
AgentTeamError. ``Batch.run`` runs what ``results.jsonl`` does not hold yet, on
this machine or on Ray, reports events to one subscriber and returns
``BatchEnded``. Nothing here prints or exits.

The ``--out`` directory::

    batch.json          the team and task file it is for (a re-run must match)
    results.jsonl       one line per finished run
    summary.md          the table per task and overall, and the runs that failed
    runs/ID-rN.jsonl    each run's transcript
    work/ID-rN/         each run's work dir (input files copied in)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, ExecutionError, UsageError
from ..executors import make_executor
from ..models.shared import RateGate, SharedModels
from ..runner import check_people, resolve_profiles
from ..team import TeamSpec, executes_code, human_input, load_team
from ..team.checks import ModelsOverridden
from .events import BatchEnded, BatchEvent, BatchNotice, BatchStarted, RunBegan, RunFinished
from .results import ResultsFile, RunResult, summary_markdown
from .run import Control, RunSpec, run_one
from .tasks import TaskFile, TaskLine, check_vars, load_tasks

MANIFEST = "batch.json"
EXECUTORS = ("docker", "local", "none")
DEFAULT_CONCURRENCY = 4


@dataclass
class BatchOptions:
    """What ``agentteam batch`` was asked (its arguments and flags)."""

    team_file: Path
    tasks_file: Path
    out: Path | None = None
    concurrency: int | None = None      # default: 4 here, the cluster's CPUs on Ray
    repeat: int = 1
    min_pass_rate: float = 0.0
    filters: list[str] = field(default_factory=list)
    ray: str | None = None              # None: this machine; else a Ray address or "auto"
    executor: str | None = None
    model: str | None = None
    max_round: int | None = None


class Batch:
    """One batch: ``prepare()`` (raises before any call), then ``run(on_event)``."""

    team: TeamSpec          # set by prepare()
    tasks: TaskFile

    def __init__(self, opts: BatchOptions):
        self.opts = opts
        self.stop = threading.Event()
        self.lines: list[TaskLine] = []
        self.out = Path()
        self.kind = "none"
        self.notices: list[str] = []
        self.done: dict[tuple[str, int], RunResult] = {}
        self.todo: list[RunSpec] = []
        self.planned = 0
        self.profiles: dict = {}

    # -- before any call ----------------------------------------------------------------
    def prepare(self) -> "Batch":
        o = self.opts
        _check_numbers(o)
        self.team = team = load_team(o.team_file, ModelsOverridden(os.environ) if o.model
                                     else None)
        self.tasks = load_tasks(o.tasks_file)
        check_vars(team, self.tasks)
        self.lines = self.tasks.select(o.filters)
        self.kind = o.executor or team.code_execution.executor
        _check_inputs(team)
        self._check_execution()
        check_people(team, "never", False)
        if o.ray is not None and importlib.util.find_spec("ray") is None:
            raise UsageError('--ray needs Ray; install it with: pip install "agentteam[ray]"')
        if any(a.kind == "user_proxy" and human_input(a) != "never" for a in team.agents):
            self.notices.append("a batch has no person to ask: human_input is `never` for "
                                "every run")
        if o.ray is None:   # on Ray each worker resolves them where it runs
            self.profiles, notices = resolve_profiles(team, o.model)
            self.notices += [n.text for n in notices]
        self.out = (o.out or Path(".agentteam") / "batches" /
                    f"{team.name}-{o.tasks_file.stem}").resolve()
        self._check_manifest()
        self.done = ResultsFile(self.out).load()
        self._plan()
        return self

    def _check_execution(self) -> None:
        team, tasks = self.team, self.tasks
        checks = [t for t in self.lines if t.check]
        if checks and self.kind == "none":
            problems = [f"{tasks.where(t)}: check: a check runs in the run's sandbox, but "
                        "the executor is `none`; pass --executor docker|local or set "
                        "code_execution.executor" for t in checks]
            raise ConfigError("\n".join(problems))
        if not (checks or any(executes_code(a) for a in team.agents)):
            return
        where = "ON THIS MACHINE" if self.opts.ray is None else "ON THE RAY WORKERS"
        if self.kind == "local":
            self.notices.append(f"code blocks and checks will run {where} (executor: local), "
                                "without a sandbox")
        if self.kind == "docker" and self.opts.ray is None:   # a worker checks its own
            try:
                # engine and image: each run's own work dir does not exist yet, and is
                # created by its executor for the sandbox user
                make_executor(team.code_execution, self.out / "work" / "(each run)",
                              "docker").check()
            except ExecutionError as e:
                raise UsageError(f"{e}. Fix: start Docker, run `agentteam sandbox build`, or "
                                 "pass --executor local|none") from None

    def _check_manifest(self) -> None:
        path = self.out / MANIFEST
        if not path.exists():
            return
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if old.get("team_sha256") not in (None, _sha256(self.opts.team_file)):
            raise UsageError(f"{self.out} holds the results of another version of "
                             f"{old.get('team')}; give a new --out for this one (and compare "
                             "the two with `agentteam batch --compare OUT1 OUT2`)")

    def _plan(self) -> None:
        o = self.opts
        names = self.tasks.names
        specs = []
        for repeat in range(1, o.repeat + 1):
            for t in self.lines:
                name = f"{t.id}-r{repeat}"
                specs.append(RunSpec(
                    str(o.team_file.resolve()), t, repeat, names, str(self.out / "work" / name),
                    str(self.out / "runs" / f"{name}.jsonl"), f"runs/{name}.jsonl", self.kind,
                    o.executor, o.model, o.max_round))
        self.planned = len(specs)
        self.todo = [s for s in specs if s.key not in self.done]

    # -- running ------------------------------------------------------------------------
    def run(self, on_event: Callable[[BatchEvent], None]) -> BatchEnded:
        """Run what is left; Ctrl-C stops it in order (``BatchEnded.interrupted``)."""
        self._write_manifest()
        # nothing left to run: no model server started, no cluster joined
        pool, where, closer = self._pool(on_event) if self.todo else (_Done(), "", _nothing)
        on_event(BatchStarted(self.team.name, str(self.opts.tasks_file), str(self.out),
                              self.planned, self.planned - len(self.todo),
                              pool.concurrency, where))
        for text in self.notices:
            on_event(BatchNotice(text, "warning"))
        results = ResultsFile(self.out)

        def finished(spec: RunSpec, result: RunResult) -> None:
            results.append(result)
            self.done[result.key] = result
            on_event(RunFinished(result))

        def lost(spec: RunSpec, why: str) -> None:
            on_event(BatchNotice(f"{spec.line.id} #{spec.repeat} was lost ({why}); run the "
                                 "batch again to redo it", "warning"))

        interrupted = False
        try:
            interrupted = pool.run(self.todo, lambda s: on_event(RunBegan(*s.key)), finished,
                                   lost)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            closer()
        if interrupted:
            on_event(BatchNotice("stopped: the runs that had finished are kept; run the same "
                                 "command again to do the rest", "warning"))
        return self._end(interrupted, on_event)

    def _pool(self, on_event):
        """The pool the runs go to, where that is (for people), and what closes it."""
        if self.opts.ray is not None:
            from .cluster import RayPool
            pool = RayPool(self.opts.ray, self.opts.concurrency, self.stop, self.team,
                           self.opts.team_file)
            return pool, pool.where, pool.close
        from ..models.localmodel import LocalServers
        from .local import LocalPool
        local = LocalServers(self.profiles, on_notice=lambda n: on_event(BatchNotice(n.text)))
        shared = SharedModels(self.profiles, gate=RateGate(self.stop))

        def close() -> None:
            shared.close()
            local.stop()
        try:
            local.start()   # one embedded model server for every run of the batch
        except BaseException:
            close()
            raise
        team = self.team

        def work(spec: RunSpec, control: Control) -> RunResult | None:
            return run_one(spec, shared, control, team)
        return LocalPool(self.opts.concurrency or DEFAULT_CONCURRENCY, self.stop, work), \
            "this machine", close

    def _write_manifest(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        manifest = {"team": str(self.opts.team_file.resolve()),
                    "team_sha256": _sha256(self.opts.team_file),
                    "tasks": str(self.opts.tasks_file.resolve()),
                    "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        path = self.out / MANIFEST
        if not path.exists():
            path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    def _end(self, interrupted: bool, on_event) -> BatchEnded:
        keys = {(t.id, r) for t in self.lines for r in range(1, self.opts.repeat + 1)}
        results = [r for k, r in self.done.items() if k in keys]
        order = [t.id for t in self.lines]
        summary = self.out / "summary.md"
        meta = {"team": str(self.opts.team_file), "tasks": str(self.opts.tasks_file),
                "repeats": str(self.opts.repeat),
                "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        summary.write_text(summary_markdown(f"Batch: {self.team.name}", self.planned, results,
                                            order, meta), encoding="utf-8")
        ended = BatchEnded(self.planned, results, interrupted, self.opts.min_pass_rate,
                           str(summary), order)
        on_event(ended)
        return ended


class _Done:
    """The pool of a batch whose runs have all finished."""

    concurrency = 0

    def run(self, *args) -> bool:
        return False


def _nothing() -> None:
    pass


def _check_numbers(o: BatchOptions) -> None:
    problems = []
    if o.concurrency is not None and o.concurrency < 1:
        problems.append(f"--concurrency must be at least 1 (got {o.concurrency})")
    if o.repeat < 1:
        problems.append(f"--repeat must be at least 1 (got {o.repeat})")
    if not 0.0 <= o.min_pass_rate <= 1.0:
        problems.append(f"--min-pass-rate is a fraction from 0 to 1 (got {o.min_pass_rate:g})")
    if o.max_round is not None and o.max_round < 1:
        problems.append(f"--max-round must be at least 1 (got {o.max_round})")
    if o.executor is not None and o.executor not in EXECUTORS:
        problems.append(f"--executor {o.executor!r}: expected one of {', '.join(EXECUTORS)}")
    if problems:
        raise ConfigError("\n".join(problems))


def _check_inputs(team: TeamSpec) -> None:
    """The input files every run copies in (and Ray packs) must be there before any run."""
    missing = [f"{team.source}: code_execution.files[{i}]: no file {name} next to the team "
               "file" for i, name in enumerate(team.code_execution.files)
               if not (team.base_dir / name).is_file()]
    if missing:
        raise ConfigError("\n".join(missing))


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""
