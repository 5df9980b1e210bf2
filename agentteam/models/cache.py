"""`cache: {seed: N}`: reuse identical completions from disk, so a re-run costs nothing.

The key covers everything that shapes a reply (model, endpoint, parameters but
the key, the messages, the agent the call is for, the seed); the value is the reply
and its usage. A hit streams the stored text at once and reports no call to the provider.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from ..conversation.messages import Usage, content_from_json, content_to_json
from .base import ChatModel, Completion, Delta, Stream
from .profiles import Profile


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentteam" / "completions"


class CachedModel:
    """Wraps a ChatModel; ``hits`` and ``misses`` count what happened."""

    def __init__(self, inner: ChatModel, profiles: dict[str, Profile], seed: int = 0,
                 directory: Path | None = None):
        self.inner = inner
        self.profiles = profiles
        self.seed = seed
        self.dir = Path(directory) if directory else default_dir()
        self.hits = self.misses = 0

    def key(self, profile: str, messages: list[dict], agent: str = "",
            tools: list[dict] | None = None) -> str:
        p = self.profiles.get(profile)
        params = {k: v for k, v in (p.params if p else {}).items() if k != "api_key"}
        shape = {"model": p.model if p else profile, "params": params,
                 "messages": messages, "agent": agent, "seed": self.seed}
        if tools:   # the tools offered shape the reply (keys without tools stay as they were)
            shape["tools"] = tools
        blob = json.dumps(shape, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def stream(self, profile: str, messages: list[dict], agent: str,
               tools: list[dict] | None = None) -> Stream:
        key = self.key(profile, messages, agent, tools)
        path = self.dir / key[:2] / f"{key}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = None
        if stored is not None:
            self.hits += 1
            yield Delta(stored["text"])
            usage = Usage.from_dict(stored.get("usage"))
            usage.calls, usage.cost, usage.seconds = 0, 0.0, 0.0
            content = content_from_json(stored["content"]) if "content" in stored else None
            return Completion(stored["text"], stored.get("profile", profile), usage, content)
        self.misses += 1
        inner = self.inner.stream(profile, messages, agent, tools) if tools else \
            self.inner.stream(profile, messages, agent)
        done = yield from inner
        value = {"text": done.text, "profile": done.profile, "usage": done.usage.to_dict()}
        if done.content is not None:     # a reply with tool calls
            value["content"] = content_to_json(done.content)
        self._store(path, value)
        return done

    @staticmethod
    def _store(path: Path, value: dict) -> None:
        """Write atomically, so a crash never leaves a torn cache entry."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f)
        os.replace(tmp, path)

    def __getattr__(self, name):       # profiles etc. of the wrapped model
        return getattr(self.inner, name)
