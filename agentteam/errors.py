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
from typing import TypeGuard

# Values people put where a key goes when the server needs none (keyless local servers,
# the examples in servers' docs). They are not secrets: redacting them would turn the
# word "ollama" in a reply into ***. Compared case-insensitively.
PLACEHOLDER_KEYS = frozenset({
    "null", "none", "empty", "nokey", "no-key", "no_key", "local", "ollama", "lm-studio",
    "lmstudio", "vllm", "llamacpp", "llama.cpp", "sk-no-key-required", "not-needed",
    "notneeded", "anything", "dummy", "placeholder", "token-abc123", "password", "changeme"})
# Shorter values are words, not keys; they would scrub ordinary text.
MIN_SECRET_LEN = 8

_SECRETS: tuple[str, ...] = ()     # longest first, so a key inside a longer one goes whole


def is_secret(value: object) -> TypeGuard[str]:
    """Whether ``value`` is worth redacting: long enough and not a placeholder."""
    return (isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LEN
            and value.strip().lower() not in PLACEHOLDER_KEYS)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` removes it from any text.

    Placeholders (``ollama``, ``NULL``, ...) and values under ``MIN_SECRET_LEN``
    characters are ignored; see ``is_secret``.
    """
    global _SECRETS
    if is_secret(value) and value.strip() not in _SECRETS:
        # stripped: a key read from a file with its newline is printed without it. A new
        # tuple, never a mutated set: threads may be redacting meanwhile.
        _SECRETS = tuple(sorted({*_SECRETS, value.strip()}, key=len, reverse=True))


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``.

    The one redaction of agentteam: the event stream, the transcript, ``--json``,
    the terminal, errors, logs, ``/save`` and the chat history all go through it.
    """
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def secret_prefix_at_end(text: str) -> int:
    """How many characters at the end of ``text`` could be the start of a secret.

    A stream holds them back until the next piece shows whether a whole secret follows
    (a key split across two deltas is redacted like one that arrives whole).
    """
    best = 0
    for secret in _SECRETS:
        # the earliest place in the last len(secret)-1 characters where the secret could
        # begin and the rest of the text agrees with it
        i = text.find(secret[0], max(0, len(text) - len(secret) + 1))
        while i != -1 and len(text) - i > best:
            if secret.startswith(text[i:]):
                best = len(text) - i
                break
            i = text.find(secret[0], i + 1)
    return best


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
    """A model call failed for good (after retries and fallbacks).

    ``partial`` is the text of the reply that had arrived before the failure (shown to
    the person already), "" when none had.
    """

    partial: str = ""

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


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) raised where Ctrl-C would be: the run ends in the
    same order (container removed, transcript closed), with the signal named and the
    shell's exit code for it (128 + the signal's number)."""

    def __init__(self, signum: int):
        import signal
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(self.name)

class TranscriptError(AgentTeamError):
    """Writing the transcript failed; the run stops, and what was written stays readable."""
