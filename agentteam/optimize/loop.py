"""The optimization loop: score the team, ask for a revision, score it, keep the better.

``Optimizer.prepare`` finds every problem it can before any model is called (flags,
the team, the task file, the output paths, the optimizer's model) and raises an
AgentTeamError. ``Optimizer.run`` runs the batch of the team as given (iteration 0),
then for each iteration asks the optimizer model for a revision of the best team so
far, checks it (``load_team``, the tools' code and signatures, the batch's own checks)
and runs its batch; a revision is kept only when more runs pass, or as many with fewer
tokens. Ctrl-C or a failing optimizer model end the loop early; the best team so far
is written either way (``output.finish``). Nothing here prints or exits.

The ``--out`` folder::

    history.json          the table (one row per iteration), rewritten as it grows
    iter-N/team.yaml      the version of the team iteration N ran (N = 0: as given)
    iter-N/team_tools.py  the tools the optimizer wrote, when it has some
    iter-N/optimizer.json what the optimizer was asked and answered
    iter-N/batch/         its batch (results.jsonl, summary.md, runs/, work/)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..batch import Batch, BatchEnded, BatchOptions
from ..batch.tasks import check_vars, load_tasks
from ..errors import (
    AgentTeamError,
    ConfigError,
    ExecutionError,
    ModelError,
    UsageError,
    redact,
)
from ..models.base import Note, RetryNote
from ..models.profiles import Profile
from ..models.structured import Answer, ask, schema_of
from ..team import TeamSpec, load_team, yamlsafe
from . import output
from .condense import runs_for_prompt
from .events import (
    IterationBatch,
    IterationEnded,
    IterationStarted,
    OptimizeEnded,
    OptimizeNotice,
    OptimizeStarted,
    RevisionProposed,
    Row,
)
from .prompts import (
    OPTIMIZER,
    read_revision,
    revision_schema,
    system_prompt,
    team_view,
    user_prompt,
)
from .revise import Candidate, RevisionError, apply, same, write

EXECUTORS = ("docker", "local", "none")
TEAM = "team.yaml"
DEFAULT_PROMPT_CHARS = 24_000


@dataclass
class OptimizeOptions:
    """What ``agentteam optimize`` was asked (its arguments and flags)."""

    team_file: Path
    tasks_file: Path
    output: Path | None = None          # -o (default: TEAM.optimized.yaml beside the team)
    out: Path | None = None             # the iterations' folder
    iterations: int = 3
    model: str | None = None            # the optimizer: a profile of the team or a model id
    team_model: str | None = None       # every profile of the runs (``batch --model``)
    concurrency: int | None = None
    repeat: int = 1
    filters: list[str] = field(default_factory=list)
    executor: str | None = None
    max_round: int | None = None
    new_tools: bool = True
    prompt_chars: int = DEFAULT_PROMPT_CHARS   # the runs shown to the optimizer, at most


@dataclass
class _Scored:
    """A version of the team that ran: its keys, its batch and its row."""

    cand: Candidate
    ended: BatchEnded
    row: Row

    @property
    def dir(self) -> Path:
        return Path(self.row.dir)


class Optimizer:
    """One optimization: ``prepare()`` (raises before any call), then ``run(on_event)``."""

    def __init__(self, opts: OptimizeOptions):
        self.opts = opts
        self.team: TeamSpec | None = None
        self.original: dict = {}
        self.origin = Path()
        self.out = Path()
        self.output = Path()
        self.profiles: dict[str, Profile] = {}
        self.profile = ""
        self.notices: list[str] = []
        self.rows: list[Row] = []
        self._base: Batch | None = None
        self._chat = None
        self._shared = None
        self._local = None

    # -- before any call ----------------------------------------------------------------
    def prepare(self) -> "Optimizer":
        o = self.opts
        _check_numbers(o)
        self.team = team = load_team(o.team_file)
        check_vars(team, load_tasks(o.tasks_file))
        text = yamlsafe.decode(o.team_file.read_bytes(), str(o.team_file))
        data, _, _, _ = yamlsafe.load(text, str(o.team_file))
        assert isinstance(data, dict)      # load_team has seen to it
        self.original, self.origin = data, o.team_file.resolve().parent
        self.output = output.output_path(o.team_file, o.output, team)
        self.out = output.out_dir(o.out, team.name, o.tasks_file)
        self.profiles, self.profile, notices = output.optimizer_profile(team, o.model)
        self.notices += notices
        # the team as given, copied into iteration 0: what the batch will run
        base = self.out / "iter-0" / TEAM
        write(Candidate(self.original), base, self.origin, _copy_header(o.team_file))
        self._base = self._batch(base).prepare()
        return self

    def _batch(self, team_file: Path) -> Batch:
        o = self.opts
        return Batch(BatchOptions(team_file, o.tasks_file, team_file.parent / "batch",
                                  o.concurrency, o.repeat, 0.0, o.filters, None, o.executor,
                                  o.team_model, o.max_round))

    # -- running ------------------------------------------------------------------------
    def run(self, on_event: Callable) -> OptimizeEnded:
        """Iterate; Ctrl-C (or a failing optimizer model) ends it with the best so far."""
        o = self.opts
        base = self.out / "iter-0" / TEAM
        job = self._base or self._batch(base).prepare()
        on_event(OptimizeStarted(str(o.team_file), str(o.tasks_file), str(self.out),
                                 str(self.output), o.iterations, self._optimizer_name(),
                                 job.planned))
        for text in self.notices:
            on_event(OptimizeNotice(text, "warning"))
        best: _Scored | None = None
        tried: list[str] = []
        interrupted, error, i = False, None, 0
        try:
            on_event(IterationStarted(0, o.iterations))
            ended = self._run_batch(0, job, on_event)
            if ended is None:
                raise KeyboardInterrupt
            best = _Scored(Candidate(self.original), ended,
                           _scored_row(0, "baseline", ended, base.parent))
            self._ended(best.row, on_event)
            for i in range(1, o.iterations + 1):
                on_event(IterationStarted(i, o.iterations))
                outcome = self._iteration(i, best, tried, on_event)
                if outcome is None:
                    raise KeyboardInterrupt
                if outcome.row.status == "kept":
                    best = outcome
        except KeyboardInterrupt:
            interrupted = True
        except ModelError as e:
            error = f"the optimizer model failed: {e}"
            on_event(OptimizeNotice(error, "warning"))
        finally:
            self.close()
        ended_ev = output.finish(self, best, i, interrupted, error)
        on_event(ended_ev)
        return ended_ev

    def _iteration(self, i: int, best: _Scored, tried: list[str],
                   on_event: Callable) -> _Scored | None:
        """One iteration; its row has said what happened. None: interrupted mid-batch."""
        folder = self.out / f"iter-{i}"
        folder.mkdir(parents=True, exist_ok=True)
        answer = self._ask(i, best, tried, folder, on_event)
        row = Row(i, "skipped", dir=str(folder), optimizer_tokens=answer.completion.usage
                  .total_tokens, optimizer_cost=answer.completion.usage.cost)
        if answer.value is None:
            return self._skip(row, f"the optimizer's answer holds no revision "
                                   f"({answer.problem})", best, on_event)
        revision, problem = read_revision(answer.value)
        if revision is None:
            return self._skip(row, f"the optimizer's answer is not a revision ({problem})",
                              best, on_event)
        try:
            cand = apply(best.cand, revision, i, self.opts.new_tools)
        except RevisionError as e:
            return self._reject(row, e.problems, best, tried, on_event)
        if same(cand, best.cand) or not cand.changes:
            return self._skip(row, "the revision changes nothing", best, on_event)
        row.changes = cand.changes
        on_event(RevisionProposed(i, cand.changes, revision.analysis))
        path = folder / TEAM
        write(cand, path, self.origin, f"Iteration {i} of agentteam optimize: "
                                       f"{', '.join(cand.changes)}.")
        try:
            job = self._check(cand, path).prepare()
        except (AgentTeamError, RevisionError) as e:
            return self._reject(row, _problems(e), best, tried, on_event)
        ended = self._run_batch(i, job, on_event)
        if ended is None:
            return None
        scored = _scored_row(i, "not kept", ended, folder)
        row = replace(scored, changes=cand.changes, optimizer_tokens=row.optimizer_tokens,
                      optimizer_cost=row.optimizer_cost)
        assert best.row.passed is not None and best.row.tokens is not None
        if (row.passed or 0) > best.row.passed:
            row.status, row.note = "kept", "more runs passed"
        elif row.passed == best.row.passed and row.passed and \
                (row.tokens or 0) < best.row.tokens:   # with none passing, fewer is no better
            row.status, row.note = "kept", "as many runs passed, with fewer tokens"
        else:
            row.note = "no better than the best so far"
            tried.append(f"iteration {i}: {output.described(cand, revision)} → "
                         f"{row.passed}/{row.runs} passed, {row.tokens} tokens (the best: "
                         f"{best.row.passed}/{best.row.runs}, {best.row.tokens} tokens)")
        self._ended(row, on_event)
        return _Scored(cand, ended, row)

    def _check(self, cand: Candidate, path: Path) -> Batch:
        """The revised team checked as every team file is, then its tools (the optimizer's
        code is imported here only after ``learned.check_code`` found it inert), then as
        a batch checks its team; raises AgentTeamError."""
        team = load_team(path)
        if cand.learned:
            from ..executors.docker import DockerExecutor
            from ..tools.python import load_functions
            load_functions(team)
            try:
                DockerExecutor(team.code_execution, team.work_dir).check()
            except ExecutionError as e:
                raise UsageError(f"its tools run in the Docker sandbox, which cannot be used "
                                 f"here ({e})") from None
        return self._batch(path)

    def _ask(self, i: int, best: _Scored, tried: list[str], folder: Path,
             on_event: Callable) -> Answer:
        """Ask the optimizer model for a revision of ``best``; its prompt and answer go
        to ``optimizer.json``. ModelError when the model fails after its retries."""
        assert self.team is not None
        view = team_view(best.cand.data, {k: t.code for k, t in best.cand.learned.items()})
        room = max(self.opts.prompt_chars - len(view), 2000)
        runs = runs_for_prompt(best.ended.results, best.dir / "batch", room)
        score = (f"{best.row.passed} of {best.row.runs} runs passed; {best.row.tokens} "
                 "tokens in all")
        messages = [{"role": "system", "content": system_prompt(
                        self.team.termination.keyword, self.opts.new_tools)},
                    {"role": "user", "content": user_prompt(view, score, runs, tried)}]
        gen = ask(self._model(), self.profile, messages, OPTIMIZER,
                  schema_of("team_revision", revision_schema()))
        while True:
            try:
                chunk = next(gen)
            except StopIteration as stop:
                answer: Answer = stop.value
                break
            if isinstance(chunk, RetryNote):
                on_event(OptimizeNotice(f"optimizer ({chunk.model}): {chunk.error}; trying "
                                        f"again in {chunk.wait_s:.0f}s", "warning"))
            elif isinstance(chunk, Note):
                on_event(OptimizeNotice(chunk.text, chunk.level))
        (folder / "optimizer.json").write_text(redact(json.dumps(
            {"messages": messages, "reply": answer.completion.text, "problem": answer.problem,
             "usage": answer.completion.usage.to_dict()}, indent=2, ensure_ascii=False)) + "\n",
            encoding="utf-8")
        return answer

    def _model(self):
        if self._chat is None:
            from ..models.localmodel import LocalServers
            from ..models.provider import ProviderModel
            from ..models.shared import SharedModels
            self._local = LocalServers({self.profile: self.profiles[self.profile]})
            self._local.start()     # when the optimizer is the embedded model
            self._shared = SharedModels(self.profiles)
            self._chat = ProviderModel(self.profiles, shared=self._shared)
        return self._chat

    def close(self) -> None:
        """Close the optimizer model's connections (and its local server)."""
        if self._shared is not None:
            self._shared.close()
        if self._local is not None:
            self._local.stop()

    def _optimizer_name(self) -> str:
        p = self.profiles[self.profile]
        return f"{p.model} (profile {p.name})" if p.name != p.model else p.model

    def _run_batch(self, i: int, job: Batch, on_event: Callable) -> BatchEnded | None:
        ended = job.run(lambda ev: on_event(IterationBatch(i, ev)))
        return None if ended.interrupted else ended

    def _skip(self, row: Row, why: str, best: _Scored, on_event: Callable) -> _Scored:
        row.note = why
        self._ended(row, on_event)
        return replace(best, row=row)

    def _reject(self, row: Row, problems: list[str], best: _Scored, tried: list[str],
                on_event: Callable) -> _Scored:
        row.status, row.note = "rejected", "; ".join(problems)
        tried.append(f"iteration {row.iteration}: invalid, not run: {row.note}")
        self._ended(row, on_event)
        return replace(best, row=row)

    def _ended(self, row: Row, on_event: Callable) -> None:
        self.rows.append(row)
        output.write_history(self, self.rows)
        on_event(IterationEnded(row))


