"""Turn the team file's model profiles into ready-to-call profiles.

Expands ``${VAR}`` references, maps AutoGen ``OAI_CONFIG_LIST`` entries to LiteLLM
ids, applies ``--model``, and picks the default model when a team names none.
No network and no LiteLLM here (``defaults.py`` probes local servers).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError, register_secret
from ..team import VAR_RE, ModelProfile, TeamSpec, expand_vars
from .credentials import mask_url, register_params, register_var_values

# The parameters of a profile that go to LiteLLM as they are.
_PASS = ("api_base", "api_version", "temperature", "max_tokens", "top_p", "seed", "stop",
         "presence_penalty", "frequency_penalty", "reasoning_effort", "extra_headers",
         "custom_llm_provider")

# The variables a default profile's api_base comes from, by the key variable that enables it.
_BASE_VARS = {"OPENAI_API_KEY": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
              "AZURE_API_KEY": ("AZURE_API_BASE",)}

# Where a provider's key comes from when the profile does not say (for messages only).
PROVIDER_KEY_VARS = {"openai": "OPENAI_API_KEY", "azure": "AZURE_API_KEY",
                     "gemini": "GEMINI_API_KEY", "mistral": "MISTRAL_API_KEY",
                     "anthropic": "ANTHROPIC_API_KEY"}


@dataclass
class Profile:
    """A model profile ready to call: a LiteLLM model id and its parameters."""

    name: str
    model: str
    params: dict = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    num_retries: int = 3
    timeout: float = 120.0
    first_token_timeout: float | None = None
    max_retry_wait: float = 60.0
    key_source: str = ""          # "$OPENAI_API_KEY", "OAI_CONFIG_LIST[0]", ... never the key
    origin: str = ""              # why this profile exists (for `models` and notices)
    # False for servers that cannot stream a reply that may call tools (llama-cpp-python's
    # chatml-function-calling): such a reply is asked for whole.
    stream_tools: bool = True
    vision: bool | None = None    # the team file's `vision:` (None: LiteLLM's table decides)
    embedded: bool = False        # served by agentteam's own llama.cpp server (localmodel)

    @property
    def provider(self) -> str:
        """The LiteLLM provider prefix (`openai`, `azure`, `mistral`, ...)."""
        if self.params.get("custom_llm_provider"):
            return self.params["custom_llm_provider"]
        if "/" in self.model:
            return self.model.split("/", 1)[0]
        if self.model.startswith(("gpt-", "o1", "o3", "o4", "chatgpt", "text-", "dall-e")):
            return "openai"
        if self.model.startswith("claude"):
            return "anthropic"
        if self.model.startswith("gemini"):
            return "gemini"
        if self.model.startswith(("mistral", "codestral", "open-mistral")):
            return "mistral"
        return "openai" if self.params.get("api_base") else "unknown"

    @property
    def served_name(self) -> str:
        """The model's name as the server knows it (the id without its provider prefix)."""
        return self.model.split("/", 1)[1] if "/" in self.model else self.model

    @property
    def endpoint(self) -> str:
        """Where requests go, for people: the base URL (credentials masked) or the
        provider's name."""
        base = self.params.get("api_base")
        return mask_url(base) if isinstance(base, str) else (base or self.provider)

    @property
    def is_local(self) -> bool:
        return self.model == "local" or self.model.startswith("local:")

    def key_var(self) -> str:
        """The name of the variable the key comes from, for error messages."""
        return self.key_source or f"${PROVIDER_KEY_VARS.get(self.provider, 'API key')}"


