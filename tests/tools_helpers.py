"""Team files with tools, for the tool tests: a module of typed functions next to a team
that offers them, pointed at the fake server."""

from __future__ import annotations

import textwrap
from pathlib import Path

from agentteam.models.base import SELECTOR

TOOLS_PY = '''\
import json
import os
import time
from typing import Annotated, Literal


def convert(amount: Annotated[float, "Amount in US dollars"],
            to: Literal["EUR", "GBP"] = "EUR") -> str:
    """Convert US dollars to another currency."""
    return f"{amount * 0.9:.2f} {to}"


def boom(x: int) -> str:
    """Always fails."""
    raise RuntimeError(f"no luck with {x}")


def slow(seconds: float) -> str:
    """Takes its time."""
    time.sleep(seconds)
    return "late"


def not_json() -> object:
    """Returns a set."""
    return {1, 2}


def huge(n: int) -> str:
    """Prints and returns n characters."""
    print("p" * n)
    return "y" * n


def env() -> dict:
    """The tool's environment."""
    return dict(os.environ)


def count() -> int:
    """Counts its calls in a file of the working directory."""
    n = int(open("calls.txt").read()) + 1 if os.path.exists("calls.txt") else 1
    with open("calls.txt", "w") as f:
        f.write(str(n))
    return n


def read(path: str) -> str:
    """Reads a file."""
    return open(path).read()


def write(path: str, text: str) -> str:
    """Writes a file."""
    with open(path, "w") as f:
        f.write(text)
    return "written"


def fetch(url: str) -> str:
    """Fetches a URL."""
    import urllib.request
    return urllib.request.urlopen(url, timeout=5).read().decode()[:100]
'''


def tools_team(tmp_path: Path, url: str, functions: list[str], offer: list[str] | None = None,
               run: str = "host", max_round: int = 6, model: str = "openai/fake-model",
               extra: str = "", executor: str = "none", selection: str = "auto",
               agents: str = "", timeout: float = 10) -> Path:
    """A team whose Assistant is offered ``functions`` of tools.py (``run`` says where)."""
    (tmp_path / "tools.py").write_text(TOOLS_PY)
    tools = "\n".join(f"  - {{function: tools.py:{f}, run: {run}, timeout: {timeout}}}"
                      for f in functions)
    offered = ", ".join(offer if offer is not None else functions)
    body = textwrap.dedent(f"""\
        name: tools-team
        task: Convert 10 USD.
        models:
          default:
            model: {model}
            api_base: "{url}"
            api_key: NULL
            num_retries: 0
            timeout: 20
        max_round: {max_round}
        termination: TERMINATE
        speaker_selection: {selection}
        code_execution: {{executor: {executor}}}
        tools:
        """) + tools + "\n" + extra + textwrap.dedent(f"""\
        agents:
          - {{name: User_proxy, kind: user_proxy}}
          - {{name: Assistant, tools: [{offered}]}}
          - {{name: Critic, description: Reviews the answer}}
        """) + agents
    path = tmp_path / "team.yaml"
    path.write_text(body)
    return path


def speakers(server) -> list[str]:
    """Which agent each completion request was for, in order."""
    return ["selector" if r.headers.get("X-Agentteam-Agent") == SELECTOR
            else r.headers.get("X-Agentteam-Agent", "") for r in server.completions()]


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]
