"""The run loop with ScriptedModel/FakeExecutor: turns, code, people, selection, interrupts."""

from __future__ import annotations

import pytest

from agentteam.conversation.groupchat import GroupChat, drive
from agentteam.conversation.messages import CodeResult
from agentteam.conversation.termination import terminates
from agentteam.errors import ModelError
from agentteam.executors.base import NoExecutor
from agentteam.team import parse_team
from agentteam.testing import FakeExecutor, ScriptedModel

TEAM = """\
name: t
task: Plot it.
max_round: {max_round}
speaker_selection: {selection}
code_execution: {{executor: docker}}
agents:
  - name: User_proxy
    kind: user_proxy
    human_input: {human}
  - name: Coder
    system_message: Coder. Writes code.
  - name: Critic
    system_message: Critic. Reviews.
"""


def team(max_round=6, selection="round_robin", human="never", extra=""):
    return parse_team(TEAM.format(max_round=max_round, selection=selection, human=human) + extra,
                      "t.yaml", {})


class Person:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.prompts = []

    def ask(self, prompt):
        self.prompts.append(prompt)
        return self.answers.pop(0) if self.answers else None


def run(chat):
    events = []
    end = drive(chat.run(), events.append)
    return end, events


def messages(events):
    return [(e.agent, e.kind, e.content) for e in events if e.type == "message"]


def test_code_is_run_by_the_proxy_and_results_go_back():
    model = ScriptedModel().enqueue("Coder", "```python\nprint(1)\n```", "thanks TERMINATE")
    model.enqueue("Critic", "fine")
    ex = FakeExecutor([CodeResult("python", 0, "1\n", 0.1)])
    end, events = run(GroupChat(team(selection="auto"), model, ex))
    assert end.reason == "keyword"
    kinds = [(a, k) for a, k, _ in messages(events)]
    assert kinds[:3] == [("User_proxy", "text"), ("Coder", "text"), ("User_proxy", "code_result")]
    assert [b.code for b in ex.blocks] == ["print(1)\n"]
    code = [e for e in events if e.type == "code_result"][0]
    assert (code.exit_code, code.output, code.source_round) == (0, "1\n", 1)
    assert messages(events)[2][2].startswith("exitcode: 0 (execution succeeded)")
    assert ex.closed


def test_executor_none_reports_no_result_and_says_why():
    model = ScriptedModel().enqueue("Coder", "```python\nprint(1)\n```", "ok TERMINATE")
    model.enqueue("Critic", "hm")
    end, events = run(GroupChat(team(), model, NoExecutor(None, ".")))
    assert end.reason == "keyword"
    assert not [e for e in events if e.type == "code_result"]
    reply = [c for a, k, c in messages(events) if k == "code_result"]
    assert reply == ["Code was not run: code execution is off for this run (executor: none). "
                     "The 1 code block(s) in Coder's message (round 1) were not executed, so "
                     "there is no output."]


def test_first_failing_block_stops_the_rest_and_code_runs_once():
    model = ScriptedModel().enqueue("Coder", "```sh\nfalse\n```\n```python\nprint(2)\n```",
                                    "still nothing")
    model.enqueue("Critic", "hm", "hm")
    ex = FakeExecutor([CodeResult("sh", 1, "", 0.0)])
    end, events = run(GroupChat(team(max_round=6), model, ex))
    assert len(ex.blocks) == 1
    results = [c for _, k, c in messages(events) if k == "code_result"]
    assert "1 later block(s) not run" in results[0]
    # the same message's code is not run again on the proxy's next turn
    assert sum(1 for _, k, _ in messages(events) if k == "code_result") == 1


def test_proxy_with_nothing_to_say_is_skipped_without_a_message():
    model = ScriptedModel().enqueue("Coder", "no code", "no code")
    model.enqueue("Critic", "ok", "ok")
    end, events = run(GroupChat(team(max_round=4), model, FakeExecutor()))
    assert end.reason == "max_round" and end.exit_code == 3
    assert [a for a, _, _ in messages(events)] == ["User_proxy", "Coder", "Critic", "Coder",
                                                   "Critic"]


def test_human_always_enter_auto_replies_text_is_sent_exit_ends():
    two = team(human="always").model_copy(update={"agents": team(human="always").agents[:2]})
    model = ScriptedModel().enqueue("Coder", "```python\nprint(1)\n```", "ok", "fine")
    person = Person("", "please be brief", "exit")
    end, events = run(GroupChat(two, model, FakeExecutor(), person))
    assert (end.reason, end.exit_code) == ("human", 0)
    assert [(a, k) for a, k, _ in messages(events)] == [
        ("User_proxy", "text"), ("Coder", "text"), ("User_proxy", "code_result"),
        ("Coder", "text"), ("User_proxy", "text"), ("Coder", "text")]
    assert messages(events)[4][2] == "please be brief"
    assert len(person.prompts) == 3
    assert "the chat" not in person.prompts[0] and "Enter to let it auto-reply" in person.prompts[0]


def test_human_terminate_asks_at_the_keyword():
    model = ScriptedModel().enqueue("Coder", "done TERMINATE", "really done TERMINATE")
    model.enqueue("Critic", "more please")
    person = Person("one more thing", "")
    end, events = run(GroupChat(team(human="terminate"), model, FakeExecutor(), person))
    assert end.reason == "keyword"
    assert ("User_proxy", "text", "one more thing") in messages(events)
    assert len(person.prompts) == 2


