"""The one place that turns the history into the messages a model is sent.

``agent_messages`` builds an agent's prompt: its system message, then every message
of the chat (its own as ``assistant``, the others' as ``user`` with a ``name``);
``selector_messages`` builds the compact speaker-selection prompt. The result is
in the OpenAI chat shape; ``models.provider.adapt`` then fits it to each
provider's rules. Plain-text messages take the fast path: one dict each, with the
string content as it is.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from ..team import AgentSpec, TeamSpec, system_message
from ..team.flow import placeholders, render
from .messages import ImagePart, Message, TextPart, ToolCallPart, ToolResultPart, describe

SELECTOR_INTRO = "You pick the next speaker of a group chat."

# How a model that sees images is sent one: an OpenAI content part, or None (text only).
ImageRenderer = Callable[[Message, ImagePart], Optional[dict]]


def agent_messages(agent: AgentSpec, history: list[Message],
                   images: ImageRenderer | None = None) -> list[dict]:
    """The prompt of ``agent``'s next turn.

    An image is always named in the text (``[image: plot.png 640x480]``); with
    ``images`` (the agent's model takes them), others' images also follow as content
    parts. The agent's own images stay text: models take images only from users.
    """
    out: list[dict] = [{"role": "system", "content": system_message(agent)}]
    own_calls: set[str] = set()
    for m in history:
        own = m.agent == agent.name
        if isinstance(m.content, str):
            out.append({"role": "assistant", "content": m.content} if own else
                       {"role": "user", "content": m.content, "name": m.agent})
        else:
            out.extend(_with_parts(m, own, own_calls, None if own else images))
    return out


def _with_parts(m: Message, own: bool, own_calls: set[str],
                images: ImageRenderer | None = None) -> list[dict]:
    """A message with parts: tool calls and their results in the tool-calling shape for
    the agent that made the calls, as text for everyone else."""
    text: list[str] = []
    calls: list[dict] = []
    results: list[dict] = []
    pictures: list[dict] = []
    for p in m.parts:
        if isinstance(p, TextPart):
            text.append(p.text)
        elif isinstance(p, ImagePart):
            text.append(p.label)
            shown = images(m, p) if images else None
            if shown:
                pictures.append(shown)
        elif isinstance(p, ToolCallPart):
            if own:
                own_calls.add(p.id)
                calls.append({"id": p.id, "type": "function",
                              "function": {"name": p.name, "arguments": p.arguments}})
            else:
                text.append(f"[{m.agent} called {p.name}({p.arguments})]")
        elif isinstance(p, ToolResultPart):
            if p.id in own_calls:
                results.append({"role": "tool", "tool_call_id": p.id, "content": p.output})
            else:
                status = "error" if p.is_error else "result"
                text.append(f"[{p.name} {status}]\n{p.output}")
    body = "\n".join(text)
    out: list[dict] = []
    if own:
        # "" rather than null: llama-cpp-python refuses a null content, its templates a
        # missing one
        msg: dict = {"role": "assistant", "content": body}
        if calls:
            msg["tool_calls"] = calls
        if body or calls:
            out.append(msg)
        return out + results
    if pictures:
        out.append({"role": "user", "content": [{"type": "text", "text": body}, *pictures],
                    "name": m.agent})
    elif body:
        out.append({"role": "user", "content": body, "name": m.agent})
    # The results answer this agent's own calls: they must follow its tool_calls directly.
    return results + out


def selector_messages(team: TeamSpec, history: list[Message], allowed: list[str],
                      retry: str = "") -> list[dict]:
    """The compact prompt for the selector model: roles, recent messages, the candidates.

    The last message is shown up to ``max_chars_per_message`` (its head and its end, where
    a request to someone usually is), the ones before it only by their first eighth of
    that, whitespace collapsed. ``retry`` says what was wrong with the previous answer,
    for the next try. The team's ``prompt`` template replaces the instructions (and, when
    it places ``{history}`` itself, is the whole request); ``retry_prompt`` replaces what
    a retry adds.
    """
    sel = team.speaker_selection
    roles = []
    for a in team.agents:
        if a.name in allowed:
            role = a.description or _first_sentence(system_message(a))
            roles.append(f"- {a.name}: {role}")
    lines = []
    recent = history[-sel.recent_messages:]
    for i, m in enumerate(recent):
        text = " ".join(describe(m.content).split())
        if i == len(recent) - 1:     # the last message decides most: its head and its end
            if len(text) > sel.max_chars_per_message:
                half = sel.max_chars_per_message // 2
                text = text[:half] + " … " + text[-half:]
        elif len(text) > sel.max_chars_per_message // 8:    # earlier ones: what they were
            text = text[:sel.max_chars_per_message // 8] + " …"
        lines.append(f"[{m.agent}] {text}")
    values = {"roles": "\n".join(roles), "names": ", ".join(allowed),
              "history": "\n".join(lines)}
    system = (f"{SELECTOR_INTRO} Candidates:\n" + values["roles"] +
              "\nAnswer with one name only.")
    user = values["history"] + f"\n\nWho speaks next? One of: {values['names']}."
    if sel.prompt:
        system = render(sel.prompt, **values)
        if "history" in placeholders(sel.prompt):
            system, user = "", system
    if retry:
        user += "\n" + (render(sel.retry_prompt, problem=retry, **values) if sel.retry_prompt
                        else f"Your previous answer {retry}. Reply with only one of: "
                             f"{values['names']}.")
    return ([{"role": "system", "content": system}] if system else []) + \
        [{"role": "user", "content": user}]


def with_introduction(messages: list[dict], team: TeamSpec) -> list[dict]:
    """An agent's prompt with the team's introduction after its system message, when the
    team has ``send_introductions`` (AutoGen's round of introductions: who is in the
    chat and what each does)."""
    if not team.send_introductions:
        return messages
    return messages[:1] + [{"role": "user", "content": introduction(team)}] + messages[1:]


def introduction(team: TeamSpec) -> str:
    """Who takes part in the chat, one line each."""
    lines = [f"- {a.name}: {a.description or _first_sentence(system_message(a))}"
             for a in team.agents]
    return "Introductions: this group chat has these members.\n" + "\n".join(lines)


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    m = re.match(r"(.{1,160}?[.!?])(\s|$)", text)
    return m.group(1) if m else text[:160]
