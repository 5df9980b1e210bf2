"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It speaks the wire format real servers speak (``/v1/chat/completions`` with and
without SSE streaming, ``/v1/models``, Azure's ``/openai/deployments/<d>/...``
and Ollama's ``/api/chat``), records every request, and can inject the faults
that real providers produce: 429 with ``Retry-After``, 5xx, 401, 404 for an
unknown model, a context-length 400, a hang, a stream cut mid-reply,
malformed SSE, a reply cut at the token limit (``length``), and the hostile ones of
``hostile.py`` (a body that never ends a line, gzip bombs, wrong-shape chunks, an
HTML page, a redirect), on the chat endpoint or on ``/models``. ``delay`` holds every
completion that long before it answers (a model's latency), and ``stats`` counts how
many were in flight at once.

Replies come from a *responder*: a function from the request body and the agent
the call is for (agentteam's ``X-Agentteam-Agent`` header; "" when absent) to
text, or to a reply with tool calls (``tool_calls(...)`` builds one), which is
streamed as OpenAI ``delta.tool_calls`` pieces (and as Gemini ``functionCall``
parts, Ollama ``tool_calls``). ``by_agent`` builds a responder that answers each
agent from its own queue. The request bodies are recorded as they came, so a
test reads ``tools`` and ``tool_choice`` there.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

from . import hostile

Reply = Union[str, dict]        # text, or {"content": text, "tool_calls": [...]}
Responder = Callable[[dict, str], Reply]
_CALL_IDS = itertools.count(1)

FAULTS = ("ok", "429", "500", "503", "401", "404", "context", "hang", "cut", "badjson", "slow",
          "length", "400") + hostile.KINDS


@dataclass
class Fault:
    """One injected failure, used by the next matching request."""

    kind: str
    retry_after: float | None = None
    delay: float = 0.0
    payload: str | None = None     # ``chunk``: the data of the odd SSE line


def tool_calls(*calls: tuple[str, Any], text: str = "") -> dict:
    """A reply that calls tools: ``tool_calls(("convert", {"amount": 10}), text="Let me")``.

    Arguments may be a dict (sent as JSON) or a string (sent as it is, even when it is
    not JSON); a third item in a call gives its id.
    """
    return {"content": text, "tool_calls": [
        {"name": c[0], "arguments": c[1], **({"id": c[2]} if len(c) > 2 else {})}
        for c in calls]}


def split_reply(reply: Reply) -> tuple[str, list[dict]]:
    """A responder's reply as text and tool calls (each with an id and JSON-text arguments)."""
    if isinstance(reply, str):
        return reply, []
    calls = []
    for c in reply.get("tool_calls") or []:
        args = c.get("arguments", {})
        calls.append({"id": c.get("id") or f"call_{next(_CALL_IDS)}", "name": c["name"],
                      "arguments": args if isinstance(args, str) else json.dumps(args)})
    return str(reply.get("content") or ""), calls


def by_agent(script: dict[str, list[Reply]], default: str = "OK") -> Responder:
    """Answer from per-agent queues, keyed by the agent each call is for.

    agentteam names the agent of every call in the ``X-Agentteam-Agent`` header
    (``(selector)`` for speaker selection); a request without it gets ``default``.
    The last reply of a queue repeats once the queue is down to it.
    """
    queues = {k: deque(v) for k, v in script.items()}
    lock = threading.Lock()

    def respond(body: dict, agent: str) -> Reply:
        queue = queues.get(agent)
        if queue is None:
            return default
        with lock:
            if len(queue) > 1:
                return queue.popleft()
            return queue[0] if queue else default

    return respond


@dataclass
class Recorded:
    """A request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict = field(default_factory=dict)


class FakeOpenAIServer:
    """Threaded fake server; use as a context manager or call start()/stop()."""

    def __init__(self, responder: Responder | None = None, models: list[str] | None = None,
                 api_key: str | None = None, chunk_delay: float = 0.0, port: int = 0,
                 delay: float = 0.0):
        self.responder: Responder = responder or (lambda body, agent: "OK")
        self.models = models if models is not None else ["fake-model"]
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.delay = delay
        self.bind_port = port
        self.requests: list[Recorded] = []
        # GET /_stats, POST /_reset
        self.stats = {"completions": 0, "prompt_chars": 0, "in_flight": 0, "max_in_flight": 0}
        self.abandoned = 0   # streams whose client hung up before the end
        self.faults: deque[Fault] = deque()
        self.model_faults: deque[Fault] = deque()   # for GET .../models
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._stop_hang = threading.Event()
        # Like a provider's prompt cache: a prompt's longest common prefix with an earlier
        # one is reported as cached (OpenAI's prompt_tokens_details.cached_tokens,
        # Anthropic's cache_read_input_tokens). Off unless a test turns it on.
        self.prompt_cache = False
        self._prompts: list[list[tuple]] = []

    # -- control ---------------------------------------------------------
    def fail(self, kind: str, times: int = 1, retry_after: float | None = None,
             delay: float = 0.0, after: int = 0, payload: str | None = None,
             on: str = "chat") -> None:
        """Make ``times`` completion requests fail with ``kind``, after ``after`` good ones.

        ``on="models"`` sends a hostile fault (``hostile.KINDS``) to ``/models`` instead.
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        queue = self.model_faults if on == "models" else self.faults
        for _ in range(after):
            queue.append(Fault("ok"))
        for _ in range(times):
            queue.append(Fault(kind, retry_after, delay, payload))

    def usage(self, body: dict, text: str, calls: list[dict] | None = None) -> dict:
        """The usage a reply reports; with ``prompt_cache``, the cached part of its prompt."""
        usage = _usage(body, text, calls)
        if self.prompt_cache:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens(body)}
        return usage

    def cached_tokens(self, body: dict) -> int:
        """Tokens (4 characters of content each, as ``_usage`` counts them) of this prompt
        that an earlier prompt began with."""
        system = body.get("system")
        prompt = ([("system", _flat(system))] if system else []) + \
            [(m.get("role"), _flat(m.get("content"))) for m in body.get("messages", [])]
        with self._lock:
            best = max((_common_prefix(prompt, p) for p in self._prompts), default=0)
            self._prompts.append(prompt)
        return best // 4

    @property
    def url(self) -> str:
        """Base URL in the OpenAI style, ending in /v1."""
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    def completions(self) -> list[Recorded]:
        """The chat-completion requests received so far."""
        return [r for r in self.requests if "chat" in r.path]

    def start(self) -> "FakeOpenAIServer":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.bind_port), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop_hang.set()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None


