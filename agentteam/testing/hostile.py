"""What hostile or broken servers send, for the fake server.

Each fault answers one request in place of the scripted reply:

- ``trickle``: a 200 whose body never ends a line (a byte every 0.1 s, for up to
  ``retry_after`` seconds, default 120);
- ``stall``: the first piece of a reply, then silence (``retry_after`` s, default 3600);
- ``gzipbomb`` / ``gzipline``: ~1 MB of gzip that inflates to 1 GiB (of short comment
  lines, or of one endless line);
- ``chunk``: a valid SSE stream with one ``data:`` line replaced by ``payload``
  (wrong-shape JSON, a lone surrogate, ...);
- ``html``: a 200 web page (a captive portal, a wrong base URL);
- ``redirect``: a 307 to the same server's own chat endpoint, which would answer if
  the client followed it.
"""

from __future__ import annotations

import functools
import struct
import zlib

KINDS = ("trickle", "stall", "gzipbomb", "gzipline", "chunk", "html", "redirect")

GIB = 1 << 30
_BLOCK = 1 << 20


@functools.cache
def gzip_bomb(one_line: bool) -> bytes:
    """A valid gzip member of ~1 MB that inflates to 1 GiB (built in well under a second).

    After a full flush the compressor forgets its history, so one compressed MiB
    repeated is a valid deflate stream of the MiB repeated.
    """
    if one_line:
        block = b"x" * _BLOCK
        head = b"data: "
    else:
        block = (b": " + b"x" * 1020 + b"\n\n") * (_BLOCK // 1024)   # SSE comments
        head = b""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head + block) + c.flush(zlib.Z_FULL_FLUSH)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    c.compress(b"")
    same = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    rest = c.flush(zlib.Z_FINISH)
    copies = GIB // _BLOCK - 1
    crc = zlib.crc32(head + block)
    for _ in range(copies):
        crc = zlib.crc32(block, crc)
    size = len(head) + GIB
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + same * copies + rest
            + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))


def serve(h, fault, models: bool = False) -> None:
    """Answer the request on handler ``h`` with ``fault`` (one of ``KINDS``)."""
    kind = fault.kind
    h.close_connection = True
    try:
        if kind == "trickle":
            _trickle(h, fault, models)
        elif kind == "stall":
            _head(h, 200, "text/event-stream", {})
            h.wfile.write(b'data: {"choices": [{"delta": {"content": "one "}}]}\n\n')
            h.wfile.flush()
            h.fake._stop_hang.wait(fault.retry_after or 3600)
        elif kind in ("gzipbomb", "gzipline"):
            body = gzip_bomb(kind == "gzipline")
            _head(h, 200, "application/json" if models else "text/event-stream",
                  {"Content-Encoding": "gzip", "Content-Length": str(len(body))})
            h.wfile.write(body)
        elif kind == "html":
            page = (b"<!doctype html><html><head><title>Sign in</title></head>"
                    b"<body><h1>Welcome to the guest network</h1></body></html>")
            _head(h, 200, "text/html; charset=utf-8", {"Content-Length": str(len(page))})
            h.wfile.write(page)
        elif kind == "redirect":
            where = f"http://127.0.0.1:{h.server.server_address[1]}{h.path}"
            _head(h, 307, "text/plain", {"Location": where, "Content-Length": "0"})
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _head(h, status: int, content_type: str, headers: dict) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Connection", "close")
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()


def _trickle(h, fault, models: bool) -> None:
    _head(h, 200, "application/json" if models else "text/event-stream", {})
    h.wfile.write(b'{"data": [' if models else b'data: {"choices": [{"delta": {"content": "')
    h.wfile.flush()
    stop = h.fake._stop_hang
    for _ in range(int((fault.retry_after or 120) * 10)):
        if stop.wait(0.1):
            return
        h.wfile.write(b"a")
        h.wfile.flush()
