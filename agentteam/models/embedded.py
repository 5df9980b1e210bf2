"""What agentteam sends its embedded model: a transcript to continue, not a chat.

The packaged Gemma 3 270M is a *base* model: it was never taught a chat template
(llama-cpp-python's ``gemma`` format even drops the system message), but it continues
text well. So an agent's prompt is the chat written out as a script, which the model
continues as that agent::

    <the agent's system message>

    User_proxy: <the task>

    Coder: <...>

    Critic:

The prompt goes to ``/v1/completions`` with every agent's ``\\nName:`` as a stop
sequence, so a reply ends where the model starts writing someone else's line. An
agent's next prompt is this one plus what was said since, so the server restores the
agent's kept state and evaluates only the new lines (``llama_serve``).

A selector call is its compact prompt followed by ``Next speaker:``, with a grammar
that only allows the candidates' names (``constrained``).
"""

from __future__ import annotations

from .base import SELECTOR

SEPARATOR = "\n\n"


def prompt(messages: list[dict], agent: str) -> str:
    """The transcript of canonical (OpenAI-shaped) ``messages`` for ``agent`` to continue."""
    lines: list[str] = []
    for i, m in enumerate(messages):
        text = _text(m).rstrip()
        role = m.get("role")
        if role == "system" and i == 0:
            lines.append(text.strip())
        elif role == "assistant":
            lines.append(_line(agent, text) if text.strip() else "")
        elif m.get("name"):
            lines.append(_line(m["name"], text))
        else:
            lines.append(text.strip())
    cue = "Next speaker:" if agent == SELECTOR else f"{agent}:"
    return SEPARATOR.join(line for line in lines if line) + SEPARATOR + cue


def _line(name: str, text: str) -> str:
    """``Name: text``, keeping the whitespace a reply began with: the model wrote it right
    after ``Name:``, so the line reads back exactly as the model's state holds it."""
    return f"{name}:{text}" if text[:1].isspace() else f"{name}: {text}"


def stops(names: list[str]) -> list[str]:
    """Where a reply ends: the model starting another line of the script."""
    return [f"\n{n}:" for n in names]


def body(model: str, messages: list[dict], agent: str) -> dict:
    """The JSON body of a streamed ``/v1/completions`` request (parameters added by the
    caller)."""
    return {"model": model, "prompt": prompt(messages, agent), "stream": True}


def _text(m: dict) -> str:
    content = m.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text", "") if isinstance(p, dict) and p.get("type") == "text"
                 else "[image]" for p in content]
        return "\n".join(t for t in texts if t)
    calls = m.get("tool_calls") or []
    return " ".join(f"[calls {c['function']['name']}({c['function']['arguments']})]"
                    for c in calls)
