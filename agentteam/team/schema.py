"""The team file's schema: pydantic models (``extra="forbid"``) and derived views of an agent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from . import members
from .flow import (
    PLACEHOLDERS,
    RETRY_PLACEHOLDERS,
    LastN,
    TransitionEntry,
    TransitionRule,
    check_template,
    compile_regex,
    split_transitions,
)
from .members import ChatSpec, Sees, file_or_inline

NAME_RE = r"^[a-z0-9][a-z0-9-]*$"
AGENT_RE = members.AGENT_RE
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Strings that look like a real provider key pasted in place of a ${VAR} reference.
LITERAL_KEY_RE = re.compile(r"^(sk-|sk_|AIza|xai-|gsk_|hf_|AKIA|ghp_)[A-Za-z0-9_\-]{8,}|^[A-Fa-f0-9]{32}$")
KEYLESS = {"NULL", "EMPTY", "NONE", "", "NOKEY", "NO-KEY", "LOCAL"}

# A Docker image reference: [registry[:port]/]path[:tag][@digest], path in lowercase.
IMAGE_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?/)?"
                      r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                      r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                      r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
# An image size for image models: 1024x1024, 1792x1024, ... or auto.
IMAGE_SIZE_RE = r"^([1-9][0-9]{1,4}x[1-9][0-9]{1,4}|auto)$"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)

DEFAULT_CODER = (
    "Coder. You are a skilled Python engineer. Solve the task step by step. When code is "
    "needed, write one complete ```python (or ```sh) block that can run as it is and prints "
    "what it finds; files go in the current directory. Fix your code when the results show "
    "an error. Reply TERMINATE when the task is done.")
DEFAULT_ASSISTANT = (
    "You are a helpful assistant in a group chat. Be brief and concrete. Reply TERMINATE when "
    "the task is done.")


def parse_size(text: str) -> int | None:
    """Bytes in ``512m``, ``1g``, ``1.5g``, ``20000`` (k/m/g are powers of 1024); None if not a size."""
    m = _SIZE_RE.match(text)
    if not m:
        return None
    return int(float(m.group(1)) * 1024 ** " kmg".index((m.group(2) or " ").lower()))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


Scalar = Union[str, bool, int, float]


class ModelProfile(_Strict):
    """A named model: any LiteLLM model id plus connection settings."""

    model: Optional[str] = None
    config_list: Optional[str] = None          # AutoGen OAI_CONFIG_LIST: env var or file
    filter_models: Optional[list[str]] = None  # keep only these config_list models
    # AutoGen's filter_dict: keep entries whose field has one of the values (tags: any)
    filter_dict: Optional[dict[str, Union[list[Optional[Scalar]], Scalar, None]]] = None
    api_base: Optional[str] = None
    api_key: Optional[str] = None
    api_version: Optional[str] = None
    temperature: Optional[float] = Field(None, ge=0, le=2)
    max_tokens: Optional[int] = Field(None, gt=0)
    timeout: float = Field(120.0, gt=0)
    first_token_timeout: Optional[float] = Field(None, gt=0)
    num_retries: int = Field(3, ge=0, le=20)
    max_retry_wait: float = Field(60.0, ge=0)
    fallbacks: list[str] = Field(default_factory=list)
    # Common LiteLLM parameters, passed through as they are.
    top_p: Optional[float] = None
    seed: Optional[int] = None
    stop: Optional[list[str]] = None
    presence_penalty: Optional[float] = None
    frequency_penalty: Optional[float] = None
    reasoning_effort: Optional[str] = None
    extra_headers: Optional[dict[str, str]] = None
    custom_llm_provider: Optional[str] = None
    # Does the model take images? Unset: LiteLLM's model table says, else no.
    vision: Optional[bool] = None
    extra: dict[str, Any] = Field(default_factory=dict)  # any other LiteLLM parameter

    @field_validator("filter_dict", mode="before")
    @classmethod
    def _filter_dict(cls, v: Any) -> Any:
        ok = (str, bool, int, float, type(None))
        if v is None or (isinstance(v, dict) and all(
                isinstance(x, ok) or (isinstance(x, list) and all(isinstance(y, ok) for y in x))
                for x in v.values())):
            return v
        raise ValueError("expected a mapping of entry fields to a value or a list of values, "
                         "like {tags: [gpt-4], api_type: azure}")


class Termination(_Strict):
    keyword: str = "TERMINATE"
    match: Literal["suffix", "substring", "exact", "regex"] = "suffix"
    case_sensitive: bool = True
    check_code_results: bool = False     # code output may end the chat too
    agents: Optional[list[str]] = None   # only these agents' messages end the chat

    @model_validator(mode="after")
    def _regex(self) -> "Termination":
        if self.match == "regex":
            compile_regex(self.keyword)
        return self


class SpeakerSelection(_Strict):
    method: Literal["auto", "round_robin", "random", "manual", "function"] = "auto"
    model: Optional[str] = None
    allow_repeat: Union[bool, list[str]] = False     # or the agents that may repeat
    function: Optional[str] = None    # method: function: `module:func` or `file.py:func`
    prompt: Optional[str] = None      # the selector's prompt, a template
    retry_prompt: Optional[str] = None
    max_retries: int = Field(1, ge=0, le=10)       # asks after an answer naming no one
    seed: Optional[int] = None        # for `random`
    recent_messages: int = Field(3, ge=1, le=50)     # context the auto selector sees
    max_chars_per_message: int = Field(400, ge=50)

    @field_validator("allow_repeat", mode="before")
    @classmethod
    def _repeat(cls, v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            return v
        raise ValueError("expected true, false, or a list of agent names")

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: Optional[str]) -> Optional[str]:
        return v if v is None else check_template(v, PLACEHOLDERS)

    @field_validator("retry_prompt")
    @classmethod
    def _retry_prompt(cls, v: Optional[str]) -> Optional[str]:
        return v if v is None else check_template(v, RETRY_PLACEHOLDERS)


class CodeExecution(_Strict):
    executor: Literal["docker", "local", "none"] = "docker"
    image: str = "agentteam-sandbox:latest"
    work_dir: str = "groupchat"
    # A work dir outside the team file's folder must be asked for by name.
    allow_work_dir_outside_team: bool = False
    timeout: float = Field(60, gt=0)
    network: Literal["none", "bridge"] = "none"
    last_n_messages: LastN = 3        # or "auto": every message since the runner last spoke
    memory: str = "1g"
    cpus: float = Field(1.0, ge=0.01, le=1024)
    pids_limit: int = Field(256, ge=16)
    tmpfs_size: str = "256m"
    output_limit: int = Field(20_000, ge=100)    # bytes kept per block
    user: str = "1000:1000"
    files: list[str] = Field(default_factory=list)   # copied into the work dir before a run
    # What one run may add to the work dir; also the largest file a block may write.
    work_dir_max_size: str = "1g"
    work_dir_max_files: int = Field(10_000, ge=1)
    mode: Literal["blocks", "tool"] = "blocks"   # tool: code runs through a run_code tool

    @field_validator("memory", "tmpfs_size", "work_dir_max_size", mode="before")
    @classmethod
    def _size(cls, v: Any, info) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if isinstance(v, str):
            least = {"memory": 6 * 2**20}.get(info.field_name, 1)
            size = parse_size(v)
            if size is None:
                raise ValueError(f"{v!r} is not a size: write a number with k, m or g "
                                 "(like 512m or 2g)")
            if size < least:
                raise ValueError(f"{v!r} is too small: at least {least // 2**20}m")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not IMAGE_RE.match(v):
            raise ValueError(f"{v!r} is not a Docker image name (like "
                             "agentteam-sandbox:latest or ghcr.io/org/image:tag)")
        return v

    @field_validator("user", mode="before")
    @classmethod
    def _user(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)     # `user: 1000`
        if not isinstance(v, str):
            return v       # the type error is pydantic's
        m = re.fullmatch(r"(\d+)(?::(\d+))?", v.strip())
        if not m:
            raise ValueError(f"{v!r} is not a numeric user: write uid:gid, like \"1000:1000\"")
        if int(m.group(1)) == 0:
            raise ValueError("the sandbox never runs code as root (uid 0): choose another uid")
        return v.strip()

    def user_ids(self) -> tuple[int, int]:
        """The sandbox user's uid and gid (the gid is the uid when not given)."""
        uid, _, gid = self.user.partition(":")
        return int(uid), int(gid or uid)


