"""Images as a model is sent them: downscaled with Pillow to at most ``MAX_SIDE`` pixels
a side, as a base64 data URL; and web images fetched, when a provider needs the bytes.

A PNG or JPEG already within the bounds goes as it is, byte for byte. Anything
else is redrawn: JPEG photos stay JPEG, the rest (plots, drawings, GIF and WebP)
become PNG, or JPEG when a PNG would still be large. The output depends only on
the input, so a prompt sent twice is the same bytes (provider prompt caches keep
working).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from .files import MAX_FILE_BYTES, ImageError, check

MAX_SIDE = 1024               # pixels, the longer side of what a model is sent
MAX_SENT_BYTES = 1_500_000    # a PNG larger than this after downscaling goes as JPEG
JPEG_QUALITY = 85
FETCH_TIMEOUT = 20.0          # seconds for a web image, connection and all


@dataclass(frozen=True)
class Encoded:
    """An image ready to send."""

    mime: str
    data: bytes
    width: int
    height: int

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def for_model(data: bytes, max_side: int = MAX_SIDE) -> Encoded:
    """``data`` (any image Pillow reads) bounded for a model; ImageError if unreadable."""
    from PIL import Image, ImageOps
    checked = check(data)
    fmt = checked.format
    if fmt in ("PNG", "JPEG") and max(checked.width, checked.height) <= max_side \
            and len(data) <= MAX_SENT_BYTES:
        return Encoded(f"image/{fmt.lower()}", data, checked.width, checked.height)
    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)                                  # an animation: its first frame
        frame = ImageOps.exif_transpose(im) if fmt == "JPEG" else im.copy()
    frame = _plain_mode(frame)
    frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if fmt != "JPEG":
        png = _save(frame, "PNG", optimize=True)
        if len(png) <= MAX_SENT_BYTES:
            return Encoded("image/png", png, *frame.size)
    jpeg = _save(_flat(frame), "JPEG", quality=JPEG_QUALITY, optimize=True)
    return Encoded("image/jpeg", jpeg, *frame.size)


def preview(data: bytes, max_side: int) -> bytes:
    """A small PNG of ``data`` for a terminal preview."""
    enc = for_model(data, max_side)
    if enc.mime == "image/png":
        return enc.data
    from PIL import Image
    with Image.open(io.BytesIO(enc.data)) as im:
        return _save(im, "PNG")


def as_png(data: bytes) -> bytes:
    """``data`` (any image Pillow reads) as PNG, at its own size."""
    from PIL import Image
    with Image.open(io.BytesIO(data)) as im:
        return _save(_plain_mode(im), "PNG")


def _plain_mode(im):
    """RGB or RGBA (or L): modes every encoder takes; palette transparency kept."""
    if im.mode in ("RGB", "RGBA", "L"):
        return im
    if im.mode in ("LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return im.convert("RGBA")
    return im.convert("RGB")


def _flat(im):
    """An image without alpha, laid on white (JPEG has no transparency)."""
    if im.mode != "RGBA":
        return im.convert("RGB") if im.mode != "L" else im
    from PIL import Image
    base = Image.new("RGB", im.size, (255, 255, 255))
    base.paste(im, mask=im.getchannel("A"))
    return base


def _save(im, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def fetch(url: str, max_bytes: int = MAX_FILE_BYTES, timeout: float = FETCH_TIMEOUT) -> bytes:
    """The bytes at a web address (http or https), at most ``max_bytes``; ImageError if not."""
    import time

    import httpx
    deadline = time.monotonic() + timeout
    if not url.lower().startswith(("http://", "https://")):
        raise ImageError("only http and https addresses are fetched")
    try:
        with httpx.stream("GET", url, timeout=httpx.Timeout(timeout), follow_redirects=True,
                          headers={"Accept": "image/*"}) as r:
            if r.status_code != 200:
                raise ImageError(f"the server answered {r.status_code}")
            size = r.headers.get("content-length", "")
            if size.isdigit() and int(size) > max_bytes:
                raise ImageError(f"too large ({int(size) // 2**20} MB)")
            data = bytearray()
            for chunk in r.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise ImageError(f"too large (over {max_bytes // 2**20} MB)")
                if time.monotonic() > deadline:    # a server that trickles bytes
                    raise ImageError(f"not fetched within {timeout:g}s")
            return bytes(data)
    except httpx.HTTPError as e:
        raise ImageError(f"cannot be fetched ({type(e).__name__})") from None
