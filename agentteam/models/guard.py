"""What a model server may send, enforced below both transports.

The OpenAI wire client and LiteLLM (its OpenAI client and its own HTTP handler)
both send through one ``GuardedTransport``. For every response it:

- refuses a redirect (never followed, so a key never travels to another address)
  and a web page: neither is an OpenAI-compatible reply;
- inflates gzip/deflate itself, a piece at a time, so ~1 MB of gzip cannot become
  gigabytes in memory, and caps the decoded bytes of a response and of one line;
- holds the call's wall-clock deadline: checked on every piece that arrives (a
  server that trickles bytes without ever ending a line) and, for one that goes
  silent, by a watchdog that shuts the socket at the deadline;
- routes through the proxy the environment names, and names the variable when
  that proxy cannot be used or reached.

What tripped is kept on the request's ``Call`` as a ModelError: LiteLLM wraps
whatever is raised below it in its own exceptions, so the transports ask the
``Call`` first and raise the named error.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
import urllib.request
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ..errors import ModelError
from . import provider_errors as pe
from .profiles import Profile

MAX_RESPONSE_BYTES = 128 << 20
MAX_LINE_BYTES = 8 << 20
# Lines of one server-sent event (up to a blank line). The openai SDK that LiteLLM uses
# appends an event's lines one by one, so many lines without a blank one cost it
# quadratic time; real events have a handful.
MAX_EVENT_LINES = 100
EXTENSION = "agentteam.call"       # request extension that carries the Call
_PIECE = 1 << 16                   # inflate at most this much at a time
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class Tripped(httpx.ReadError):
    """A limit of the call was crossed; ``Call.error`` says which, in words."""


@dataclass
class Call:
    """One model call: its profile, its deadline, and the first limit it crossed.

    The deadline is ``timeout`` seconds after the call's first request goes out (so
    LiteLLM's own slow first-call set-up is not held against the server).
    """

    profile: Profile
    timeout: float | None = None
    deadline: float | None = None     # time.monotonic() by which the reply must be whole
    error: ModelError | None = None
    whole_events: bool = True         # the reader buffers whole SSE events (LiteLLM's does)

    def start(self) -> None:
        if self.deadline is None and self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout

    def trip(self, error: ModelError) -> Tripped:
        if self.error is None:
            self.error = error
        return Tripped(str(self.error))

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


_local = threading.local()


class bound:
    """``with bound(call):`` requests this thread sends without a Call (LiteLLM's) use it."""

    def __init__(self, call: Call):
        self.call = call

    def __enter__(self) -> Call:
        self._prev = getattr(_local, "call", None)
        _local.call = self.call
        return self.call

    def __exit__(self, *exc) -> None:
        _local.call = self._prev


def _call_for(request: httpx.Request) -> Call:
    call = request.extensions.get(EXTENSION) or getattr(_local, "call", None)
    if call is None:
        base = f"{request.url.scheme}://{request.url.netloc.decode()}"
        call = Call(Profile("(unnamed)", "", {"api_base": base}))
    return call


# -- proxies ------------------------------------------------------------------------

def shown(url: str) -> str:
    """A URL for messages: without user and password."""
    try:
        parts = urlsplit(url)
        if parts.username or parts.password:
            host = parts.hostname or ""
            host += f":{parts.port}" if parts.port else ""
            return parts._replace(netloc=host).geturl()
    except ValueError:
        return "(an unreadable URL)"
    return url


def _env_name(var: str) -> str:
    return var.upper() if os.environ.get(var.upper()) else var


def proxy_problem() -> tuple[str, str, str] | None:
    """(variable, proxy, why) for a proxy variable httpx cannot use; else None."""
    for var in _PROXY_VARS[:3]:
        value = os.environ.get(var) or os.environ.get(var.upper())
        if not value:
            continue
        scheme = value.split("://", 1)[0].lower() if "://" in value else "http"
        if scheme not in _PROXY_SCHEMES:
            return _env_name(var), shown(value), f"`{scheme}://` proxies are not supported " \
                "(http, https or socks5)"
        if scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
            return _env_name(var), shown(value), "SOCKS proxies need the socksio package " \
                "(pip install 'httpx[socks]')"
    return None


def proxy_for(url: httpx.URL) -> tuple[str, str] | None:
    """The proxy variable that applies to ``url``, and its value for messages."""
    proxies = urllib.request.getproxies_environment()
    host = url.host
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not host or bypass(host, proxies):
        return None
    for scheme in (url.scheme, "all"):
        if proxies.get(scheme):
            return _env_name(f"{scheme}_proxy"), shown(proxies[scheme])
    return None


# -- the transport --------------------------------------------------------------------

class GuardedTransport(httpx.BaseTransport):
    """Sends through an environment-aware httpx client and guards every response."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inner: httpx.Client | None = None
        self._env: tuple = ()

    def _client(self, call: Call) -> httpx.Client:
        env = tuple((k, v) for k, v in sorted(os.environ.items()) if k.lower() in _PROXY_VARS)
        with self._lock:
            if self._inner is None or env != self._env:
                problem = proxy_problem()
                if problem:
                    raise call.trip(pe.bad_proxy(call.profile, *problem))
                try:
                    client = httpx.Client(follow_redirects=False, timeout=None)
                except Exception as e:  # httpx refuses a proxy setting: say so, not a traceback
                    raise call.trip(pe.bad_proxy(call.profile, "the proxy variables", "",
                                                 pe.short(f"{type(e).__name__}: {e}"))) from None
                self._inner, self._env = client, env
            return self._inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = _call_for(request)
        call.start()
        request.headers["Accept-Encoding"] = "gzip, deflate"
        client = self._client(call)
        try:
            response = client.send(request, stream=True)
        except httpx.TransportError as e:
            proxy = proxy_for(request.url)
            if proxy and not isinstance(e, httpx.TimeoutException):
                call.trip(pe.proxy_unreachable(call.profile, *proxy,
                                               pe.short(f"{type(e).__name__}: {e}")))
            raise
        return _guarded(call, response)

    def close(self) -> None:
        """Nothing: the pool is shared by every client of the process (LiteLLM closes its
        clients when it drops them from its cache; that must not close ours)."""


def _guarded(call: Call, response: httpx.Response) -> httpx.Response:
    status, headers = response.status_code, response.headers
    keep = [(k, v) for k, v in headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "location")]
    encoding = headers.get("content-encoding", "identity").strip().lower()
    refused = None
    if 300 <= status < 400:
        refused = pe.not_compatible(call.profile, f"a {status} redirect to "
                                    f"{shown(headers.get('location', '(nowhere)'))}; set "
                                    "api_base to the address it points to")
    elif status < 300 and headers.get("content-type", "").lower().startswith("text/html"):
        refused = pe.not_compatible(call.profile, "a web page (text/html) instead of JSON or "
                                    "an event stream; check api_base (it usually ends in /v1)")
    elif encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
        refused = pe.malformed(call.profile, f"content-encoding `{pe.short(encoding, 40)}`, "
                               "which was not asked for")
    if refused is not None:
        response.close()
        call.trip(refused)
        return httpx.Response(status, headers=keep, content=b"", extensions=response.extensions)
    events = call.whole_events and headers.get("content-type", "").startswith("text/event-stream")
    return httpx.Response(status, headers=keep, extensions=response.extensions,
                          stream=_GuardedStream(call, response, encoding, events))


class _GuardedStream(httpx.SyncByteStream):
    """The body, inflated a piece at a time, counted, and cut at the deadline."""

    def __init__(self, call: Call, response: httpx.Response, encoding: str, events: bool):
        self.call, self.response = call, response
        self.inflate = _Inflater(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None
        self.total = self.line = 0
        self.events, self.event_lines, self.tail = events, 0, b""
        self.timer: threading.Timer | None = None
        if call.deadline is not None:
            self.timer = threading.Timer(max(0.0, call.deadline - time.monotonic()),
                                         self._expire)
            self.timer.daemon = True
            self.timer.start()

    def __iter__(self):
        try:
            for raw in self.response.iter_raw():
                for piece in (self.inflate.feed(raw) if self.inflate else (raw,)):
                    self._count(piece)
                    yield piece
            rest = self.inflate.flush() if self.inflate else b""
            if rest:
                self._count(rest)
                yield rest
        except httpx.HTTPError as e:
            if self.call.error is not None and not isinstance(e, Tripped):
                raise Tripped(str(self.call.error)) from None
            raise
        except zlib.error as e:
            raise self.call.trip(pe.malformed(self.call.profile, f"bad compressed data ({e})"))
        finally:
            self._stop()
        if self.call.error is not None:    # the watchdog ended the body: not a real end
            raise Tripped(str(self.call.error))

    def _count(self, piece: bytes) -> None:
        """Check the deadline and the caps before a piece is passed on."""
        p = self.call.profile
        if self.call.expired():
            raise self.call.trip(pe.too_slow(p))
        self.total += len(piece)
        if self.total > MAX_RESPONSE_BYTES:
            raise self.call.trip(pe.too_large(p, MAX_RESPONSE_BYTES))
        end = max(piece.rfind(b"\n"), piece.rfind(b"\r"))
        self.line = self.line + len(piece) if end < 0 else len(piece) - end - 1
        if self.line > MAX_LINE_BYTES:
            raise self.call.trip(pe.too_large(p, MAX_LINE_BYTES, line=True))
        if self.events:
            joined = self.tail + piece
            self.tail = joined[-2:]
            lf, crlf = joined.rfind(b"\n\n"), joined.rfind(b"\n\r\n")
            start = max(lf + 2 if lf >= 0 else -1, crlf + 3 if crlf >= 0 else -1)
            self.event_lines = joined.count(b"\n", start) if start >= 0 else \
                self.event_lines + piece.count(b"\n")
            if self.event_lines > MAX_EVENT_LINES:
                raise self.call.trip(pe.malformed(p, f"an event of more than {MAX_EVENT_LINES} "
                                                     "lines (no blank line between events)"))

    def _expire(self) -> None:
        """At the deadline: name the error and wake a read that waits on a silent server."""
        self.call.trip(pe.too_slow(self.call.profile))
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return
        try:   # through a duplicate, so an SSL socket object is left alone
            with socket.socket(fileno=os.dup(sock.fileno())) as dup:
                dup.shutdown(socket.SHUT_RDWR)
        except OSError:   # already closed: the read has ended anyway
            pass

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        self._stop()
        self.response.close()


class _Inflater:
    """gzip or deflate (zlib-wrapped or raw), never more than ``_PIECE`` bytes at a time."""

    def __init__(self, encoding: str):
        self.gzip = encoding != "deflate"
        self.d = zlib.decompressobj(16 + zlib.MAX_WBITS if self.gzip else zlib.MAX_WBITS)
        self.started = False

    def feed(self, data: bytes):
        while data and not self.d.eof:
            try:
                out = self.d.decompress(data, _PIECE)
            except zlib.error:
                if self.gzip or self.started:
                    raise
                self.d = zlib.decompressobj(-zlib.MAX_WBITS)   # raw deflate, as some send it
                self.started = True
                continue
            self.started = True
            data = self.d.unconsumed_tail
            if out:
                yield out

    def flush(self) -> bytes:
        return b"" if self.d.eof else self.d.flush()


_transport: GuardedTransport | None = None
_transport_lock = threading.Lock()


def transport() -> GuardedTransport:
    """The process's one guarded transport (its connection pool is shared)."""
    global _transport
    with _transport_lock:
        if _transport is None:
            _transport = GuardedTransport()
        return _transport


def client(**kwargs) -> httpx.Client:
    """An httpx client that sends through the guarded transport."""
    return httpx.Client(transport=transport(), follow_redirects=False, **kwargs)
