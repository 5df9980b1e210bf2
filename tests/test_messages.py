"""Message parts as values: their JSON form, the one prompt builder (agent_messages), and
how provider rules (adapt) treat parts and tool turns."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentteam.conversation.groupchat import GroupChat, drive
from agentteam.conversation.messages import (
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    content_from_json,
    content_to_json,
)
from agentteam.conversation.prompts import agent_messages
from agentteam.conversation.transcript import Recorded
from agentteam.models.profiles import Profile
from agentteam.models.provider import adapt
from agentteam.team import parse_team, system_message
from agentteam.testing import ScriptedModel

TEAM = """\
name: t
task: Plot it.
max_round: {max_round}
speaker_selection: round_robin
code_execution: {{executor: none}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Coder, system_message: "Coder. Writes code."}}
  - {{name: Critic, system_message: "Critic. Reviews."}}
"""


def team(max_round=6):
    return parse_team(TEAM.format(max_round=max_round), "t.yaml", {})


# -- parts in JSON ------------------------------------------------------------------------

_text = st.text(max_size=30)
_size = st.one_of(st.none(), st.integers(min_value=0, max_value=100_000))


@st.composite
def _image(draw):
    path, url = draw(st.one_of(st.none(), _text)), draw(st.one_of(st.none(), _text))
    if not (path or url):
        path = "plot.png"
    return ImagePart(path, url, draw(_size), draw(_size))


_part = st.one_of(st.builds(TextPart, _text), _image(),
                  st.builds(ToolCallPart, _text, _text, _text),
                  st.builds(ToolResultPart, _text, _text, _text, st.booleans()))
_content = st.one_of(_text, st.lists(_part, max_size=6).map(tuple))


@given(_content)
def test_content_round_trips_through_json(content):
    as_json = content_to_json(content)
    assert isinstance(as_json, str) == isinstance(content, str)   # text stays a string
    assert content_from_json(json.loads(json.dumps(as_json))) == content


@pytest.mark.parametrize("bad", [
    5, None, {"type": "text", "text": "x"}, [1], ["text"], [{"type": "video"}],
    [{"text": "no type"}], [{"type": ["text"]}], [{"type": "text"}],
    [{"type": "text", "text": "x", "extra": 1}], [{"type": "text", "text": 5}],
    [{"type": "text", "text": None}], [{"type": "image"}],
    [{"type": "image", "path": "a.png", "width": "wide"}],
    [{"type": "image", "path": "a.png", "height": True}],
    [{"type": "tool_call", "id": "1", "name": "ls"}],
    [{"type": "tool_result", "id": "1", "name": "ls", "output": "x", "is_error": "no"}],
    [{"type": "text", "text": "ok"}, {"type": "tool_call", "id": 1, "name": "ls",
                                      "arguments": "{}"}]])
def test_bad_content_raises_value_error(bad):
    with pytest.raises(ValueError):
        content_from_json(bad)


def test_message_text_and_parts():
    m = Message("Coder", (TextPart("a"), ImagePart("p.png"), TextPart("b")), 1)
    assert m.text == "a\nb"
    assert Message("Coder", "plain", 1).parts == (TextPart("plain"),)
    assert Message("Coder", "", 1).parts == ()


# -- agent_messages -----------------------------------------------------------------------

TASK = Message("User_proxy", "Plot it.", 0)
CALLS = Message("Coder", (TextPart("looking"), ToolCallPart("c1", "ls", '{"p": "."}'),
                          ToolCallPart("c2", "cat", "{}")), 1)
RESULTS = Message("User_proxy", (TextPart("both ran"), ToolResultPart("c1", "ls", "a.txt"),
                                 ToolResultPart("c2", "cat", "no file", is_error=True)), 2)
PICTURE = Message("Critic", (TextPart("see"), ImagePart("plot.png", width=640, height=480),
                             ImagePart(url="https://x.test/y.png")), 3)


def test_the_calling_agent_sees_tool_calls_then_their_results():
    coder = team().agent("Coder")
    got = agent_messages(coder, [TASK, CALLS, RESULTS])
    assert got == [
        {"role": "system", "content": "Coder. Writes code."},
        {"role": "user", "content": "Plot it.", "name": "User_proxy"},
        {"role": "assistant", "content": "looking", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": '{"p": "."}'}},
            {"id": "c2", "type": "function", "function": {"name": "cat", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "c2", "content": "no file"},
        {"role": "user", "content": "both ran", "name": "User_proxy"}]


def test_other_agents_see_tool_calls_and_results_as_text():
    critic = team().agent("Critic")
    got = agent_messages(critic, [TASK, CALLS, RESULTS])
    assert got[2:] == [
        {"role": "user", "name": "Coder",
         "content": 'looking\n[Coder called ls({"p": "."})]\n[Coder called cat({})]'},
        {"role": "user", "name": "User_proxy",
         "content": "both ran\n[ls result]\na.txt\n[cat error]\nno file"}]
    assert not any(m.get("tool_calls") or m["role"] == "tool" for m in got)


def test_images_are_placeholders():
    got = agent_messages(team().agent("Coder"), [TASK, PICTURE])
    assert got[-1] == {"role": "user", "name": "Critic",
                       "content": "see\n[image: plot.png 640x480]\n[image: https://x.test/y.png]"}
    own = agent_messages(team().agent("Critic"), [TASK, PICTURE])
    assert own[-1]["role"] == "assistant" and "[image: plot.png 640x480]" in own[-1]["content"]


def test_plain_history_is_byte_identical_to_the_old_shape():
    history = [TASK, Message("Coder", "```python\nprint('é')\n```", 1),
               Message("Critic", "looks good", 2),
               Message("User_proxy", "exitcode: 0", 3, kind="code_result"),
               Message("Coder", "", 4)]
    for agent in team().agents[1:]:
        old = [{"role": "system", "content": system_message(agent)}] + [
            {"role": "assistant" if m.agent == agent.name else "user", "content": m.content,
             **({} if m.agent == agent.name else {"name": m.agent})} for m in history]
        new = agent_messages(agent, history)
        assert json.dumps(new, ensure_ascii=False) == json.dumps(old, ensure_ascii=False)


def test_an_agents_prompt_only_grows_between_its_turns():
    """Each prompt starts with the previous one, byte for byte: provider prompt caching
    (issue 15) depends on it. Parts included."""
    model = ScriptedModel().enqueue("Coder", "c1", "c2", "c3").enqueue("Critic", "k1", "k2")
    resume = Recorded(Path("t.jsonl"), team="t", task="Plot it.",
                      messages=[TASK, CALLS, RESULTS, PICTURE])
    end = drive(GroupChat(team(max_round=8), model, None, resume=resume).run(), lambda e: None)
    assert end.reason == "max_round"
    model.assert_complete()
    for agent in ("Coder", "Critic"):
        prompts = [[json.dumps(m, sort_keys=False) for m in msgs]
                   for _, msgs, who in model.calls if who == agent]
        assert len(prompts) >= 2
        for before, after in pairwise(prompts):
            assert after[:len(before)] == before and len(after) > len(before)


# -- adapt: provider rules with parts and tool turns ---------------------------------------

def test_adapt_for_a_provider_without_names_keeps_tool_turns_and_alternates():
    mistral = Profile("default", "mistral/mistral-large-latest")
    history = [TASK, CALLS, RESULTS, PICTURE, Message("Critic", "and more", 4)]
    messages = agent_messages(team().agent("Coder"), history)
    messages.append({"role": "user", "name": "Critic", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x.test/y.png"}}]})
    before = json.dumps(messages)
    out = adapt(messages, mistral)
    assert json.dumps(messages) == before                          # the input is not changed
    assert all("name" not in m for m in out)
    roles = [m["role"] for m in out]
    assert roles[0] == "system" and roles.count("system") == 1 and roles[1] == "user"
    assert all(not (a == b and a in ("user", "assistant")) for a, b in pairwise(roles))
    tools = [m for m in out if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == ["c1", "c2"]
    call = out[roles.index("tool") - 1]
    assert call["role"] == "assistant" and [c["id"] for c in call["tool_calls"]] == ["c1", "c2"]
    last = out[-1]["content"]                  # the merged user turns, as content parts
    assert isinstance(last, list) and last[-1]["type"] == "image_url"
    texts = " ".join(p.get("text", "") for p in last)
    assert "User_proxy: both ran" in texts and "Critic: see" in texts and "look" in texts