def _scored_row(i: int, status: str, ended: BatchEnded, folder: Path) -> Row:
    costs = [r.cost for r in ended.results if r.cost is not None]
    return Row(i, status, passed=sum(r.passed for r in ended.results), runs=ended.planned,
               tokens=sum(r.tokens for r in ended.results),
               cost=sum(costs) if costs else None, dir=str(folder))


def _problems(e: Exception) -> list[str]:
    if isinstance(e, RevisionError):
        return e.problems
    found = [str(p) for p in getattr(e, "problems", [])] or str(e).splitlines()
    return found or [type(e).__name__]


def _copy_header(team_file: Path) -> str:
    return (f"{team_file.name} as given, copied by agentteam optimize "
            f"({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}).")


def _check_numbers(o: OptimizeOptions) -> None:
    problems = []
    if not 1 <= o.iterations <= 100:
        problems.append(f"--iterations must be from 1 to 100 (got {o.iterations})")
    if o.concurrency is not None and o.concurrency < 1:
        problems.append(f"--concurrency must be at least 1 (got {o.concurrency})")
    if o.repeat < 1:
        problems.append(f"--repeat must be at least 1 (got {o.repeat})")
    if o.max_round is not None and o.max_round < 1:
        problems.append(f"--max-round must be at least 1 (got {o.max_round})")
    if o.executor is not None and o.executor not in EXECUTORS:
        problems.append(f"--executor {o.executor!r}: expected one of {', '.join(EXECUTORS)}")
    if o.prompt_chars < 2000:
        problems.append(f"--prompt-chars must be at least 2000 (got {o.prompt_chars})")
    if problems:
        raise ConfigError("\n".join(problems))
