"""Pure values that make up a conversation: messages and their parts, code blocks and
results, usage.

A message's content is either a string (plain text: the fast, common case) or a tuple
of parts: ``TextPart``, ``ImagePart``, ``ToolCallPart``, ``ToolResultPart``. In JSON
(events, transcripts) text-only content stays a string and parts become a list of
objects with a ``type``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, Union


@dataclass
class Usage:
    """Tokens and cost of one or more model calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    calls: int = 0
    seconds: float = 0.0
    estimated: bool = False     # the server reported no usage; counted by agentteam
    cached_tokens: int = 0      # of prompt_tokens, those the provider's prompt cache held

    def add(self, other: "Usage") -> None:
        self.estimated = self.estimated or other.estimated
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.seconds += other.seconds
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 4)
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "Usage":
        d = d or {}
        return cls(**{k: d[k] for k in ("prompt_tokens", "completion_tokens", "cost", "calls",
                                        "seconds", "estimated", "cached_tokens") if k in d})


# -- parts -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ImagePart:
    """An image: a file in the work dir (``path``, relative to it) or a ``url``."""

    path: str | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None
    type: Literal["image"] = "image"

    def __post_init__(self) -> None:
        if not (self.path or self.url):
            raise ValueError("an image part needs a path or a url")

    @property
    def label(self) -> str:
        size = f" {self.width}x{self.height}" if self.width and self.height else ""
        return f"[image: {self.path or self.url}{size}]"


@dataclass(frozen=True)
class ToolCallPart:
    """A model's request to call a tool; ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class ToolResultPart:
    """What a tool call gave, answered to the call with the same ``id``."""

    id: str
    name: str
    output: str
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"


Part = Union[TextPart, ImagePart, ToolCallPart, ToolResultPart]
Content = Union[str, "tuple[Part, ...]"]
_PARTS = {"text": TextPart, "image": ImagePart, "tool_call": ToolCallPart,
          "tool_result": ToolResultPart}


def content_to_json(content: Content) -> str | list[dict]:
    """A string stays a string; parts become a list of dicts, each with its ``type``."""
    if isinstance(content, str):
        return content
    return [{"type": p.type, **{k: v for k, v in asdict(p).items()
                                 if k != "type" and v is not None}} for p in content]


def content_from_json(value: object) -> Content:
    """The inverse of ``content_to_json``; raises ValueError on what is not content."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError(f"content must be a string or a list of parts, not "
                         f"{type(value).__name__}")
    parts: list[Part] = []
    for i, d in enumerate(value):
        kind = d.get("type") if isinstance(d, dict) else None
        if not (isinstance(kind, str) and kind in _PARTS):
            raise ValueError(f"content[{i}] is not a part (text, image, tool_call, tool_result)")
        cls = _PARTS[kind]
        fields = {k: v for k, v in d.items() if k != "type"}
        for name, v in fields.items():
            want = _FIELD_TYPES[kind].get(name, ())
            # bool is an int to Python, but never a width or a height
            if want and (not isinstance(v, want) or isinstance(v, bool) and bool not in want):
                raise ValueError(f"content[{i}].{name} must be "
                                 f"{' or '.join(_JSON_NAMES[t] for t in want)}, not "
                                 f"{_JSON_NAMES.get(type(v), type(v).__name__)}")
        try:
            parts.append(cls(**fields))
        except (TypeError, ValueError) as e:
            raise ValueError(f"content[{i}]: {e}") from None
    return tuple(parts)


# The JSON types each field of each part may have.
_STR, _INT, _BOOL, _NONE = (str,), (int,), (bool,), (type(None),)
_FIELD_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "text": {"text": _STR},
    "image": {"path": _STR + _NONE, "url": _STR + _NONE, "width": _INT + _NONE,
              "height": _INT + _NONE},
    "tool_call": {"id": _STR, "name": _STR, "arguments": _STR},
    "tool_result": {"id": _STR, "name": _STR, "output": _STR, "is_error": _BOOL},
}
_JSON_NAMES = {str: "a string", int: "a whole number", bool: "true or false",
               type(None): "null", list: "a list", dict: "an object", float: "a decimal number"}


def text_of(content: Content) -> str:
    """The prose of some content: the string itself, or its text parts joined."""
    if isinstance(content, str):
        return content
    return "\n".join(p.text for p in content if isinstance(p, TextPart))


def describe(content: Content) -> str:
    """Content as readable text: prose as it is, other parts as short bracketed notes."""
    if isinstance(content, str):
        return content
    out = []
    for p in content:
        if isinstance(p, TextPart):
            out.append(p.text)
        elif isinstance(p, ImagePart):
            out.append(p.label)
        elif isinstance(p, ToolCallPart):
            out.append(f"[calls {p.name}({_short_json(p.arguments)})]")
        elif isinstance(p, ToolResultPart):
            out.append(f"[{p.name} {'error' if p.is_error else 'result'}: {p.output}]")
    return "\n".join(out)


def _short_json(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False)[:120]
    except ValueError:
        return arguments[:120]


# -- messages ----------------------------------------------------------------------------

@dataclass
class Message:
    """One message of the group chat. ``round`` 0 is the task."""

    agent: str
    content: Content
    round: int
    kind: str = "text"          # text | code_result
    incomplete: bool = False    # the stream was cut; content is what arrived
    model: str | None = None    # the profile that wrote it, for assistants
    usage: Usage = field(default_factory=Usage)
    truncated: bool = False     # the model stopped at its token limit

    @property
    def text(self) -> str:
        """The message's prose (its text parts for a message with parts)."""
        return text_of(self.content)

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as parts (a plain string is one text part)."""
        if isinstance(self.content, str):
            return (TextPart(self.content),) if self.content else ()
        return self.content


@dataclass
class CodeBlock:
    """A fenced code block found in a message."""

    language: str      # normalised: python | sh, or the raw tag when unsupported
    code: str

    @property
    def supported(self) -> bool:
        return self.language in ("python", "sh")


@dataclass
class CodeResult:
    """What running one code block gave."""

    language: str
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    truncated_bytes: int = 0
