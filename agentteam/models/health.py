"""`agentteam models`: is each profile's endpoint reachable, its key accepted, its model there?

Every profile is checked in parallel with a short timeout: the model list
(where the server has one), then a streamed completion that is read only up to
its first token: the time to it is the latency reported (``first_token_s``). A
slow model (a CPU-bound local one, a reasoning one) is healthy as soon as it
starts to answer, not when a whole reply would have ended. Failures are said in
words a person can act on, naming the key's variable and never its value.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

from ..errors import AuthError, ModelError, ModelNotFound, redact
from .profiles import Profile

PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]


@dataclass
class Health:
    profile: str
    model: str
    endpoint: str
    reachable: bool | None = None
    key_ok: bool | None = None
    listed: bool | None = None
    completion: bool | None = None
    first_token_s: float | None = None   # seconds from the request to the first token
    problem: str = ""

    @property
    def healthy(self) -> bool:
        checks = (self.reachable, self.key_ok, self.listed, self.completion)
        return not self.problem and all(c is not False for c in checks)

    def to_dict(self) -> dict:
        return {**asdict(self), "healthy": self.healthy}


def _list_models(p: Profile, timeout: float) -> tuple[int, list[str]]:
    """GET <api_base>/models of an OpenAI-compatible server: (status, model ids).

    ``timeout`` bounds the whole answer (a server that trickles it is cut), and the
    guard bounds its size; a ModelError says what went wrong.
    """
    import httpx

    from . import guard
    base = p.params["api_base"].rstrip("/")
    headers = {}
    key = p.params.get("api_key")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    call = guard.Call(replace(p, timeout=timeout), timeout)
    try:
        with guard.client(timeout=timeout) as c:
            r = c.get(f"{base}/models", headers=headers, extensions={guard.EXTENSION: call})
    except httpx.HTTPError:
        if call.error is not None:
            raise call.error from None
        raise
    if r.status_code != 200:
        return r.status_code, []
    try:
        body = r.json()
    except ValueError:
        return 200, []
    data = body.get("data") if isinstance(body, dict) else None
    return 200, [m["id"] for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)] \
        if isinstance(data, list) else []


def check_profile(p: Profile, timeout: float = 15.0, call: bool = True) -> Health:
    """All checks for one profile; never raises."""
    h = Health(p.name, p.model, p.endpoint)
    if p.params.get("api_base") and p.provider in ("openai", "hosted_vllm", "lm_studio"):
        try:
            status, ids = _list_models(p, min(timeout, 5.0))
        except ModelError as e:   # it answered, but not in time or not in shape
            h.reachable = True
            h.problem = redact(str(e))
            return h
        except Exception as e:  # httpx connect/timeout errors: the endpoint is down
            h.reachable = False
            h.problem = f"cannot reach {p.endpoint} ({type(e).__name__}); is the server running?"
            return h
        h.reachable = True
        if status in (401, 403):
            h.key_ok = False
            h.problem = f"{status} from {p.endpoint}: the key in {p.key_var()} was refused"
            return h
        if status == 200:
            h.key_ok = True
            if ids:
                h.listed = p.served_name in ids
                if not h.listed:
                    h.problem = (f"model `{p.served_name}` is not served by {p.endpoint}; "
                                 f"it serves: {', '.join(ids[:8])}")
                    return h
    if call and not draws(p):       # an image model: a check would cost an image
        _complete(p, h, timeout)
    return h


def draws(p: Profile) -> bool:
    """Is this an image generation model (by LiteLLM's table, or by its name)?"""
    from .prices import entry
    found = entry(p.model) or {}
    return found.get("mode") == "image_generation" or \
        p.served_name.startswith(("dall-e", "gpt-image", "imagen"))


def _complete(p: Profile, h: Health, timeout: float) -> None:
    """A streamed completion through the model layer (wire or LiteLLM), once, no fallbacks,
    read up to its first token and then closed (which drops the connection)."""
    from . import wire
    from .base import Delta
    from .provider import ProviderModel, litellm
    if not wire.supports(p):
        litellm()   # importing LiteLLM takes seconds; that is not the endpoint's latency
    # The token budget only matters to a reasoning model, whose first visible token comes
    # after its reasoning: it must have room to get there.
    once = replace(p, params={**p.params, "max_tokens": 512}, num_retries=0, fallbacks=[],
                   timeout=timeout, first_token_timeout=None)
    stream = ProviderModel({p.name: once}).stream(p.name, PROMPT, "(health check)")
    start = time.monotonic()
    try:
        for item in stream:
            if isinstance(item, Delta):
                break
    except ModelError as e:
        h.completion = False
        if isinstance(e, AuthError):
            h.key_ok = False
        elif isinstance(e, ModelNotFound):
            h.listed = False
        elif str(e).startswith("cannot reach"):
            h.reachable = False
        h.problem = redact(str(e))
        return
    finally:
        stream.close()
    h.first_token_s = round(time.monotonic() - start, 3)
    h.completion = True
    h.reachable = True if h.reachable is None else h.reachable
    h.key_ok = True if h.key_ok is None else h.key_ok


def check_all(profiles: dict[str, Profile], timeout: float = 15.0, call: bool = True) -> list[Health]:
    """Check every profile in parallel; results in the profiles' order."""
    if not profiles:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(profiles))) as pool:
        return list(pool.map(lambda p: check_profile(p, timeout, call), profiles.values()))