def resolve(team: TeamSpec, model_override: str | None = None,
            env: Mapping[str, str] | None = None,
            endpoint: dict | None = None) -> dict[str, Profile]:
    """Every profile of the team as a callable Profile (the default one included).

    ``endpoint`` (from ``endpoint_override``) replaces the overriding model's id and
    sets its endpoint and key."""
    environ: Mapping[str, str] = os.environ if env is None else env
    out: dict[str, Profile] = {}
    specs = dict(team.models)
    if model_override:
        base = specs.get("default") or ModelProfile(model=model_override)
        keep = {k: getattr(base, k) for k in ("temperature", "max_tokens", "timeout")}
        keep.update(endpoint or {"model": model_override})
        specs = {name: ModelProfile(**keep) for name in (list(specs) or ["default"])}
    for name, spec in specs.items():
        if spec.config_list:
            out.update(_from_config_list(name, spec, spec.config_list, environ, team.base_dir))
        else:
            out[name] = _profile(name, spec, environ)
    return out


def endpoint_override(model: str | None, api_base: str | None, api_key_var: str | None,
                      env: Mapping[str, str] | None = None) -> dict | None:
    """What ``run --model M --api-base URL [--api-key-var VAR]`` makes of every profile:
    M at URL (``openai/M``, an OpenAI-compatible server, unless M names its provider)
    with the key in VAR, or none. No other key goes there: a key for one provider is
    never sent to an endpoint it was not meant for."""
    env = os.environ if env is None else env
    if api_key_var and not api_base:
        raise ConfigError("--api-key-var goes with --api-base (the endpoint the key is for)")
    if not api_base:
        return None
    if not model:
        raise ConfigError("--api-base needs --model: the name of the model at that endpoint")
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError(f"--api-base {mask_url(api_base)!r}: expected an http:// or "
                          "https:// URL, like http://localhost:8000/v1")
    if api_key_var and not env.get(api_key_var):
        raise ConfigError(f"--api-key-var {api_key_var}: the environment variable "
                          f"{api_key_var} is not set; export it")
    return {"model": model if "/" in model else f"openai/{model}", "api_base": api_base,
            "api_key": f"${{{api_key_var}}}" if api_key_var else "NULL"}


def _profile(name: str, spec: ModelProfile, env, origin: str = "team file") -> Profile:
    params = {k: getattr(spec, k) for k in _PASS if getattr(spec, k) is not None}
    params.update(spec.extra)
    key_source = ""
    register_var_values(params, env)
    if spec.api_key is not None:
        refs = VAR_RE.findall(spec.api_key)
        key_source = ", ".join(f"${r}" for r in refs) if refs else "api_key (placeholder)"
        params["api_key"] = expand_vars(spec.api_key, env)
    for key in ("api_base", "api_version"):
        if isinstance(params.get(key), str):
            params[key] = expand_vars(params[key], env)
    if params.get("api_base"):
        check_base_url(params["api_base"], f"profile `{name}`: api_base")
    if params.get("extra_headers"):
        params["extra_headers"] = _expand_headers(params["extra_headers"], env)
    register_params(params)
    if "api_key" not in params and params.get("api_base") and \
            not env.get(PROVIDER_KEY_VARS.get((spec.model or "").split("/")[0], "OPENAI_API_KEY"), ""):
        # A keyless local server (`api_key: NULL` is YAML's null): the client still wants one.
        params["api_key"] = "NULL"
        key_source = "no key (keyless server)"
    return Profile(name=name, model=spec.model or "", params=params,
                   fallbacks=list(spec.fallbacks), num_retries=spec.num_retries,
                   timeout=spec.timeout, first_token_timeout=spec.first_token_timeout,
                   max_retry_wait=spec.max_retry_wait, key_source=key_source, origin=origin,
                   vision=spec.vision)


