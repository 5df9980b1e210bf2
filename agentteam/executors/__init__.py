"""Code executors: one small base class, and docker / local / none implementations.

``make_executor`` builds the one a team asks for; only ``docker.py`` imports docker.
"""

from __future__ import annotations

from typing import Callable

from ..errors import ExecutionError
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


def check_or_build(executor: CodeExecutor,
                   build_image: Callable[[str], None] | None = None) -> None:
    """``executor.check()``; when only its image is missing and ``build_image`` is given
    (a first run), build the image and check again."""
    try:
        executor.check()
    except ExecutionError as e:
        if not (build_image and "is missing" in str(e)):
            raise
        build_image(executor.spec.image)
        executor.check()


__all__ = ["CodeExecutor", "NoExecutor", "check_or_build", "make_executor"]
