"""How the terminal shows tool calls and their results: one line per call, as
``→ convert_currency(amount=10, …)``, and the result under it, capped."""

from __future__ import annotations

import json

CALL_CHARS = 100        # of the arguments on the call's line
RESULT_LINES = 12       # of a result shown under its call
RESULT_CHARS = 1200


def call_line(name: str, arguments: str) -> str:
    """``name(key=value, …)`` with the arguments shortened to one line."""
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        args = None
    if isinstance(args, dict):
        shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    else:
        shown = " ".join(arguments.split())
    if len(shown) > CALL_CHARS:
        shown = shown[:CALL_CHARS].rstrip() + " …"
    return f"→ {name}({shown})"


def result_text(output: str) -> str:
    """A tool's output as shown under its call: the first lines, and how much was left out."""
    text = output.rstrip()
    lines = text.splitlines()
    kept = "\n".join(lines[:RESULT_LINES])
    if len(kept) > RESULT_CHARS:
        kept = kept[:RESULT_CHARS]
    left = len(text) - len(kept)
    return kept + (f"\n… ({left} more characters; all of it is in the transcript)" if left > 0
                   else "")