def _flat(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content or [] if isinstance(b, dict))


def _common_prefix(a: list[tuple], b: list[tuple]) -> int:
    """Characters of content two prompts (lists of (role, text)) begin with alike."""
    n = 0
    for (role_a, text_a), (role_b, text_b) in zip(a, b, strict=False):
        if role_a != role_b:
            break
        if text_a != text_b:
            n += len(os.path.commonprefix([text_a, text_b]))
            break
        n += len(text_a)
    return n


def _usage(body: dict, text: str, calls: list[dict] | None = None) -> dict:
    prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
    prompt = max(1, prompt_chars // 4)
    written = " ".join([text] + [f"{c['name']} {c['arguments']}" for c in calls or []])
    completion = max(1, len(written.split()))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _finish(fault: Fault | None) -> str:
    return "length" if fault and fault.kind == "length" else "stop"


def pieces(text: str) -> list[str]:
    """Split text into stream deltas of about one word each, keeping whitespace."""
    out, cur = [], ""
    for ch in text:
        cur += ch
        if ch == " ":
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out or [""]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"
    # Small SSE writes + Nagle + delayed ACKs stall ~40 ms per reply; real servers flush.
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # -- helpers -----------------------------------------------------------
    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None,
               headers: dict | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": "invalid_request_error",
                                      "code": code}}, headers)

    def _authorized(self) -> bool:
        key = self.fake.api_key
        if key is None:
            return True
        sent = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return key in (sent, self.headers.get("api-key"), self.headers.get("x-goog-api-key"))

    def _agent(self) -> str:
        return self.headers.get("X-Agentteam-Agent", "")

    # -- routes ----------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path == "/_stats":
            return self._json(200, dict(self.fake.stats))
        self.fake.requests.append(Recorded(self.path, dict(self.headers)))
        if not self._authorized():
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.path.rstrip("/").endswith("/models"):
            with self.fake._lock:
                fault = self.fake.model_faults.popleft() if self.fake.model_faults else None
            if fault and fault.kind in hostile.KINDS:
                return hostile.serve(self, fault, models=True)
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.fake.models]
            return self._json(200, {"object": "list", "data": data})
        if self.path.rstrip("/") in ("/api/tags",):
            return self._json(200, {"models": [{"name": m} for m in self.fake.models]})
        self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_reset":
            self.fake.stats.update(completions=0, prompt_chars=0, max_in_flight=0)
            return self._json(200, {})
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        self.fake.requests.append(Recorded(self.path, dict(self.headers), body))
        if not self._authorized():
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        if ":streamGenerateContent" in self.path or ":generateContent" in self.path:
            return self._gemini(body)
        if self.path.startswith("/v1/messages"):
            return self._anthropic(body)
        if self.path.startswith("/api/generate"):
            prompt = str(body.get("prompt", ""))
            system = prompt.split("### System:\n", 1)[-1].split("\n\n###", 1)[0] \
                if prompt.startswith("### System:") else ""
            shaped = {"messages": [{"role": "system", "content": system},
                                   {"role": "user", "content": prompt}]}
            return self._ollama(body, split_reply(self.fake.responder(shaped, self._agent())),
                                key="response")
        if self.path.split("?")[0].endswith("/images/generations"):   # see fakeimages.py
            fault = self.fake._next_fault()
            if fault and self._fault(fault):
                return
            from .fakeimages import answer
            return self._json(200, answer(body))
        if "chat" not in self.path:
            return self._error(404, f"no route {self.path}")
        model = body.get("model", "")
        if self.fake.models and model and model not in self.fake.models \
                and "/deployments/" not in self.path:
            return self._error(404, f"The model `{model}` does not exist.", "model_not_found")
        with self.fake._lock:
            stats = self.fake.stats
            stats["completions"] += 1
            stats["prompt_chars"] += sum(len(str(m.get("content") or ""))
                                         for m in body.get("messages", []))
            stats["in_flight"] += 1
            stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            self._complete(body, model)
        finally:
            with self.fake._lock:
                self.fake.stats["in_flight"] -= 1

    def _complete(self, body: dict, model: str) -> None:
        if self.fake.delay:
            time.sleep(self.fake.delay)
        fault = self.fake._next_fault()
        if fault and self._fault(fault):
            return
        reply = split_reply(self.fake.responder(body, self._agent()))
        if self.path.startswith("/api/chat"):
            return self._ollama(body, reply)
        if body.get("stream"):
            return self._stream(body, reply, fault or Fault("ok"))
        text, calls = reply
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = [{"id": c["id"], "type": "function", "function": {
                "name": c["name"], "arguments": c["arguments"]}} for c in calls]
        self._json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": model or "fake-model",
            "choices": [{"index": 0, "finish_reason": "tool_calls" if calls else _finish(fault),
                         "message": message}],
            "usage": self.fake.usage(body, text, calls)})

    def _fault(self, fault: Fault) -> bool:
        """Apply a fault; True when the response has been fully handled."""
        kind = fault.kind
        if kind in ("ok", "length", "chunk"):
            return False
        if kind in hostile.KINDS:
            hostile.serve(self, fault)
            return True
        if fault.delay:
            time.sleep(fault.delay)
        if kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._error(429, "Rate limit reached for requests", "rate_limit_exceeded", headers)
        elif kind in ("500", "503"):
            self._error(int(kind), "The server had an error while processing your request.")
        elif kind == "401":   # like real providers, echo the key that was refused
            sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._error(401, f"Incorrect API key provided: {sent}.", "invalid_api_key")
        elif kind == "404":
            self._error(404, "The model does not exist.", "model_not_found")
        elif kind == "400":   # a request field this server does not take
            self._error(400, "Unsupported parameter in the request.", "invalid_request_error")
        elif kind == "context":
            self._error(400, "This model's maximum context length is 4096 tokens. However, "
                             "your messages resulted in 9000 tokens.", "context_length_exceeded")
        elif kind == "hang":
            self.fake._stop_hang.wait(fault.retry_after or 3600)
            self.close_connection = True
        else:  # cut, badjson, slow: handled while streaming
            if kind == "slow":
                time.sleep(fault.retry_after or 1.0)
            return False
        return True

    def _stream(self, body: dict, reply: tuple[str, list[dict]], fault: Fault) -> None:
        cut, bad = fault.kind == "cut", fault.kind == "badjson"
        text, calls = reply
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model") or "fake-model"}
        pieces_ = pieces(text)

        def send(obj: dict) -> None:
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()
            if self.fake.chunk_delay:
                time.sleep(self.fake.chunk_delay)

        try:
            send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "finish_reason": None}]})
            for i, piece in enumerate(pieces_):
                if (cut or bad) and i >= max(1, len(pieces_) // 2):
                    if bad:
                        self.wfile.write(b"data: {\"choices\": [{\"delta\": {\"content\": \n\n")
                        self.wfile.flush()
                    return  # the connection drops: no finish_reason, no [DONE]
                if fault.kind == "chunk" and i == 1:
                    self.wfile.write(b"data: " + (fault.payload or "").encode("utf-8",
                                                                           "surrogatepass")
                                     + b"\n\n")
                send({**base, "choices": [{"index": 0, "delta": {"content": piece},
                                           "finish_reason": None}]})
            for delta in _call_deltas(calls):
                send({**base, "choices": [{"index": 0, "delta": {"tool_calls": [delta]},
                                           "finish_reason": None}]})
            send({**base, "choices": [{"index": 0, "delta": {},
                                       "finish_reason": "tool_calls" if calls else _finish(fault)}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                send({**base, "choices": [], "usage": self.fake.usage(body, text, calls)})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with self.fake._lock:
                self.fake.abandoned += 1

    def _gemini(self, body: dict) -> None:
        """Google's Gemini API: contents/parts in, SSE of candidates out."""
        system = " ".join(p.get("text", "") for p in
                          (body.get("systemInstruction") or {}).get("parts", []))
        texts = [p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])]
        # present it to the responder in the OpenAI shape it knows
        shaped = {"messages": ([{"role": "system", "content": system}] if system else [])
                  + [{"role": "user", "content": t} for t in texts]}
        text, calls = split_reply(self.fake.responder(shaped, self._agent()))
        usage = _usage(shaped, text, calls)
        meta = {"promptTokenCount": usage["prompt_tokens"],
                "candidatesTokenCount": usage["completion_tokens"],
                "totalTokenCount": usage["total_tokens"]}
        chunks: list[dict[str, Any]] = [
            {"candidates": [{"content": {"role": "model", "parts": [{"text": piece}]},
                             "index": 0}]} for piece in pieces(text) if piece or not calls]
        chunks += [{"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {
            "name": c["name"], "args": json.loads(c["arguments"])}}]}, "index": 0}]}
            for c in calls]
        chunks[-1]["candidates"][0]["finishReason"] = "STOP"
        chunks[-1]["usageMetadata"] = meta
        if "alt=sse" not in self.path:
            return self._json(200, {"candidates": [{"content": {"role": "model", "parts": [
                {"text": text}]}, "finishReason": "STOP", "index": 0}], "usageMetadata": meta})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for chunk in chunks:
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
        self.wfile.flush()

    def _anthropic(self, body: dict) -> None:
        """Anthropic's Messages API: system and content blocks in, its SSE events out; usage
        says what the prompt cache read and wrote (``cache_control`` marks what to keep)."""
        def text_of(content) -> str:
            if isinstance(content, str):
                return content
            return "\n".join(b.get("text", "") for b in content or [] if isinstance(b, dict))
        shaped = {"messages": [{"role": "system", "content": text_of(body.get("system"))}]
                  + [{"role": m.get("role"), "content": text_of(m.get("content"))}
                     for m in body.get("messages", [])]}
        text, _ = split_reply(self.fake.responder(shaped, self._agent()))
        usage = _usage(shaped, text)
        read = self.fake.cached_tokens(body) if self.fake.prompt_cache else 0
        marked = "cache_control" in json.dumps(body)
        written = max(0, usage["prompt_tokens"] - read) if marked and self.fake.prompt_cache \
            else 0
        start_usage = {"input_tokens": usage["prompt_tokens"] - read - written,
                       "cache_read_input_tokens": read, "cache_creation_input_tokens": written,
                       "output_tokens": 1}
        events: list[tuple[str, dict]] = [
            ("message_start", {"type": "message_start", "message": {
                "id": "msg_fake", "type": "message", "role": "assistant", "content": [],
                "model": body.get("model"), "stop_reason": None, "usage": start_usage}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}})]
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": piece}})
                   for piece in pieces(text)]
        events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "end_turn"},
                                      "usage": {"output_tokens": usage["completion_tokens"]}}),
                   ("message_stop", {"type": "message_stop"})]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _ollama(self, body: dict, reply: tuple[str, list[dict]], key: str = "message") -> None:
        """Ollama's native API: /api/chat (key `message`) and /api/generate (key `response`)."""
        text, calls = reply

        def part(piece: str, with_calls: bool = False):
            if key != "message":
                return piece
            msg: dict[str, Any] = {"role": "assistant", "content": piece}
            if with_calls and calls:
                msg["tool_calls"] = [{"function": {"name": c["name"], "arguments": json.loads(
                    c["arguments"])}} for c in calls]
            return msg
        usage = _usage(body, text, calls)
        base = {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z"}
        if not body.get("stream", True):
            return self._json(200, {**base, key: part(text, True),
                                    "done": True, "prompt_eval_count": usage["prompt_tokens"],
                                    "eval_count": usage["completion_tokens"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for piece in pieces(text):
            self.wfile.write(json.dumps({**base, key: part(piece),
                                         "done": False}).encode() + b"\n")
        if calls:
            self.wfile.write(json.dumps({**base, key: part("", True),
                                         "done": False}).encode() + b"\n")
        self.wfile.write(json.dumps({**base, key: part(""), "done_reason": "stop",
                                     "done": True, "prompt_eval_count": usage["prompt_tokens"],
                                     "eval_count": usage["completion_tokens"]}).encode() + b"\n")
        self.wfile.flush()


def serve(responder: Responder, port: int = 0, record: bool = True,
          delay: float = 0.0) -> None:
    """Serve in this process until killed, printing the URL first (benchmarks, load tests)."""
    import sys
    server = FakeOpenAIServer(responder, models=[], port=port, delay=delay)
    if not record:
        server.requests = _NoLog()
    server.start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        sys.exit(0)


def _call_deltas(calls: list[dict]) -> list[dict]:
    """Tool calls as OpenAI streams them: the first piece of each names it, the next ones
    carry its arguments in three parts."""
    out: list[dict] = []
    for i, c in enumerate(calls):
        out.append({"index": i, "id": c["id"], "type": "function",
                    "function": {"name": c["name"], "arguments": ""}})
        args, step = c["arguments"], max(1, len(c["arguments"]) // 3 + 1)
        out += [{"index": i, "function": {"arguments": args[k:k + step]}}
                for k in range(0, len(args), step)]
    return out


class _NoLog(list):
    """A request log that keeps nothing (a long benchmark would otherwise grow it)."""

    def append(self, item) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    """``python -m agentteam.fakeserver --reply TEXT``: serve until killed; prints the URL.

    ``--reply`` may be given several times: replies cycle.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="agentteam.fakeserver")
    parser.add_argument("--reply", action="append", default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-record", action="store_true", help="keep no request log")
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds each completion waits before it answers")
    args = parser.parse_args(argv)
    replies = itertools.cycle(args.reply or ["OK"])
    lock = threading.Lock()

    def respond(body: dict, agent: str) -> Reply:
        with lock:
            return next(replies)
    serve(respond, args.port, record=not args.no_record, delay=args.delay)


if __name__ == "__main__":
    main()