def check_base_url(url: str, where: str) -> str:
    """``url`` when it is an http(s) URL with a host; else a ConfigError naming ``where``."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port   # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        ok = False
    if not ok:
        shown = url.rsplit("@", 1)[-1] if "@" in url else url   # never a user or password
        raise ConfigError(f"{where}: `{shown[:80]}` is not an http(s) URL with a host; "
                          "give one like https://api.openai.com/v1 or http://localhost:8000/v1")
    return url


def _expand_headers(headers: dict, env) -> dict:
    """``extra_headers`` with ${VAR} references filled in; their values are secrets."""
    out = {}
    for name, value in headers.items():
        out[name] = expand_vars(value, env)
        for var in VAR_RE.findall(value):   # the values, not the header ("Bearer ***")
            register_secret(env.get(var))
    return out


# The fields of an entry that must be strings when present (they are used as text).
_ENTRY_TEXT = ("model", "api_key", "base_url", "api_base", "api_type", "api_version")
_CONFIG_MAX_BYTES = 1_000_000


def read_config_list(source: str, env, base_dir: Path | None = None) -> tuple[list[dict], str]:
    """AutoGen's OAI_CONFIG_LIST: JSON in the environment variable ``source`` (a list
    of entries, or one entry), else the JSON file the variable (or ``source``) names.

    JSON is tried first, whatever the length. The variable's value is never echoed
    in an error: it may hold keys.
    """
    value = env.get(source)
    if value is not None and value.lstrip().startswith(("[", "{")):
        return _parse_config_list(value, f"${source}"), f"${source}"
    if value is not None:
        path = _existing_file(Path(value.strip()))
        if path is None:
            raise ConfigError(f"${source} is neither JSON (a list of entries, or one) nor "
                              "the path of a file; export it as '[{\"model\": ...}]' or as "
                              "a JSON file's path")
    else:
        path = _existing_file(Path(source))
        if path is None and base_dir and not Path(source).is_absolute():
            path = _existing_file(base_dir / source)
        if path is None:
            raise ConfigError(f"config_list `{source}`: no environment variable or file of "
                              "that name; export OAI_CONFIG_LIST='[...]' or give a JSON file "
                              "path")
    where = str(path)
    try:
        if path.stat().st_size > _CONFIG_MAX_BYTES:
            raise ConfigError(f"{where}: larger than 1 MB; is this an OAI_CONFIG_LIST file?")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read OAI_CONFIG_LIST ({why})") from None
    return _parse_config_list(text, where), where


def _existing_file(path: Path) -> Path | None:
    """``path`` if it is a regular file (not a FIFO or device that would hang a read)."""
    try:
        return path if path.is_file() else None
    except (OSError, ValueError):   # a name too long for a path, or with a NUL in it
        return None


def _parse_config_list(text: str, where: str) -> list[dict]:
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}:{e.lineno}:{e.colno}: OAI_CONFIG_LIST is not valid JSON: "
                          f"{e.msg}") from None
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(x, dict) and "model" in x
                                                 for x in entries):
        raise ConfigError(f"{where}: OAI_CONFIG_LIST must be a JSON list of objects with "
                          "at least `model`")
    for i, entry in enumerate(entries):
        for k in _ENTRY_TEXT:
            if (entry.get(k) is not None and not isinstance(entry[k], str)) or \
                    (k == "model" and not entry[k]):
                raise ConfigError(f"{where}[{i}]: `{k}` must be a string")
    return entries


def filter_entries(entries: list[dict], filter_dict: dict) -> list[dict]:
    """AutoGen's ``filter_dict``: keep the entries whose every filtered field has one of
    the values listed (a list field, like ``tags``, needs one in common; ``null`` in a
    list keeps entries without the field)."""
    def keep(entry: dict) -> bool:
        for key, wanted in filter_dict.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            have = entry.get(key)
            if isinstance(have, list):
                if not any(v in have for v in values):
                    return False
            elif have not in values:
                return False
        return True
    return [e for e in entries if keep(e)]


def map_config_entry(entry: dict) -> dict:
    """One AutoGen config entry as LiteLLM parameters (model id, api_base, key, version)."""
    api_type = (entry.get("api_type") or "open_ai").lower()
    model = entry["model"]
    base = entry.get("base_url") or entry.get("api_base")
    prefix = {"azure": "azure", "google": "gemini", "gemini": "gemini", "mistral": "mistral",
              "anthropic": "anthropic", "ollama": "ollama", "groq": "groq"}.get(api_type, "openai")
    params: dict = {"model": model if model.startswith(prefix + "/") else f"{prefix}/{model}"}
    if base:
        params["api_base"] = base
    if entry.get("api_key"):
        params["api_key"] = entry["api_key"]
    if entry.get("api_version"):
        params["api_version"] = entry["api_version"]
    return params


def _from_config_list(name: str, spec: ModelProfile, source: str, env,
                      base_dir) -> dict[str, Profile]:
    """The profiles of ``spec``'s config list (``source``: a variable or a file)."""
    entries, where = read_config_list(source, env, base_dir)
    every = entries
    if spec.filter_models:
        entries = [e for e in entries if e["model"] in spec.filter_models]
    if spec.filter_dict:
        entries = filter_entries(entries, spec.filter_dict)
    if not entries:
        tags = sorted({str(t) for e in every for t in (e.get("tags") or [])
                       if isinstance(e.get("tags"), list)})
        raise ConfigError(f"{where}: no entry left for profile `{name}` after filter_models/"
                          f"filter_dict (its {len(every)} entries: models "
                          f"{', '.join(sorted({str(e['model']) for e in every})) or '-'}; tags "
                          f"{', '.join(tags) or '-'})")
    out: dict[str, Profile] = {}
    names = [name] + [f"{name}#{i}" for i in range(1, len(entries))]
    for i, (pname, entry) in enumerate(zip(names, entries, strict=True)):
        mapped = map_config_entry(entry)
        register_params(mapped)
        key = mapped.pop("api_key", None)
        base = _profile(pname, spec, env, origin=f"{where}[{i}]")
        base.model = mapped.pop("model")
        if mapped.get("api_base"):
            check_base_url(mapped["api_base"], f"{where}[{i}].base_url")
        base.params.update(mapped)
        if key:
            base.params["api_key"] = key
            base.key_source = f"{where}[{i}].api_key"
        base.fallbacks = (names[i + 1:] + list(spec.fallbacks)) if i == 0 else []
        out[pname] = base
    return out


