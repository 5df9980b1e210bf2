"""Asking a model for a JSON object: structured output where the backend takes a schema,
and a lenient reading of the reply everywhere (the backends that cannot be told, and the
ones that answer in prose anyway).

``ask`` is a generator like ``ChatModel.stream``: it yields the stream's chunks (deltas,
retry notes) for a view to show and returns an ``Answer``. It goes through whatever
model stack it is given, so the cache, replay and scripted models serve it as any call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Generator

from .base import ChatModel, Chunk, Completion
from .constrained import without_reasoning

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


@dataclass
class Answer:
    """What the model said: the object read from it (None when none could be), why not,
    and the completion itself (text, usage, profile)."""
    value: dict | None
    problem: str
    completion: Completion


def schema_of(name: str, schema: dict) -> dict:
    """The ``schema`` argument of a model call: a name (letters, digits, ``_``, ``-``)
    and a JSON schema of an object."""
    return {"name": name, "schema": schema}


def ask(model: ChatModel, profile: str, messages: list[dict], agent: str,
        schema: dict) -> Generator[Chunk, None, Answer]:
    """One call asking for a JSON object of ``schema`` (from ``schema_of``)."""
    done = yield from model.stream(profile, messages, agent, schema=schema)
    value, problem = parse_object(done.text)
    return Answer(value, problem, done)


def parse_object(text: str) -> tuple[dict | None, str]:
    """The JSON object a reply holds, read leniently: reasoning dropped, a fenced block or
    the outermost braces in prose, trailing commas and raw line breaks in strings
    forgiven. Returns (object, "") or (None, what was wrong), in one line for a repair
    prompt or an error."""
    text = without_reasoning(text or "")
    if not text:
        return None, "the reply was empty"
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        candidates.append(text[start:end + 1])
    candidates.append(text)
    problem = "the reply holds no JSON object"
    for chunk in candidates:
        for attempt in (chunk, _TRAILING_COMMA.sub(r"\1", chunk)):
            try:
                # strict=False: raw newlines and tabs inside strings (llama.cpp's JSON
                # grammar lets a model write them) are read as themselves
                value: Any = json.loads(attempt, strict=False)
            except (ValueError, RecursionError) as e:
                if "{" in chunk:
                    problem = f"the reply is not valid JSON ({_short(e)})"
                continue
            if isinstance(value, dict):
                return value, ""
            problem = f"the reply is JSON but a {type(value).__name__}, not an object"
    return None, problem


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:120]
