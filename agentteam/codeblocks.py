"""Find fenced code blocks in messages and format what running them gave."""

from __future__ import annotations

import re

from .messages import CodeBlock, CodeResult

_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.#-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$",
                    re.DOTALL | re.MULTILINE)
_ALIASES = {"python": "python", "py": "python", "python3": "python",
            "sh": "sh", "bash": "sh", "shell": "sh", "console": "sh", "zsh": "sh"}
_SHELL_START = ("pip ", "pip3 ", "python ", "python3 ", "ls", "cd ", "echo ", "cat ", "mkdir ",
                "apt", "conda ", "export ", "rm ", "cp ", "mv ", "#!/bin/")


def extract(text: str) -> list[CodeBlock]:
    """The fenced code blocks of a message, in order, with normalised languages."""
    blocks = []
    for m in _FENCE.finditer(text):
        tag, code = m.group(1).lower(), m.group(2)
        if not code.strip():
            continue
        if not tag:
            tag = "sh" if code.lstrip().startswith(_SHELL_START) else "python"
        blocks.append(CodeBlock(_ALIASES.get(tag, tag), code))
    return blocks


def format_results(results: list[CodeResult], skipped: int = 0,
                   unsupported: list[str] | None = None) -> str:
    """The user proxy's reply: exit code and output of each block, as the agents read it."""
    if not results and unsupported:
        return f"No code was run: unsupported language(s) {', '.join(unsupported)}; " \
               "use ```python or ```sh blocks."
    failed = any(r.exit_code != 0 for r in results)
    exit_code = next((r.exit_code for r in results if r.exit_code != 0), 0)
    head = f"exitcode: {exit_code} ({'execution failed' if failed else 'execution succeeded'})"
    parts = [head]
    for i, r in enumerate(results, 1):
        label = f"Code block {i} ({r.language}): exit {r.exit_code}, {r.duration_s:.2f}s"
        if r.timed_out:
            label += " — killed at the time limit"
        parts.append(label + "\n" + (r.output.rstrip() or "(no output)"))
        if r.truncated_bytes:
            parts.append(f"[output cut: {r.truncated_bytes} more bytes not shown]")
    if skipped:
        parts.append(f"({skipped} later block(s) not run because a block failed)")
    if unsupported:
        parts.append(f"(not run, unsupported language: {', '.join(unsupported)})")
    return "\n".join(parts)
