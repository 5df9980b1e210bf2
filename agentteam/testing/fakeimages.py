"""The fake server's ``POST /v1/images/generations``: a small PNG drawn for the prompt.

Each prompt gets its own colour (from its hash), so tests can tell images apart;
``dall-e`` models also answer a ``revised_prompt``, ``gpt-image`` models a token
``usage``, as the real ones do.
"""

from __future__ import annotations

import base64
import hashlib
import io

SIDE = 64      # pixels: small, whatever size was asked for


def png_for(prompt: str, side: int = SIDE) -> bytes:
    """A ``side``-pixel PNG in a colour taken from the prompt, with a white square."""
    from PIL import Image, ImageDraw
    digest = hashlib.sha256(prompt.encode()).digest()
    im = Image.new("RGB", (side, side), tuple(digest[:3]))
    ImageDraw.Draw(im).rectangle((side // 4, side // 4, side // 2, side // 2), fill="white")
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def answer(body: dict) -> dict:
    """The JSON answer to an images request."""
    prompt = str(body.get("prompt", ""))
    model = str(body.get("model", ""))
    item: dict = {"b64_json": base64.b64encode(png_for(prompt)).decode("ascii")}
    out: dict = {"created": 1767225600, "data": [item]}
    if model.startswith("dall-e"):
        item["revised_prompt"] = f"A picture: {prompt}"
    if model.startswith("gpt-image"):
        out["usage"] = {"input_tokens": max(1, len(prompt.split())), "output_tokens": 272,
                        "total_tokens": max(1, len(prompt.split())) + 272}
    return out
