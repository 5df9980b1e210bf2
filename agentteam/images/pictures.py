"""One run's images: image parts made from ``<img …>`` tags and from the files a code
block writes, and image parts as each agent's model is sent them.

A file is encoded for models once, when it joins the chat (when any agent can see
images), so a later block that overwrites ``plot.png`` does not change what an
earlier message showed, and every prompt repeats the same bytes. A resumed run
encodes the files as they are then. Problems (a refused path, a corrupt or huge
file, a web image that cannot be fetched) become notes for the run loop to show;
the message keeps its text and the run goes on.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..conversation.messages import Content, ImagePart, Message, TextPart
from ..models.profiles import Profile
from ..models.vision import needs_bytes, takes_images
from ..team import AgentSpec, TeamSpec
from . import encode, files, tags

MAX_PER_MESSAGE = 4       # images attached to one message
MAX_PER_REQUEST = 16      # images sent in one request: the latest ones

Renderer = Callable[[Message, ImagePart], "dict | None"]
_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "WEBP": ".webp"}
_Key = tuple[int, str, str]      # (round, agent, path or url) of an image in the chat


class Pictures:
    """The images of one run. ``profile`` finds a profile by name (None if unknown)."""

    def __init__(self, team: TeamSpec, profile: Callable[[str], Profile | None]):
        self.team = team
        self.work_dir = team.work_dir
        self.roots = (team.work_dir, team.base_dir)
        self._profile = profile
        self._sent: dict[_Key, str | None] = {}       # data URLs, fixed at first use
        self._fetched: dict[str, str | None] = {}
        self._said: set[str] = set()
        self._notes: list[str] = []
        self._vision: bool | None = None

    def drain(self) -> list[str]:
        """Problems found since the last call, each said once per run."""
        out, self._notes = self._notes, []
        return out

    def _note(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self._notes.append(text)

    def _anyone_sees(self) -> bool:
        if self._vision is None:
            self._vision = any(takes_images(self._profile(a.model)) for a in self.team.agents
                               if a.kind == "assistant")
        return self._vision

    # -- parts in --------------------------------------------------------------------
    def with_tags(self, message: Message) -> Message:
        """``message`` with an image part for each usable ``<img …>`` in its text."""
        if not isinstance(message.content, str) or message.kind != "text":
            return message
        found = [self._tag_part(src, message) for src in tags.sources(message.content)]
        parts = self._bounded([p for p in found if p is not None], message)
        return replace(message, content=(TextPart(message.content), *parts)) if parts \
            else message

    def _tag_part(self, src: str, message: Message) -> ImagePart | None:
        who = message.agent
        if tags.is_url(src):
            return ImagePart(url=src)
        if src.lower().startswith("data:"):
            self._note(f"{who}: <img data:…> is not taken; save the image as a file in the "
                       "work dir and name it")
            return None
        path = Path(src)
        places = [path] if path.is_absolute() else [self.work_dir / path,
                                                    self.team.base_dir / path]
        target = next((p for p in places if os.path.lexists(p)), places[0])
        try:
            checked = files.load(target, self.roots)
        except files.ImageError as e:
            self._note(f"{who}: <img {src}> left out: {e}")
            return None
        rel = Path(os.path.relpath(target.resolve(), self.work_dir)).as_posix()
        part = ImagePart(path=rel, width=checked.width, height=checked.height)
        self._freeze((message.round, who, rel), checked.data)
        return part

    def snapshot(self) -> files.Snapshot:
        """The work dir's image files now (before a code block runs)."""
        return files.snapshot(self.work_dir) if self.work_dir.is_dir() else {}

    def from_code(self, before: files.Snapshot, text: str, agent: str,
                  round_no: int) -> Content:
        """A code result's content: ``text``, and the image files the blocks wrote."""
        parts = []
        for name in files.changed(before, self.snapshot()):
            try:
                checked = files.load(self.work_dir / name, self.roots)
            except files.ImageError as e:
                self._note(f"{agent} (round {round_no}): image {name} left out: {e}")
                continue
            parts.append(ImagePart(path=name, width=checked.width, height=checked.height))
            self._freeze((round_no, agent, name), checked.data)
        parts = self._bounded(parts, Message(agent, text, round_no))
        return (TextPart(text), *parts) if parts else text

    def drawn(self, data: bytes, agent: str, round_no: int) -> ImagePart:
        """Save what an image generator drew in the work dir; its image part. Raises
        ImageError when ``data`` is not an image."""
        checked = files.check(data)
        suffix = _SUFFIXES.get(checked.format)
        if suffix is None:          # TIFF, BMP, ...: kept as PNG, which every model takes
            data, suffix = encode.as_png(data), ".png"
        path = files.save(self.work_dir, f"{agent.lower()}-round{round_no}", data, suffix)
        rel = path.relative_to(self.work_dir).as_posix()
        self._freeze((round_no, agent, rel), data)
        return ImagePart(path=rel, width=checked.width, height=checked.height)

    def _bounded(self, parts: list[ImagePart], message: Message) -> list[ImagePart]:
        if len(parts) > MAX_PER_MESSAGE:
            self._note(f"{message.agent} (round {message.round}): {len(parts)} images in one "
                       f"message; the first {MAX_PER_MESSAGE} are attached")
        return parts[:MAX_PER_MESSAGE]

    def _freeze(self, key: _Key, data: bytes) -> None:
        if key not in self._sent and self._anyone_sees():
            try:
                self._sent[key] = encode.for_model(data).data_url
            except files.ImageError:
                pass        # checked already; if it fails now, it is read again when sent

    # -- parts out ---------------------------------------------------------------------
    def renderer(self, agent: AgentSpec, history: list[Message]) -> Renderer | None:
        """How ``agent``'s model is sent the images of ``history``; None: as text only."""
        p = self._profile(agent.model)
        if p is None or not takes_images(p):
            return None
        keys = [_key(m, part) for m in history if m.agent != agent.name
                for part in m.parts if isinstance(part, ImagePart)]
        allowed = set(keys[-MAX_PER_REQUEST:])

        def render(m: Message, part: ImagePart) -> dict | None:
            key = _key(m, part)
            url = self._url(key, m, part, p) if key in allowed else None
            return {"type": "image_url", "image_url": {"url": url}} if url else None
        return render

    def _url(self, key: _Key, m: Message, part: ImagePart, p: Profile) -> str | None:
        if part.url:
            return self._web(part.url, m, p)
        if key not in self._sent:
            try:
                data = files.read(self.work_dir / str(part.path), self.roots)
                self._sent[key] = encode.for_model(data).data_url
            except files.ImageError as e:
                self._note(f"{m.agent} (round {m.round}): image {part.path} sent as text: {e}")
                self._sent[key] = None
        return self._sent[key]

    def _web(self, url: str, m: Message, p: Profile) -> str | None:
        """The address itself, or its bytes for a provider that cannot fetch it. Only
        addresses a person wrote (the task, what they typed) are fetched: a model's
        reply never makes agentteam reach out to a host."""
        if not needs_bytes(p):
            return url
        by_person = m.round == 0 or any(a.name == m.agent and a.kind == "user_proxy"
                                        for a in self.team.agents)
        if not by_person:
            self._note(f"{m.agent} (round {m.round}): {url}: not fetched (only web images "
                       f"in the task or typed by a person are); `{p.name}` is sent a "
                       "placeholder")
            return None
        if url not in self._fetched:
            try:
                self._fetched[url] = encode.for_model(encode.fetch(url)).data_url
            except files.ImageError as e:
                self._note(f"image {url} sent as text: {e}")
                self._fetched[url] = None
        return self._fetched[url]


def _key(m: Message, part: ImagePart) -> _Key:
    return (m.round, m.agent, part.path or part.url or "")


def listed(content: Content) -> list[dict]:
    """The images of some content as the ``message`` event lists them (never their bytes)."""
    if isinstance(content, str):
        return []
    out = []
    for p in content:
        if isinstance(p, ImagePart):
            where = {"path": p.path} if p.path else {"url": p.url}
            out.append({**where, "width": p.width, "height": p.height})
    return out
