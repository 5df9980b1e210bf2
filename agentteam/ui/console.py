"""The terminal view of a run: the only module that imports Rich.

Replies stream token by token under a coloured header; code lines are
highlighted as they complete; model text is always ``Text``, never markup, and
passes ``safe`` first (no secret, no control character that acts).
``JsonPrinter`` is the ``--json`` subscriber of the same event stream.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from ..conversation.events import (
    ChatEnded,
    ChatStarted,
    CodeRan,
    Event,
    MessageDelta,
    MessageDone,
    MessageStarted,
    Notice,
    Retry,
    RunEnded,
    RunStarted,
    SpeakerSelected,
    ToolCalled,
    ToolReturned,
    map_text,
    to_dict,
)
from ..conversation.messages import ImagePart, content_from_json, describe
from .images import ImageLines
from .nested import Indented, chat_line, scope_rows
from .progress import Waiting
from .safe import json_line, safe
from .toolview import call_line, result_text

PALETTE = ["cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan",
           "bright_magenta", "bright_green", "bright_yellow"]

REASONS = {"keyword": "ended by the termination keyword",
           "max_round": "ended by max_round without the termination keyword",
           "budget": "ended by a budget (tokens, cost or time)",
           "stalled": "ended: no agent had anything more to say",
           "error": "stopped by an error",
           "interrupted": "interrupted",
           "human": "ended by the person",
           "selection": "ended by speaker selection (a transition rule or the function)",
           "chats": "ended after the last of its chats"}


class _CodeStream:
    """Turns streamed text into prose (as it comes) and highlighted code (line by line)."""

    def __init__(self, console: Console):
        self.console = console
        self.buf = ""
        self.line_open = False   # part of the current line was already printed as prose
        self.lang: str | None = None

    def feed(self, text: str) -> None:
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            self._line(line)
        if self.buf and self.lang is None and (self.line_open or not self._maybe_fence(self.buf)):
            self.console.print(Text(self.buf), end="")
            self.line_open, self.buf = True, ""

    def end(self) -> None:
        if self.buf:
            self._line(self.buf)
            self.buf = ""
        elif self.line_open:
            self.console.print()
        self.line_open, self.lang = False, None

    @staticmethod
    def _maybe_fence(partial: str) -> bool:
        s = partial.lstrip()
        return s.startswith("```") or "```".startswith(s)

    def _line(self, line: str) -> None:
        if self.line_open:
            self.console.print(Text(line))
            self.line_open = False
            return
        fence = line.strip().startswith("```")
        if fence:
            self.lang = None if self.lang is not None else (line.strip()[3:].strip() or "text")
            self.console.print(Text(line, style="dim"))
        elif self.lang is not None:
            lang = {"py": "python", "sh": "bash", "shell": "bash"}.get(self.lang, self.lang)
            try:
                text = Syntax(line, lang, theme="monokai").highlight(line)
                text.rstrip()
            except Exception:  # an unknown lexer name: show the line plain
                text = Text(line)
            self.console.print(text)
        else:
            self.console.print(Text(line))


class ConsoleView:
    """Renders events for a person. ``quiet`` shows only the end of the run."""

    def __init__(self, console: Console | None = None, err: Console | None = None,
                 quiet: bool = False, typed_by_person: frozenset[str] = frozenset(),
                 work_dir: Path | None = None):
        self.console = self._root = console or Console(highlight=False)
        self._depths: dict[int, Indented] = {}     # inner chats' consoles, by depth
        self.images = ImageLines(self.console, work_dir)   # where previews are read from
        # in chat, what the person typed is already on screen: not shown again
        self.typed_by_person = typed_by_person
        self.err = err or Console(stderr=True, highlight=False)
        self.quiet = quiet
        self.colors: dict[str, str] = {}
        self.stream: _CodeStream | None = None
        self.results_shown: set[int] = set()   # rounds whose code results were shown
        self.waiting = Waiting(self.err)       # the live line of a `progress` notice

    def color(self, agent: str) -> str:
        if agent not in self.colors:
            self.colors[agent] = PALETTE[len(self.colors) % len(PALETTE)]
        return self.colors[agent]

    def __call__(self, ev: Event) -> None:
        self.waiting.stop()     # whatever was awaited has happened
        handler = getattr(self, "_" + ev.type, None)
        if handler and (not self.quiet or ev.type in ("run_ended", "notice")):
            scope = getattr(ev, "scope", None)
            if scope:     # an inner chat's event: drawn indented, one bar per level
                depth = len(scope)
                self.console = self._depths.setdefault(  # type: ignore[assignment]
                    depth, Indented(self._root, depth))
                try:
                    handler(map_text(ev, safe))
                finally:
                    self.console = self._root
            else:
                handler(map_text(ev, safe))

    def _header(self, agent: str, round_no: int, note: str = "") -> None:
        title = Text.assemble((f" {agent} ", f"bold {self.color(agent)}"),
                              (f"round {round_no}{note} ", "dim"))
        self.console.rule(title, align="left", style=self.color(agent))

    def _run_started(self, ev: RunStarted) -> None:
        for a in ev.agents:
            self.color(a)
        self.images.set_team_file(ev.team_file)
        what = "resuming" if ev.resumed_at is not None else "running"
        self.console.print(Text.assemble((f"{what} ", "dim"), (ev.team, "bold"),
                                         (f" · agents: {', '.join(ev.agents)}", "dim")))

    def _message_start(self, ev: MessageStarted) -> None:
        # The header waits for the first token: a call that fails before it (and is
        # retried) leaves no empty header behind.
        self.stream = None

    def _message_delta(self, ev: MessageDelta) -> None:
        if self.stream is None:
            self._header(ev.agent, ev.round)
            self.stream = _CodeStream(self.console)
        self.stream.feed(ev.text)

    def _message(self, ev: MessageDone) -> None:
        images = images_of(ev)
        if self.stream is not None:      # it was streamed: just close it
            self.stream.end()
            self.stream = None
            if ev.incomplete:
                self.console.print(Text("[reply broke off here; kept as incomplete]",
                                        style="yellow"))
            elif ev.truncated:
                self.console.print(Text("[reply cut short at the model's token limit; kept as "
                                        "truncated]", style="yellow"))
            self.images.show(images)
            return
        if ev.kind == "code_result" and ev.round in self.results_shown \
                or ev.kind == "tool_result" \
                or (ev.agent in self.typed_by_person and ev.round > 0):
            self.images.show(images)    # the text was shown already (as code_result/tool
            return                      # events, or typed at the prompt); not the images
        text = display_text(ev.content, calls=False, images=False)
        if not text and not images:
            return
        # a code_result without code_result events: no code ran (executor none, or
        # only unsupported languages), and the proxy's words say why
        note = " · task" if ev.round == 0 else (" · code" if ev.kind == "code_result" else "")
        self._header(ev.agent, ev.round, note)
        stream = _CodeStream(self.console)
        stream.feed(text)
        stream.end()
        self.images.show(images)

    def _code_result(self, ev: CodeRan) -> None:
        self.results_shown.add(ev.round)
        ok = ev.exit_code == 0
        self._header(ev.agent, ev.round, " · code result")
        status = Text.assemble(("exit ", "dim"), (str(ev.exit_code), "green" if ok else "red"),
                               (f" · {ev.language} · {ev.duration_s:.2f}s", "dim"))
        if ev.timed_out:
            status.append(" · killed at the time limit", "red")
        self.console.print(status)
        if ev.output.strip():
            self.console.print(Text(ev.output.rstrip()))

    def _tool_call(self, ev: ToolCalled) -> None:
        self.console.print(Text(call_line(ev.name, ev.arguments), style=self.color(ev.agent)))

    def _tool_result(self, ev: ToolReturned) -> None:
        status = Text.assemble(("  ", ""), ("error" if ev.is_error else "result",
                                            "red" if ev.is_error else "green"),
                               (f" · {ev.duration_s:.2f}s", "dim"))
        self.console.print(status)
        if ev.output.strip():
            self.console.print(Text(result_text(ev.output)), style="dim")

    def _speaker_selected(self, ev: SpeakerSelected) -> None:
        if ev.agent in self.typed_by_person:
            return
        self.console.print(Text(f"→ {ev.agent} ({ev.method}: {ev.reason})", style="dim"))

    def _chat_started(self, ev: ChatStarted) -> None:
        self._chat_edge(ev)

    def _chat_ended(self, ev: ChatEnded) -> None:
        if self.stream is not None:
            self.stream.end()
            self.stream = None
        self._chat_edge(ev)
        if ev.error:
            self.err.print(Text(f"error: {ev.error}", style="red"))

    def _chat_edge(self, ev: ChatStarted | ChatEnded) -> None:
        edge = chat_edge(to_dict(ev))
        assert edge is not None
        mark, member, what = edge
        self.console.print(chat_line(member, mark, what, self.color(member)))

    def _retry(self, ev: Retry) -> None:
        wait = f"retrying in {ev.wait_s:.1f}s" if ev.wait_s else "moving on"
        self.err.print(Text(f"⟳ {ev.model}: {ev.error} — {wait}", style="yellow"))

    def _notice(self, ev: Notice) -> None:
        if ev.level == "progress":
            self.waiting.start(ev.text)
            return
        self.err.print(Text(ev.text, style="yellow" if ev.level == "warning" else "dim"))

    def _run_ended(self, ev: RunEnded) -> None:
        if self.stream is not None:
            self.stream.end()
            self.stream = None
        style = "green" if ev.exit_code == 0 else ("yellow" if ev.exit_code == 3 else "red")
        self.console.print()
        self.console.print(Text.assemble((REASONS.get(ev.reason, ev.reason), f"bold {style}"),
                                         (f" · {ev.rounds} rounds", "dim")))
        if ev.error:
            self.err.print(Text(f"error: {ev.error}", style="red"))
        if not self.quiet:
            self.console.print(usage_table(ev.usage))
        if ev.transcript:
            self.console.print(Text(f"transcript: {ev.transcript}", style="dim"))


def display_text(content: str | list[dict], calls: bool = True, images: bool = True) -> str:
    """A message's content as the terminal shows it: text, with other parts labelled
    (tool calls left out with ``calls=False``: their own events show them; images left
    out with ``images=False``: they are shown on lines of their own)."""
    if isinstance(content, str):
        return content
    try:
        parts = content_from_json(content)
    except ValueError:
        return str(content)
    if not calls and not isinstance(parts, str):
        parts = tuple(p for p in parts if p.type != "tool_call")
    if isinstance(parts, tuple) and not images:
        parts = tuple(p for p in parts if not isinstance(p, ImagePart))
    return describe(parts)


def images_of(ev: MessageDone) -> list[dict]:
    """A message's images: its ``images`` list, or (a transcript from before it had one)
    the image parts of its content."""
    listed = getattr(ev, "images", None)
    if listed:
        return [i for i in listed if isinstance(i, dict)]
    if isinstance(ev.content, list):
        return [{k: p.get(k) for k in ("path", "url", "width", "height")}
                for p in ev.content if isinstance(p, dict) and p.get("type") == "image"]
    return []


def chat_edge(ev: dict) -> tuple[str, str, str] | None:
    """The line that opens (``▸``) or closes (``◂``) an inner chat: (mark, member, what),
    from a ``chat_started``/``chat_ended`` event as a dict (live, or read back from a
    transcript by the reports); None for other events."""
    kind = ev.get("type")
    if kind not in ("chat_started", "chat_ended"):
        return None
    scope = ev.get("scope")
    member = str(scope[-1]) if isinstance(scope, list) and scope else "?"
    if kind == "chat_started":
        mark = "▸ resuming" if ev.get("resumed_at") is not None else "▸"
        agents = ev.get("agents")
        names = ", ".join(map(str, agents)) if isinstance(agents, list) else ""
        return mark, member, f"team {ev.get('team')}, agents: {names}"
    usage = ev.get("usage")
    total = usage.get("total") if isinstance(usage, dict) else None
    total = total if isinstance(total, dict) else {}
    used = sum(v for v in (total.get("prompt_tokens"), total.get("completion_tokens"))
               if isinstance(v, int))
    reason = str(ev.get("reason"))
    return "◂", member, f"{REASONS.get(reason, reason)} · {ev.get('rounds')} rounds · {used} tokens"


def usage_table(usage: dict) -> Table:
    """Tokens, cost and time per agent and per model; a ``cached`` column (prompt tokens
    the provider's prompt cache held) when any call had some."""
    table = Table(title=None, show_edge=False, pad_edge=False, box=None)
    rows = [(name, u, "") for name, u in (usage.get("agents") or {}).items()]
    rows += [(name, u, "dim") for name, u in scope_rows(usage)]   # inner chats' own calls
    rows += [(f"model {name}", u, "dim") for name, u in (usage.get("models") or {}).items()]
    if usage.get("total"):
        rows.append(("total", usage["total"], "bold"))
    cached = any(u.get("cached_tokens") for _, u, _ in rows)
    cols = ("", "calls", "prompt") + (("cached",) if cached else ()) + \
        ("completion", "cost $", "model time")
    # A narrow terminal cuts a long label rather than wrap it onto a row of its own or
    # drop a column of numbers.
    table.add_column("")
    for col in cols[1:]:
        table.add_column(col, justify="right", no_wrap=True)
    for label, u, style in rows:
        cost = "—" if u.get("cost") is None else f"{u['cost']:.4f}"
        cells = [str(u.get("calls", 0)), str(u.get("prompt_tokens", 0))]
        if cached:
            cells.append(str(u.get("cached_tokens", 0)))
        cells += [str(u.get("completion_tokens", 0)), cost, f"{u.get('seconds', 0):.1f}s"]
        table.add_row(Text(label, style=style, no_wrap=True, overflow="ellipsis"), *cells)
    return table


class JsonPrinter:
    """``--json``: one JSON object per line on stdout (deltas left out)."""

    SKIP = ("message_delta", "message_start")

    def __init__(self, out=None):
        self.out = out or sys.stdout

    def __call__(self, ev: Event) -> None:
        if ev.type in self.SKIP:
            return
        self.out.write(json_line(to_dict(ev)) + "\n")
        self.out.flush()


class ConsoleHuman:
    """Asks the person on the terminal (stderr for the prompt, so --json stays clean)."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)

    def ask(self, prompt: str) -> str | None:
        self.console.print(Text(safe(prompt), style="bold"))
        try:
            return input("> ")
        except EOFError:
            return None
