"""Prompt prefixes reused and a selector that cannot answer wrong, on the wire.

Providers' prompt caches (cached tokens read from usage, priced, shown; Anthropic's
breakpoints) and the constrained speaker choice in each provider's own request shape,
all against the fake server over a real socket.
"""

from __future__ import annotations

import json

import pytest

from agentteam.models import prices
from agentteam.models.base import SELECTOR

from .conftest import script

KEY = "sk-prefix-test-0123456789abcdef"

TEAM = """\
name: prefix
task: Do the thing.
models:
  default:
{profile}
    num_retries: 0
max_round: {max_round}
termination: TERMINATE
speaker_selection: {selection}
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, description: Writes the code., system_message: "Coder. You write code."}}
  - {{name: Critic, description: Reviews the code., system_message: "Critic. You review."}}
"""


def team(team_file, profile: str, **kw):
    return team_file(TEAM.replace("{profile}", profile), **kw)


def messages(r) -> list[dict]:
    return [e for e in r.events() if e["type"] == "message" and e["round"] > 0]


# -- provider prompt caches ----------------------------------------------------------

def test_cached_prompt_tokens_are_read_priced_and_in_json(cli, server, team_file):
    server.prompt_cache = True
    server.models.append("gpt-4o-mini")
    script(server, {"Coder": ["c1", "c2"], "Critic": ["k1", "k2"]})
    path = team(team_file, f'    model: openai/gpt-4o-mini\n    api_base: "{server.url}"\n'
                           '    api_key: NULL', max_round=4)
    r = cli("run", path, "--json")
    assert r.exit_code == 3, r.stderr
    coder = [m["usage"] for m in messages(r) if m["agent"] == "Coder"]
    # the second call of an agent begins with its whole first prompt: the cache holds it
    assert coder[1]["cached_tokens"] > coder[0]["cached_tokens"]
    assert coder[1]["cached_tokens"] >= coder[0]["prompt_tokens"] - 1
    entry = prices.entry("gpt-4o-mini")
    assert entry is not None
    for u in coder:
        plain = u["prompt_tokens"] - u["cached_tokens"]
        want = plain * entry["input_cost_per_token"] + \
            u["cached_tokens"] * entry["cache_read_input_token_cost"] + \
            u["completion_tokens"] * entry["output_cost_per_token"]
        assert u["cost"] == pytest.approx(want)
    total = r.events()[-1]["usage"]["total"]
    assert total["cached_tokens"] == sum(m["usage"]["cached_tokens"] for m in messages(r))


def test_the_usage_table_shows_cached_tokens(cli, server, team_file):
    server.prompt_cache = True
    script(server, {"Coder": ["c1", "c2"], "Critic": ["k1", "k2"]})
    path = team(team_file, f'    model: openai/fake-model\n    api_base: "{server.url}"\n'
                           '    api_key: NULL', max_round=4)
    r = cli("run", path)
    assert r.exit_code == 3, r.stderr
    header = next(line for line in r.stdout.splitlines() if "completion" in line)
    assert header.split()[:4] == ["calls", "prompt", "cached", "completion"]


def test_no_cached_column_when_nothing_was_cached(cli, server, team_file):
    script(server, {"Coder": ["c1"], "Critic": ["k1"]})
    path = team(team_file, f'    model: openai/fake-model\n    api_base: "{server.url}"\n'
                           '    api_key: NULL', max_round=2)
    r = cli("run", path)
    header = next(line for line in r.stdout.splitlines() if "completion" in line)
    assert "cached" not in header


