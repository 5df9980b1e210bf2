"""Pure values that make up a conversation: messages, code blocks and results, usage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Usage:
    """Tokens and cost of one or more model calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    calls: int = 0
    seconds: float = 0.0
    estimated: bool = False     # the server reported no usage; counted by agentteam

    def add(self, other: "Usage") -> None:
        self.estimated = self.estimated or other.estimated
        self.prompt_tokens += other.prompt_tokens
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
                                        "seconds", "estimated") if k in d})


@dataclass
class Message:
    """One message of the group chat. ``round`` 0 is the task."""

    agent: str
    content: str
    round: int
    kind: str = "text"          # text | code_result
    incomplete: bool = False    # the stream was cut; content is what arrived
    model: str | None = None    # the profile that wrote it, for assistants
    usage: Usage = field(default_factory=Usage)


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
