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

from pydantic import TypeAdapter, ValidationError

from ..conversation.messages import Usage, content_from_json, content_to_json
from ..files import read_limited
from .base import ChatModel, Completion, Delta, Note, Stream, options
from .profiles import Profile

MAX_ENTRY_BYTES = 64 << 20


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
        self.warned = False

    def key(self, profile: str, messages: list[dict], agent: str = "",
            tools: list[dict] | None = None, schema: dict | None = None) -> str:
        p = self.profiles.get(profile)
        params = {k: v for k, v in (p.params if p else {}).items() if k != "api_key"}
        shape = {"model": p.model if p else profile, "params": params,
                 "messages": messages, "agent": agent, "seed": self.seed}
        if tools:   # the tools offered shape the reply (keys without tools stay as they were)
            shape["tools"] = tools
        if schema:  # so does an asked-for reply schema
            shape["schema"] = schema
        blob = json.dumps(shape, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def stream(self, profile: str, messages: list[dict], agent: str,
               tools: list[dict] | None = None, choices: list[str] | None = None,
               schema: dict | None = None) -> Stream:
        key = self.key(profile, messages, agent, tools, schema)
        path = self.dir / key[:2] / f"{key}.json"
        stored, problem = _load(path, profile)
        if problem and not self.warned:
            self.warned = True     # once per run: a damaged cache is said, not repeated
            yield Note(f"cache entry {path} is damaged ({problem}); calling the model instead "
                       "(said once per run)")
        if stored is not None:
            self.hits += 1
            yield Delta(stored.text)
            return stored
        self.misses += 1
        # (the choices are not part of the key: the prompt names them already)
        done = yield from self.inner.stream(profile, messages, agent,
                                            **options(tools, choices, schema))
        value = {"text": done.text, "profile": done.profile, "usage": done.usage.to_dict(),
                 "truncated": done.truncated}
        if done.content is not None:     # a reply with tool calls
            value["content"] = content_to_json(done.content)
        self._store(path, value)
        return done

    def generate(self, profile: str, request, agent: str):
        """An image from the cache (its bytes stored beside the entry), else drawn and kept."""
        from .imagegen import Picture
        key = self.key(profile, [{"image_request": vars(request)}], agent)
        path = self.dir / key[:2] / f"{key}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            data = path.with_suffix(".image").read_bytes()
        except (OSError, ValueError):
            stored = None
        if isinstance(stored, dict):
            self.hits += 1
            usage = Usage.from_dict(stored.get("usage"))
            usage.calls, usage.cost, usage.seconds = 0, 0.0, 0.0
            return Picture(data, stored.get("profile", profile), usage,
                           stored.get("revised_prompt"))
        self.misses += 1
        done = yield from self.inner.generate(profile, request, agent)   # type: ignore[attr-defined]
        if done.data is not None:
            self._store(path.with_suffix(".image"), done.data)
            self._store(path, {"profile": done.profile, "usage": done.usage.to_dict(),
                               "revised_prompt": done.revised_prompt})
        return done

    @staticmethod
    def _store(path: Path, value: dict | bytes) -> None:
        """Write atomically, so a crash never leaves a torn cache entry."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        if isinstance(value, bytes):
            with os.fdopen(fd, "wb") as b:
                b.write(value)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f)
        os.replace(tmp, path)

    def __getattr__(self, name):       # profiles etc. of the wrapped model
        return getattr(self.inner, name)


def _load(path: Path, profile: str) -> tuple[Completion | None, str]:
    """The stored completion, or None and why a damaged entry cannot be used ("" for a miss)."""
    try:
        raw = read_limited(path, MAX_ENTRY_BYTES)
    except FileNotFoundError:
        return None, ""
    except OSError as e:
        return None, str(e.strerror or e)
    try:
        stored = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(stored, dict) or not isinstance(stored.get("text"), str):
        return None, "no reply text in it"
    usage = stored.get("usage") or {}
    name = stored.get("profile", profile)
    try:
        if not isinstance(name, str):
            raise ValueError("profile is not a name")
        counted = TypeAdapter(Usage).validate_python(usage)
    except (ValueError, ValidationError):
        return None, "its usage is not token counts"
    counted.calls, counted.cost, counted.seconds = 0, 0.0, 0.0
    try:     # a reply with tool calls keeps its parts
        content = content_from_json(stored["content"]) if "content" in stored else None
    except ValueError:
        return None, "its content is not message parts"
    return Completion(stored["text"], name, counted, content,
                      truncated=stored.get("truncated") is True), ""