def test_manual_selection_reprompts_on_bad_answers():
    model = ScriptedModel().enqueue("Critic", "hello TERMINATE")
    person = Person("7", "nobody", "critic")
    end, events = run(GroupChat(team(selection="manual"), model, FakeExecutor(), person))
    assert end.reason == "keyword"
    sel = [e for e in events if e.type == "speaker_selected"][0]
    assert (sel.agent, sel.method, sel.reason) == ("Critic", "manual", "chosen by the person")
    assert "is not a candidate" in person.prompts[1]
    assert "Enter or q: let agentteam pick" in person.prompts[0]


def test_manual_selection_falls_back_after_three_bad_answers():
    # the run goes on (it used to end with exit 1): agentteam picks, and says why
    model = ScriptedModel().enqueue("selector", "Critic").enqueue("Critic", "hello TERMINATE")
    person = Person("7", "nobody", "x")
    end, events = run(GroupChat(team(selection="manual"), model, FakeExecutor(), person))
    assert (end.reason, end.exit_code) == ("keyword", 0)
    assert len(person.prompts) == 3
    sel = [e for e in events if e.type == "speaker_selected"][0]
    assert (sel.agent, sel.method) == ("Critic", "manual")
    assert sel.reason == "no valid answer in 3 tries; chosen by the selector model"


@pytest.mark.parametrize("answer", ["", "q", " Q "])
def test_manual_selection_enter_or_q_picks_automatically(answer):
    model = ScriptedModel().enqueue("selector", "Critic").enqueue("Critic", "hello TERMINATE")
    end, events = run(GroupChat(team(selection="manual"), model, FakeExecutor(),
                                Person(answer)))
    assert end.reason == "keyword"
    sel = [e for e in events if e.type == "speaker_selected"][0]
    assert (sel.agent, sel.reason) == ("Critic", "left to agentteam by the person; chosen by "
                                                 "the selector model")
    model.assert_complete()


def test_manual_selection_left_to_agentteam_uses_the_cheap_rules_first():
    model = ScriptedModel().enqueue("Critic", "hello TERMINATE")
    t = team(selection="manual").model_copy(update={"task": "Critic, please start."})
    end, events = run(GroupChat(t, model, FakeExecutor(), Person("")))
    sel = [e for e in events if e.type == "speaker_selected"][0]
    assert (sel.agent, sel.reason) == ("Critic", "left to agentteam by the person; named in "
                                                 "the last message")
    assert not [c for c in model.calls if c[2] == "(selector)"]


def test_manual_selection_without_a_selector_model_takes_the_next_in_order():
    model = ScriptedModel().enqueue("Coder", "hello TERMINATE")
    model.profiles = {"other": None}     # the run has no `default` profile to select with
    end, events = run(GroupChat(team(selection="manual"), model, FakeExecutor(), Person("q")))
    assert end.reason == "keyword"
    sel = [e for e in events if e.type == "speaker_selected"][0]
    assert (sel.agent, sel.reason) == ("Coder", "left to agentteam by the person; next in order")


def test_model_error_ends_with_error_and_closes_executor():
    model = ScriptedModel().enqueue("Coder", ModelError("boom"))
    ex = FakeExecutor()
    end, events = run(GroupChat(team(), model, ex))
    assert (end.reason, end.exit_code, end.error) == ("error", 1, "boom")
    assert ex.closed


def test_ctrl_c_mid_stream_keeps_the_shown_text():
    model = ScriptedModel().enqueue("Coder", "one two three four")
    chat = GroupChat(team(), model, FakeExecutor())
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.type == "message_delta" and ev.text.startswith("two"):
            raise KeyboardInterrupt
    end = drive(chat.run(), on_event)
    assert end.reason == "interrupted" and end.exit_code == 130
    partial = [e for e in events if e.type == "message" and e.incomplete]
    assert partial[0].content == "one two "


def test_budget_ends_the_run():
    model = ScriptedModel(default="word " * 50)
    end, _ = run(GroupChat(team(max_round=50, extra="budget: {tokens: 200}\n"), model, None))
    assert end.reason == "budget" and end.exit_code == 3 and end.rounds < 50


def test_auto_selector_prompt_is_compact():
    long = "x" * 5000
    model = ScriptedModel().enqueue("Coder", long, long, long)
    model.enqueue("Critic", long, long)
    model.enqueue("selector", "Coder", "Critic", "Coder", "Critic", "Coder")
    run(GroupChat(team(selection="auto", max_round=5), model, None))
    prompts = [m for p, m, agent in model.calls if agent == "(selector)"]
    assert prompts
    assert all(sum(len(x["content"]) for x in p) < 2000 for p in prompts)


@pytest.mark.parametrize("text,match,ends", [
    ("ok TERMINATE", "suffix", True), ("TERMINATE.\n", "suffix", True),
    ("TERMINATE now", "suffix", False), ("we TERMINATE now", "substring", True),
    ("TERMINATE", "exact", True), ("x TERMINATE", "exact", False)])
def test_terminates(text, match, ends):
    assert terminates(text, "TERMINATE", match) is ends
