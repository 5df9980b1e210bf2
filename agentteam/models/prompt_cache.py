"""Provider prompt caching: where a prompt needs breakpoints, and what usage says was cached.

Every agent's prompt is its previous prompt plus what was said since
(``conversation.prompts`` keeps it byte-stable), so a provider that caches prompt
prefixes reads most of each call from its cache. OpenAI, Azure, DeepSeek and Gemini 2.5
do it by themselves; Anthropic's models (direct, on Bedrock, on Vertex) cache only up
to the ``cache_control`` breakpoints a request marks: agentteam marks the system
message and the last message (the whole prompt is the next call's prefix).
"""

from __future__ import annotations

from typing import Any

from .profiles import Profile

EPHEMERAL = {"type": "ephemeral"}
# Providers that route Claude models and pass Anthropic's breakpoints on.
_CLAUDE_HOSTS = {"bedrock", "bedrock_converse", "vertex_ai", "vertex_ai_beta", "openrouter"}


def needs_breakpoints(p: Profile) -> bool:
    """Does this provider cache only what a request marks (Anthropic's models)?"""
    return p.provider == "anthropic" or \
        (p.provider in _CLAUDE_HOSTS and "claude" in p.served_name.lower())


def mark(messages: list[dict], p: Profile) -> list[dict]:
    """The provider-shaped ``messages`` with breakpoints on the system message and the
    last message, when the provider needs them (the list is returned as it is if not)."""
    if not needs_breakpoints(p) or not messages:
        return messages
    out = list(messages)
    targets = {len(out) - 1}
    if out[0].get("role") == "system":
        targets.add(0)
    for i in targets:
        out[i] = _with_breakpoint(out[i])
    return out


def _with_breakpoint(m: dict) -> dict:
    content = m.get("content")
    if isinstance(content, str) and content:
        parts: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list) and content:
        parts = [dict(part) for part in content]
    else:
        return m        # a tool call without text: nothing to mark
    parts[-1]["cache_control"] = EPHEMERAL
    return {**m, "content": parts}


def counts(usage: Any) -> tuple[int, int]:
    """(cached, written) prompt tokens of a usage report: a dict from the wire or
    LiteLLM's Usage object. OpenAI: ``prompt_tokens_details.cached_tokens``; Anthropic:
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens``."""
    if usage is None:
        return 0, 0
    details = _get(usage, "prompt_tokens_details")
    cached = _get(details, "cached_tokens") if details is not None else None
    cached = cached or _get(usage, "cache_read_input_tokens") or 0
    written = _get(usage, "cache_creation_input_tokens") or \
        (_get(details, "cache_creation_tokens") if details is not None else 0) or 0
    return _int(cached), _int(written)


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
