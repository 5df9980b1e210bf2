"""One run of a batch: the team on one task line, on ``TeamRun``, then judged.

The same function runs in a thread of this process and in a Ray task on another
machine; what it needs travels in a ``RunSpec`` (plain values, picklable).
After the chat, ``check`` runs in a fresh executor of the run's kind on the
run's work dir (the chat's own executor is closed by the chat), and
``expected`` is looked for in the final message.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..conversation.events import Event, MessageDone, RunEnded
from ..conversation.groupchat import drive
from ..conversation.messages import CodeBlock, content_from_json, text_of
from ..errors import AgentTeamError, ExecutionError
from ..executors import make_executor
from ..executors.base import CodeExecutor
from ..models.shared import SharedModels
from ..runner import RunRequest, TeamRun
from ..team import TeamSpec, load_team
from ..team.checks import ModelsOverridden
from .results import RunResult, judge
from .tasks import TaskLine, team_for

CHECK_OUTPUT_CHARS = 2000


@dataclass
class RunSpec:
    """Everything one run needs, as plain values."""

    team_file: str
    line: TaskLine
    repeat: int
    names: list[str]             # the task file's placeholder names
    work_dir: str
    transcript: str
    transcript_name: str         # as results.jsonl records it (relative to --out)
    check_kind: str              # the executor kind the check runs in
    executor: str | None = None  # --executor
    model: str | None = None
    max_round: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.line.id, self.repeat)


@dataclass
class Control:
    """How the batch reaches a run in progress: its stop signal and its executors."""

    stop: threading.Event = field(default_factory=threading.Event)
    executors: list[CodeExecutor] = field(default_factory=list)
    interrupted: bool = False

    def register(self, executor: CodeExecutor | None) -> None:
        if executor is not None:
            self.executors.append(executor)


def run_one(spec: RunSpec, shared: SharedModels | None = None,
            control: Control | None = None, team: TeamSpec | None = None) -> RunResult | None:
    """Run one task line once; ``None`` when the batch was stopped before it finished."""
    control = control or Control()
    started = time.monotonic()
    work_dir = Path(spec.work_dir)
    _fresh(work_dir, Path(spec.transcript))
    texts: list[str] = []
    try:
        team = team_for(team or load_team(spec.team_file, ModelsOverridden(os.environ)
                                          if spec.model else None), spec.line, spec.names)
        req = RunRequest(spec.team_file, None, spec.model, spec.max_round, spec.executor,
                         "never", spec.transcript, work_dir=str(work_dir))
        run = TeamRun(req, team=team, shared=shared)
        control.register(run.prepare().executor)
        ended, texts = _drive(run.events(), control)
    except AgentTeamError as e:
        ended = RunEnded("error", 0, error=str(e), exit_code=e.exit_code)
    except Exception as e:  # a bug in one run must not end the batch: it is recorded
        ended = RunEnded("error", 0, error=f"internal error: {type(e).__name__}: {e}",
                         exit_code=1)
    if control.interrupted or control.stop.is_set() or ended.reason == "interrupted":
        return None    # only runs that ended before the batch was stopped count
    found = None
    if spec.line.expected is not None:
        keyword = team.termination.keyword if team is not None else ""
        found = spec.line.expected in final_message(texts, keyword)
    check: tuple[int | None, str | None] = (None, None)
    if spec.line.check is not None and ended.reason != "error" and team is not None:
        check = run_check(spec.line.check, team, work_dir, spec.check_kind, control)
        if control.interrupted or control.stop.is_set():
            return None
    return _result(spec, ended, started, found, *check)


def _fresh(work_dir: Path, transcript: Path) -> None:
    """A run starts clean: what an interrupted earlier try left is removed. The run creates
    its work dir itself, for whoever runs its code (the sandbox user, as root)."""
    shutil.rmtree(work_dir, ignore_errors=True)
    transcript.unlink(missing_ok=True)
    work_dir.parent.mkdir(parents=True, exist_ok=True)


def _drive(events, control: Control) -> tuple[RunEnded, list[str]]:
    """Run the chat to its end; the batch's stop ends it as Ctrl-C ends a single run."""
    texts: list[str] = []

    def on_event(ev: Event) -> None:
        if isinstance(ev, MessageDone) and ev.kind == "text" and ev.round > 0 \
                and not ev.incomplete:
            texts.append(text_of(content_from_json(ev.content)))
        if control.stop.is_set() and not control.interrupted:
            control.interrupted = True
            raise KeyboardInterrupt     # drive() throws it into the run loop
    try:
        ended = drive(events, on_event)
    except KeyboardInterrupt:   # landed outside the loop (the batch is stopping)
        control.interrupted = True
        ended = RunEnded("interrupted", 0, exit_code=130)
    return ended, texts


def final_message(texts: list[str], keyword: str) -> str:
    """The run's final message: the last text an agent wrote, without the termination
    keyword; when only the keyword was left, the message before it."""
    for text in reversed(texts):
        stripped = text.replace(keyword, "").strip() if keyword else text.strip()
        if stripped:
            return stripped
    return ""


def run_check(command: str, team: TeamSpec, work_dir: Path, kind: str,
              control: Control) -> tuple[int, str]:
    """Run the task line's check as a shell script in the run's work dir, in a fresh
    executor of the run's kind (the same image and limits); (exit code, output)."""
    executor = make_executor(team.code_execution, work_dir, kind)
    control.register(executor)
    try:
        executor.start()
        result = executor.run(CodeBlock("sh", command))
        return result.exit_code, result.output[-CHECK_OUTPUT_CHARS:]
    except ExecutionError as e:
        return 1, f"the check could not run: {e}"
    except KeyboardInterrupt:
        control.interrupted = True
        return 130, "interrupted"
    finally:
        executor.close()


def _result(spec: RunSpec, ended: RunEnded, started: float, found: bool | None,
            check_code: int | None, check_out: str | None) -> RunResult:
    total = (ended.usage or {}).get("total") or {}
    return RunResult(
        id=spec.line.id, repeat=spec.repeat, reason=ended.reason, exit_code=ended.exit_code,
        passed=judge(ended.exit_code, ended.reason, found, check_code), rounds=ended.rounds,
        tokens=int(total.get("prompt_tokens", 0)) + int(total.get("completion_tokens", 0)),
        cost=total.get("cost"), seconds=round(time.monotonic() - started, 3),
        transcript=spec.transcript_name, error=ended.error, expected_found=found,
        check_exit_code=check_code, check_output=check_out,
        finished_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
