"""OpenTelemetry traces of a run: a subscriber that turns events into spans.

A span per run, per turn (an agent's go, ``invoke_agent``), per model call
(``chat``, with the GenAI semantic conventions' model, provider, tokens and
finish reason) and per code block or tool call (``execute_code``,
``execute_tool``). Retries, cut streams and notices become span events; errors
set the span status. Message content (replies, the task, code output, tool
arguments, selection reasons) is recorded only when ``AGENTTEAM_OTEL_CONTENT=1``
(or the GenAI convention's ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``).
Every string attribute is scrubbed of known keys.

Nothing here is imported unless tracing is on (``OTEL_EXPORTER_OTLP_ENDPOINT`` set
or ``run --otel``), and this module imports OpenTelemetry only inside
``RunTracer``, so a run without tracing loads none of it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Generator

from .errors import UsageError, redact

log = logging.getLogger(__name__)

CONTENT_VARS = ("AGENTTEAM_OTEL_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
MAX_CONTENT = 8192
# LiteLLM provider prefixes as the GenAI conventions name them (others pass as they are).
PROVIDERS = {"azure": "azure.ai.openai", "gemini": "gcp.gemini", "vertex_ai": "gcp.vertex_ai",
             "mistral": "mistral_ai", "bedrock": "aws.bedrock", "ollama": "ollama"}


def wanted(flag: bool) -> bool:
    """Tracing is on with ``--otel`` or an OTLP endpoint in the environment, unless the
    SDK is disabled (``OTEL_SDK_DISABLED=true``)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return flag or any(os.environ.get(v) for v in ENDPOINT_VARS)


def capture_content() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes")
               for v in CONTENT_VARS)


def tracer_for(flag: bool, profiles: dict) -> tuple["RunTracer | None", str | None]:
    """The run's tracer when tracing is wanted; with only the environment asking and the
    extra missing, no tracer and a warning to show (``--otel`` then is an error)."""
    if not wanted(flag):
        return None, None
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        fix = 'tracing needs the otel extra: pip install "agentteam[otel]"'
        if flag:
            raise UsageError(f"--otel: {fix}") from None
        return None, f"OTEL_EXPORTER_OTLP_ENDPOINT is set but {fix}; this run is not traced"
    return RunTracer(profiles), None


