"""AutoGen's nested-chat, society-of-mind and sequential-chats notebooks, ported to
teams/autogen/, run against the fake server (see test_autogen_ports.py for the others)."""

from __future__ import annotations

from . import test_autogen_ports as flat
from .conftest import script
from .test_autogen_ports import code, run, selector_calls

ports = flat.ports     # the fixture: the ports and an OAI_CONFIG_LIST for the fake server


def said(events, scope=None) -> list[str]:
    """The agents of the messages after the task in one scope, in order."""
    return [e["agent"] for e in events if e["type"] == "message" and e["round"] > 0
            and e.get("scope") == scope]


def agents_called(server) -> list[str]:
    return [r.headers.get("X-Agentteam-Agent") for r in server.completions()]


def test_society_of_mind_runs_its_inner_chat_then_answers_once(cli, server, ports):
    script(server, {"inner-assistant": ["Let me work out how to get the prices.",
                                        code('print("2024-01-02", "2024-01-03")'),
                                        "It was higher on 2024-01-02 and 2024-01-03. "
                                        "TERMINATE"],
                    "society_of_mind (summary)": ["Microsoft was above $370 on January 2 "
                                                  "and 3, 2024."]})
    r, ev = run(cli, ports / "society_of_mind.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "selection"
    assert said(ev) == ["society_of_mind"]
    inner = ["society_of_mind"]
    assert said(ev, inner) == ["inner-assistant", "inner-code-interpreter", "inner-assistant",
                               "inner-code-interpreter", "inner-assistant"]
    msgs = [e for e in ev if e["type"] == "message" and e.get("scope") == inner and e["round"]]
    assert msgs[1]["content"] == ""          # default_auto_reply "": sent, and it goes on
    assert msgs[3]["kind"] == "code_result" and "2024-01-02" in msgs[3]["content"]
    ended = [e for e in ev if e["type"] == "chat_ended"][0]
    assert ended["reason"] == "keyword" and ended["rounds"] == 5
    answer = [e for e in ev if e["type"] == "message" and e["agent"] == "society_of_mind"][0]
    assert answer["content"] == "Microsoft was above $370 on January 2 and 3, 2024."
    summary = server.completions()[-1].body["messages"]
    assert "Output a standalone response" in summary[0]["content"]
    assert "2024-01-02 and 2024-01-03" in str(summary)
    assert agents_called(server)[-1] == "society_of_mind (summary)"
    assert selector_calls(server) == []
    assert (ports / "coding").is_dir()       # the inner team's code ran in the outer work dir


def test_nested_chat_sends_each_draft_to_a_critic_and_back(cli, server, ports):
    script(server, {"Writer": ["Navida: a draft.", "Navida: the revised post."],
                    "Critic": ["Add a source for the claims."]})
    r, ev = run(cli, ports / "nested_chat.yaml")
    assert r.exit_code == 3 and ev[-1]["reason"] == "max_round"    # max_turns=2
    assert said(ev) == ["Writer", "Reflection", "Writer"]
    started = [e for e in ev if e["type"] == "chat_started"][0]
    assert started["scope"] == ["Reflection"]
    assert started["task"] == ("Reflect and provide critique on the following writing. \n\n "
                               "Navida: a draft.")
    assert said(ev, ["Reflection"]) == ["Critic"]
    reply = [e for e in ev if e["type"] == "message" and e["agent"] == "Reflection"][0]
    assert reply["content"] == "Add a source for the claims."
    revise = server.completions()[-1].body["messages"]
    assert "Add a source for the claims." in revise[-1]["content"]
    assert agents_called(server) == ["Writer", "Critic", "Writer"]


def test_sequential_chats_carry_over_last_and_reflection_summaries(cli, server, ports):
    script(server, {"Assistant": [code('print("NVDA 120.5 +8%; TSLA 180.2 -3%")'),
                                  "NVDA rose 8%, TSLA fell 3%. TERMINATE",
                                  "Earnings beat for NVDA; recalls for TSLA. TERMINATE"],
                    "Research (summary)": ["NVDA: strong earnings. TSLA: recalls."],
                    "Writer": ["# Chips and cars\n| stock | month |\n|---|---|\n"
                               "| NVDA | +8% |\n\nTERMINATE"]})
    r, ev = run(cli, ports / "sequential_chats.yaml")
    assert r.exit_code == 0 and ev[-1]["reason"] == "chats"
    assert said(ev) == ["Financial", "Research", "Writing"]
    assert said(ev, ["Financial"]) == ["Assistant", "User", "Assistant"]
    out = [e for e in ev if e["type"] == "code_result"][0]
    assert out["scope"] == ["Financial"] and "NVDA 120.5" in out["output"]
    tasks = [e["task"] for e in ev if e["type"] == "chat_started"]
    assert tasks[1] == ("Investigate possible reasons of the stock performance.\nContext: \n"
                        "NVDA rose 8%, TSLA fell 3%.")
    assert tasks[2].endswith("Context: \nNVDA rose 8%, TSLA fell 3%.\n"
                             "NVDA: strong earnings. TSLA: recalls.")
    assert agents_called(server) == ["Assistant", "Assistant", "Assistant",
                                     "Research (summary)", "Writer"]
    last = [e for e in ev if e["type"] == "message" and e.get("scope") is None][-1]
    assert last["agent"] == "Writing" and "| NVDA | +8% |" in last["content"]
    assert (ports / "tasks").is_dir()
