"""`agentteam chat`: the person is the user proxy, typing at a prompt with line editing.

prompt_toolkit gives line editing, history (kept across sessions) and
multi-line input (a line ending in a backslash continues; a line of just
\"\"\" opens and closes a block). Slash commands act on the session and are
never sent to the agents. The history file is private (0600) and, like ``/save``,
holds no registered key: what is written goes through ``redact``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prompt_toolkit.history import FileHistory
from rich.console import Console
from rich.text import Text

from ..errors import Interrupted, redact
from .console import usage_table
from .safe import safe

HELP = ("/exit  end the chat      /save PATH  save the conversation (.md, or .jsonl transcript)\n"
        "/reset forget the conversation   /agents  who is in the team   /usage  tokens and cost\n"
        "Enter sends; end a line with \\ to go on, or wrap lines in \"\"\". "
        "Ctrl-C stops a reply; Ctrl-D ends.")


def history_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agentteam" / "chat_history"


class PrivateHistory(FileHistory):
    """prompt_toolkit's file history, readable by its owner only and with keys redacted.

    A file written before keys were redacted is scrubbed at the first line stored
    (only then are the run's keys known).
    """

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = path
        self._scrubbed = False
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)     # an older file may have been created 0644
        finally:
            os.close(fd)

    def store_string(self, string: str) -> None:
        try:
            if not self._scrubbed:
                self._scrubbed = True
                old = self.path.read_text(encoding="utf-8", errors="replace")
                if redact(old) != old:
                    self.path.write_text(redact(old), encoding="utf-8")
            super().store_string(redact(string))
        except OSError:
            pass       # a full or read-only disk costs the history, not the chat


class PromptHuman:
    """Asks the person at a prompt_toolkit prompt; handles slash commands itself."""

    def __init__(self, console: Console | None = None):
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import History, InMemoryHistory
        path = history_path()
        history: History
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            history = PrivateHistory(path)
        except OSError:
            history = InMemoryHistory()     # nowhere to keep it: this session only
        self.session: PromptSession[str] = PromptSession(history=history)
        self.console = console or Console(highlight=False)
        self.run = None           # the TeamRun, set once it is prepared

    @property
    def chat(self):
        """The run's GroupChat, once it exists."""
        return self.run.chat if self.run is not None else None

    def ask(self, prompt: str) -> str | None:
        while True:
            try:
                line = self._read()
            except KeyboardInterrupt as e:
                if isinstance(e, Interrupted):
                    raise           # SIGTERM/SIGHUP end the chat
                continue            # Ctrl-C at the prompt clears the line
            except EOFError:
                return "/exit"
            if line.strip().startswith("/"):
                answer = self._command(line.strip())
                if answer is not None:
                    return answer
                continue
            return line

    def _read(self) -> str:
        first = self.session.prompt("you> ")
        if first.strip() == '"""':
            lines: list[str] = []
            while True:
                nxt = self.session.prompt("... ")
                if nxt.strip() == '"""':
                    return "\n".join(lines)
                lines.append(nxt)
        lines = [first]
        while lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1]
            lines.append(self.session.prompt("... "))
        return "\n".join(lines)

    def _command(self, line: str) -> str | None:
        cmd, _, arg = line.partition(" ")
        chat = self.chat
        if cmd in ("/exit", "/quit"):
            return "/exit"
        if cmd == "/help":
            self._say(HELP, "dim")
        elif cmd == "/agents" and chat:
            for a in chat.team.agents:
                who = "you" if a.kind == "user_proxy" else f"model {a.model}"
                self._say(f"{a.name} ({who})" + (f": {a.description}" if a.description else ""))
        elif cmd == "/usage" and chat:
            self.console.print(usage_table(chat.usage_summary()))
        elif cmd == "/reset" and chat:
            chat.history.clear()
            chat.executed.clear()
            self._say("conversation forgotten; the transcript keeps it", "dim")
        elif cmd == "/save" and chat:
            self._save(arg.strip())
        else:
            self._say(f"unknown command {cmd}; /help lists them", "yellow")
        return None

    def _say(self, text: str, style: str = "") -> None:
        self.console.print(Text(safe(text), style))

    def _save(self, target: str) -> None:
        if not target:
            self._say("usage: /save PATH (.md for Markdown, .jsonl for the transcript)",
                      "yellow")
            return
        path = Path(target).expanduser()
        try:
            if path.suffix == ".jsonl" and self.chat.transcript:
                shutil.copyfile(self.chat.transcript.path, path)
            else:
                path.write_text(redact("\n\n".join(f"**{m.agent}** (round {m.round})\n\n"
                                                   f"{m.text}" for m in self.chat.history)
                                       + "\n"), encoding="utf-8")
        except OSError as e:
            self._say(f"cannot save to {path}: {e.strerror}", "red")
            return
        self._say(f"saved to {path}", "dim")
