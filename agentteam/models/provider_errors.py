"""Provider failures in words a person can act on; shared by both transports.

Both ``models`` (LiteLLM) and ``wire`` (the OpenAI wire format over httpx) build
their errors here, so a fault reads the same whichever path met it.
"""

from __future__ import annotations

from ..errors import (
    AuthError,
    ContextOverflow,
    ModelError,
    ModelNotFound,
    ModelTimeout,
    RateLimited,
    ServerError,
    StreamCut,
    redact,
)
from .profiles import Profile

CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window",
                   "too many tokens", "prompt is too long")


def short(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return redact(text[:limit] + ("…" if len(text) > limit else ""))


def missing_key(p: Profile) -> ModelError:
    return AuthError(f"no API key for profile `{p.name}` ({p.model}): set {p.key_var()} or "
                     "give `api_key: ${VAR}` in the profile", p.name)


def refused_key(p: Profile, status: int | None, detail: str) -> ModelError:
    return AuthError(f"{status or 401} from {p.endpoint}: the key in {p.key_var()} was refused "
                     f"for profile `{p.name}` ({detail})", p.name)


def context_overflow(p: Profile, detail: str) -> ModelError:
    return ContextOverflow(f"the conversation is too long for `{p.model}` (profile "
                           f"`{p.name}`): {detail}", p.name)


def not_found(p: Profile, detail: str) -> ModelError:
    return ModelNotFound(f"404 from {p.endpoint}: model `{p.model}` of profile `{p.name}` was "
                         f"not found ({detail}); `agentteam models` lists what it serves", p.name)


def rate_limited(p: Profile, detail: str, retry_after: float | None) -> ModelError:
    return RateLimited(f"429 rate limited by {p.endpoint} ({detail})", p.name, retry_after)


def no_answer(p: Profile) -> ModelError:
    wait = p.first_token_timeout or p.timeout
    return ModelTimeout(f"no answer from {p.endpoint} within {wait:g}s (profile `{p.name}`)",
                        p.name, retryable=True)


def too_slow(p: Profile) -> ModelError:
    return ModelTimeout(f"reply from {p.endpoint} took longer than {p.timeout:g}s (profile "
                        f"`{p.name}`)", p.name, retryable=True)


def stream_cut(p: Profile, partial: str) -> ModelError:
    return StreamCut(f"the stream from {p.endpoint} broke off after {len(partial)} characters "
                     f"(profile `{p.name}`)", p.name, partial=partial)


def malformed(p: Profile, detail: str) -> ModelError:
    return ServerError(f"malformed response from {p.endpoint}: {detail}", p.name,
                       retryable=True)


def not_compatible(p: Profile, detail: str) -> ModelError:
    return ServerError(f"not an OpenAI-compatible response from {p.endpoint} (profile "
                       f"`{p.name}`): {detail}", p.name)


def too_large(p: Profile, limit: int, line: bool = False) -> ModelError:
    what = "one line of the response" if line else "the response"
    return ServerError(f"{what} from {p.endpoint} exceeded {limit >> 20} MB (profile "
                       f"`{p.name}`); agentteam stopped reading it", p.name)


def bad_proxy(p: Profile, var: str, proxy: str, why: str) -> ModelError:
    where = f"${var} ({proxy})" if proxy else "the *_PROXY variables"
    return ModelError(f"cannot call {p.endpoint} (profile `{p.name}`): {where} cannot be used "
                      f"as a proxy: {why}; fix or unset it", p.name)


def proxy_unreachable(p: Profile, var: str, proxy: str, detail: str) -> ModelError:
    return ServerError(f"cannot reach {p.endpoint} through the proxy in ${var} ({proxy}) for "
                       f"profile `{p.name}` ({detail}); is the proxy running, or should "
                       f"${var} be unset?", p.name, retryable=True)


def unreachable(p: Profile, detail: str) -> ModelError:
    return ServerError(f"cannot reach {p.endpoint} for profile `{p.name}` ({detail}); is the "
                       "server running?", p.name, retryable=True)


def from_status(p: Profile, status: int, detail: str,
                retry_after: float | None = None) -> ModelError:
    """An HTTP error status as the most specific ModelError."""
    if status in (401, 403):
        return refused_key(p, status, detail)
    if status == 404:
        return not_found(p, detail)
    if status == 429:
        return rate_limited(p, detail, retry_after)
    if status in (400, 413) and any(m in detail.lower() for m in CONTEXT_MARKERS):
        return context_overflow(p, detail)
    if "jinja" in detail.lower() and "tool" in detail.lower():
        # llama.cpp's llama-server takes tools only with its Jinja chat templates
        return ModelError(f"{p.endpoint} cannot take tools ({detail}): start llama-server "
                          "with --jinja (the default in builds since late 2025)", p.name)
    if status >= 500:
        return ServerError(f"{status} from {p.endpoint} ({detail})", p.name, retryable=True)
    return ModelError(f"{status} from {p.endpoint}: the request was refused ({detail})", p.name)