class McpServer(_Strict):
    """How to reach an MCP server: a command agentteam starts (stdio), or a ``url``."""

    command: Optional[str] = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)   # the only variables it gets
    cwd: Optional[str] = None                           # default: the team file's folder
    url: Optional[str] = None                           # streamable HTTP
    headers: dict[str, str] = Field(default_factory=dict)
    startup_timeout: float = Field(30, gt=0)


class ToolSpec(_Strict):
    """A Python function (``function:``) or an MCP server (``mcp:``) agents may call."""

    function: Optional[str] = None      # file.py:func (next to the team) or pkg.module:func
    mcp: Optional[McpServer] = None
    name: Optional[str] = Field(None, pattern=AGENT_RE)
    description: Optional[str] = None
    run: Literal["sandbox", "host"] = "sandbox"
    timeout: float = Field(30, gt=0)

    @property
    def tool_name(self) -> str:
        """The name agents list: ``name``, else the function's own name."""
        if self.name:
            return self.name
        return (self.function or "").rpartition(":")[2]


class Cache(_Strict):
    seed: int = 0
    dir: Optional[str] = None


class Budget(_Strict):
    tokens: Optional[int] = Field(None, gt=0)
    cost: Optional[float] = Field(None, gt=0)
    seconds: Optional[float] = Field(None, gt=0)


