"""AgentChat participants and model clients as team-file agents and model profiles.

Keys are never copied (a literal key in the file is reported, not written); a profile
takes its key from the provider's usual environment variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

# Config keys that change nothing in agentteam (it streams always, knows models from
# LiteLLM's table, puts names where each provider wants them).
_MODEL_QUIET = {"model_info", "model_capabilities", "include_name_in_message",
                "add_name_prefixes", "parallel_tool_calls", "api_key", "organization"}
_MODEL_SAME = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens",
               "seed": "seed", "presence_penalty": "presence_penalty",
               "frequency_penalty": "frequency_penalty", "timeout": "timeout"}
_AGENT_QUIET = {"name", "description", "system_message", "model_client", "model_client_stream",
                "metadata", "model_context", "workbench", "tools", "handoffs",
                "reflect_on_tool_use", "tool_call_summary_format", "max_tool_iterations"}
MASKED = re.compile(r"^\*+$")
# AgentChat's own descriptions: they tell the selector nothing (the system message does).
_DEFAULT_DESCRIPTIONS = ("An agent that provides assistance with", "A human user")


def short(provider: Any) -> str:
    """``autogen_ext.models.openai.OpenAIChatCompletionClient`` -> its class name."""
    return str(provider or "?").rsplit(".", 1)[-1]


@dataclass
class Profiles:
    """The distinct model clients met so far, as named profiles (the first is `default`)."""

    profiles: dict[str, dict] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)

    def add(self, comp: Any, where: str, notes: list[str]) -> str | None:
        """The profile name for model client ``comp`` (None when it cannot be mapped)."""
        if not isinstance(comp, dict):
            return None
        mapped, comment = model_profile(comp, where, notes)
        if mapped is None:
            return None
        for name, known in self.profiles.items():
            if known == mapped:
                return name
        name = "default" if not self.profiles else _free_name(mapped["model"], self.profiles)
        self.profiles[name] = mapped
        self.comments[name] = comment
        return name


def _free_name(model: str, taken: dict) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", model.split("/")[-1].lower()).strip("-") or "model"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def model_profile(comp: dict, where: str, notes: list[str]) -> tuple[dict | None, str]:
    """An AgentChat model client as a profile's keys, and a comment on where its key
    comes from."""
    kind, cfg = short(comp.get("provider")), comp.get("config") or {}
    model = str(cfg.get("model") or "")
    key = cfg.get("api_key")
    if isinstance(key, str) and key and not MASKED.match(key):
        notes.append(f"{where}.api_key: a literal key was in the file; it was NOT copied "
                     "(profiles take keys from the environment)")
    out: dict[str, Any] = {}
    if kind == "AzureOpenAIChatCompletionClient":
        out["model"] = f"azure/{cfg.get('azure_deployment') or model}"
        if cfg.get("azure_endpoint"):
            out["api_base"] = cfg["azure_endpoint"]
        if cfg.get("api_version"):
            out["api_version"] = str(cfg["api_version"])
        comment, skip = "the key comes from $AZURE_API_KEY", {
            "azure_deployment", "azure_endpoint", "api_version", "model"}
        if cfg.get("azure_ad_token_provider"):
            notes.append(f"{where}.azure_ad_token_provider: Entra ID tokens are not carried "
                         "over; set AZURE_API_KEY")
            skip.add("azure_ad_token_provider")
    elif kind == "OpenAIChatCompletionClient":
        out["model"], comment = _openai_model(model, cfg.get("base_url"))
        if cfg.get("base_url"):
            out["api_base"] = cfg["base_url"]
        skip = {"model", "base_url"}
    elif kind in ("AnthropicChatCompletionClient", "OllamaChatCompletionClient"):
        prefix = "anthropic" if kind.startswith("Anthropic") else "ollama_chat"
        out["model"] = f"{prefix}/{model}"
        base = cfg.get("base_url") or cfg.get("host")
        if base:
            out["api_base"] = base
        comment = "the key comes from $ANTHROPIC_API_KEY" if prefix == "anthropic" else \
            "a local Ollama server: no key"
        skip = {"model", "base_url", "host", "options"}
        options = cfg.get("options")
        if isinstance(options, dict):     # Ollama's sampling settings live there
            cfg = {**cfg, **options}
    else:
        notes.append(f"{where}: model client {kind} is not one agentteam maps; "
                     + (f"its model `{model}` is used as a LiteLLM id" if model else
                        "the agent uses the default model"))
        if not model:
            return None, ""
        return {"model": model}, f"from {kind}; check the model id"
    _carry(cfg, out, skip, where, notes)
    return out, f"from {kind}; {comment}"


def _openai_model(model: str, base_url: Any) -> tuple[str, str]:
    if base_url:
        return f"openai/{model}", "an OpenAI-compatible server: the key (if it needs one) " \
                                  "comes from $OPENAI_API_KEY"
    if model.startswith("gemini-"):    # AgentChat sends these to Gemini's endpoint
        return f"gemini/{model}", "the key comes from $GEMINI_API_KEY"
    if model.startswith("claude-"):
        return f"anthropic/{model}", "the key comes from $ANTHROPIC_API_KEY"
    return model, "the key comes from $OPENAI_API_KEY"


def _carry(cfg: dict, out: dict, skip: set, where: str, notes: list[str]) -> None:
    """Sampling and connection settings that mean the same in a profile."""
    for k, v in cfg.items():
        if k in skip or k in _MODEL_QUIET or v is None:
            continue
        if k in _MODEL_SAME and isinstance(v, (int, float)) and not isinstance(v, bool):
            out[_MODEL_SAME[k]] = v
        elif k == "max_retries" and isinstance(v, int):
            out["num_retries"] = max(0, min(v, 20))
        elif k == "stop" and isinstance(v, (str, list)):
            out["stop"] = [v] if isinstance(v, str) else [str(s) for s in v]
        elif k == "n" and v == 1:
            continue
        else:
            notes.append(f"{where}.{k}: not carried over")


@dataclass
class Agent:
    """One converted participant: the agent's keys and what else it brought."""

    data: dict
    comment: str
    handoffs: list[str] = field(default_factory=list)
    code_execution: dict | None = None


