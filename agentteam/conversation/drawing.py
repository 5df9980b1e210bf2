"""The turn of a ``kind: image_generator`` agent: draw the conversation's last request.

The request is the latest message of another agent, without its ``<img …>`` tags
and the termination keyword; when it has a line that starts with ``PROMPT:`` (the
critic's convention in AutoGen's DALL-E notebook), what follows that line's
``PROMPT:`` to the end of its paragraph is the request. ``prompt_template`` shapes
it. The image is saved in the work dir as ``<agent>-round<N>.png`` and posted as the
agent's message: a short text and the image part.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Generator

from ..errors import AgentTeamError, ServerError
from ..images.files import ImageError
from ..images.tags import strip_tags
from ..models.base import Completion, RetryNote
from ..models.imagegen import ImageRequest, Picture
from ..team import AgentSpec
from ..team.images import fill_template
from .events import Event, MessageStarted, Notice, Retry
from .messages import Message, TextPart

if TYPE_CHECKING:
    from .groupchat import GroupChat

_PROMPT = re.compile(r"^[ \t*_#>-]*PROMPT[ \t*_]*:[ \t*_]*(.*?)(?:\n[ \t]*\n|\Z)",
                     re.IGNORECASE | re.MULTILINE | re.DOTALL)


def last_request(history: list[Message], me: str, keyword: str) -> str:
    """What the conversation last asked to be drawn ("" when nothing has)."""
    for m in reversed(history):
        if m.agent == me:
            continue
        text = strip_tags(m.text)
        if keyword:
            text = text.replace(keyword, "")
        found = _PROMPT.search(text)
        return " ".join((found.group(1) if found else text).split())
    return ""


def image_turn(chat: GroupChat, agent: AgentSpec) -> Generator[Event, None, Message | None]:
    """Draw, save and post; None (and a notice) when there is nothing to draw."""
    round_no = chat.rounds + 1
    request = last_request(chat.history, agent.name, chat.team.termination.keyword)
    if not request:
        yield from chat._emit(Notice(f"{agent.name}: nothing to draw yet (no request in the "
                                     "chat)", "warning"))
        return None
    generate = getattr(chat.model, "generate", None)
    if generate is None:
        raise AgentTeamError(f"{agent.name} draws images, but this run's model cannot "
                             "(it has no image generation)")
    prompt = fill_template(agent.prompt_template, request, chat.task or "")
    yield from chat._emit(MessageStarted(round_no, agent.name, agent.model))
    stream = generate(agent.model, ImageRequest(prompt, agent.size, agent.quality), agent.name)
    picture = yield from _relay(chat, stream)
    chat._account(agent.name, Completion("", picture.profile, picture.usage))
    if picture.content is not None:          # replayed: the recorded message
        content = picture.content
    else:
        assert picture.data is not None
        if chat.executor is not None:
            chat.executor.wait_ready()     # the sandbox makes the work dir, owned right
        try:
            part = chat.pictures.drawn(picture.data, agent.name, round_no)
        except ImageError as e:
            raise ServerError(f"{agent.name}: the image model's answer is not a usable "
                              f"image ({e})", picture.profile) from None
        said = f"Image for the prompt: {prompt}"
        if picture.revised_prompt and picture.revised_prompt != prompt:
            said += f"\n(The model drew it as: {picture.revised_prompt})"
        content = (TextPart(said), part)
    return Message(agent.name, content, round_no, model=picture.profile, usage=picture.usage)


def _relay(chat: GroupChat, stream) -> Generator[Event, None, Picture]:
    """Pass the generator's retry notes on as events; return its picture."""
    try:
        while True:
            try:
                note = next(stream)
            except StopIteration as stop:
                return stop.value
            if isinstance(note, RetryNote):
                yield from chat._emit(Retry(note.model, note.error, note.wait_s, note.attempt))
    finally:
        stream.close()
