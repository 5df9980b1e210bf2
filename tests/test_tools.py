"""Tools (spec §5b) against the fake server streaming real tool-call deltas: the flow,
every way a call can fail, the events, the transcript, resume, replay, cache, budgets."""

from __future__ import annotations

import json

from agentteam.testing.fakeserver import by_agent, tool_calls

from .tools_helpers import of_type, speakers, tools_team


def test_a_tool_call_runs_and_the_caller_reads_its_result(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", {"amount": 10}), text="Let me convert."),
        "10 USD is 9.00 EUR. TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["convert"]), "--json")
    assert r.exit_code == 0, r.stderr
    ev = r.events()
    # the call goes to the tool-running proxy and back to the caller: no selector call
    assert speakers(server) == ["selector", "Assistant", "Assistant"]
    first = server.completions()[1].body
    assert first["tool_choice"] == "auto"
    tool = first["tools"][0]["function"]
    assert tool["name"] == "convert" and tool["description"].startswith("Convert US dollars")
    assert tool["parameters"]["properties"]["to"] == {
        "default": "EUR", "enum": ["EUR", "GBP"], "type": "string"}
    assert tool["parameters"]["required"] == ["amount"]
    [call] = of_type(ev, "tool_call")
    [result] = of_type(ev, "tool_result")
    assert (call["agent"], call["name"], json.loads(call["arguments"])) == \
        ("Assistant", "convert", {"amount": 10})
    assert (result["agent"], result["id"], result["output"], result["is_error"]) == \
        ("User_proxy", call["id"], "9.00 EUR", False)
    assert result["duration_s"] >= 0
    msgs = of_type(ev, "message")
    assert [m["agent"] for m in msgs] == ["User_proxy", "Assistant", "User_proxy", "Assistant"]
    assert msgs[1]["content"][0] == {"type": "text", "text": "Let me convert."}
    assert msgs[2]["kind"] == "tool_result"
    # the caller's next prompt: its own tool_calls, then the tool message answering them
    again = server.completions()[2].body["messages"]
    assert again[-2]["role"] == "assistant" and again[-2]["tool_calls"][0]["id"] == call["id"]
    assert again[-2]["content"] == "Let me convert."
    assert again[-1] == {"role": "tool", "tool_call_id": call["id"], "content": "9.00 EUR"}
    # tool_call and tool_result are in the transcript as they were in --json
    lines = [json.loads(x) for x in open(ev[-1]["transcript"])]
    assert of_type(lines, "tool_call") == [call] and of_type(lines, "tool_result") == [result]


def test_parallel_calls_are_answered_in_order_one_result_each(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", {"amount": 1}), ("convert", {"amount": 2, "to": "GBP"}),
                   ("convert", {"amount": 3})), "done TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["convert"]), "--json")
    assert r.exit_code == 0, r.stderr
    results = of_type(r.events(), "tool_result")
    assert [x["output"] for x in results] == ["0.90 EUR", "1.80 GBP", "2.70 EUR"]
    asked = server.completions()[2].body["messages"]
    assert [m["role"] for m in asked[-4:]] == ["assistant", "tool", "tool", "tool"]
    ids = [c["id"] for c in asked[-4]["tool_calls"]]
    assert asked[-4]["content"] == ""        # not null: llama-cpp-python refuses that
    assert [m["tool_call_id"] for m in asked[-3:]] == ids
    # one message holds the three results
    assert sum(1 for m in of_type(r.events(), "message") if m["kind"] == "tool_result") == 1


def test_failing_tools_give_error_results_and_the_chat_goes_on(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("boom", {"x": 7}), ("slow", {"seconds": 30}), ("not_json", {}),
                   ("huge", {"n": 3_000_000}), ("nosuch", {"a": 1}), ("convert", "{amount: 10"),
                   ("convert", "[10]"), ("convert", {"amount": "ten"}), ("env", {}, "c9")),
        "I see the errors. TERMINATE"]})
    team = tools_team(tmp_path, server.url, ["boom", "slow", "not_json", "huge", "convert"],
                      timeout=2)
    r = cli("run", team, "--json")
    assert r.exit_code == 0, r.stderr
    out = {i: x for i, x in enumerate(of_type(r.events(), "tool_result"))}
    assert len(out) == 9 and [x["is_error"] for x in out.values()] == \
        [True, True, True, False, True, True, True, True, True]
    assert out[0]["output"].startswith("RuntimeError: no luck with 7")
    assert "longer than its time limit (2s)" in out[1]["output"]
    assert "returned a set, which is not JSON" in out[2]["output"]
    assert "[output cut: " in out[3]["output"] and len(out[3]["output"]) < 25_000
    assert out[4]["output"].startswith("unknown tool `nosuch`; the tools you can call: boom, ")
    assert "not valid JSON" in out[5]["output"]
    assert "must be a JSON object" in out[6]["output"]
    assert out[7]["output"] == "bad arguments for `convert`: amount: Input should be a valid " \
        "number, unable to parse string as a number"
    # `env` is a function of tools.py, but not one this agent is offered
    assert out[8]["output"].startswith("unknown tool `env`")
    assert of_type(r.events(), "run_ended")[0]["reason"] == "keyword"


