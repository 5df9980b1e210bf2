"""Code executors: one small base class, and docker / local / none implementations.

``make_executor`` builds the one a team asks for; only ``docker.py`` imports docker.
"""

from __future__ import annotations

from ..team import CodeExecution
from .base import CodeExecutor, NoExecutor


def make_executor(spec: CodeExecution, work_dir, kind: str | None = None) -> CodeExecutor:
    """The executor of ``kind`` (default: the team's), not started yet."""
    kind = kind or spec.executor
    if kind == "docker":
        from .docker import DockerExecutor
        return DockerExecutor(spec, work_dir)
    if kind == "local":
        from .local import LocalExecutor
        return LocalExecutor(spec, work_dir)
    return NoExecutor(spec, work_dir)


__all__ = ["CodeExecutor", "NoExecutor", "make_executor"]