def test_anthropic_gets_breakpoints_and_its_cache_reads_are_priced(cli, server, team_file,
                                                                   monkeypatch):
    monkeypatch.setenv("PREFIX_KEY", KEY)
    server.prompt_cache = True
    script(server, {"Coder": ["c1", "c2"], "Critic": ["k1", "k2"]})
    path = team(team_file, f'    model: anthropic/claude-sonnet-4-5\n'
                           f'    api_base: "{server.url[:-3]}"\n'
                           '    api_key: ${{PREFIX_KEY}}', max_round=4)
    r = cli("run", path, "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    bodies = [q.body for q in server.requests if q.path.startswith("/v1/messages")]
    assert len(bodies) == 4
    for body in bodies:
        # the system message and the last message are the breakpoints
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        marks = json.dumps(body).count('"cache_control"')
        assert marks == 2
    coder = [m["usage"] for m in messages(r) if m["agent"] == "Coder"]
    assert coder[1]["cached_tokens"] > 0
    entry = prices.entry("anthropic/claude-sonnet-4-5")
    assert entry is not None
    u = coder[1]
    # what was not read from the cache was written to it (a breakpoint was marked)
    written = u["prompt_tokens"] - u["cached_tokens"]
    want = u["cached_tokens"] * entry["cache_read_input_token_cost"] + \
        written * entry["cache_creation_input_token_cost"] + \
        u["completion_tokens"] * entry["output_cost_per_token"]
    assert u["cost"] == pytest.approx(want)
    assert KEY not in r.stdout + r.stderr


# -- the constrained selector ----------------------------------------------------------

NAMES = ["Coder", "Critic"]
JSON_REPLY = '{"speaker": "Critic"}'


def _schema_enum(body: dict) -> list[str]:
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["speaker"]
    return schema["properties"]["speaker"]["enum"]


def _selector_requests(server) -> list[dict]:
    return [q.body for q in server.requests
            if q.headers.get("X-Agentteam-Agent") == SELECTOR and q.body]


CASES = {
    # kind: (profile lines, selector reply, where the names are, how the cap is sent)
    "openai-compatible": ('    model: openai/fake-model\n    api_base: "{url}"\n    api_key: NULL',
                          JSON_REPLY, _schema_enum, lambda b: b["max_tokens"]),
    "azure": ('    model: azure/my-deployment\n    api_base: "{root}"\n'
              '    api_version: 2024-08-01-preview\n    api_key: NULL',
              JSON_REPLY, _schema_enum, lambda b: b["max_tokens"]),
    "lm_studio": ('    model: lm_studio/fake-model\n    api_base: "{url}"\n    api_key: NULL',
                  JSON_REPLY, _schema_enum, lambda b: b["max_tokens"]),
    "vllm": ('    model: hosted_vllm/fake-model\n    api_base: "{url}"\n    api_key: NULL',
             JSON_REPLY, _schema_enum, lambda b: b["max_tokens"]),
    "ollama": ('    model: ollama_chat/llama3\n    api_base: "{root}"',
               JSON_REPLY, lambda b: b["format"]["properties"]["speaker"]["enum"],
               lambda b: b["options"]["num_predict"]),
    "mistral": ('    model: mistral/mistral-small-latest\n    api_base: "{url}"\n'
                '    api_key: ${{PREFIX_KEY}}',
                JSON_REPLY, _schema_enum, lambda b: b["max_tokens"]),
    "gemini": ('    model: gemini/gemini-2.5-flash\n    api_base: "{root}"\n'
               '    api_key: ${{PREFIX_KEY}}',
               JSON_REPLY,
               lambda b: b["generationConfig"]["response_json_schema"]["properties"]["speaker"][
                   "enum"],
               # Gemini 2.5 thinks by default, within its output tokens: no cap
               lambda b: b["generationConfig"].get("maxOutputTokens", 32)),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_the_selector_is_constrained_to_the_candidates(cli, server, team_file, monkeypatch,
                                                       kind):
    monkeypatch.setenv("PREFIX_KEY", KEY)
    profile, reply, names_in, cap_in = CASES[kind]
    server.models += ["llama3", "mistral-small-latest"]
    script(server, {SELECTOR: [reply], "Coder": ["c1"], "Critic": ["k1 TERMINATE"]})
    profile = profile.replace("{url}", server.url).replace("{root}", server.url[:-3])
    r = cli("run", team(team_file, profile, max_round=4, selection="auto"), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    sel = [(e["agent"], e["reason"]) for e in r.events() if e["type"] == "speaker_selected"]
    assert sel[0] == ("Critic", "chosen by the selector model")
    bodies = _selector_requests(server)
    assert len(bodies) == 1                      # one call, no retry
    assert names_in(bodies[0]) == NAMES
    assert cap_in(bodies[0]) == 32               # a name's worth of tokens
    agent_calls = [q.body for q in server.requests if q.body and
                   q.headers.get("X-Agentteam-Agent") in ("Coder", "Critic")]
    text = json.dumps(agent_calls)
    assert "next_speaker" not in text and "grammar" not in text   # agents are free


def test_anthropic_selector_is_capped_and_read_leniently(cli, server, team_file, monkeypatch):
    monkeypatch.setenv("PREFIX_KEY", KEY)
    script(server, {SELECTOR: ["Critic should go next."], "Coder": ["c1"],
                    "Critic": ["k1 TERMINATE"]})
    r = cli("run", team(team_file, f'    model: anthropic/claude-sonnet-4-5\n'
                                   f'    api_base: "{server.url[:-3]}"\n'
                                   '    api_key: ${{PREFIX_KEY}}', max_round=4,
                        selection="auto"), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    body = _selector_requests(server)[0]
    assert body["max_tokens"] == 32 and "tools" not in body
    sel = [e for e in r.events() if e["type"] == "speaker_selected"][0]
    assert (sel["agent"], sel["reason"]) == ("Critic", "chosen by the selector model")


def test_a_backend_that_refuses_the_constraint_is_asked_without_it(cli, server, team_file):
    server.fail("400")                           # the first request: the selector's
    script(server, {SELECTOR: ["Critic", "Coder"], "Coder": ["c1"], "Critic": ["k1"]})
    r = cli("run", team(team_file, f'    model: openai/fake-model\n    api_base: "{server.url}"'
                                   '\n    api_key: NULL', max_round=3, selection="auto"), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    sel = [e for e in r.events() if e["type"] == "speaker_selected"]
    assert (sel[0]["agent"], sel[0]["reason"]) == ("Critic", "chosen by the selector model")
    bodies = _selector_requests(server)
    assert "response_format" in bodies[0]
    # asked again at once without it, and never with it again in this run
    assert all("response_format" not in b and b["max_tokens"] == 32 for b in bodies[1:])
    assert len(bodies) >= 3


def test_a_reasoning_selector_thinks_uncapped_then_names_one(cli, server, team_file):
    thought = ("<think>The Coder has not written anything yet, and the Critic reviews code, "
               "so the Coder should go first... no wait, the Critic should set the bar. "
               "Critic.</think>\nCritic")
    script(server, {SELECTOR: [thought], "Coder": ["c1"], "Critic": ["k1 TERMINATE"]})
    r = cli("run", team(team_file, f'    model: openai/fake-model\n    api_base: "{server.url}"'
                                   '\n    api_key: NULL\n    reasoning_effort: low',
                        max_round=4, selection="auto"), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    sel = [e for e in r.events() if e["type"] == "speaker_selected"][0]
    assert (sel["agent"], sel["reason"]) == ("Critic", "chosen by the selector model")
    body = _selector_requests(server)[0]
    assert "max_tokens" not in body and body["reasoning_effort"] == "low"
    assert len(_selector_requests(server)) == 1


def test_a_known_reasoning_family_is_not_capped(cli, server, team_file):
    server.models.append("deepseek-r1-distill-qwen-7b")
    script(server, {SELECTOR: ["<think>Coder or Critic? Coder.</think> Critic"],
                    "Coder": ["c1"], "Critic": ["k1 TERMINATE"]})
    r = cli("run", team(team_file, '    model: hosted_vllm/deepseek-r1-distill-qwen-7b\n'
                                   f'    api_base: "{server.url}"\n    api_key: NULL',
                        max_round=4, selection="auto"), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    body = _selector_requests(server)[0]
    assert "max_tokens" not in body and _schema_enum(body) == NAMES


def test_the_selector_sees_the_last_message_whole_and_earlier_ones_by_their_start():
    from agentteam.conversation.messages import Message
    from agentteam.conversation.prompts import selector_messages
    from agentteam.team import parse_team
    spec = parse_team(TEAM.replace("{profile}", "    model: openai/x").format(
        max_round=5, selection="auto"), "t.yaml", {})
    body = "The numbers line up with what we expected. " * 8          # ~350 characters
    history = [Message("User_proxy", "Do the thing.", 0),
               Message("Coder", "Here is the plan. " + body, 1),
               Message("Critic", "Two problems. " + body + "Coder, fix the axis labels.", 2)]
    system, user = (m["content"] for m in selector_messages(spec, history, ["Coder",
                                                                            "User_proxy"]))
    assert "- Coder: Writes the code." in system
    lines = user.splitlines()
    assert lines[0] == "[User_proxy] Do the thing."
    assert lines[1] == "[Coder] Here is the plan. The numbers line up with what we …"  # 50
    assert lines[2].startswith("[Critic] Two problems.")
    assert lines[2].endswith("Coder, fix the axis labels.")    # the end of the last message
    assert len(lines[2]) < 420
    assert lines[-1] == "Who speaks next? One of: Coder, User_proxy."
    assert len(system) + len(user) < 700


def test_the_embedded_models_script_extends_each_agents_previous_prompt():
    """What the embedded model continues: the agent's system message, the chat as a
    script, the agent's cue; its next prompt begins with this one and the reply as the
    model wrote it (so the server's kept state covers all of it)."""
    from agentteam.conversation.messages import Message
    from agentteam.conversation.prompts import agent_messages
    from agentteam.models import embedded
    from agentteam.team import parse_team
    spec = parse_team(TEAM.replace("{profile}", "    model: local").format(
        max_round=5, selection="round_robin"), "t.yaml", {})
    coder = spec.agents[1]
    history = [Message("User_proxy", "Do the thing.", 0)]
    first = embedded.prompt(agent_messages(coder, history), "Coder")
    assert first == "Coder. You write code.\n\nUser_proxy: Do the thing.\n\nCoder:"
    reply = " Here is the code:\n```python\nprint(1)\n```\n"      # as the model wrote it
    history += [Message("Coder", reply, 1), Message("Critic", "Add a title.", 2)]
    second = embedded.prompt(agent_messages(coder, history), "Coder")
    assert second.startswith(first + reply.rstrip())
    assert second.endswith("\n\nCritic: Add a title.\n\nCoder:")
    assert embedded.stops(["Coder", "Critic"]) == ["\nCoder:", "\nCritic:"]
