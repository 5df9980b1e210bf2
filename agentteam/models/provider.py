"""The model layer: a thin shim over LiteLLM (the only module that imports it), with a
fast path for the OpenAI wire format (``wire.py``).

``ProviderModel.stream(profile, messages, agent)`` is a generator: it yields ``Delta``
(text as it arrives), ``RetryNote`` (before waiting to retry) and ``Cut`` (a
reply broke off; its partial text) and returns a ``Completion``. It retries
with backoff honouring ``Retry-After``, moves on to fallback profiles, maps
every provider error to one of ours, and adapts messages to the provider's
rules. LiteLLM is imported on first use, with its cost-map download off.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ..conversation.messages import TextPart, ToolCallPart, Usage
from ..errors import ModelError, RateLimited, ServerError, StreamCut, redact
from . import constrained, guard, prices, prompt_cache, wire
from . import provider_errors as pe
from .base import Completion, Cut, Delta, RetryNote, Stream
from .profiles import Profile

# -- LiteLLM, imported lazily ----------------------------------------------------

log = logging.getLogger("agentteam.models")
_import_lock = threading.Lock()
_litellm_mod = None


def litellm():
    """Import LiteLLM once, quietly and offline (no cost-map download)."""
    global _litellm_mod
    if _litellm_mod is None:
        with _import_lock:
            if _litellm_mod is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                os.environ.setdefault("LITELLM_LOG", "CRITICAL")
                import litellm as mod
                mod.suppress_debug_info = True
                mod.telemetry = False
                # agentteam registers no LiteLLM callbacks (usage, cost and logs are its
                # own); left on, LiteLLM hands every streamed chunk to a logging thread
                # that starts a new asyncio loop for it: ~1 ms per token.
                mod.disable_streaming_logging = True
                # Every request goes through the guarded transport: its OpenAI client
                # (client_session) and its own HTTP handler (sync_transport) alike.
                mod.client_session = guard.client()
                mod.sync_transport = guard.transport()
                level = logging.DEBUG if os.environ.get("AGENTTEAM_VERBOSE") == "1" \
                    else logging.CRITICAL
                for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
                    logging.getLogger(name).setLevel(level)
                if level == logging.DEBUG and hasattr(mod, "_turn_on_debug"):
                    mod._turn_on_debug()
                _litellm_mod = mod
    return _litellm_mod


def preload() -> threading.Thread:
    """Start importing LiteLLM in the background, so it overlaps other start-up work."""
    t = threading.Thread(target=litellm, name="litellm-import", daemon=True)
    t.start()
    return t


# -- provider message rules --------------------------------------------------------

# Providers whose chat API accepts the OpenAI `name` field on messages.
_NAME_OK = {"openai", "azure"}


def adapt(messages: list[dict], profile: Profile) -> list[dict]:
    """Shape canonical messages (role, content, name) to what the provider accepts.

    OpenAI and Azure get the `name` field. Everyone else gets the speaker's name
    inside the content, consecutive messages of one role merged, the system
    message first only, and a user turn first after it. Tool-calling turns
    (``tool_calls``, role ``tool``) are kept as they are: LiteLLM translates them.
    """
    use_name = profile.provider in _NAME_OK and not profile.params.get("api_base") \
        or profile.provider == "azure"
    if use_name:
        return [dict(m) for m in messages]
    out: list[dict] = []
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "tool" or m.get("tool_calls"):
            out.append(_tool_turn(m))
            continue
        if role == "user" and out and out[-1]["role"] == "tool" and profile.provider == "mistral":
            # Mistral refuses a user message right after tool results
            out.append({"role": "assistant", "content": "(tool results received)"})
        if m.get("name") and role == "user":
            content = _prefixed(f"{m['name']}: ", content)
        if role == "system" and out:
            role, content = "user", _prefixed("[system] ", content)
        prev = out[-1] if out else None
        if prev and prev["role"] == role and role != "system" and not prev.get("tool_calls"):
            prev["content"] = _joined(prev["content"], content)
        else:
            out.append({"role": role, "content": content})
    first = 1 if out and out[0]["role"] == "system" else 0
    if len(out) == first or out[first]["role"] != "user":
        out.insert(first, {"role": "user", "content": "(the conversation starts)"})
    return out


def _tool_turn(m: dict) -> dict:
    """A tool-calling turn as it is, without a speaker's name (LiteLLM finds a result's
    function by its call id for the providers that want it, Gemini among them)."""
    return {k: v for k, v in m.items() if k != "name"}


def _prefixed(prefix: str, content):
    """Put ``prefix`` before content that is a string or a list of OpenAI content parts."""
    if isinstance(content, str):
        return prefix + content
    return [{"type": "text", "text": prefix.rstrip()}] + list(content)


def _joined(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a + "\n\n" + b
    as_list = (lambda c: [{"type": "text", "text": c}] if isinstance(c, str) else list(c))
    return as_list(a) + as_list(b)


# -- errors --------------------------------------------------------------------------

def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _excerpt(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc)
    for noise in ("litellm.", "OpenAIException - ", "APIConnectionError: ",
                  "MidStreamFallbackError: ", "BadRequestError: ", "RateLimitError: ",
                  "AuthenticationError: ", "NotFoundError: ", "ContextWindowExceededError: ",
                  "InternalServerError: ", "ServiceUnavailableError: ", "Original exception: "):
        text = text.replace(noise, "")
    text = " ".join(text.split())
    return redact(text[:240] + ("…" if len(text) > 240 else ""))


def map_error(exc: BaseException, p: Profile) -> ModelError:
    """Turn a LiteLLM/httpx exception into the most specific agentteam ModelError."""
    try:
        return _map_error(exc, p)
    except Exception:  # the mapping itself must never turn into a traceback
        return ServerError(f"{type(exc).__name__} calling {p.endpoint}: {_excerpt(exc)}",
                           p.name, retryable=True)


def _cls(name: str):
    """A LiteLLM exception class by name, or a class nothing is an instance of."""
    return getattr(litellm().exceptions, name, None) or type(name, (Exception,), {})


def _map_error(exc: BaseException, p: Profile) -> ModelError:
    lm = litellm()
    status = getattr(exc, "status_code", None)
    detail = _excerpt(exc)
    text = str(exc)
    if "Missing credentials" in text or "api_key client option must be set" in text:
        return pe.missing_key(p)
    if isinstance(exc, (lm.AuthenticationError, lm.PermissionDeniedError)):
        return pe.refused_key(p, status, detail)
    if isinstance(exc, lm.ContextWindowExceededError):
        return pe.context_overflow(p, detail)
    if isinstance(exc, lm.Timeout):
        return pe.no_answer(p)
    if isinstance(exc, _cls("MidStreamFallbackError")) or "Expecting" in text \
            or "JSONDecodeError" in text:
        return pe.malformed(p, detail)
    if isinstance(exc, lm.APIConnectionError) or "Connection error" in text:
        return pe.unreachable(p, detail)
    if isinstance(status, int) and status >= 400:
        return pe.from_status(p, status, detail, _retry_after(exc))
    if isinstance(exc, lm.RateLimitError):
        return pe.rate_limited(p, detail, _retry_after(exc))
    return ServerError(f"{type(exc).__name__} calling {p.endpoint}: {detail}", p.name,
                       retryable=True)


# Providers whose streams LiteLLM reads with its OpenAI handler: there a missing
# finish_reason reliably means the connection dropped mid-reply. Other handlers
# (Gemini, Mistral, ...) do not record it, so a cut cannot be told from an end there.
_FINISH_TRACKED = {"openai", "azure", "hosted_vllm", "lm_studio", "ollama_chat", "ollama"}


def _close(stream) -> None:
    """Release the HTTP response of a stream we stop reading early."""
    try:
        inner = getattr(stream, "completion_stream", None)
        close = getattr(inner, "close", None) or \
            getattr(getattr(inner, "response", None), "close", None)
        if close is not None:
            close()
    except Exception:  # closing is best effort; the connection is dropped anyway
        pass


def _finished(stream, p: Profile) -> bool:
    if p.provider not in _FINISH_TRACKED:
        return True
    return bool(getattr(stream, "received_finish_reason", "stop")
                or getattr(stream, "intermittent_finish_reason", None))


# -- the shim -------------------------------------------------------------------------

# 429s one call may meet in a batch before it fails, even when each asks for no wait.
_MAX_LIMITED = 100


class ProviderModel:
    """Calls any LiteLLM model; retries, falls back and streams."""

    def __init__(self, profiles: dict[str, Profile], sleep=time.sleep, shared=None):
        self.profiles = profiles
        self._sleep = sleep
        # ``shared`` (models.shared.SharedModels): the pools and rate gate of a batch
        self._wire = shared.wire if shared is not None else wire.WireClient()
        self._gate = shared.gate if shared is not None else None
        self._patience = shared.rate_limit_patience if shared is not None else 0.0
        if self._gate is not None:
            self._sleep = self._gate.sleep
        self._unconstrained: set[str] = set()   # profiles that refused a constrained choice

    def stream(self, profile: str, messages: list[dict], agent: str,
               tools: list[dict] | None = None, choices: list[str] | None = None,
               schema: dict | None = None) -> Stream:
        """Stream a reply; with ``choices`` (a speaker selection) the reply is capped,
        constrained to the names where the backend can do it, and returned as the name;
        with ``schema`` (``{"name", "schema"}``) a JSON object of that schema is asked for
        where the backend can be told (read it with ``models.structured``)."""
        chain = [profile] + [f for f in self.profiles[profile].fallbacks if f != profile]
        last: ModelError | None = None
        for name in chain:
            p = self.profiles[name]
            try:
                if choices:
                    return (yield from self._choose(p, messages, agent, list(choices)))
                if schema:
                    return (yield from self._structured(p, messages, agent, schema))
                return (yield from self._with_retries(p, messages, agent, tools))
            except ModelError as e:
                last = e
                if name != chain[-1]:
                    yield RetryNote(p.name, f"{e} — trying fallback profile "
                                            f"`{chain[chain.index(name) + 1]}`", 0.0, 0)
        assert last is not None
        raise last

    def generate(self, profile: str, request, agent: str):
        """Draw an image (``imagegen.ImageRequest``) with this profile: yields RetryNote,
        returns an ``imagegen.Picture``."""
        from . import imagegen
        return (yield from imagegen.generate(self.profiles, profile, request, agent, self._sleep))

    def _choose(self, p: Profile, messages: list[dict], agent: str,
                choices: list[str]) -> Stream:
        done = yield from self._constrained(
            p, messages, agent, lambda c: constrained.shape(p, choices, wire.supports(p), c))
        done.text = constrained.answer(done.text)
        return done

    def _structured(self, p: Profile, messages: list[dict], agent: str,
                    schema: dict) -> Stream:
        return (yield from self._constrained(
            p, messages, agent, lambda c: constrained.shape_json(p, schema, wire.supports(p), c)))

    def _constrained(self, p: Profile, messages: list[dict], agent: str, shaped_as) -> Stream:
        """A call whose request ``shaped_as(True)`` constrains (``shaped_as(False)``: the same
        call without the constraint)."""
        constrain = p.name not in self._unconstrained
        shaped = shaped_as(constrain)
        try:
            return (yield from self._with_retries(shaped, messages, agent))
        except ModelError as e:
            # A plain refusal (400/422) of a constrained request: the backend does not
            # take the constraint. Ask without it, now and for the rest of the run.
            plain = shaped_as(False)
            if type(e) is not ModelError or not constrain or shaped.params == plain.params:
                raise
            log.debug("profile %s refused a constrained request (%s); asking without it",
                      p.name, e)
            self._unconstrained.add(p.name)
            return (yield from self._with_retries(plain, messages, agent))

    def _with_retries(self, p: Profile, messages: list[dict], agent: str,
                      tools: list[dict] | None = None) -> Stream:
        attempt = 0
        cut_retried = False
        limited = 0          # 429s met by this call, and the seconds they made it wait
        limited_wait = 0.0
        while True:
            if self._gate is not None:
                self._gate.wait()
            try:
                return (yield from self._call(p, messages, agent, tools))
            except ModelError as e:
                partial = getattr(e, "partial", "")
                if partial:
                    yield Cut(partial, str(e))
                if isinstance(e, StreamCut):
                    if cut_retried:
                        raise
                    cut_retried = True
                    continue
                if isinstance(e, RateLimited) and self._gate is not None \
                        and limited_wait < self._patience and limited < _MAX_LIMITED:
                    # In a batch a 429 holds every run's next call at the gate and does
                    # not use up this run's retries: the batch slows down, runs go on.
                    limited += 1
                    hint = e.retry_after
                    wait = hint if hint is not None else min(2 ** (limited - 1), 30) * 0.5
                    wait = min(wait, p.max_retry_wait)
                    limited_wait += wait
                    self._gate.hold(wait)
                    yield RetryNote(p.name, str(e), wait, attempt + limited)
                    continue
                if not e.retryable or attempt >= p.num_retries:
                    raise
                attempt += 1
                hint = getattr(e, "retry_after", None)
                wait = hint if hint is not None else min(2 ** (attempt - 1), 30) * 0.5
                wait = min(wait, p.max_retry_wait)
                log.debug("retry %d of profile %s in %.2fs: %s", attempt, p.name, wait, e)
                yield RetryNote(p.name, str(e), wait, attempt)
                self._sleep(wait)

    def _call(self, p: Profile, messages: list[dict], agent: str,
              tools: list[dict] | None = None) -> Stream:
        if wire.supports(p):
            return (yield from self._call_wire(p, messages, agent, tools))
        return (yield from self._call_litellm(p, messages, agent, tools))

    def _call_wire(self, p: Profile, messages: list[dict], agent: str,
                   tools: list[dict] | None = None) -> Stream:
        log.debug("calling %s at %s on the OpenAI wire (profile %s, key from %s, %d messages)",
                  p.model, p.endpoint, p.name, p.key_var(), len(messages))
        start = time.monotonic()
        parts: list[str] = []
        end: dict = {}
        # the embedded model's script is written from the canonical messages
        shaped = messages if wire.as_script(p, tools) else adapt(messages, p)
        pieces = self._wire.stream(p, shaped, agent, tools)
        try:
            for item in pieces:
                if isinstance(item, str):
                    parts.append(item)
                    yield Delta(item)
                else:
                    end = item
        finally:
            # A caller that stops reading (closes this generator) ends the HTTP response
            # now, not whenever the garbage collector gets to it.
            pieces.close()
        usage = end.get("usage") or {}
        seconds = time.monotonic() - start
        truncated = end.get("finish_reason") == "length"
        calls = end.get("tool_calls") or []
        if not usage.get("completion_tokens"):
            # Some servers (llama.cpp's among them) report no usage when streaming:
            # count one token per streamed piece and ~4 characters per prompt token
            # (and per character of the tool calls' names and arguments).
            prompt = sum(len(_text(m.get("content"))) for m in messages) // 4
            written = len(parts) + sum(len(c["name"]) + len(c["arguments"]) for c in calls) // 4
            counted = _usage(p, prompt, written, seconds)
            counted.estimated = True
            return _completion("".join(parts), p, counted, calls, truncated)
        return _completion("".join(parts), p, _usage(
            p, usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, seconds,
            usage),
            calls, truncated)

    def _call_litellm(self, p: Profile, messages: list[dict], agent: str,
                      tools: list[dict] | None = None) -> Stream:
        lm = litellm()
        log.debug("calling %s at %s (profile %s, key from %s, %d messages)", p.model,
                  p.endpoint, p.name, p.key_var(), len(messages))
        kwargs = dict(p.params)
        kwargs["extra_headers"] = {**(p.params.get("extra_headers") or {}),
                                   wire.AGENT_HEADER: wire.header_value(agent)}
        kwargs.update(model=p.model, messages=prompt_cache.mark(adapt(messages, p), p),
                      stream=True, num_retries=0,
                      timeout=p.first_token_timeout or p.timeout,
                      stream_options={"include_usage": True}, drop_params=True)
        if tools:
            kwargs.update(tools=tools, tool_choice="auto")
        start = time.monotonic()
        call = guard.Call(p, p.timeout)
        parts: list[str] = []
        calls = wire.ToolCalls()
        usage, finish = None, None
        try:
            with guard.bound(call):   # LiteLLM's requests carry this call's limits
                stream = lm.completion(**kwargs)
                for chunk in stream:
                    text, reason = _choice(p, chunk)
                    if text:
                        parts.append(text)
                        yield Delta(text)
                    deltas = _tool_deltas(chunk)
                    if deltas:
                        calls.add(deltas)
                    finish = reason or finish
                    if getattr(chunk, "usage", None):
                        usage = chunk.usage
                        if finish and _finished(stream, p):
                            # All there is has arrived. Reading on would only make LiteLLM
                            # rebuild and deep-copy the whole response for its own logging.
                            _close(stream)
                            break
                    if call.expired():
                        raise pe.too_slow(p)
                finished = _finished(stream, p)
            if call.error is not None:     # a limit tripped and LiteLLM swallowed it
                raise call.error
        except GeneratorExit:   # the caller stopped reading: drop the HTTP response now
            _close(stream)
            raise
        except ModelError as e:
            e.partial = "".join(parts)
            raise
        except Exception as exc:  # every provider failure is mapped, none escapes raw
            err = call.error or map_error(exc, p)
            err.partial = "".join(parts)
            raise err from None
        text = "".join(parts)
        if not finished:
            raise pe.stream_cut(p, text)
        return _completion(text, p, _usage(p, _tokens(usage, "prompt_tokens"),
                                           _tokens(usage, "completion_tokens"),
                                           time.monotonic() - start, usage),
                           calls.done(), finish == "length")


def _completion(text: str, p: Profile, usage: Usage, calls: list[dict],
                truncated: bool = False) -> Completion:
    """A reply; one with tool calls is a message with parts (its text, then the calls)."""
    if not calls:
        return Completion(text, p.name, usage, truncated=truncated)
    parts = ((TextPart(text),) if text.strip() else ()) + tuple(
        ToolCallPart(c["id"], c["name"], c["arguments"]) for c in calls)
    return Completion(text, p.name, usage, parts, truncated=truncated)


def _tool_deltas(chunk) -> list:
    """The tool-call pieces of a LiteLLM chunk (objects or dicts; ToolCalls reads both)."""
    choices = getattr(chunk, "choices", None) or []
    delta = getattr(choices[0], "delta", None) if choices else None
    pieces = getattr(delta, "tool_calls", None)
    return list(pieces) if isinstance(pieces, (list, tuple)) else []


def _choice(p: Profile, chunk) -> tuple[str | None, str | None]:
    """Text and finish reason of a LiteLLM chunk, refusing shapes that are not text."""
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return None, None
    first = choices[0]
    text = getattr(getattr(first, "delta", None), "content", None)
    reason = getattr(first, "finish_reason", None)
    if not isinstance(text, (str, type(None))) or not isinstance(reason, (str, type(None))):
        raise pe.malformed(p, f"a chunk whose text is a {type(text).__name__}, not text")
    if text:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise pe.malformed(p, "text with a lone surrogate (invalid Unicode)") from None
    return text, reason


def _tokens(usage, name: str) -> int:
    value = getattr(usage, name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _text(content) -> str:
    """The text of message content (a string, or content parts: images left out)."""
    if isinstance(content, list):
        return "".join(str(c.get("text") or "") for c in content if isinstance(c, dict))
    return str(content or "")


def _usage(p: Profile, prompt: int, completion: int, seconds: float,
           reported=None) -> Usage:
    """Usage of one call, priced; ``reported`` is the provider's own usage report, which
    says how much of the prompt came from its prompt cache."""
    cached, written = prompt_cache.counts(reported)
    cached, written = min(cached, prompt), min(written, max(0, prompt - cached))
    cost = prices.cost(p.model, prompt, completion, cached, written)
    return Usage(prompt, completion, cost, 1, seconds, cached_tokens=cached)


def needs_litellm(profiles: dict[str, Profile]) -> bool:
    """Will any of these profiles be called through LiteLLM (so it is worth preloading)?"""
    return any(not (p.is_local or wire.supports(p)) for p in profiles.values())
