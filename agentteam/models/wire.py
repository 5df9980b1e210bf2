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
import uuid
from typing import Any, Generator, Iterator

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
    """One httpx client per endpoint, all sending through the guarded transport; thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def _client(self, p: Profile):
        import httpx

        from . import guard  # imports httpx: only when a call is made
        read = p.first_token_timeout or p.timeout
        key = (p.params.get("api_base"), read)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = guard.client(
                    timeout=httpx.Timeout(read, connect=min(10.0, read)))
            return self._clients[key]

    def close(self) -> None:
        """Close every pooled connection (a batch's shared client, at its end)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    @staticmethod
    def request(p: Profile, messages: list[dict], agent: str = "",
                tools: list[dict] | None = None) -> tuple[str, dict, dict]:
        """URL, headers and JSON body of a streamed chat completion for this profile."""
        name = p.served_name
        script = as_script(p, tools)
        url, headers, key = endpoint(p, "completions" if script else "chat/completions", agent)
        headers.setdefault("Accept", "text/event-stream")   # extra_headers may set it
        if not key and p.provider in ("openai", "azure") and not p.params.get("api_base"):
            raise pe.missing_key(p)
        body = embedded.body(name, messages, agent) if script else \
            {"model": name, "messages": messages, "stream": True}
        body["stream_options"] = {"include_usage": True}
        body.update({k: p.params[k] for k in _BODY_PARAMS if p.params.get(k) is not None})
        if tools:
            body.update(tools=tools, tool_choice="auto")
        body.update(p.params.get("extra_body") or {})   # a backend's own fields (vLLM, ...)
        return url, headers, body

    def stream(self, p: Profile, messages: list[dict], agent: str = "",
               tools: list[dict] | None = None) -> Generator[str | dict, None, None]:
        """Yield text pieces, then one dict: {"finish_reason", "usage", "tool_calls"}.

        Raises a ModelError; ``partial`` holds the text already yielded. The profile's
        ``timeout`` is a hard deadline for the whole reply (the guard holds it).
        """
        import httpx

        from . import guard  # imports httpx: only when a call is made
        url, headers, body = self.request(p, messages, agent, tools)
        if tools and not p.stream_tools:
            yield from self._whole(p, url, headers, body)
            return
        call = guard.Call(p, p.timeout, whole_events=False)
        parts: list[str] = []
        calls = ToolCalls()
        finish, usage, events, kind = None, None, 0, ""
        try:
            with self._client(p).stream("POST", url, headers=headers, json=body,
                                        extensions={guard.EXTENSION: call}) as r:
                if call.error is not None:
                    raise call.error
                if r.status_code >= 400:
                    raise status_error(p, r)
                kind = r.headers.get("content-type", "")
                for line in _lines(r):
                    if not line.startswith(b"data:"):
                        continue        # comments, event: and id: lines
                    events += 1
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    texts, reason, used, tool_deltas = parse_chunk(p, data)
                    for text in texts:
                        parts.append(text)
                        yield text
                    if tool_deltas:
                        calls.add(tool_deltas)
                    finish = reason or finish
                    usage = used or usage
        except ModelError as e:
            e.partial = "".join(parts)
            raise
        except httpx.HTTPError as e:   # connect errors, a connection dropped mid-reply
            raise _transport_error(p, call, e, parts, finish) from None
        if finish is None:
            if not events:
                raise pe.not_compatible(p, f"no `data:` events in a reply of type "
                                           f"`{pe.short(kind, 60) or 'unknown'}`")
            raise pe.stream_cut(p, "".join(parts))
        yield {"finish_reason": finish, "usage": usage or {}, "tool_calls": calls.done()}

    def _whole(self, p: Profile, url: str, headers: dict, body: dict) -> Generator[str | dict, None, None]:
        """The reply in one piece, for servers that cannot stream one that may call tools."""
        import httpx
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        try:
            r = self._client(p).post(url, headers={**headers, "Accept": "application/json"},
                                     json=body)
            if r.status_code >= 400:
                raise status_error(p, r)
            data = r.json()
            choice = (data.get("choices") or [{}])[0]
            message = choice.get("message") or {}
        except httpx.TimeoutException:
            raise pe.no_answer(p) from None
        except httpx.HTTPError as e:
            raise pe.unreachable(p, pe.short(f"{type(e).__name__}: {e}")) from None
        except (ValueError, AttributeError, IndexError) as e:
            raise pe.malformed(p, pe.short(str(e))) from None
        if message.get("content"):
            yield message["content"]
        calls = ToolCalls()
        calls.add([{**c, "index": i} for i, c in enumerate(message.get("tool_calls") or [])])
        yield {"finish_reason": choice.get("finish_reason") or "stop",
               "usage": data.get("usage") or {}, "tool_calls": calls.done()}


class ToolCalls:
    """Assembles streamed tool calls: pieces of one call share an ``index``; the first
    names it, the others add to its arguments."""

    def __init__(self) -> None:
        self.calls: dict[int, dict] = {}

    def add(self, deltas: list) -> None:
        for d in deltas:
            get = d.get if isinstance(d, dict) else (lambda k, d=d: getattr(d, k, None))
            index = get("index")
            index = index if isinstance(index, int) else len(self.calls)
            call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
            fn = get("function") or {}
            fget = fn.get if isinstance(fn, dict) else (lambda k, f=fn: getattr(f, k, None))
            text = (lambda v: v if isinstance(v, str) else "")   # a hostile shape adds nothing
            call["id"] = call["id"] or text(get("id"))
            if not call["name"]:   # some servers repeat the name in every piece
                call["name"] = text(fget("name"))
            call["arguments"] += text(fget("arguments"))

    def done(self) -> list[dict]:
        """The calls in order; a call the server gave no id gets a unique one (nine letters
        and digits, the form Mistral requires)."""
        out = []
        for index in sorted(self.calls):
            call = dict(self.calls[index])
            call["id"] = call["id"] or uuid.uuid4().hex[:9]
            out.append(call)
        return out


def _transport_error(p: Profile, call, e, parts: list[str], finish) -> ModelError:
    import httpx
    if call.error is not None:
        err = call.error
    elif isinstance(e, httpx.TimeoutException):
        err = pe.no_answer(p)
    elif parts or isinstance(e, (httpx.RemoteProtocolError, httpx.ReadError)) and finish:
        err = pe.stream_cut(p, "".join(parts))
    else:
        err = pe.unreachable(p, pe.short(f"{type(e).__name__}: {e}"))
    err.partial = "".join(parts)
    return err


def _lines(r) -> Iterator[bytes]:
    """The body's lines, split on \\n only: a U+2028 inside a JSON string is text."""
    tail: list[bytes] = []
    for chunk in r.iter_raw():
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            tail.append(chunk[start:end])
            line, tail = b"".join(tail), []
            yield line.rstrip(b"\r")
            start = end + 1
        if start < len(chunk):
            tail.append(chunk[start:])
    if tail:
        yield b"".join(tail).rstrip(b"\r")


def as_script(p: Profile, tools: list[dict] | None) -> bool:
    """Is this call the embedded model's script on /v1/completions (``models.embedded``)?
    A turn that may call tools goes through the server's chat format instead."""
    return p.embedded and not tools


def endpoint(p: Profile, path: str, agent: str = "") -> tuple[str, dict, str]:
    """URL, headers and key for ``path`` (``chat/completions``, ``images/generations``) on
    this profile's OpenAI-wire endpoint: Azure's deployment path and ``api-key``, a Bearer
    key elsewhere, the profile's extra headers and the agent the call is for."""
    key = p.params.get("api_key") or os.environ.get(WIRE_PROVIDERS[p.provider], "")
    base = (p.params.get("api_base") or "https://api.openai.com/v1").rstrip("/")
    headers = {"Content-Type": "application/json", **(p.params.get("extra_headers") or {})}
    if agent:
        headers[AGENT_HEADER] = header_value(agent)
    if p.provider == "azure":
        url = f"{base}/openai/deployments/{p.served_name}/{path}" \
              f"?api-version={p.params['api_version']}"
        headers["api-key"] = key
    else:
        url = f"{base}/{path}"
        if key:
            headers["Authorization"] = f"Bearer {key}"
    return url, headers, key


def header_value(agent: str) -> str:
    """An agent name as an HTTP header value (names are ASCII by the schema; be safe anyway)."""
    return agent.encode("ascii", "backslashreplace").decode()


def parse_chunk(p: Profile, data: bytes) -> tuple[list[str], str | None, dict | None, list[dict]]:
    """Texts, finish reason, usage and tool-call pieces of one SSE ``data:`` payload.

    Whatever the server sends, this returns or raises a ModelError, never anything else.
    """
    try:
        chunk = json.loads(data)
    except (ValueError, RecursionError) as e:   # bad JSON, bad UTF-8, absurd nesting
        raise pe.malformed(p, pe.short(f"{type(e).__name__}: {e} in {data[:80]!r}")) from None
    if not isinstance(chunk, dict):
        raise _shape(p, "a chunk that is not a JSON object", data)
    if chunk.get("error"):
        err, status = chunk["error"], chunk.get("status_code")
        message = err.get("message", err) if isinstance(err, dict) else err
        code = status if isinstance(status, int) and not isinstance(status, bool) \
            and 400 <= status < 600 else 500
        raise pe.from_status(p, code, pe.short(message))
    choices = chunk.get("choices") or []
    if not isinstance(choices, list):
        raise _shape(p, "`choices` is not a list", data)
    texts: list[str] = []
    tool_deltas: list[dict] = []
    finish = None
    for choice in choices:
        delta = choice.get("delta") or {} if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            raise _shape(p, "a choice or its `delta` is not an object", data)
        # chat chunks carry a delta; /v1/completions chunks (the embedded model) carry text
        text, reason = delta.get("content") or choice.get("text"), choice.get("finish_reason")
        if not isinstance(text, (str, type(None))) or not isinstance(reason, (str, type(None))):
            raise _shape(p, "`content` or `finish_reason` is not text", data)
        if text:
            texts.append(text)
        pieces = delta.get("tool_calls")
        if pieces is not None:
            if not (isinstance(pieces, list) and all(isinstance(c, dict) for c in pieces)):
                raise _shape(p, "`tool_calls` is not a list of objects", data)
            tool_deltas.extend(pieces)
        finish = reason or finish
    usage = chunk.get("usage")
    if usage is not None and not (isinstance(usage, dict) and all(
            _count(usage.get(k)) for k in ("prompt_tokens", "completion_tokens"))):
        raise _shape(p, "`usage` is not an object of token counts", data)
    if b"\\u" in data:     # an escaped lone surrogate cannot be written anywhere as UTF-8
        try:
            "".join(texts).encode("utf-8")
        except UnicodeEncodeError:
            raise _shape(p, "text with a lone surrogate (invalid Unicode)", data) from None
    return texts, finish, usage or None, tool_deltas


def _count(value) -> bool:
    return value is None or isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shape(p: Profile, what: str, data: bytes) -> ModelError:
    return pe.malformed(p, f"{what}: {pe.short(data.decode('utf-8', 'replace'), 80)}")


def status_error(p: Profile, r) -> ModelError:
    """The named error of a non-2xx response (its body read; ``Retry-After`` kept)."""
    r.read()
    try:
        body = r.json()
        err = (body.get("error") if isinstance(body, dict) else None) or body
        detail = err.get("message", str(err)) if isinstance(err, dict) else str(err)
    except ValueError:
        detail = r.text
    try:
        retry_after = float(r.headers["retry-after"]) if "retry-after" in r.headers else None
    except ValueError:
        retry_after = None
    return pe.from_status(p, r.status_code, pe.short(detail), retry_after)
