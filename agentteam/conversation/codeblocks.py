"""Find fenced code blocks in messages and format what running them gave.

One line scanner finds the fences, in time linear in the message (a reply of
thousands of unclosed fences costs no more than its length). ``prose`` is the
same message without its code blocks: the termination keyword counts only there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .messages import CodeBlock, CodeResult

_OPEN = re.compile(r"[ \t]*```[ \t]*([A-Za-z0-9_+.#-]*)")
_CLOSE = re.compile(r"[ \t]*```[ \t]*")
_ALIASES = {"python": "python", "py": "python", "python3": "python",
            "sh": "sh", "bash": "sh", "shell": "sh", "console": "sh", "zsh": "sh"}
_SHELL_START = ("pip ", "pip3 ", "python ", "python3 ", "ls", "cd ", "echo ", "cat ", "mkdir ",
                "apt", "conda ", "export ", "rm ", "cp ", "mv ", "#!/bin/")


@dataclass
class _Fenced:
    tag: str
    code: str
    first: int     # line index of the opening fence
    last: int      # line index of the closing fence


def _fences(lines: list[str]) -> list[_Fenced]:
    """Closed fenced blocks: an opening ```tag line, then the first line that is only ```."""
    found, open_at, tag = [], -1, ""
    for i, line in enumerate(lines):
        if open_at < 0:
            m = _OPEN.match(line)
            if m:
                open_at, tag = i, m.group(1)
        elif _CLOSE.fullmatch(line.rstrip("\n")):
            found.append(_Fenced(tag, "".join(lines[open_at + 1:i]), open_at, i))
            open_at = -1
    return found


def _lines(text: str) -> list[str]:
    """The lines of ``text``, each with its "\n". Only "\n" ends a line, as for the regex
    this scanner replaced: str.splitlines() would also split at "\r", "\f", "\x85",
    "\u2028", ..., which can start or end a fence inside a line."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def extract(text: str) -> list[CodeBlock]:
    """The fenced code blocks of a message, in order, with normalised languages."""
    if "```" not in text:
        return []
    blocks = []
    for f in _fences(_lines(text)):
        tag, code = f.tag.lower(), f.code
        if not code.strip():
            continue
        if not tag:
            tag = "sh" if code.lstrip().startswith(_SHELL_START) else "python"
        blocks.append(CodeBlock(_ALIASES.get(tag, tag), code))
    return blocks


def prose(text: str) -> str:
    """The message without its fenced code blocks."""
    if "```" not in text:
        return text
    lines = _lines(text)
    keep, start = [], 0
    for f in _fences(lines):
        keep.extend(lines[start:f.first])
        start = f.last + 1
    keep.extend(lines[start:])
    return "".join(keep)


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


def not_run(blocks: int, source: str, source_round: int, executor: str) -> str:
    """The user proxy's reply when code execution is off: no result, and why."""
    return (f"Code was not run: code execution is off for this run (executor: {executor}). "
            f"The {blocks} code block(s) in {source}'s message (round {source_round}) were "
            "not executed, so there is no output.")
