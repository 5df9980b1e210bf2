"""Checking a transcript line by line: every field of every event, named with file:line.

A transcript may be edited by hand or come from somewhere else. A field that is
missing or of the wrong type is a ConfigError that names the line and the field,
never a KeyError or a TypeError later in the run.
"""

from __future__ import annotations

import json

from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigError
from .events import EVENT_TYPES, to_dict
from .messages import Message, Usage, content_from_json

_ADAPTERS: dict[str, TypeAdapter] = {}
_KINDS = ("text", "code_result", "tool_result")


def _adapter(kind: str) -> TypeAdapter:
    """A validator of one event type (or of ``usage``), built once."""
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(Usage if kind == "usage" else EVENT_TYPES[kind])
    return _ADAPTERS[kind]


def parse(line: str, where: str, torn_ok: bool = False, lenient: bool = False) -> dict | None:
    """The event on one line, checked and with its defaults filled in.

    ``None`` for a line that is not JSON when ``torn_ok`` (the last line, cut by a kill).
    ``lenient`` (for reading a run back to show it, never to go on with it): an event of
    a type this version does not know is kept as it is, and fields it does not know are
    kept beside the checked ones.
    """
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError):
        if torn_ok:
            return None
        raise ConfigError(f"{where}: not a JSON line; is this an agentteam transcript?") \
            from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ConfigError(f"{where}: not an agentteam event (an object with a `type`)")
    kind = raw["type"]
    if kind not in EVENT_TYPES and lenient:
        return raw
    if kind not in EVENT_TYPES:
        raise ConfigError(f"{where}: unknown event type `{kind[:40]}`; is this an agentteam "
                          "transcript?")
    if kind == "message_delta":    # the most frequent line: checked by hand, quickly
        if not (_is_round(raw.get("round")) and isinstance(raw.get("agent"), str)
                and isinstance(raw.get("text"), str)):
            raise ConfigError(f"{where}: message_delta event: needs `round` (a whole number "
                              "≥ 0), `agent` and `text` (text)")
        scope = raw.get("scope")
        if scope is not None and not (isinstance(scope, list)
                                      and all(isinstance(x, str) for x in scope)):
            raise ConfigError(f"{where}: message_delta event: `scope` must be a list of names")
        return raw
    try:
        event = to_dict(_adapter(kind).validate_python(raw))
    except ValidationError as e:
        raise ConfigError(f"{where}: {kind} event: {_say(e)}") from None
    if kind == "run_started" and "format" not in raw:
        event["format"] = 1          # written before the format was marked
    if "round" in event and not _is_round(event["round"]):
        raise ConfigError(f"{where}: {kind} event: `round` must be 0 or more")
    if kind == "message":
        _check_message(event, where)
    return {**raw, **event} if lenient else event


def _check_message(event: dict, where: str) -> None:
    try:
        content_from_json(event["content"])
    except ValueError as e:
        raise ConfigError(f"{where}: message event: {e}") from None
    if event["kind"] not in _KINDS:
        raise ConfigError(f"{where}: message event: `kind` must be text, code_result or "
                          "tool_result, not "
                          f"{str(event['kind'])[:40]!r}")
    try:
        _adapter("usage").validate_python(event["usage"])
    except ValidationError as e:
        raise ConfigError(f"{where}: message event: usage: {_say(e)}") from None


def message(event: dict) -> Message:
    """A checked ``message`` event as a Message."""
    usage = _adapter("usage").validate_python(event["usage"])
    return Message(event["agent"], content_from_json(event["content"]), event["round"],
                   event["kind"], False, event["model"], usage, event["truncated"])


def _is_round(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _say(e: ValidationError) -> str:
    err = e.errors(include_url=False)[0]
    name = str(err["loc"][0]) if err["loc"] else "(event)"
    if err["type"] == "missing":
        return f"`{name}` is missing"
    got = err.get("input")
    shown = type(got).__name__ if isinstance(got, (dict, list)) else repr(got)[:40]
    if name == "content":
        return f"`content` must be text or a list of parts (got {shown})"
    return f"`{name}`: {err['msg'].lower()} (got {shown})"
