"""Inner chats in a narrow terminal: every line of an inner chat keeps its bars, even a
line the terminal width wraps, and the usage table cuts a long label instead of
wrapping it onto a row of its own."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from agentteam.ui.console import usage_table
from agentteam.ui.nested import Indented


def narrow(width: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, color_system=None, highlight=False), out


def test_a_wrapped_inner_line_keeps_its_bars():
    console, out = narrow(30)
    view = Indented(console, 2)
    view.print(Text("▸ Research_team · team research, agents: Searcher, Checker, Writer"))
    view.print("short")
    lines = out.getvalue().splitlines()
    assert len(lines) > 2 and all(line.startswith("│ │ ") for line in lines), lines
    assert all(len(line) <= 30 for line in lines)


def test_streamed_pieces_get_their_bars_once_per_line():
    console, out = narrow(80)
    view = Indented(console, 1)
    for piece in ("Octopuses ", "have ", "three hearts.\nAnd blue ", "blood."):
        view.print(Text(piece), end="")
    view.print()
    assert out.getvalue().splitlines() == ["│ Octopuses have three hearts.", "│ And blue blood."]


def test_a_long_usage_label_is_cut_not_wrapped():
    u = {"calls": 1, "prompt_tokens": 47, "completion_tokens": 5, "cost": None, "seconds": 0.3}
    usage = {"agents": {"Research_team": u},
             "scopes": {"Research_team/Inner_research_team": {"agents": {"Searcher": u}}},
             "models": {"openai/fake-model": u}, "total": u}
    console, out = narrow(60)
    console.print(usage_table(usage))
    lines = out.getvalue().splitlines()
    assert len(lines) == 5, lines                      # a header and one line per row
    assert all(line.rstrip().endswith("0.3s") for line in lines[1:]), lines
    assert "…" in lines[2]


def test_reports_draw_an_inner_chats_start_and_end_as_the_terminal_does(cli, server,
                                                                        tmp_path):
    from .conftest import script
    from .test_nested import OUTER, RESEARCH, write
    script(server, {"Searcher": ["Three hearts."], "Checker": ["Checked. TERMINATE"],
                    "Writer": ["Post: three hearts. TERMINATE"]})
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    t = tmp_path / "run.jsonl"
    assert cli("run", outer, "--transcript", t).exit_code == 0
    md = cli("show", t, "-f", "md").stdout
    assert "> **▸ Research_team** · team research, agents: Searcher, Checker" in md
    assert "> **◂ Research_team** · ended by the termination keyword · 2 rounds · " in md
    assert "chat_started" not in md and "chat_ended" not in md      # not as raw JSON
    page = cli("show", t, "-f", "html").stdout
    assert "▸ <b style=" in page and "</b> · team research, agents: Searcher, Checker" in page
    assert "◂ <b style=" in page and "chat_ended" not in page