def exporting_provider():
    """A TracerProvider sending spans over OTLP/HTTP to the endpoint in the environment
    (default http://localhost:4318), as service ``agentteam`` unless OTEL_SERVICE_NAME says."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    attrs = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "agentteam"}
    provider = TracerProvider(resource=Resource.create(attrs))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def _configured(provider):
    """The global provider when an SDK one was installed (not the API's no-op proxy)."""
    from opentelemetry.sdk.trace import TracerProvider
    return provider if isinstance(provider, TracerProvider) else None


def _clean(value: Any) -> Any:
    """An attribute value: strings scrubbed of keys, lists of strings likewise."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [redact(str(v)) for v in value]
    return value


class RunTracer:
    """Call it with every event of a run; ``shutdown()`` when the run is over.

    ``profiles`` ({name: Profile}) names the model and provider behind each profile;
    ``tracer_provider`` replaces the OTLP exporter (tests pass an in-memory one).
    """

    def __init__(self, profiles: dict | None = None, tracer_provider=None,
                 content: bool | None = None):
        from opentelemetry import trace
        self._trace = trace
        # an application that set up OpenTelemetry itself gets the spans in its provider
        tracer_provider = tracer_provider or _configured(trace.get_tracer_provider())
        self._own = tracer_provider is None
        self.provider = tracer_provider or exporting_provider()
        self.tracer = self.provider.get_tracer("agentteam")
        self.profiles = profiles or {}
        self.content = capture_content() if content is None else content
        # One frame per chat: the run's, then an inner chat's (``kind: team``, ``chats:``)
        # under the turn of the member that runs it. ``run_span``, ``turn`` and ``call`` are
        # those of the chat the current event belongs to (its ``scope``).
        self.frames: list[_Frame] = [_Frame()]
        self.depth = 0
        self.tools: dict[str, Any] = {}
        self._usage = [0, 0]

    @property
    def _f(self) -> "_Frame":
        while len(self.frames) <= self.depth:     # an event of a chat that was not announced
            self.frames.append(_Frame(self.frames[-1].turn[0] if self.frames[-1].turn
                                      else self.frames[-1].span))
        return self.frames[self.depth]

    @property
    def run_span(self) -> Any:
        return self._f.span

    @run_span.setter
    def run_span(self, span: Any) -> None:
        self._f.span = span

    @property
    def turn(self) -> tuple[Any, int, str] | None:
        return self._f.turn

    @turn.setter
    def turn(self, turn: tuple[Any, int, str] | None) -> None:
        self._f.turn = turn

    @property
    def call(self) -> Any:          # the open model call span
        return self._f.call

    @call.setter
    def call(self, span: Any) -> None:
        self._f.call = span

    # -- plumbing -------------------------------------------------------------------
    def __call__(self, ev) -> None:
        handler = getattr(self, "_" + str(getattr(ev, "type", "")), None)
        if handler is None:
            return
        try:
            self.depth = len(getattr(ev, "scope", None) or [])
            handler(ev)
        except Exception:     # tracing must never stop a run
            log.debug("agentteam tracing: %s event dropped", ev.type, exc_info=True)

    def _start(self, name: str, parent, attrs: dict, kind=None, start_time: int | None = None):
        ctx = self._trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=ctx, start_time=start_time,
                                      kind=kind or self._trace.SpanKind.INTERNAL)
        self._set(span, attrs)
        return span

    def _set(self, span, attrs: dict) -> None:
        for k, v in attrs.items():
            if v is not None:
                span.set_attribute(k, _clean(v))

    def _fail(self, span, why: str) -> None:
        from opentelemetry.trace import Status, StatusCode
        span.set_status(Status(StatusCode.ERROR, redact(why)))

    def _text(self, value) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text[:MAX_CONTENT]

    def _model(self, profile: str | None) -> tuple[str | None, str | None, str | None]:
        """(model as the server knows it, LiteLLM id, provider) of a profile."""
        p = self.profiles.get(profile or "")
        if p is None:
            return profile, profile, None
        return p.served_name, p.model, PROVIDERS.get(p.provider, p.provider)

    def _parent(self):
        return self.turn[0] if self.turn else self.run_span

    # -- events ---------------------------------------------------------------------
    def _run_started(self, ev) -> None:
        self.run_span = self._start(f"run {ev.team}", None, {
            "agentteam.team": ev.team, "agentteam.agents": list(ev.agents),
            "agentteam.transcript": ev.transcript, "agentteam.resumed_at": ev.resumed_at,
            "agentteam.task": self._text(ev.task) if self.content else None})

    def _speaker_selected(self, ev) -> None:
        self._end_turn()
        self._begin_turn(ev.round, ev.agent, {
            "agentteam.selection.method": ev.method,
            "agentteam.selection.reason": ev.reason if self.content else None})

    def _begin_turn(self, round_no: int, agent: str, attrs: dict | None = None) -> None:
        span = self._start(f"invoke_agent {agent}", self.run_span, {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
            "agentteam.round": round_no, **(attrs or {})})
        self.turn = (span, round_no, agent)

    def _end_turn(self) -> None:
        if self.turn:
            self.turn[0].end()
            self.turn = None

    def _message_start(self, ev) -> None:
        if not self.turn or self.turn[1:] != (ev.round, ev.agent):
            self._end_turn()
            self._begin_turn(ev.round, ev.agent)
        served, model, provider = self._model(ev.model)
        self.call = self._start(f"chat {served}", self._parent(), {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": served,
            "gen_ai.provider.name": provider, "gen_ai.system": provider,
            "gen_ai.agent.name": ev.agent, "agentteam.profile": ev.model,
            "agentteam.model": model}, kind=self._trace.SpanKind.CLIENT)

    def _retry(self, ev) -> None:
        span = self.call or self._parent()
        if span is not None:
            span.add_event("retry", {"agentteam.retry.model": _clean(ev.model),
                                     "error.type": "retry", "agentteam.retry.error": _clean(ev.error),
                                     "agentteam.retry.wait_s": float(ev.wait_s),
                                     "agentteam.retry.attempt": int(ev.attempt)})

    def _message(self, ev) -> None:
        if self.call is not None:
            self._end_call(ev)
        if self.turn and self.turn[1:] == (ev.round, ev.agent) and not ev.incomplete:
            self._end_turn()

    def _end_call(self, ev) -> None:
        span, self.call = self.call, None
        usage = ev.usage or {}
        finish = getattr(ev, "finish_reason", None) or ("error" if ev.incomplete else "stop")
        served, _, _ = self._model(ev.model)
        self._set(span, {
            "gen_ai.response.model": served if ev.model else None,
            "gen_ai.response.finish_reasons": [finish],
            "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
            "agentteam.usage.cost": usage.get("cost"),
            "agentteam.usage.estimated": usage.get("estimated")})
        self._usage[0] += int(usage.get("prompt_tokens") or 0)
        self._usage[1] += int(usage.get("completion_tokens") or 0)
        if self.content:
            span.set_attribute("gen_ai.output.messages", redact(json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": self._text(ev.content)}],
                  "finish_reason": finish}], ensure_ascii=False)))
        if ev.incomplete:
            span.add_event("stream_cut", {"agentteam.partial_chars": len(self._text(ev.content))})
            self._fail(span, "the reply broke off")
        span.end()

    def _code_result(self, ev) -> None:
        now = time.time_ns()
        span = self._start(f"execute_code {ev.language}", self._parent(), {
            "gen_ai.operation.name": "execute_code", "agentteam.code.language": ev.language,
            "agentteam.code.exit_code": ev.exit_code, "agentteam.code.timed_out": ev.timed_out,
            "agentteam.code.source_round": ev.source_round, "gen_ai.agent.name": ev.agent,
            "agentteam.code.output": self._text(ev.output) if self.content else None},
            start_time=now - int(float(ev.duration_s) * 1e9))
        if ev.exit_code != 0:
            self._fail(span, "timed out" if ev.timed_out else f"exit {ev.exit_code}")
        span.end(end_time=now)

    def _tool_call(self, ev) -> None:
        name, call_id = getattr(ev, "name", "tool"), str(getattr(ev, "id", ""))
        self.tools[call_id] = self._start(f"execute_tool {name}", self._parent(), {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.call.arguments": self._text(getattr(ev, "arguments", ""))
            if self.content else None})

    def _tool_result(self, ev) -> None:
        call_id = str(getattr(ev, "id", ""))
        span = self.tools.pop(call_id, None)
        if span is None:
            self._tool_call(ev)
            span = self.tools.pop(call_id)
        if self.content:
            span.set_attribute("gen_ai.tool.call.result", redact(self._text(getattr(ev, "output", ""))))
        if getattr(ev, "is_error", False):
            self._fail(span, "the tool failed")
        span.end()

    def _chat_started(self, ev) -> None:
        """An inner chat: a span under the turn of the member that runs it (or under the
        chat above, for ``chats:``), holding the inner chat's turns."""
        outer = self.frames[self.depth - 1] if 0 < self.depth <= len(self.frames) else None
        parent = (outer.turn[0] if outer.turn else outer.span) if outer else self.run_span
        del self.frames[self.depth:]
        self.frames.append(_Frame())
        self.run_span = self._start(f"invoke_team {ev.team}", parent, {
            "gen_ai.operation.name": "invoke_agent", "agentteam.team": ev.team,
            "agentteam.scope": list(ev.scope or []), "agentteam.agents": list(ev.agents),
            "agentteam.resumed_at": ev.resumed_at,
            "agentteam.task": self._text(ev.task) if self.content else None})

    def _chat_ended(self, ev) -> None:
        why = ev.error or ev.reason
        self._close_open(why)
        span = self.run_span
        if span is not None:
            total = (ev.usage or {}).get("total") or {}
            self._set(span, {"agentteam.reason": ev.reason, "agentteam.rounds": ev.rounds,
                             "gen_ai.usage.input_tokens": total.get("prompt_tokens"),
                             "gen_ai.usage.output_tokens": total.get("completion_tokens"),
                             "agentteam.usage.cost": total.get("cost")})
            if ev.reason in ("error", "interrupted"):
                self._fail(span, why)
            span.end()
        del self.frames[max(1, self.depth):]

    def _notice(self, ev) -> None:
        if self.run_span is not None:
            self.run_span.add_event("notice", {"agentteam.notice.level": _clean(ev.level),
                                               "agentteam.notice.text": _clean(ev.text)})

    def _run_ended(self, ev) -> None:
        why = ev.error or ev.reason
        self._close_inner(why)
        self._close_open(why)
        if self.run_span is None:
            return
        total = (ev.usage or {}).get("total") or {}
        self._set(self.run_span, {
            "agentteam.reason": ev.reason, "agentteam.rounds": ev.rounds,
            "agentteam.exit_code": ev.exit_code,
            "gen_ai.usage.input_tokens": total.get("prompt_tokens", self._usage[0]),
            "gen_ai.usage.output_tokens": total.get("completion_tokens", self._usage[1]),
            "agentteam.usage.cost": total.get("cost")})
        if ev.reason in ("error", "interrupted"):
            if ev.error:
                self.run_span.add_event("exception", {"exception.message": redact(ev.error)})
            self._fail(self.run_span, why)
        self.run_span.end()
        self.run_span = None

    def _close_inner(self, why: str) -> None:
        """End the inner chats still open (a run cut short inside one), innermost first."""
        for depth in range(len(self.frames) - 1, 0, -1):
            self.depth = depth
            self._close_open(why)
            if self.run_span is not None:
                self._fail(self.run_span, why)
                self.run_span.end()
        del self.frames[1:]
        self.depth = 0

    def _close_open(self, why: str) -> None:
        for span in [self.call, *self.tools.values()]:
            if span is not None:
                self._fail(span, why)
                span.end()
        self.call, self.tools = None, {}
        if self.turn:
            if why not in ("keyword", "max_round", "budget", "stalled", "human", "selection"):
                self._fail(self.turn[0], why)
            self._end_turn()

    def shutdown(self) -> None:
        """End what is still open (a run cut short) and send every span."""
        try:
            self._close_inner("the run ended without run_ended")
            if self.run_span is not None:
                self._close_open("the run ended without run_ended")
                self._fail(self.run_span, "the run ended without run_ended")
                self.run_span.end()
                self.run_span = None
            if self._own:
                self.provider.shutdown()
            elif hasattr(self.provider, "force_flush"):
                self.provider.force_flush()
        except Exception:
            log.debug("agentteam tracing: shutdown failed", exc_info=True)


@dataclass
class _Frame:
    """A chat's open spans: the chat itself, the turn in progress, the model call."""
    span: Any = None
    turn: tuple[Any, int, str] | None = None
    call: Any = None


def observed(events: Generator, observe) -> Generator:
    """``yield from events``, showing each event to ``observe`` first.

    ``throw()`` and ``close()`` reach ``events`` as with ``yield from``: Ctrl-C that
    the caller throws in is handled by the run loop, not by this wrapper.
    """
    send: Any = events.send
    arg: Any = None
    while True:
        try:
            ev = send(arg)
        except StopIteration:
            return
        observe(ev)
        try:
            arg = yield ev
            send = events.send
        except GeneratorExit:
            events.close()
            raise
        except BaseException as e:  # noqa: B036 - passed on to the run loop, as yield from does
            send, arg = events.throw, e
