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
        text = _text(m).strip()
        role = m.get("role")
        if role == "system" and i == 0:
            lines.append(text)
        elif role == "assistant":
            lines.append(f"{agent}: {text}" if text else "")
        elif m.get("name"):
            lines.append(f"{m['name']}: {text}")
        else:
            lines.append(text)
    cue = "Next speaker:" if agent == SELECTOR else f"{agent}:"
    return SEPARATOR.join(line for line in lines if line) + SEPARATOR + cue


def stops(names: list[str]) -> list[str]:
    """Where a reply ends: the model starting another line of the script."""
    return [f"\n{n}:" for n in names]


def body(messages: list[dict], agent: str) -> dict:
    """The JSON body of a streamed ``/v1/completions`` request (parameters added by the
    caller)."""
    return {"model": "local", "prompt": prompt(messages, agent), "stream": True}


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
