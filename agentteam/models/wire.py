"""Streaming chat completions over the OpenAI wire format, with httpx.

OpenAI, Azure OpenAI and the self-hosted servers (vLLM, LM Studio, llama.cpp,
FastChat, the embedded model) all speak one format. For them this path replaces
LiteLLM's: LiteLLM and the openai SDK build several pydantic objects for every
streamed token and walk the whole history on every call, which made a
round 3-7x slower than AG2's. Here a token costs one ``json.loads``. Everything
else (Gemini, Mistral, Ollama, Anthropic, Bedrock, ...) stays on LiteLLM, and
``AGENTTEAM_TRANSPORT=litellm`` sends every provider there.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Generator

from ..errors import ModelError
from . import embedded
from . import provider_errors as pe
from .profiles import Profile

# Providers that speak the OpenAI wire format, and the key variable each falls back to.
WIRE_PROVIDERS = {"openai": "OPENAI_API_KEY", "azure": "AZURE_API_KEY",
                  "hosted_vllm": "HOSTED_VLLM_API_KEY", "lm_studio": "LM_STUDIO_API_KEY"}
_BODY_PARAMS = ("temperature", "max_tokens", "top_p", "seed", "stop", "presence_penalty",
                "frequency_penalty", "reasoning_effort")
# Who a call is for (an agent, or "(selector)"), so servers and proxies can tell turns
# apart without guessing from the prompt; the fake server scripts replies by it.
AGENT_HEADER = "X-Agentteam-Agent"
# Model families whose parameters differ from the classic chat API: LiteLLM knows them.
_SPECIAL_MODELS = ("o1", "o3", "o4", "gpt-5")


def supports(p: Profile) -> bool:
    """Can this profile be served on the OpenAI wire path?"""
    if os.environ.get("AGENTTEAM_TRANSPORT", "auto") == "litellm":
        return False
    if p.provider not in WIRE_PROVIDERS or p.params.get("extra") or \
            p.params.get("custom_llm_provider"):
        return False
    if p.served_name.startswith(_SPECIAL_MODELS):
        return False
    if p.provider == "azure":
        return bool(p.params.get("api_base") and p.params.get("api_version"))
    return p.provider == "openai" or bool(p.params.get("api_base"))


class WireClient:
    """One pooled httpx client per endpoint; thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def _client(self, p: Profile):
        import httpx
        read = p.first_token_timeout or p.timeout
        key = (p.params.get("api_base"), read)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = httpx.Client(
                    timeout=httpx.Timeout(read, connect=min(10.0, read)),
                    limits=httpx.Limits(max_keepalive_connections=8))
            return self._clients[key]

    @staticmethod
    def request(p: Profile, messages: list[dict], agent: str = "") -> tuple[str, dict, dict]:
        """URL, headers and JSON body of a streamed chat completion for this profile."""
        name = p.served_name
        key = p.params.get("api_key") or os.environ.get(WIRE_PROVIDERS[p.provider], "")
        base = (p.params.get("api_base") or "https://api.openai.com/v1").rstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        headers.update(p.params.get("extra_headers") or {})
        if agent:
            headers[AGENT_HEADER] = header_value(agent)
        if p.provider == "azure":
            url = f"{base}/openai/deployments/{name}/chat/completions" \
                  f"?api-version={p.params['api_version']}"
            headers["api-key"] = key
        else:
            url = f"{base}/completions" if p.embedded else f"{base}/chat/completions"
            if key:
                headers["Authorization"] = f"Bearer {key}"
        if not key and p.provider in ("openai", "azure") and not p.params.get("api_base"):
            raise pe.missing_key(p)
        body = embedded.body(name, messages, agent) if p.embedded else \
            {"model": name, "messages": messages, "stream": True}
        body["stream_options"] = {"include_usage": True}
        body.update({k: p.params[k] for k in _BODY_PARAMS if p.params.get(k) is not None})
        body.update(p.params.get("extra_body") or {})   # a backend's own fields (vLLM, ...)
        return url, headers, body

    def stream(self, p: Profile, messages: list[dict], agent: str = "") -> Generator[str | dict, None, None]:
        """Yield text pieces, then one dict: {"finish_reason", "usage"}.

        Raises a ModelError; ``partial`` holds the text already yielded.
        """
        import httpx
        url, headers, body = self.request(p, messages, agent)
        start = time.monotonic()
        parts: list[str] = []
        finish, usage = None, None
        try:
            with self._client(p).stream("POST", url, headers=headers, json=body) as r:
                if r.status_code >= 400:
                    raise _status_error(p, r)
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = _parse(p, data)
                    for choice in chunk.get("choices") or []:
                        # chat chunks carry a delta; /v1/completions chunks (the
                        # embedded model) carry text
                        text = (choice.get("delta") or {}).get("content") or choice.get("text")
                        if text:
                            parts.append(text)
                            yield text
                        finish = choice.get("finish_reason") or finish
                    usage = chunk.get("usage") or usage
                    if time.monotonic() - start > p.timeout:
                        raise pe.too_slow(p)
        except ModelError as e:
            e.partial = "".join(parts)
            raise
        except httpx.TimeoutException:
            err = pe.no_answer(p)
            err.partial = "".join(parts)
            raise err from None
        except httpx.HTTPError as e:   # connect errors, a connection dropped mid-reply
            if parts or isinstance(e, (httpx.RemoteProtocolError, httpx.ReadError)) and finish:
                err = pe.stream_cut(p, "".join(parts))
            else:
                err = pe.unreachable(p, pe.short(f"{type(e).__name__}: {e}"))
            raise err from None
        if finish is None:
            raise pe.stream_cut(p, "".join(parts))
        yield {"finish_reason": finish, "usage": usage or {}}


def header_value(agent: str) -> str:
    """An agent name as an HTTP header value (names are ASCII by the schema; be safe anyway)."""
    return agent.encode("ascii", "backslashreplace").decode()


def _parse(p: Profile, data: str) -> dict:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError as e:
        raise pe.malformed(p, pe.short(f"{e.msg} in {data[:80]!r}")) from None
    if not isinstance(chunk, dict):
        raise pe.malformed(p, pe.short(repr(data[:80])))
    if chunk.get("error"):
        err = chunk["error"]
        message = err.get("message", err) if isinstance(err, dict) else err
        raise pe.from_status(p, int(chunk.get("status_code") or 500), pe.short(message))
    return chunk


def _status_error(p: Profile, r) -> ModelError:
    r.read()
    try:
        err = r.json().get("error") or {}
        detail = err.get("message", str(err)) if isinstance(err, dict) else str(err)
    except ValueError:
        detail = r.text
    try:
        retry_after = float(r.headers["retry-after"]) if "retry-after" in r.headers else None
    except ValueError:
        retry_after = None
    return pe.from_status(p, r.status_code, pe.short(detail), retry_after)
