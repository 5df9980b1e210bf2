"""Image generation for ``kind: image_generator`` agents: an image model draws a prompt.

OpenAI and Azure OpenAI (and OpenAI-compatible servers) are called on the OpenAI
wire, ``POST …/images/generations`` with the answer as base64; every other
provider LiteLLM can draw with goes through ``litellm.image_generation``. An
answer that is only a web address is fetched (size-capped). Retries, fallbacks
and errors work as for chat (``provider_errors``); cost comes from LiteLLM's
table, per image, per pixel or per token, whichever it knows.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Callable, Generator

from ..conversation.messages import Content, Usage
from ..errors import ModelError, StreamCut
from . import prices, wire
from . import provider_errors as pe
from .base import RetryNote
from .profiles import Profile


@dataclass(frozen=True)
class ImageRequest:
    """What to draw, and how (``size`` like 1024x1024, ``quality`` like standard or hd)."""

    prompt: str
    size: str | None = None
    quality: str | None = None


@dataclass
class Picture:
    """A drawn image: its bytes, or (replayed) the recorded message as ``content``."""

    data: bytes | None
    profile: str
    usage: Usage
    revised_prompt: str | None = None
    content: Content | None = None


ImageStream = Generator[RetryNote, None, Picture]


def generate(profiles: dict[str, Profile], name: str, request: ImageRequest, agent: str,
             sleep: Callable[[float], None] = time.sleep) -> ImageStream:
    """Draw with profile ``name``, retrying and falling back as its profile says."""
    chain = [name] + [f for f in profiles[name].fallbacks if f != name]
    last: ModelError | None = None
    for i, pname in enumerate(chain):
        p = profiles[pname]
        try:
            return (yield from _with_retries(p, request, agent, sleep))
        except ModelError as e:
            last = e
            if i + 1 < len(chain):
                yield RetryNote(p.name, f"{e} — trying fallback profile `{chain[i + 1]}`", 0.0, 0)
    assert last is not None
    raise last


def _with_retries(p: Profile, request: ImageRequest, agent: str, sleep) -> ImageStream:
    attempt = 0
    while True:
        try:
            return draw(p, request, agent)
        except ModelError as e:
            if isinstance(e, StreamCut) or not e.retryable or attempt >= p.num_retries:
                raise
            attempt += 1
            hint = getattr(e, "retry_after", None)
            wait = min(hint if hint is not None else min(2 ** (attempt - 1), 30) * 0.5,
                       p.max_retry_wait)
            yield RetryNote(p.name, str(e), wait, attempt)
            sleep(wait)


def draw(p: Profile, request: ImageRequest, agent: str = "") -> Picture:
    """One call to the image model; a ModelError says what went wrong."""
    start = time.monotonic()
    body = _wire(p, request, agent) if wire.supports(p) else _litellm(p, request, agent)
    data, revised = _image(p, body)
    used = body.get("usage")
    used = used if isinstance(used, dict) else {}
    tokens_in = _int(used.get("input_tokens", used.get("prompt_tokens")))
    tokens_out = _int(used.get("output_tokens", used.get("completion_tokens")))
    usage = Usage(tokens_in, tokens_out, cost(p, request, tokens_in, tokens_out), 1,
                  time.monotonic() - start)
    return Picture(data, p.name, usage, revised)


def _wire(p: Profile, request: ImageRequest, agent: str) -> dict:
    import httpx
    name = p.served_name
    url, headers, key = wire.endpoint(p, "images/generations", agent)
    if not key and not p.params.get("api_base"):
        raise pe.missing_key(p)
    body: dict = {"model": name, "prompt": request.prompt, "n": 1}
    body.update({k: v for k, v in (("size", request.size), ("quality", request.quality)) if v})
    if not name.startswith("gpt-image"):       # gpt-image models always answer in base64
        body["response_format"] = "b64_json"
    try:
        r = httpx.post(url, json=body, headers=headers,
                       timeout=httpx.Timeout(p.timeout, connect=min(10.0, p.timeout)))
    except httpx.TimeoutException:
        raise pe.no_answer(p) from None
    except httpx.HTTPError as e:
        raise pe.unreachable(p, pe.short(f"{type(e).__name__}: {e}")) from None
    if r.status_code >= 400:
        raise wire.status_error(p, r)
    try:
        answer = r.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise pe.malformed(p, f"not an images answer ({pe.short(r.text[:80])})")
    return answer


def _litellm(p: Profile, request: ImageRequest, agent: str) -> dict:
    from .provider import litellm, map_error
    kwargs = {k: v for k, v in p.params.items()
              if k in ("api_key", "api_base", "api_version", "custom_llm_provider")}
    kwargs.update(p.params.get("extra") or {})
    kwargs["extra_headers"] = {**(p.params.get("extra_headers") or {}),
                               wire.AGENT_HEADER: wire.header_value(agent)}
    if request.size:
        kwargs["size"] = request.size
    if request.quality:
        kwargs["quality"] = request.quality
    try:
        answer = litellm().image_generation(model=p.model, prompt=request.prompt, n=1,
                                            timeout=p.timeout, **kwargs)
    except Exception as exc:  # every provider failure is mapped, none escapes raw
        raise map_error(exc, p) from None
    out = answer.model_dump() if hasattr(answer, "model_dump") else dict(answer)
    return out if isinstance(out, dict) else {}


def _image(p: Profile, body: dict) -> tuple[bytes, str | None]:
    """The first image of an answer (base64, or fetched from its address)."""
    from ..images.encode import fetch
    from ..images.files import ImageError
    items = body.get("data")
    item = items[0] if isinstance(items, list) and items else None
    if not isinstance(item, dict):
        raise pe.malformed(p, "the answer holds no image")
    revised = item.get("revised_prompt") if isinstance(item.get("revised_prompt"), str) else None
    if isinstance(item.get("b64_json"), str):
        try:
            return base64.b64decode(item["b64_json"], validate=True), revised
        except ValueError:
            raise pe.malformed(p, "the image is not valid base64") from None
    if isinstance(item.get("url"), str):
        try:
            return fetch(item["url"]), revised
        except ImageError as e:
            raise pe.malformed(p, f"the image at the address it gave {e}") from None
    raise pe.malformed(p, "the answer holds neither b64_json nor url")


def cost(p: Profile, request: ImageRequest, tokens_in: int = 0, tokens_out: int = 0) -> float | None:
    """Dollars for one image, from the first entry of LiteLLM's table that prices it."""
    name, provider = p.served_name, p.provider
    size = request.size if request.size and request.size != "auto" else "1024x1024"
    quality = request.quality or "standard"
    size_key = size.replace("x", "-x-")
    for key in (f"{provider}/{quality}/{size_key}/{name}", f"{quality}/{size_key}/{name}",
                f"{size_key}/{name}", p.model, name):
        found = prices.entry(key)
        if not found:
            continue
        per_image = found.get("input_cost_per_image") or found.get("output_cost_per_image")
        if per_image is not None:
            return float(per_image)
        if found.get("input_cost_per_pixel"):
            w, h = (int(n) for n in size.split("x"))
            return float(found["input_cost_per_pixel"]) * w * h
        if "input_cost_per_token" in found and (tokens_in or tokens_out):
            return (tokens_in * found.get("input_cost_per_token", 0)
                    + tokens_out * found.get("output_cost_per_token", 0))
    return None


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
