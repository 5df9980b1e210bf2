"""Runs on a Ray cluster (``--ray [ADDRESS]``): each run is a Ray task on some worker.

The team file and the input files it names travel with the job (packed once,
put in Ray's object store); a worker unpacks them in a temporary directory,
runs ``run_one`` there exactly as this machine would (its own work dir,
sandbox container and transcript), and sends back the result and the
transcript, which land in the same ``results.jsonl`` and ``runs/`` as local
runs. A worker needs agentteam, Docker with the sandbox image (for teams that
run code) and the model keys the team file names, in its own environment.

Stopping: Ray's ``cancel`` raises KeyboardInterrupt in each running task, which
ends its chat as ``interrupted`` and closes its sandbox; tasks not started yet
are dropped. A local Ray instance this batch started is shut down at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from ..team import TeamSpec
from .results import RunResult
from .run import Control, RunSpec, run_one

INSTALL = 'pip install "agentteam[ray]"'
CANCEL_WAIT_S = 15.0
_worker_shared = None
_worker_lock = threading.Lock()


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs Ray; install it with: {INSTALL}") from None
    return ray


def pack(team: TeamSpec, team_file: Path) -> dict:
    """The team file and the input files it names, as {relative path: bytes}.

    Paths are relative to the deepest folder holding them all, so that a file
    named as ``../data/cars.csv`` keeps its place next to the team file.
    """
    team_path = team_file.resolve()
    files = [team_path] + [(team.base_dir / f).resolve() for f in team.code_execution.files]
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    return {"team": str(team_path.relative_to(root)),
            "files": {str(f.relative_to(root)): f.read_bytes() for f in files}}


def unpack(bundle: dict, where: Path) -> Path:
    """Write a packed team under ``where``; the path of its team file."""
    for name, data in bundle["files"].items():
        target = (where / name).resolve()
        if where.resolve() not in target.parents:
            raise UsageError(f"a packed file would land outside its folder: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return where / bundle["team"]


def remote_run(bundle: dict, spec: RunSpec) -> tuple[dict | None, str]:
    """What a Ray worker runs: one run in a temporary folder; (result, transcript text)."""
    global _worker_shared
    from ..models.shared import SharedModels
    with _worker_lock:   # one pool and rate gate per worker process, as on one machine
        if _worker_shared is None:
            _worker_shared = SharedModels(None)
    tmp = Path(tempfile.mkdtemp(prefix="agentteam-ray-"))
    try:
        team_file = unpack(bundle, tmp / "team")
        here = replace(spec, team_file=str(team_file), work_dir=str(tmp / "work"),
                       transcript=str(tmp / "transcript.jsonl"))
        result = run_one(here, _worker_shared, Control())
        path = Path(here.transcript)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return (result.to_dict() if result else None), text
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class RayPool:
    """Sends runs to a Ray cluster; ``run`` returns True when it was stopped."""

    def __init__(self, address: str, concurrency: int | None, stop: threading.Event,
                 team: TeamSpec, team_file: Path):
        ray = _ray()
        self.stop = stop
        self._started_here = False
        target = None if address in ("", "auto") else address
        try:
            if not ray.is_initialized():
                ray.init(address=target, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR)
                self._started_here = True
        except Exception as e:  # Ray raises ConnectionError, RuntimeError, ...
            raise UsageError(f"cannot reach the Ray cluster at {address}: "
                             f"{type(e).__name__}: {' '.join(str(e).split())[:200]}") from None
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self._bundle = ray.put(pack(team, team_file))
        except BaseException:
            self.close()
            raise
        self.concurrency = concurrency or max(1, cpus)
        self.where = (f"a local Ray instance ({cpus} CPUs)" if address == "local" else
                      f"the Ray cluster at {address} ({cpus} CPUs)" if target else
                      f"Ray ({cpus} CPUs)")
        self._task = ray.remote(num_cpus=1, max_retries=1)(remote_run)

    def run(self, specs: list[RunSpec], began: Callable[[RunSpec], None],
            finished: Callable[[RunSpec, RunResult], None],
            lost: Callable[[RunSpec, str], None] = lambda s, why: None) -> bool:
        ray = _ray()
        pending = list(reversed(specs))
        inflight: dict = {}
        try:
            while pending or inflight:
                while pending and len(inflight) < self.concurrency and not self.stop.is_set():
                    spec = pending.pop()
                    inflight[self._task.remote(self._bundle, spec)] = spec
                    began(spec)
                if self.stop.is_set():
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.2)
                for ref in ready:
                    self._collect(ref, inflight.pop(ref), finished, lost)
        except KeyboardInterrupt:
            self.stop.set()
        if not self.stop.is_set():
            return False
        self._cancel(inflight, finished, lost)
        return True

    def _collect(self, ref, spec: RunSpec, finished, lost) -> None:
        ray = _ray()
        try:
            result, transcript = ray.get(ref)
        except Exception as e:  # the task was cancelled, or its worker died
            if not self.stop.is_set():
                lost(spec, f"{type(e).__name__}: {' '.join(str(e).split())[:200]}")
            return
        if result is None:
            return
        path = Path(spec.transcript)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(transcript, encoding="utf-8")
        finished(spec, RunResult.from_dict(result))

    def _cancel(self, inflight: dict, finished, lost) -> None:
        """Stop the running tasks (KeyboardInterrupt in each) and keep what had finished."""
        ray = _ray()
        for ref in inflight:
            ray.cancel(ref, force=False)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while inflight and time.monotonic() < deadline:
            try:
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
            except KeyboardInterrupt:   # a second Ctrl-C: stop waiting
                break
            for ref in ready:
                self._collect(ref, inflight.pop(ref), finished, lost)

    def close(self) -> None:
        """Leave the cluster; a local Ray instance this batch started stops with it."""
        ray = _ray()
        if self._started_here and ray.is_initialized():
            ray.shutdown()