def test_huge_results_are_capped_for_the_model_too(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("huge", {"n": 2_000_000})), "ok TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["huge"]), "--json")
    assert r.exit_code == 0, r.stderr
    [result] = of_type(r.events(), "tool_result")
    assert result["is_error"] is False and result["output"].startswith("yyyy")
    assert "[output cut: 1980000 more characters]" in result["output"]
    sent = server.completions()[2].body["messages"][-1]["content"]
    assert len(sent) < 21_000


def test_keys_never_reach_a_host_tool(cli, server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret-0123456789abcdef")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789abcdefghij")
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("env", {})), "ok TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["env"]), "--json")
    assert r.exit_code == 0, r.stderr
    env = json.loads(of_type(r.events(), "tool_result")[0]["output"])
    assert "OPENAI_API_KEY" not in env and "MY_SERVICE_TOKEN" not in env
    assert "sk-host-secret" not in json.dumps(env) and "PATH" in env


def test_run_host_is_announced(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Critic"], "Critic": ["fine TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["convert"]), "--json")
    notices = [e for e in r.events() if e["type"] == "notice" and e["level"] == "warning"]
    assert any("convert will run ON THIS MACHINE (run: host)" in n["text"] for n in notices)


def test_terminal_shows_the_call_and_its_capped_result(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", {"amount": 10, "to": "GBP"}), ("huge", {"n": 5000})),
        "done TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["convert", "huge"]))
    assert r.exit_code == 0, r.stderr
    assert '→ convert(amount=10, to="GBP")' in r.stdout
    assert "9.00 GBP" in r.stdout
    assert "more characters; all of it is in the transcript" in r.stdout
    assert "y" * 5000 not in r.stdout.replace("\n", "")


def test_a_call_cut_by_max_round_runs_on_resume_and_replay_runs_no_tool(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("count", {})), "counted TERMINATE"]})
    team = tools_team(tmp_path, server.url, ["count"], max_round=1)
    path = tmp_path / "t.jsonl"
    r = cli("run", team, "--json", "--transcript", path)
    assert r.exit_code == 3 and not of_type(r.events(), "tool_result")
    r = cli("run", "--resume", path, "--json", "--max-round", "5")
    assert r.exit_code == 0, r.stderr
    assert [x["output"] for x in of_type(r.events(), "tool_result")] == ["1"]
    assert speakers(server)[-1] == "Assistant"
    calls = len(server.completions())
    # a replay answers the model calls and the tool calls from the recording
    r = cli("run", team, "--replay", path, "--json", "--max-round", "5")
    assert r.exit_code == 0, r.stderr
    assert [x["output"] for x in of_type(r.events(), "tool_result")] == ["1"]
    assert len(server.completions()) == calls
    assert (tmp_path / "groupchat" / "calls.txt").read_text() == "1"