def env_profiles(env=None) -> dict[str, Profile] | None:
    """The default profile (and its fallbacks) from well-known environment variables."""
    found = all_env_profiles(env, first_only=True)
    if not found:
        return None
    first = next(iter(found.values()))
    renamed = {}
    for name, p in found.items():   # the first one found becomes `default`
        p.name = "default" if p is first else name
        renamed[p.name] = p
    return renamed


def all_env_profiles(env=None, first_only: bool = False) -> dict[str, Profile]:
    """Every profile the environment offers: OAI_CONFIG_LIST, then one per provider key."""
    env = os.environ if env is None else env
    out: dict[str, Profile] = {}
    if env.get("OAI_CONFIG_LIST"):
        spec = ModelProfile(config_list="OAI_CONFIG_LIST")
        out.update(_from_config_list("config_list", spec, "OAI_CONFIG_LIST", env, None))
        if first_only:
            return out
    candidates = [
        ("OPENAI_API_KEY", env.get("AGENTTEAM_MODEL") or "gpt-4o-mini",
         {"api_base": env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_BASE")}),
        ("AZURE_API_KEY", f"azure/{env.get('AZURE_DEPLOYMENT', 'gpt-4o-mini')}",
         {"api_base": env.get("AZURE_API_BASE"), "api_version": env.get("AZURE_API_VERSION")}),
        ("GEMINI_API_KEY", "gemini/gemini-2.0-flash", {}),
        ("MISTRAL_API_KEY", "mistral/mistral-small-latest", {}),
    ]
    for var, model, extra in candidates:
        if env.get(var) and (var != "AZURE_API_KEY" or env.get("AZURE_API_BASE")):
            params = {k: v for k, v in extra.items() if v}
            register_params({**params, "api_key": env[var]})
            if params.get("api_base"):
                check_base_url(params["api_base"], "$" + next(
                    v for v in _BASE_VARS[var] if env.get(v) == params["api_base"]))
            name = model.split("/")[0] if "/" in model else "openai"
            out[name] = Profile(name=name, model=model, params=params, key_source=f"${var}",
                                origin=f"${var} is set")
            if first_only:
                return out
    return out
