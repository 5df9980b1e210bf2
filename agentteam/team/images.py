"""The team file's image keys, checked across the file: ``kind: image_generator`` agents
(their image model profile, ``prompt_template``, ``size``, ``quality``)."""

from __future__ import annotations

import re
from typing import Iterator

IMAGE_KEYS = ("prompt_template", "size", "quality")
# What a prompt template may name: the request it draws, and the team's task.
TEMPLATE_FIELDS = ("request", "task")
_FIELD = re.compile(r"\{([^{}]*)\}")


def image_generator_problems(agent: dict, models: dict) -> Iterator[tuple[tuple, str]]:
    """(key path under the agent, message) for each misuse of the image keys."""
    if agent.get("kind") != "image_generator":
        for key in IMAGE_KEYS:
            if key in agent:
                yield (key,), f"`{key}` applies only to agents with `kind: image_generator`"
        return
    if "system_message" in agent:
        yield ("system_message",), ("an image generator has no system message: it draws the "
                                    "last request; shape the prompt with `prompt_template`")
    name = agent.get("model", "default")
    if isinstance(name, str) and name not in models:
        yield ("model",), ("an image generator needs an image model profile: define one under "
                           "`models:` (like `painter: {model: dall-e-3}`) and name it here")
    template = agent.get("prompt_template")
    if isinstance(template, str):
        for field in _FIELD.findall(template):
            if field not in TEMPLATE_FIELDS:
                yield ("prompt_template",), (f"unknown field {{{field}}} in prompt_template; "
                                             "it may use {request} and {task}")


def fill_template(template: str | None, request: str, task: str) -> str:
    """The prompt an image generator sends: the template with its fields filled (the
    request alone without one). Other braces are left as they are."""
    if not template:
        return request
    return template.replace("{request}", request).replace("{task}", task)
