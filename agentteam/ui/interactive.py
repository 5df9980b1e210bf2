"""`agentteam chat`: the person is the user proxy, typing at a prompt with line editing.

prompt_toolkit gives line editing, history (kept across sessions) and
multi-line input (a line ending in a backslash continues; a line of just
\"\"\" opens and closes a block). Slash commands act on the session and are
never sent to the agents.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ..errors import Interrupted
from .console import usage_table

HELP = ("/exit  end the chat      /save PATH  save the conversation (.md, or .jsonl transcript)\n"
        "/reset forget the conversation   /agents  who is in the team   /usage  tokens and cost\n"
        "Enter sends; end a line with \\ to go on, or wrap lines in \"\"\". "
        "Ctrl-C stops a reply; Ctrl-D ends.")


def history_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agentteam" / "chat_history"


class PromptHuman:
    """Asks the person at a prompt_toolkit prompt; handles slash commands itself."""

    def __init__(self, console: Console | None = None):
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        path = history_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.session = PromptSession(history=FileHistory(str(path)))
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
            lines = []
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
            self.console.print(Text(HELP, style="dim"))
        elif cmd == "/agents" and chat:
            for a in chat.team.agents:
                who = "you" if a.kind == "user_proxy" else f"model {a.model}"
                self.console.print(Text(f"{a.name} ({who})" + (f": {a.description}"
                                                                if a.description else "")))
        elif cmd == "/usage" and chat:
            self.console.print(usage_table(chat.usage_summary()))
        elif cmd == "/reset" and chat:
            chat.history.clear()
            chat.executed.clear()
            self.console.print(Text("conversation forgotten; the transcript keeps it", "dim"))
        elif cmd == "/save" and chat:
            self._save(arg.strip())
        else:
            self.console.print(Text(f"unknown command {cmd}; /help lists them", "yellow"))
        return None

    def _save(self, target: str) -> None:
        if not target:
            self.console.print(Text("usage: /save PATH (.md for Markdown, .jsonl for the "
                                    "transcript)", "yellow"))
            return
        path = Path(target).expanduser()
        try:
            if path.suffix == ".jsonl" and self.chat.transcript:
                shutil.copyfile(self.chat.transcript.path, path)
            else:
                path.write_text("\n\n".join(f"**{m.agent}** (round {m.round})\n\n{m.text}"
                                            for m in self.chat.history) + "\n",
                                encoding="utf-8")
        except OSError as e:
            self.console.print(Text(f"cannot save to {path}: {e.strerror}", "red"))
            return
        self.console.print(Text(f"saved to {path}", "dim"))