class AgentSpec(_Strict):
    name: str = Field(pattern=AGENT_RE)
    kind: Literal["assistant", "user_proxy", "image_generator", "team"] = "assistant"
    description: Optional[str] = None
    system_message: Optional[str] = None
    model: str = "default"
    human_input: Optional[Literal["always", "terminate", "never"]] = None
    execute_code: Optional[bool] = None
    default_auto_reply: Optional[str] = None   # what a proxy with nothing to say sends
    max_consecutive_auto_reply: Optional[int] = Field(None, ge=0)
    tools: list[str] = Field(default_factory=list)    # tool names, `server.tool`, `server.*`
    execute_tools: Optional[bool] = None              # default: true for a user proxy
    # kind: image_generator only (see docs/images.md)
    prompt_template: Optional[str] = None
    size: Optional[str] = Field(None, pattern=IMAGE_SIZE_RE)
    quality: Optional[Literal["standard", "hd", "low", "medium", "high", "auto"]] = None
    # kind: team only (see docs/team-file.md#teams-inside-teams): the inner team, what it
    # is told (a template with {context}), what it sees of the chat, what comes back
    team: Union[str, dict, None] = None
    task: Optional[str] = None
    sees: Sees = "last"
    summary: Literal["last", "reflection"] = "last"
    summary_prompt: Optional[str] = None
    max_round: Optional[int] = Field(None, ge=1, le=100_000)
    # The inner team, loaded and checked (set by load_team for kind: team).
    _team: Optional["TeamSpec"] = PrivateAttr(None)

    @field_validator("team", mode="before")
    @classmethod
    def _team_value(cls, v: Any) -> Any:
        return file_or_inline(v)

    @field_validator("sees", mode="before")
    @classmethod
    def _sees(cls, v: Any) -> Any:
        if v in ("last", "all") or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError("expected last, all, or a number of messages (1 or more)")


