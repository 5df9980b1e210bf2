"""agentteam's exceptions, one tree; only ``cli.py`` turns them into exit codes.

    AgentTeamError                  base; ``exit_code`` says how the CLI ends
    ├── ConfigError (2)             bad team file, flag or answer; holds ``problems``
    ├── UsageError (2)              a request that cannot work here (no TTY, no Docker, ...)
    ├── ModelError (1)              a model call failed after retries and fallbacks
    │   ├── AuthError               401/403: the key was refused (never retried)
    │   ├── ModelNotFound           the server does not know the model
    │   ├── ContextOverflow         the prompt is larger than the model's window
    │   ├── ModelTimeout            no answer / no next token in time
    │   ├── RateLimited             429 (retried, honouring Retry-After)
    │   ├── ServerError             5xx, connection refused, malformed stream
    │   └── StreamCut               the stream ended before the reply was finished
    ├── ExecutionError (1)          the code executor failed (not the code it ran)
    ├── ReplayDiverged (1)          a replayed run asked for something not recorded
    └── TranscriptError (1)         the transcript could not be written (a full disk)

Every message is meant for a person: it says where and what to do, and never
contains a secret (``redact`` scrubs known key values).
"""

from __future__ import annotations

from dataclasses import dataclass

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` removes it from any text."""
    if value and len(value) >= 6 and value.upper() not in ("NULL", "EMPTY", "NONE"):
        _SECRETS.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactingFormatter:
    """A logging formatter wrapper whose every line is scrubbed of registered secrets."""

    def __init__(self, inner):
        self.inner = inner

    def format(self, record) -> str:
        return redact(self.inner.format(record))

    def __getattr__(self, name):
        return getattr(self.inner, name)


class AgentTeamError(Exception):
    """Base of all agentteam errors."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)


@dataclass
class Problem:
    """One problem in a team file, with its place."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.path}:" if self.path else ""
        return redact(f"{where}:{key} {self.message}")


class ConfigError(AgentTeamError):
    """A bad team file, flag or answer. ``problems`` lists every problem found."""

    exit_code = 2

    def __init__(self, message: str, problems: list[Problem] | None = None):
        self.problems = problems or []
        super().__init__(message)


class UsageError(AgentTeamError):
    """A request that cannot be carried out here, found before any model call."""

    exit_code = 2


class ModelError(AgentTeamError):
    """A model call failed for good (after retries and fallbacks)."""

    def __init__(self, message: str, profile: str = "", retryable: bool = False):
        self.profile = profile
        self.retryable = retryable
        super().__init__(message)


class AuthError(ModelError):
    """The provider refused the key (401/403)."""


class ModelNotFound(ModelError):
    """The provider does not know the model."""


class ContextOverflow(ModelError):
    """The prompt exceeds the model's context window."""


class ModelTimeout(ModelError):
    """The provider did not answer, or stopped streaming, in time."""


class RateLimited(ModelError):
    """429 from the provider; ``retry_after`` is its hint in seconds, if any."""

    def __init__(self, message: str, profile: str = "", retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message, profile, retryable=True)


class ServerError(ModelError):
    """5xx, a refused connection, or a malformed response."""


class StreamCut(ModelError):
    """The stream ended before the reply finished; ``partial`` holds what arrived."""

    def __init__(self, message: str, profile: str = "", partial: str = ""):
        self.partial = partial
        super().__init__(message, profile, retryable=True)


class ExecutionError(AgentTeamError):
    """The code executor itself failed (Docker gone, image missing, ...)."""


class ReplayDiverged(AgentTeamError):
    """A replayed run asked for a reply the recording does not have."""


class TranscriptError(AgentTeamError):
    """Writing the transcript failed; the run stops, and what was written stays readable."""
