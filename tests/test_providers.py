"""Every provider of the seeds as a few lines of team file, checked on the wire.

Each profile is pointed at the fake server with that provider's own wire format
(LiteLLM builds the request: OpenAI-compatible, Azure, Mistral, Ollama, Gemini).
"""

from __future__ import annotations

import json

import pytest

from agentteam.models.profiles import map_config_entry, resolve
from agentteam.team import parse_team

from .conftest import script

TEAM = """\
name: p
task: Do the thing.
models:
  default:
{profile}
    num_retries: 0
max_round: 3
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder. You write code."}}
  - {{name: Critic, system_message: "Critic. You review."}}
"""

KEY = "sk-provider-key-0123456789abc"
KEYREF = "${{PROVIDER_KEY}}"   # a ${VAR} reference once the team template is formatted


def run_with(cli, server, team_file, monkeypatch, profile: str):
    monkeypatch.setenv("PROVIDER_KEY", KEY)
    script(server, {"Coder": ["c1", "c2"], "Critic": ["k1"]})
    r = cli("run", team_file(TEAM.replace("{profile}", profile)), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    msgs = [e["content"] for e in r.events() if e["type"] == "message"]
    assert msgs[1:] == ["c1", "k1", "c2"]
    assert KEY not in r.stdout + r.stderr
    return server.requests


def _third_call_messages(reqs):
    return [r for r in reqs if r.body][2].body["messages"]


@pytest.mark.parametrize("kind", ["openai", "vllm", "lm_studio", "fastchat"])
def test_openai_compatible_servers(cli, server, team_file, monkeypatch, kind):
    model = {"openai": "openai/fake-model", "vllm": "hosted_vllm/fake-model",
             "lm_studio": "lm_studio/fake-model", "fastchat": "openai/fake-model"}[kind]
    reqs = run_with(cli, server, team_file, monkeypatch,
                    f'    model: {model}\n    api_base: "{server.url}"\n    api_key: NULL')
    assert all(r.path == "/v1/chat/completions" for r in reqs)
    assert reqs[0].body["model"] == "fake-model" and reqs[0].body["stream"] is True
    msgs = _third_call_messages(reqs)
    assert all("name" not in m for m in msgs)          # self-hosted: names go in the text
    assert msgs[1]["content"].startswith("User_proxy: ")


def test_azure_openai(cli, server, team_file, monkeypatch):
    base = server.url[:-3]
    reqs = run_with(cli, server, team_file, monkeypatch,
                    f'    model: azure/my-gpt4o-deployment\n    api_base: "{base}"\n'
                    '    api_version: 2024-06-01\n    api_key: ' + KEYREF)
    assert reqs[0].path == "/openai/deployments/my-gpt4o-deployment/chat/completions" \
                           "?api-version=2024-06-01"
    assert reqs[0].headers.get("api-key") == KEY
    msgs = _third_call_messages(reqs)
    assert [m.get("name") for m in msgs[1:]] == ["User_proxy", None, "Critic"]  # Azure takes names


def test_mistral_gets_no_name_field_and_no_repeated_roles(cli, server, team_file, monkeypatch):
    reqs = run_with(cli, server, team_file, monkeypatch,
                    f'    model: mistral/fake-model\n    api_base: "{server.url}"\n'
                    '    api_key: ' + KEYREF)
    assert reqs[0].headers.get("Authorization") == f"Bearer {KEY}"
    for r in reqs:
        msgs = r.body["messages"]
        assert all("name" not in m for m in msgs)
        roles = [m["role"] for m in msgs]
        assert all(a != b for a, b in zip(roles, roles[1:], strict=False))    # strictly alternating
        assert roles[-1] != "system" and roles.count("system") <= 1


@pytest.mark.parametrize("prefix,path", [("ollama_chat", "/api/chat"), ("ollama", "/api/generate")])
def test_ollama(cli, server, team_file, monkeypatch, prefix, path):
    base = server.url[:-3]
    server.models.append("llama3")
    reqs = run_with(cli, server, team_file, monkeypatch,
                    f'    model: {prefix}/llama3\n    api_base: "{base}"')
    assert all(r.path == path for r in reqs)
    assert reqs[0].body["model"] == "llama3"


def test_gemini(cli, server, team_file, monkeypatch):
    base = server.url[:-3]
    reqs = run_with(cli, server, team_file, monkeypatch,
                    f'    model: gemini/gemini-2.0-flash\n    api_base: "{base}"\n'
                    '    api_key: ' + KEYREF)
    assert reqs[0].path.startswith("/models/gemini-2.0-flash:streamGenerateContent")
    assert reqs[0].headers.get("x-goog-api-key") == KEY
    assert "contents" in reqs[0].body and "messages" not in reqs[0].body


# -- AutoGen's OAI_CONFIG_LIST -----------------------------------------------------

CONFIG_LIST = [
    {"model": "gpt-4o", "api_key": "sk-cfg-openai-0123456789"},
    {"model": "my-deploy", "api_key": "az-cfg-0123456789", "base_url": "https://x.openai.azure.com",
     "api_type": "azure", "api_version": "2024-06-01"},
    {"model": "gemini-1.5-pro", "api_key": "g-cfg-0123456789", "api_type": "google"},
    {"model": "mistral-large-latest", "api_key": "m-cfg-0123456789", "api_type": "mistral"},
    {"model": "local-llama", "base_url": "http://127.0.0.1:8000/v1", "api_key": "NULL"},
]


def test_config_list_entries_map_to_litellm():
    mapped = [map_config_entry(e) for e in CONFIG_LIST]
    assert [m["model"] for m in mapped] == ["openai/gpt-4o", "azure/my-deploy",
                                            "gemini/gemini-1.5-pro",
                                            "mistral/mistral-large-latest", "openai/local-llama"]
    assert mapped[1]["api_base"] == "https://x.openai.azure.com"
    assert mapped[1]["api_version"] == "2024-06-01"
    assert mapped[4]["api_base"] == "http://127.0.0.1:8000/v1"


def test_config_list_from_env_or_file_is_an_ordered_fallback_chain(tmp_path, monkeypatch):
    text = "name: c\ntask: t\nmodels:\n  default: {config_list: OAI_CONFIG_LIST}\n" \
           "agents: [{name: A}]\n"
    # loading only checks that the list is there (see test_surface_load); resolve reads it
    team = parse_team(text, str(tmp_path / "t.yaml"), {"OAI_CONFIG_LIST": "[]"})
    monkeypatch.setenv("OAI_CONFIG_LIST", json.dumps(CONFIG_LIST))
    profiles = resolve(team)
    assert list(profiles) == ["default", "default#1", "default#2", "default#3", "default#4"]
    assert profiles["default"].fallbacks == ["default#1", "default#2", "default#3", "default#4"]
    assert profiles["default#1"].key_source == "$OAI_CONFIG_LIST[1].api_key"
    file = tmp_path / "OAI_CONFIG_LIST"
    file.write_text(json.dumps(CONFIG_LIST[:2]))
    monkeypatch.delenv("OAI_CONFIG_LIST")
    profiles = resolve(team)
    assert [p.model for p in profiles.values()] == ["openai/gpt-4o", "azure/my-deploy"]


def test_config_list_drives_a_real_run_with_fallback(cli, server, team_file, monkeypatch):
    entries = [{"model": "missing-model", "base_url": server.url, "api_key": "NULL"},
               {"model": "backup-model", "base_url": server.url, "api_key": "NULL"}]
    monkeypatch.setenv("OAI_CONFIG_LIST", json.dumps(entries))
    script(server, {"Coder": ["c"]})
    r = cli("run", team_file(TEAM.replace("{profile}", "    config_list: OAI_CONFIG_LIST")),
            "--json", "--max-round", "1")
    assert r.exit_code == 3
    assert [q.body["model"] for q in server.completions()] == ["missing-model", "backup-model"]


def test_bad_config_list_is_a_clear_error(cli, team_file, monkeypatch):
    monkeypatch.setenv("OAI_CONFIG_LIST", "[{not json")
    r = cli("run", team_file(TEAM.replace("{profile}", "    config_list: OAI_CONFIG_LIST")))
    assert r.exit_code == 2 and "OAI_CONFIG_LIST is not valid JSON" in r.stderr