def test_the_cache_replays_tool_calls(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", {"amount": 10})), "9.00 EUR TERMINATE"]})
    team = tools_team(tmp_path, server.url, ["convert"],
                      extra=f"cache: {{seed: 1, dir: {tmp_path / 'cache'}}}\n")
    first = cli("run", team, "--json")
    assert first.exit_code == 0, first.stderr
    n = len(server.completions())
    second = cli("run", team, "--json")
    assert second.exit_code == 0, second.stderr
    assert len(server.completions()) == n      # every completion came from the cache
    assert [x["output"] for x in of_type(second.events(), "tool_result")] == ["9.00 EUR"]
    calls = [c["arguments"] for c in of_type(second.events(), "tool_call")]
    assert calls == [c["arguments"] for c in of_type(first.events(), "tool_call")]


def test_budgets_count_tool_call_tokens(cli, server, tmp_path):
    long_args = {"amount": 10, "to": "EUR", "note": " ".join(["word"] * 400)}
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", long_args)), "ok"]})
    team = tools_team(tmp_path, server.url, ["convert"],
                      extra="budget: {tokens: 300}\n")
    r = cli("run", team, "--json")
    assert r.exit_code == 3
    end = r.events()[-1]
    assert end["reason"] == "budget"
    assert end["usage"]["agents"]["Assistant"]["completion_tokens"] >= 400


def test_litellm_transport_streams_tool_calls_too(cli, server, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTTEAM_TRANSPORT", "litellm")
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", {"amount": 10}), ("convert", {"amount": 20})), "ok TERMINATE"]})
    r = cli("run", tools_team(tmp_path, server.url, ["convert"]), "--json")
    assert r.exit_code == 0, r.stderr
    assert [x["output"] for x in of_type(r.events(), "tool_result")] == ["9.00 EUR", "18.00 EUR"]
    assert server.completions()[1].body["tools"][0]["function"]["name"] == "convert"


def test_transitions_can_keep_the_caller_from_speaking_next(cli, server, tmp_path):
    """After the results, `transitions` decide: here the Critic speaks, then the caller;
    and Mistral, which refuses a user message right after tool results, gets a bridge."""
    server.responder = by_agent({"(selector)": ["Assistant"],
                                 "Critic": ["Assistant, please convert.", "good"],
                                 "Assistant": [tool_calls(("convert", {"amount": 10})),
                                               "TERMINATE"]})
    team = tools_team(tmp_path, server.url, ["convert"], model="mistral/fake-model",
                      max_round=8, extra="transitions: {User_proxy: [Critic]}\n")
    r = cli("run", team, "--json")
    assert r.exit_code == 0, r.stderr
    assert [m["agent"] for m in of_type(r.events(), "message")] == [
        "User_proxy", "Critic", "Assistant", "User_proxy", "Critic", "Assistant"]
    last = server.completions()[-1].body
    assert last["tools"][0]["function"]["name"] == "convert"
    roles = [m["role"] for m in last["messages"]]
    tool_at = roles.index("tool")
    assert roles[tool_at + 1:] == ["assistant", "user"]
    assert last["messages"][-1]["content"] == "Critic: good"


def test_gemini_gets_function_declarations_and_calls_come_back(cli, server, tmp_path):
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", {"amount": 10})), "9 EUR TERMINATE"]})
    team = tools_team(tmp_path, server.url[:-3], ["convert"], model="gemini/gemini-2.0-flash")
    r = cli("run", team, "--json")
    assert r.exit_code == 0, r.stderr
    [result] = of_type(r.events(), "tool_result")
    assert result["output"] == "9.00 EUR" and result["is_error"] is False
    reqs = [q for q in server.requests if "GenerateContent" in q.path]
    tools = reqs[1].body["tools"][0]     # LiteLLM writes Gemini's keys in snake case
    decl = (tools.get("functionDeclarations") or tools["function_declarations"])[0]
    assert decl["name"] == "convert" and decl["parameters"]["required"] == ["amount"]
    parts = [p for c in reqs[2].body["contents"] for p in c["parts"]]
    assert any({"functionCall", "function_call"} & set(p) for p in parts)
    assert any({"functionResponse", "function_response"} & set(p) for p in parts)


def test_ollama_chat_gets_tools_and_its_calls_run(cli, server, tmp_path):
    server.models.append("llama3")
    server.responder = by_agent({"(selector)": ["Assistant"], "Assistant": [
        tool_calls(("convert", {"amount": 10})), "9 EUR TERMINATE"]})
    team = tools_team(tmp_path, server.url[:-3], ["convert"], model="ollama_chat/llama3")
    r = cli("run", team, "--json")
    assert r.exit_code == 0, r.stderr
    assert [x["output"] for x in of_type(r.events(), "tool_result")] == ["9.00 EUR"]
    assert server.completions()[1].body["tools"][0]["function"]["name"] == "convert"


def test_code_execution_mode_tool_offers_run_code_and_runs_no_fences(cli, server, tmp_path):
    server.responder = by_agent({"Coder": [
        tool_calls(("run_code", {"language": "python", "code": "print(6 * 7)"}),
                   ("run_code", {"language": "sh", "code": "exit 4"}),
                   ("run_code", {"language": "ruby", "code": "puts 1"})),
        "```python\nopen('ran.txt', 'w').write('x')\n```\n"]})
    team = tmp_path / "team.yaml"
    team.write_text(f"""\
name: code-tool
task: Compute 6 times 7.
models:
  default: {{model: openai/fake-model, api_base: "{server.url}", api_key: NULL, num_retries: 0}}
max_round: 6
speaker_selection: round_robin
code_execution: {{executor: local, mode: tool}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder}}
""")
    r = cli("run", team, "--json")
    ev = r.events()
    offered = server.completions()[0].body["tools"]
    assert [t["function"]["name"] for t in offered] == ["run_code"]
    out = of_type(ev, "tool_result")
    assert out[0]["output"].startswith("exitcode: 0 (execution succeeded)") and \
        "42" in out[0]["output"] and not out[0]["is_error"]
    assert out[1]["is_error"] and out[1]["output"].startswith("exitcode: 4")
    assert out[2]["is_error"] and "needs `language` (python or sh)" in out[2]["output"]
    # fenced blocks are not run in this mode: the proxy has nothing to do, the run stalls
    assert (r.exit_code, ev[-1]["reason"]) == (3, "stalled")
    assert not (tmp_path / "groupchat" / "ran.txt").exists()


def test_a_route_that_cannot_pass_tools_is_said_at_start(cli, server, tmp_path):
    server.models.append("llama3")
    server.responder = by_agent({"(selector)": ["Critic"], "Critic": ["fine TERMINATE"]})
    team = tools_team(tmp_path, server.url[:-3], ["convert"], model="ollama/llama3")
    r = cli("run", team, "--json")
    warnings = [e["text"] for e in r.events() if e["type"] == "notice"]
    assert any("profile `default` (ollama/llama3) is offered tools, but LiteLLM's ollama/ "
               "route cannot pass them; use ollama_chat/llama3" in w for w in warnings)
