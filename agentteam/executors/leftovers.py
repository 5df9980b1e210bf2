"""Containers left by runs that died (``kill -9``): which may be removed, and removing them.

One Docker engine may serve several hosts (CI runners on one ``DOCKER_HOST``,
agentteam inside a container with the socket) and many live runs, so a container
is removed only when its labels prove that the process that made it is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

LABEL = "agentteam"


@dataclass
class Leftovers:
    """What ``remove_leftovers`` did: containers removed, and labelled ones left alone."""

    removed: int = 0
    kept: int = 0


def owner_labels() -> dict[str, str]:
    """Labels that tell, later, whether the process that made a container is gone: the
    host, the pid, and what makes the pid unambiguous (boot, pid namespace, start time)."""
    return {f"{LABEL}.host": os.uname().nodename, f"{LABEL}.pid": str(os.getpid()),
            f"{LABEL}.boot": _boot_id(), f"{LABEL}.pidns": _pid_namespace(),
            f"{LABEL}.started": _start_time(os.getpid())}


def remove_leftovers(c) -> Leftovers:
    """Remove agentteam containers whose owner is provably gone (after a kill -9).

    Proof is: made on this host, in this boot and pid namespace, by a process that is
    dead, or whose pid now belongs to a process started at another time. Containers of
    other hosts sharing the engine, of live runs, or that cannot be judged are kept.
    """
    done = Leftovers()
    # sparse: no inspection per container, which fails when another run removes its own
    # container between the listing and the inspection
    for ct in c.containers.list(all=True, sparse=True, filters={"label": LABEL}):
        if not orphaned(ct.attrs.get("Labels") or {}):
            done.kept += 1
            continue
        try:
            ct.remove(force=True)
            done.removed += 1
        except Exception:  # already gone: fine
            pass
    return done


def orphaned(labels: dict[str, str]) -> bool:
    """True only when the labels prove that the container's owning process is gone."""
    mine = owner_labels()
    for key in ("host", "boot", "pidns"):
        theirs = labels.get(f"{LABEL}.{key}")
        if (key == "host" or theirs is not None) and theirs != mine[f"{LABEL}.{key}"]:
            return False
    try:
        pid = int(labels.get(f"{LABEL}.pid", ""))
    except ValueError:
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    if not _alive(pid):
        return True
    started = labels.get(f"{LABEL}.started")
    now = _start_time(pid)
    return bool(started and now and started != now)   # the pid was reused


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id")


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" where /proc is missing)."""
    stat = _read(f"/proc/{pid}/stat")
    # the command name may hold spaces and parentheses: fields count from the last ")"
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""
