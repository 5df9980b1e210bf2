"""The team file's schema: pydantic models (``extra="forbid"``) and derived views of an agent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_RE = r"^[a-z0-9][a-z0-9-]*$"
AGENT_RE = r"^[A-Za-z0-9_-]+$"
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Strings that look like a real provider key pasted in place of a ${VAR} reference.
LITERAL_KEY_RE = re.compile(r"^(sk-|sk_|AIza|xai-|gsk_|hf_|AKIA|ghp_)[A-Za-z0-9_\-]{8,}|^[A-Fa-f0-9]{32}$")
KEYLESS = {"NULL", "EMPTY", "NONE", "", "NOKEY", "NO-KEY", "LOCAL"}

DEFAULT_CODER = (
    "Coder. You are a skilled Python engineer. Solve the task step by step. When code is "
    "needed, write one complete ```python (or ```sh) block that can run as it is and prints "
    "what it finds; files go in the current directory. Fix your code when the results show "
    "an error. Reply TERMINATE when the task is done.")
DEFAULT_ASSISTANT = (
    "You are a helpful assistant in a group chat. Be brief and concrete. Reply TERMINATE when "
    "the task is done.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelProfile(_Strict):
    """A named model: any LiteLLM model id plus connection settings."""

    model: Optional[str] = None
    config_list: Optional[str] = None          # AutoGen OAI_CONFIG_LIST: env var or file
    filter_models: Optional[list[str]] = None  # keep only these config_list models
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
    extra: dict[str, Any] = Field(default_factory=dict)  # any other LiteLLM parameter


class Termination(_Strict):
    keyword: str = "TERMINATE"
    match: Literal["suffix", "substring", "exact"] = "suffix"


class SpeakerSelection(_Strict):
    method: Literal["auto", "round_robin", "random", "manual"] = "auto"
    model: Optional[str] = None
    allow_repeat: bool = False
    seed: Optional[int] = None        # for `random`
    recent_messages: int = Field(3, ge=1, le=50)     # context the auto selector sees
    max_chars_per_message: int = Field(400, ge=50)


class CodeExecution(_Strict):
    executor: Literal["docker", "local", "none"] = "docker"
    image: str = "agentteam-sandbox:latest"
    work_dir: str = "groupchat"
    timeout: float = Field(60, gt=0)
    network: Literal["none", "bridge"] = "none"
    last_n_messages: int = Field(3, ge=1)
    memory: str = "1g"
    cpus: float = Field(1.0, gt=0)
    pids_limit: int = Field(256, ge=16)
    tmpfs_size: str = "256m"
    output_limit: int = Field(20_000, ge=100)    # characters kept per block
    user: str = "1000:1000"
    files: list[str] = Field(default_factory=list)   # copied into the work dir before a run
    mode: Literal["blocks", "tool"] = "blocks"   # tool: code runs through a run_code tool


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
    kind: Literal["assistant", "user_proxy"] = "assistant"
    description: Optional[str] = None
    system_message: Optional[str] = None
    model: str = "default"
    human_input: Optional[Literal["always", "terminate", "never"]] = None
    execute_code: Optional[bool] = None
    tools: list[str] = Field(default_factory=list)    # tool names, `server.tool`, `server.*`
    execute_tools: Optional[bool] = None              # default: true for a user proxy


class TeamSpec(_Strict):
    name: str = Field(pattern=NAME_RE)
    description: Optional[str] = None
    task: str = Field(min_length=1)
    models: dict[str, ModelProfile] = Field(default_factory=dict)
    max_round: int = Field(20, ge=1, le=100_000)
    termination: Termination = Field(default_factory=Termination)
    speaker_selection: SpeakerSelection = Field(default_factory=SpeakerSelection)
    transitions: Optional[dict[str, list[str]]] = None
    code_execution: CodeExecution = Field(default_factory=CodeExecution)
    cache: Optional[Cache] = None
    budget: Budget = Field(default_factory=Budget)
    tools: list[ToolSpec] = Field(default_factory=list)
    context: Literal["error", "trim"] = "error"   # on context overflow: stop, or drop old turns
    agents: list[AgentSpec] = Field(min_length=1)

    # Where the file came from; set by load_team, not part of the YAML.
    source: Optional[str] = Field(None, exclude=True)

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


def system_message(agent: AgentSpec) -> str:
    """The agent's system message, or a sensible default for its role."""
    if agent.system_message:
        return agent.system_message
    if agent.kind == "user_proxy":
        return "A human admin."
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
