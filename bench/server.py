"""The benchmark's fake OpenAI-compatible server, in a process of its own.

Agents get the same neutral ~40-word reply (no agent names, no keyword, so no
framework can skip a selection), numbered so that no two replies are equal: real
replies differ, and Agent Framework's session history drops a message whose role and
text equal an earlier one's (it de-duplicates messages without an id by content).
Selection requests (agentteam's, named in its X-Agentteam-Agent header; AG2's and
AgentChat's "role play game" prompts; Agent Framework's orchestrator, whose last
message asks "Decide what to do next" in JSON) are answered with a valid candidate,
in rotation, so no framework retries and no speaker follows itself. Prints its URL,
then serves until killed.
"""

from __future__ import annotations

import itertools
import json
import re
import threading

from agentteam.testing.fakeserver import serve

AGENTS = ["Coder", "Critic", "Reviewer"]
REPLY = ("I looked at the data and the numbers line up with what we expected earlier. "
         "The next step is to check the outliers, write down what they mean, and make the "
         "chart easier to read for someone who sees it for the first time.")
_turn = itertools.count()
_reply = itertools.count(1)
_lock = threading.Lock()


def candidates(text: str) -> list[str]:
    m = re.findall(r"(?:from|One of:)\s*\[?([A-Za-z_,' ]+)\]?", text)
    found = [n for n in AGENTS if m and n in m[-1]]
    return found or AGENTS


def respond(body: dict, agent: str) -> str:
    # agentteam names the agent of each call (X-Agentteam-Agent); the other frameworks'
    # selection requests are recognised by their prompts.
    messages = body.get("messages") or [{}]
    text = "\n".join(str(m.get("content") or "") for m in messages)
    if str(messages[-1].get("content") or "").startswith("Decide what to do next."):
        # Agent Framework's AgentBasedGroupChatOrchestrator wants its structured output
        # (AgentOrchestrationOutput) as JSON.
        with _lock:
            name = AGENTS[next(_turn) % len(AGENTS)]
        return json.dumps({"terminate": False, "reason": "Their turn.", "next_speaker": name,
                           "final_message": None})
    if agent == "(selector)" or "role play game" in text:
        names = candidates(text)
        with _lock:
            return names[next(_turn) % len(names)]
    with _lock:
        return f"{REPLY} ({next(_reply)})"


if __name__ == "__main__":
    serve(respond, record=False)
