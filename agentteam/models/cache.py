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

from ..conversation.messages import Usage
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

    def key(self, profile: str, messages: list[dict], agent: str = "") -> str:
        p = self.profiles.get(profile)
        params = {k: v for k, v in (p.params if p else {}).items() if k != "api_key"}
        blob = json.dumps({"model": p.model if p else profile, "params": params,
                           "messages": messages, "agent": agent, "seed": self.seed}, sort_keys=True,
                          default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def stream(self, profile: str, messages: list[dict], agent: str,
               choices: list[str] | None = None) -> Stream:
        key = self.key(profile, messages, agent)
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
            return Completion(stored["text"], stored.get("profile", profile), usage)
        self.misses += 1
        done = yield from (self.inner.stream(profile, messages, agent, choices=choices)
                           if choices else self.inner.stream(profile, messages, agent))
        self._store(path, {"text": done.text, "profile": done.profile,
                           "usage": done.usage.to_dict()})
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
