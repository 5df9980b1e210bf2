"""Which profiles take images, and in what form.

A profile takes images when the team file says ``vision: true``; without that key,
when LiteLLM's model table (read as JSON, like prices) marks the model
``supports_vision``; otherwise not. Every provider is sent the OpenAI shape (an
``image_url`` part holding a URL or a base64 data URL); LiteLLM turns it into
Gemini's ``inline_data``, Anthropic's ``source``, Ollama's ``images`` list. Some
servers cannot fetch a web address themselves: for them agentteam sends the bytes.
"""

from __future__ import annotations

from .prices import entry
from .profiles import Profile

# Providers whose servers want the image itself, never a web address: Ollama reads
# only base64, and LM Studio and the embedded model do not fetch.
_NEEDS_BYTES = {"ollama", "ollama_chat", "lm_studio"}


def takes_images(p: Profile | None) -> bool:
    """Does this profile's model take images? (unknown profiles do not)"""
    if p is None:
        return False
    if p.vision is not None:
        return p.vision
    if p.is_local:
        return False
    found = entry(p.model) or {}
    return found.get("supports_vision") is True


def needs_bytes(p: Profile) -> bool:
    """Must a web image be fetched by agentteam and sent inline to this profile?"""
    return p.provider in _NEEDS_BYTES or p.is_local