class TeamSpec(_Strict):
    name: str = Field(pattern=NAME_RE)
    description: Optional[str] = None
    # Required to run; a team used only inside another may leave it out.
    task: Optional[str] = Field(None, min_length=1)
    models: dict[str, ModelProfile] = Field(default_factory=dict)
    max_round: int = Field(20, ge=1, le=100_000)
    termination: Termination = Field(default_factory=Termination)
    speaker_selection: SpeakerSelection = Field(default_factory=SpeakerSelection)
    transitions: Optional[dict[str, list[TransitionEntry]]] = None
    transitions_type: Literal["allowed", "disallowed"] = "allowed"
    initiator: Optional[str] = None    # who sends the task (default: the first user proxy)
    send_introductions: bool = False
    code_execution: CodeExecution = Field(default_factory=CodeExecution)
    cache: Optional[Cache] = None
    budget: Budget = Field(default_factory=Budget)
    tools: list[ToolSpec] = Field(default_factory=list)
    context: Literal["error", "trim"] = "error"   # on context overflow: stop, or drop old turns
    agents: list[AgentSpec] = Field(default_factory=list)    # or `chats:`
    chats: list[ChatSpec] = Field(default_factory=list)

    # Where the file came from; set by load_team, not part of the YAML.
    source: Optional[str] = Field(None, exclude=True)
    # The transition rules by agent; `transitions` keeps the names allowed after each.
    _rules: dict[str, list[TransitionRule]] = PrivateAttr(default_factory=dict)
    # An inner team written inline (it uses its file's profiles); one that sets its own
    # `code_execution` gets a sandbox of its own (see team.nesting).
    _inline: bool = PrivateAttr(False)
    _own_sandbox: bool = PrivateAttr(False)

    @field_validator("termination", mode="before")
    @classmethod
    def _termination_short(cls, v: Any) -> Any:
        return {"keyword": v} if isinstance(v, str) else v

    @field_validator("speaker_selection", mode="before")
    @classmethod
    def _selection_short(cls, v: Any) -> Any:
        return {"method": v} if isinstance(v, str) else v

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_short(cls, v: Any) -> Any:
        if v is True:
            return {}
        if v is False:
            return None
        return v

    @model_validator(mode="after")
    def _split_transitions(self) -> "TeamSpec":
        # Rules and the disallowed form become allowed lists here, once: whatever reads
        # `transitions` sees names only; the rules are kept apart (`transition_rules`).
        if self.transitions is not None:
            names = [a.name for a in self.agents]
            self.transitions, self._rules = split_transitions(  # type: ignore[assignment]
                self.transitions, self.transitions_type, names)
        return self

    def transition_rules(self, after: str | None) -> list[TransitionRule]:
        """The rules that decide who speaks after ``after``, in order."""
        return self._rules.get(after or "", [])

    # -- derived views --------------------------------------------------------
    def agent(self, name: str) -> AgentSpec:
        return next(a for a in self.agents if a.name == name)

    @property
    def base_dir(self) -> Path:
        """The team file's folder (the current one for a team built in code)."""
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    @property
    def work_dir(self) -> Path:
        return (self.base_dir / self.code_execution.work_dir).resolve()

    def work_dir_outside(self) -> bool:
        """Does the work dir resolve (links followed) anywhere but a folder inside the
        team file's folder? The folder itself counts as outside: it holds the team file."""
        base = self.base_dir
        return self.work_dir == base or not self.work_dir.is_relative_to(base)


AgentSpec.model_rebuild()


def system_message(agent: AgentSpec) -> str:
    """The agent's system message, or a sensible default for its role."""
    if agent.system_message:
        return agent.system_message
    if agent.kind == "user_proxy":
        return "A human admin."
    if agent.kind == "image_generator":
        return "Image generator. Draws a picture of the last request in the chat."
    return DEFAULT_CODER if "coder" in agent.name.lower() else DEFAULT_ASSISTANT


def human_input(agent: AgentSpec) -> str:
    return agent.human_input or "never"


def executes_code(agent: AgentSpec) -> bool:
    return agent.kind == "user_proxy" and (agent.execute_code is not False)


def executes_tools(agent: AgentSpec) -> bool:
    """Does this agent run the tool calls addressed to the team (a user proxy by default)?"""
    if agent.execute_tools is not None:
        return agent.execute_tools
    return agent.kind == "user_proxy"
