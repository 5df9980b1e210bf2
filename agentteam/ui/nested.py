"""Inner chats in the terminal: their events drawn indented under the member that runs
them, one bar per level (``│``), with their start and end marked.

``Indented`` stands in for the Rich console of ``ConsoleView`` while it shows an
event that has a ``scope``: the view's code stays the same at every depth.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

BAR = "│ "


class Indented:
    """A console that prefixes every line with ``depth`` bars (streamed text included:
    a line printed in pieces gets its bars once)."""

    def __init__(self, console: Console, depth: int):
        self.root = console
        self.depth = depth
        self.prefix = Text(BAR * depth, style="dim")
        self.at_line_start = True

    def __getattr__(self, name: str) -> Any:      # width, size, file, …: the real console's
        return getattr(self.root, name)

    def print(self, *objects: Any, end: str = "\n", style: Any = None, **kw: Any) -> None:
        if not objects:
            self.root.print(*(() if self.at_line_start else ()), end=end)
            self.at_line_start = end.endswith("\n")
            return
        obj = objects[0]
        if isinstance(obj, str):
            obj = Text(obj)
        if not isinstance(obj, Text):
            self.root.print(Padding(obj, (0, 0, 0, 2 * self.depth)), style=style, **kw)
            self.at_line_start = True
            return
        lines = obj.split("\n", allow_blank=True) if "\n" in obj.plain else [obj]
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            whole = self.at_line_start and (not last or end.endswith("\n"))
            if whole:       # a whole line: wrapped here, so every part gets its bars
                self._whole(line, style, kw)
                continue
            if self.at_line_start:
                self.root.print(self.prefix, end="")
            self.root.print(line, end=end if last else "\n", style=style, **kw)
            self.at_line_start = not last or end.endswith("\n")

    def _whole(self, line: Text, style: Any, kw: dict) -> None:
        width = max(10, self.root.width - len(self.prefix))
        parts = line.wrap(self.root, width) if line.cell_len > width else [line]
        for part in parts:
            self.root.print(self.prefix, end="")
            self.root.print(part, style=style, **kw)
        self.at_line_start = True

    def rule(self, title: Any = "", *, align: str = "left", style: Any = "rule.line") -> None:
        if not self.at_line_start:
            self.root.print()
        self.root.print(self.prefix, end="")
        self.root.print(Rule(title, align=align, style=style),  # type: ignore[arg-type]
                        width=max(10, self.root.width - len(self.prefix)))
        self.at_line_start = True


def chat_line(member: str, what: str, detail: str, color: str) -> Text:
    """The line that opens or closes an inner chat: ``▸ Research_team · …``."""
    return Text.assemble((f"{what} ", "dim"), (member, f"bold {color}"), (f" · {detail}", "dim"))


def scope_rows(usage: dict) -> list[tuple[str, dict]]:
    """The per-scope rows of the usage table: ``Research_team › Searcher``."""
    rows = []
    for key, part in (usage.get("scopes") or {}).items():
        where = " › ".join(str(key).split("/"))
        for agent, u in (part.get("agents") or {}).items():
            rows.append((f"  {where} › {agent}", u))
    return rows