def convert_agent(comp: Any, i: int, profiles: Profiles, notes: list[str]) -> Agent | None:
    """A participant as an agent; None (with a note) for what is not an agent."""
    where = f"participants[{i}]"
    if not isinstance(comp, dict) or not isinstance(comp.get("config"), dict):
        notes.append(f"{where}: not a component; left out")
        return None
    kind, cfg = short(comp.get("provider")), comp["config"]
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(cfg.get("name") or f"agent_{i}"))
    if name != cfg.get("name"):
        notes.append(f"{where}: name {cfg.get('name')!r} became `{name}`")
    where = f"{where} ({name})"
    data: dict[str, Any] = {"name": name}
    agent = Agent(data, f"from {kind} `{name}`")
    if kind == "UserProxyAgent":
        data.update(kind="user_proxy", human_input="always", execute_code=False)
        agent.comment += ": asks the person every turn (run in a terminal, or --human never)"
    elif kind == "CodeExecutorAgent":
        data.update(kind="user_proxy", human_input="never", execute_code=True)
        agent.code_execution = _code_execution(cfg.get("code_executor"), where, notes)
        for k in ("model_client", "sources", "supported_languages"):
            if cfg.get(k):
                notes.append(f"{where}.{k}: not carried over (here it runs the code blocks of "
                             "any agent's recent messages)")
    else:
        _assistant(kind, cfg, where, data, agent, profiles, notes)
    desc = cfg.get("description")
    if isinstance(desc, str) and desc and not desc.startswith(_DEFAULT_DESCRIPTIONS):
        agent.data = {"name": name, "description": desc, **data}
    return agent


def _assistant(kind: str, cfg: dict, where: str, data: dict, agent: Agent, profiles: Profiles,
               notes: list[str]) -> None:
    if kind not in ("AssistantAgent",):
        notes.append(f"{where}: {kind} is not an agent kind agentteam has; imported as an "
                     "assistant" + (" (its inner team is left out)" if "team" in cfg else ""))
    if isinstance(cfg.get("system_message"), str) and cfg["system_message"]:
        data["system_message"] = cfg["system_message"]
    profile = profiles.add(cfg.get("model_client"), f"{where}.model_client", notes)
    if profile and profile != "default":
        data["model"] = profile
    tools = _tools(cfg)
    if tools:
        notes.append(f"{where}: tools {', '.join(tools)} not carried over (tools are not in "
                     "team files yet)")
    context = cfg.get("model_context")
    if isinstance(context, dict) and short(context.get("provider")) != \
            "UnboundedChatCompletionContext":
        notes.append(f"{where}.model_context: {short(context.get('provider'))} not carried "
                     "over: the agent sees the whole chat (`context: trim` drops old turns "
                     "when it no longer fits)")
    for h in cfg.get("handoffs") or []:
        target = h.get("target") if isinstance(h, dict) else h
        if isinstance(target, str):
            agent.handoffs.append(target)
    if kind == "AssistantAgent":
        for k, v in cfg.items():
            if k not in _AGENT_QUIET and v not in (None, [], {}, False):
                notes.append(f"{where}.{k}: not carried over")


def _tools(cfg: dict) -> list[str]:
    found = [t for t in cfg.get("tools") or [] if isinstance(t, dict)]
    for bench in cfg.get("workbench") or []:
        if isinstance(bench, dict):
            found += [t for t in (bench.get("config") or {}).get("tools") or []
                      if isinstance(t, dict)]
    return [str((t.get("config") or {}).get("name") or t.get("label") or "?") for t in found]


def _code_execution(comp: Any, where: str, notes: list[str]) -> dict:
    """An AgentChat code executor as `code_execution` keys."""
    if not isinstance(comp, dict):
        return {"executor": "docker"}
    kind, cfg = short(comp.get("provider")), comp.get("config") or {}
    out: dict[str, Any] = {}
    if kind == "LocalCommandLineCodeExecutor":
        out["executor"] = "local"
        notes.append(f"{where}: LocalCommandLineCodeExecutor runs code on this machine "
                     "(executor: local); agentteam's default is its Docker sandbox")
    else:
        out["executor"] = "docker"
        if kind != "DockerCommandLineCodeExecutor":
            notes.append(f"{where}.code_executor: {kind} is not carried over; code runs in "
                         "agentteam's Docker sandbox")
        elif cfg.get("image"):
            notes.append(f"{where}.code_executor.image {cfg['image']!r}: code runs in "
                         "agentteam's sandbox image (set code_execution.image to change it)")
    if isinstance(cfg.get("timeout"), (int, float)) and cfg["timeout"] > 0:
        out["timeout"] = cfg["timeout"]
    if isinstance(cfg.get("work_dir"), str) and cfg["work_dir"]:
        # relative to the team file, and inside its folder
        name = PurePosixPath(cfg["work_dir"].replace("\\", "/")).name or "coding"
        out["work_dir"] = name if re.fullmatch(r"[\w.-]+", name) and name not in (".", "..") \
            else "coding"
    return out
