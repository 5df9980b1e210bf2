"""The benchmark's fake OpenAI-compatible server, in a process of its own.

Agents get the same neutral ~40-word reply (no agent names, no keyword, so no
framework can skip a selection). Selection requests (agentteam's, named in its
X-Agentteam-Agent header; AG2's and AgentChat's "role play game" prompts) are
answered with a valid candidate, in rotation, so no framework retries. Prints its
URL, then serves until killed.
"""

from __future__ import annotations

import itertools
import re
import threading

from agentteam.testing.fakeserver import serve

AGENTS = ["Coder", "Critic", "Reviewer"]
REPLY = ("I looked at the data and the numbers line up with what we expected earlier. "
         "The next step is to check the outliers, write down what they mean, and make the "
         "chart easier to read for someone who sees it for the first time.")
_turn = itertools.count()
_lock = threading.Lock()


def candidates(text: str) -> list[str]:
    m = re.findall(r"(?:from|One of:)\s*\[?([A-Za-z_,' ]+)\]?", text)
    found = [n for n in AGENTS if m and n in m[-1]]
    return found or AGENTS


def respond(body: dict, agent: str) -> str:
    # agentteam names the agent of each call (X-Agentteam-Agent); the other frameworks'
    # selection requests are recognised by their prompts.
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
    if agent == "(selector)" or "role play game" in text:
        names = candidates(text)
        with _lock:
            return names[next(_turn) % len(names)]
    return REPLY


if __name__ == "__main__":
    serve(respond, record=False)
