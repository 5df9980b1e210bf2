"""`agentteam show` and `agentteam runs` on transcripts of real runs against the fake server
(text, code run by the local executor, an error, a killed run) and on a hand-made one
with images, tool calls, a nested team and a reply written to inject HTML."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from html import unescape
from pathlib import Path

import pytest

from .conftest import script

INJECTION = '<script>alert(1)</script><img src=x onerror="alert(2)"></details><b>bold?</b>'

CODE_TEAM = """\
name: code-team
task: Print a greeting.
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: NULL
    num_retries: 0
    timeout: 5
max_round: 6
termination: TERMINATE
speaker_selection: round_robin
code_execution:
  executor: local
  work_dir: work
agents:
  - name: User_proxy
    kind: user_proxy
  - name: Coder
    system_message: Coder.
  - name: Critic
    system_message: Critic.
"""


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, built by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def transcript_of(tmp_path: Path) -> Path:
    found = sorted((tmp_path / ".agentteam" / "runs").glob("*.jsonl"))
    assert found, "the run wrote no transcript"
    return found[-1]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# -- transcripts of real runs ------------------------------------------------------------

@pytest.fixture
def text_run(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["Here is my plan:\n- step one\n- step two", "done TERMINATE"],
                    "Critic": [INJECTION]})
    r = cli("run", team_file(), "--json")
    assert r.exit_code == 0, r.stderr
    return transcript_of(tmp_path)


@pytest.fixture
def code_run(cli, server, team_file, tmp_path):
    code = ("```python\nimport struct, zlib\nprint('hello from the code block')\n"
            "open('out.txt', 'w').write('x')\n```")
    script(server, {"Coder": [f"Running this:\n{code}", "It printed. TERMINATE"],
                    "Critic": ["Run it, please."]})
    r = cli("run", team_file(CODE_TEAM), "--json")
    assert r.exit_code == 0, r.stderr
    assert any(e["type"] == "code_result" for e in r.events())
    return transcript_of(tmp_path)


@pytest.fixture
def error_run(cli, server, team_file, tmp_path):
    script(server, {"Coder": ["first reply"]})
    server.fail("401", times=5, after=1)
    r = cli("run", team_file(), "--json")
    assert r.exit_code == 1
    return transcript_of(tmp_path)


@pytest.fixture
def killed_run(text_run):
    """As if `kill -9` hit mid-reply: the last reply only as deltas, no run_ended."""
    events = lines(text_run)
    last = max(i for i, e in enumerate(events) if e["type"] == "message")
    kept = [e for e in events[:last] if e["type"] != "run_ended" and not (
        e["type"] == "message_delta" and e["round"] == events[last]["round"])]
    kept += [{"type": "message_delta", "round": events[last]["round"],
              "agent": events[last]["agent"], "text": "done TERMI"}]
    text_run.write_text("".join(json.dumps(e) + "\n" for e in kept) + '{"type": "mess')
    return text_run


@pytest.fixture
def parts_run(tmp_path):
    """A hand-made transcript: images (present, missing, outside the work dir, remote),
    tool calls and results, a nested team's scope, a future event type, injection."""
    team = tmp_path / "parts.yaml"
    team.write_text("name: parts\ntask: t\ncode_execution:\n  work_dir: wd\nagents:\n"
                    "  - {name: Coder}\n")
    (tmp_path / "wd").mkdir()
    (tmp_path / "wd" / "plot.png").write_bytes(png(120, 60, (255, 0, 255)))
    (tmp_path / "secret.png").write_bytes(png(4, 4, (0, 0, 0)))
    events = [
        {"type": "run_started", "team": "parts", "task": "Plot the cars <b>now</b>",
         "agents": ["Coder", "Critic"], "transcript": "", "team_file": str(team), "format": 2},
        {"type": "message", "round": 0, "agent": "Coder", "content": "Plot the cars <b>now</b>",
         "usage": {}, "kind": "text"},
        {"type": "speaker_selected", "round": 1, "agent": "Coder", "method": "auto",
         "reason": "chosen by the selector model"},
        {"type": "message", "round": 1, "agent": "Coder", "model": "default", "kind": "text",
         "usage": {"prompt_tokens": 120, "completion_tokens": 30, "cost": 0.002, "calls": 1,
                   "seconds": 1.5},
         "content": [{"type": "text", "text": "The plot:"},
                     {"type": "image", "path": "plot.png", "width": 120, "height": 60},
                     {"type": "image", "path": "gone.png"},
                     {"type": "image", "path": "../secret.png"},
                     {"type": "image", "url": "https://example.com/remote.png"},
                     {"type": "tool_call", "id": "c1", "name": "search",
                      "arguments": '{"q": "cars"}'}]},
        {"type": "tool_call", "round": 1, "agent": "Coder", "id": "c1", "name": "search",
         "arguments": '{"q": "cars"}'},
        {"type": "thought_summary", "round": 1, "agent": "Coder", "text": "a future event"},
        {"type": "message", "round": 2, "agent": "Coder", "kind": "text", "usage": {},
         "content": [{"type": "tool_result", "id": "c1", "name": "search",
                      "output": "3 results " + INJECTION, "is_error": False}]},
        {"type": "message", "round": 3, "agent": "Critic", "kind": "text", "scope": ["inner"],
         "model": "default", "usage": {"prompt_tokens": 50, "completion_tokens": 10,
                                       "cost": 0.001, "calls": 1, "seconds": 0.5},
         "content": "Inside the nested team: " + INJECTION},
        {"type": "run_ended", "reason": "keyword", "rounds": 3, "exit_code": 0,
         "usage": {"total": {"prompt_tokens": 170, "completion_tokens": 40, "cost": 0.003,
                             "calls": 2, "seconds": 2.0},
                   "agents": {"(selector)": {"prompt_tokens": 9, "completion_tokens": 1,
                                             "calls": 1, "seconds": 0.1}},
                   "wall_s": 3.2}},
    ]
    path = tmp_path / ".agentteam" / "runs" / "20260102T030405000000Z-parts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def messages_of(path: Path) -> list[str]:
    """Every message's prose, as the reports must show it."""
    from agentteam.ui.report import load, visible
    out = []
    for e in visible(load(path)):
        if e["type"] == "message":
            if isinstance(e["content"], str):
                out.append(e["content"])
            else:
                out += [p["text"] for p in e["content"] if p["type"] == "text"]
    return out


# -- show: terminal ---------------------------------------------------------------------

def test_show_terminal_replays_like_the_live_view(cli, text_run, tmp_path):
    r = cli("show", text_run)
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "running test-team · agents: User_proxy, Coder, Critic" in out
    assert re.search(r" Coder round 1 +─+", out) and re.search(r" Critic round 2 +─+", out)
    assert "Here is my plan:\n- step one\n- step two" in out
    assert INJECTION in out      # model text is shown as text, never as markup
    assert "→ Critic (round_robin: next in order)" in out
    assert "ended by the termination keyword · 3 rounds" in out
    assert "total" in out and "model time" in out


def test_show_terminal_to_a_file_and_of_a_killed_run(cli, killed_run, tmp_path):
    out = tmp_path / "replay.txt"
    r = cli("show", killed_run, "--format", "terminal", "-o", out)
    assert r.exit_code == 0, r.stderr
    text = out.read_text()
    assert "done TERMI" in text and "[reply broke off here; kept as incomplete]" in text
    assert "the transcript ends here: the run was interrupted" in text
    assert "\x1b[" not in text      # a file gets plain text


KINDS = ["text", "code", "error", "killed", "parts"]


def shown_text(fmt: str, output: str) -> str:
    """What a person reads: the page's text without tags, or the output as it is."""
    if fmt == "html":
        output = unescape(re.sub(r"<[^>]*>", "", output.split("<body>", 1)[1]))
    return re.sub(r"\s+", " ", output)


@pytest.mark.parametrize("fmt", ["terminal", "md", "html"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_run_in_every_format(kind, fmt, request, cli, tmp_path):
    path = request.getfixturevalue(f"{kind}_run")
    out = tmp_path / f"out.{fmt}"
    r = cli("show", path, "--format", fmt, "-o", out)
    assert r.exit_code == 0, r.stderr
    text = shown_text(fmt, out.read_text())
    for message in messages_of(path):
        for line in message.splitlines():
            if line.strip() and not line.startswith("```"):
                assert re.sub(r"\s+", " ", line).strip() in text, (line, text[:3000])
    ending = {"text": "ended by the termination keyword", "code": "ended by the termination",
              "error": "stopped by an error", "parts": "ended by the termination keyword",
              "killed": "interrupted, killed, or"}[kind]
    assert ending in text
    if kind == "error":
        assert "401" in text


def test_show_terminal_of_a_code_run(cli, code_run, tmp_path):
    r = cli("show", code_run)
    assert r.exit_code == 0, r.stderr
    assert "hello from the code block" in r.stdout
    assert re.search(r"exit 0 · python · \d+\.\d\ds", r.stdout)


# -- show: Markdown ---------------------------------------------------------------------

def test_markdown_of_every_kind_of_run(cli, text_run, tmp_path):
    r = cli("show", text_run, "--format", "md")
    assert r.exit_code == 0, r.stderr
    md = r.stdout
    assert md.startswith("# test-team\n")
    assert "### Coder · round 1" in md and "### Critic · round 2" in md
    for text in messages_of(text_run):
        assert text in md
    assert "ended by the termination keyword · 3 rounds" in md


def test_markdown_fences_code_and_outputs(cli, code_run, tmp_path):
    out = tmp_path / "report" / "run.md"
    out.parent.mkdir()
    r = cli("show", code_run, "--format", "md", "-o", out)
    assert r.exit_code == 0, r.stderr
    md = out.read_text()
    assert "```python\nimport struct, zlib\nprint('hello from the code block')" in md
    assert re.search(r"#### User_proxy · round \d · code result\n\nexit 0 · python · [\d.]+s\n\n"
                     r"```text\nhello from the code block\n```", md)
    # the summary message that repeats the code result is not shown twice
    assert md.count("hello from the code block\n```") == 1


def test_markdown_of_parts_links_images_relative_to_the_output(cli, parts_run, tmp_path):
    out = tmp_path / "docs" / "report.md"
    out.parent.mkdir()
    r = cli("show", parts_run, "--format", "md", "-o", out)
    assert r.exit_code == 0, r.stderr
    md = out.read_text()
    assert "![plot.png (120x60)](<../wd/plot.png>)" in md
    assert (out.parent / "../wd/plot.png").resolve().is_file()
    assert "![gone.png (missing)](<../wd/gone.png>)" in md
    assert "**tool call** `search` (id `c1`)\n\n```json\n{\n  \"q\": \"cars\"\n}\n```" in md
    assert "**tool result** `search` (id `c1`)" in md
    # the nested team's message is block-quoted, under a heading that names the scope
    assert "> ### Critic · round 3 · inner" in md
    assert "**thought_summary**" in md    # an event type this version does not know
    assert "**tool_call**" not in md      # the message's tool_call part shows it
    assert "*→ next: Coder (auto: chosen by the selector model)*" in md


def test_markdown_fence_cannot_be_closed_by_its_output():
    from agentteam.ui.report_md import fence
    body = "before\n```\nafter ````"
    fenced = fence(body, "text")
    assert fenced.startswith("`````text\n") and fenced.endswith("\n`````")


# -- show: HTML -------------------------------------------------------------------------

def html_of(cli, path: Path, out: Path) -> str:
    r = cli("show", path, "--format", "html", "-o", out)
    assert r.exit_code == 0, r.stderr
    return out.read_text()


def test_html_escapes_model_text_everywhere(cli, text_run, parts_run, tmp_path):
    for path in (text_run, parts_run):
        page = html_of(cli, path, tmp_path / "page.html")
        assert "<script" not in page.lower()
        assert "onerror=" not in page.replace("onerror=&quot;", "")
        assert "<b>bold?</b>" not in page and "&lt;b&gt;bold?&lt;/b&gt;" in page
        assert "default-src 'none'" in page     # and a CSP that would stop a script anyway


def test_html_of_parts_inlines_images_and_labels_what_it_cannot(cli, parts_run, tmp_path):
    page = html_of(cli, parts_run, tmp_path / "page.html")
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="plot.png">', page)
    assert "image gone.png: missing" in page
    assert "image ../secret.png: outside the run&#x27;s work dir; not read" in page
    assert "remote image (not loaded): https://example.com/remote.png" in page
    assert not re.search(r'(src|href)="https?:', page)
    assert '<details class="tool"><summary>tool call <b>search</b>' in page
    assert "chosen by the selector model" in page
    assert 'style="margin-left:28px"' in page and "in inner" in page
    assert page.count("<svg") == 6 and "tokens per agent" in page and "seconds per round" in page


def test_html_of_a_code_run_highlights_code_and_folds_results(cli, code_run, tmp_path):
    page = html_of(cli, code_run, tmp_path / "code.html")
    assert '<div class="hl"><pre>' in page and "hello from the code block" in page
    assert re.search(r'<details class="ok"><summary>exit 0 · python', page)


def test_html_of_an_error_run_says_so(cli, error_run, tmp_path):
    page = html_of(cli, error_run, tmp_path / "err.html")
    assert "stopped by an error" in page and "401" in page


def test_html_of_a_killed_run_is_marked_unfinished(cli, killed_run, tmp_path):
    page = html_of(cli, killed_run, tmp_path / "killed.html")
    assert 'id="unfinished"' in page and "done TERMI" in page
    assert "[reply broke off here; kept as incomplete]" in page
    assert "unfinished: interrupted, killed, or still running" in page


def test_show_bad_input_is_one_line(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{}\n")
    for args, code, words in (((tmp_path / "none.jsonl",), 2, "no such transcript"),
                              ((bad,), 2, "not a JSON line"),
                              ((bad, "--format", "pdf"), 2, "--format 'pdf': expected one of")):
        r = cli("show", *args)
        assert r.exit_code == code and words in r.stderr and "Traceback" not in r.stderr


# -- runs -------------------------------------------------------------------------------

def test_runs_lists_newest_first_and_marks_damaged_and_unfinished(cli, server, team_file,
                                                                   tmp_path, parts_run):
    script(server, {"Coder": ["a TERMINATE"]})
    assert cli("run", team_file(), "--json").exit_code == 0
    runs_dir = tmp_path / ".agentteam" / "runs"
    (runs_dir / "20250101T000000000000Z-broken.jsonl").write_bytes(b"\xff\xfe garbage")
    (runs_dir / "20250101T000001000000Z-empty.jsonl").write_text("")
    (runs_dir / "20250101T000002000000Z-cut.jsonl").write_text(
        json.dumps({"type": "run_started", "team": "cut", "task": "x", "agents": []})
        + "\n" + '{"type": "message_delta", "round": 1, "ag')
    r = cli("runs", "--json")
    assert r.exit_code == 0, r.stderr
    found = json.loads(r.stdout)
    assert [f["team"] for f in found] == ["test-team", "parts", "cut", "", ""]
    assert found[0]["reason"] == "keyword" and found[0]["rounds"] == 1
    assert found[0]["tokens"] > 0 and found[0]["duration_s"] is not None
    assert found[1]["tokens"] == 210 and found[1]["cost"] == 0.003
    assert found[1]["duration_s"] == 3.2
    assert found[2]["reason"] == "running/interrupted"
    assert [f["reason"] for f in found[3:]] == ["damaged", "damaged"]
    assert found[4]["damaged"] == "the first line is not a run_started event"
    table = cli("runs")
    assert table.exit_code == 0 and "damaged (empty file)" in table.stdout
    assert "running/interrupted" in table.stdout
    assert [f["team"] for f in json.loads(cli("runs", "--json", "--team", "parts").stdout)] \
        == ["parts"]
    assert len(json.loads(cli("runs", "--json", "--limit", "2").stdout)) == 2


def test_runs_reads_only_the_ends_of_large_transcripts(tmp_path, monkeypatch):
    """A 20 MB transcript is listed from its first and last lines."""
    from agentteam.ui.runs import summarize
    path = tmp_path / "20260101T000000000000Z-big.jsonl"
    filler = json.dumps({"type": "message_delta", "round": 1, "agent": "A", "text": "x" * 1000})
    with open(path, "w") as f:
        f.write(json.dumps({"type": "run_started", "team": "big", "task": "t", "agents": []})
                + "\n")
        for _ in range(20_000):
            f.write(filler + "\n")
        f.write(json.dumps({"type": "run_ended", "reason": "max_round", "rounds": 9,
                            "exit_code": 3, "usage": {"wall_s": 1.0}}) + "\n")
    reads: list[int] = []
    real_open = open

    class Counting:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def read(self, n=-1):
            data = self.f.read(n)
            reads.append(len(data))
            return data

        def readline(self, n=-1):
            data = self.f.readline(n)
            reads.append(len(data))
            return data

    import agentteam.ui.runs as runs_mod
    monkeypatch.setattr(runs_mod, "open", lambda p, mode: Counting(real_open(p, mode)),
                        raising=False)
    info = summarize(path)
    assert (info.team, info.reason, info.rounds) == ("big", "max_round", 9)
    assert sum(reads) < 200_000


def test_runs_with_no_runs_and_other_dirs(cli, tmp_path, parts_run):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    r = cli("runs")
    assert r.exit_code == 0 and "no runs found" in r.stderr
    r = cli("runs", "--dir", tmp_path, "--json")      # a project dir means its runs
    assert [f["team"] for f in json.loads(r.stdout)] == ["parts"]
    assert cli("runs", "--limit", "-1").exit_code == 2


# -- the page in a real browser ------------------------------------------------------------

def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("AGENTTEAM_REQUIRE_CHROMIUM") == "1":
            pytest.fail("AGENTTEAM_REQUIRE_CHROMIUM=1 but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Refused to" in line or "Content Security Policy" in line]


@pytest.mark.parametrize("kind", KINDS)
def test_page_in_headless_chromium(kind, request, cli, tmp_path):
    chromium()
    path = request.getfixturevalue(f"{kind}_run")
    page = tmp_path / f"{kind}.html"
    html = html_of(cli, path, page)
    shot = tmp_path / f"{kind}.png"
    r = browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1100,1600")
    assert shot.is_file() and shot.stat().st_size > 5000, r.stderr[-2000:]
    assert console_errors(r.stderr) == []
    dom = browse(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = dom.stdout.split("<body>", 1)[1]
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]*>", "", body)))
    for message in messages_of(path):
        for line in message.splitlines():   # fences become highlighted blocks, not backticks
            if line.strip() and not line.startswith("```"):
                assert re.sub(r"\s+", " ", line).strip() in text
    assert "<script" not in dom.stdout.lower()
    assert len(re.findall(r'class="chart[ "]', dom.stdout)) == 6 and 'id="charts"' in dom.stdout
    assert not re.search(r'(src|href)="(https?:|//)', dom.stdout)
    if os.environ.get("AGENTTEAM_KEEP_SCREENSHOTS"):
        keep = Path(os.environ["AGENTTEAM_KEEP_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / shot.name)
        shutil.copy(page, keep / page.name)
    assert html


def test_page_images_load_from_the_page_itself(cli, parts_run, tmp_path):
    """The inlined image decodes in the browser (a copy of the page with a probe script,
    since the page itself allows none); the remote one is never requested."""
    chromium()
    html = html_of(cli, parts_run, tmp_path / "parts.html")
    probe = ("<script>window.addEventListener('load', () => { document.body.setAttribute("
             "'data-images', [...document.images].map(i => i.complete + ':' + i.naturalWidth)"
             ".join(',')); });</script>")
    probed = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probed = probed.replace("</body>", probe + "</body>")
    page = tmp_path / "probed.html"
    page.write_text(probed)
    dom = browse(page, tmp_path, "--dump-dom").stdout
    assert 'data-images="true:120"' in dom


def test_console_errors_are_seen_when_a_page_breaks_its_policy(cli, parts_run, tmp_path):
    """The check above can fail: a page that tries to load from elsewhere is reported."""
    chromium()
    html = html_of(cli, parts_run, tmp_path / "parts.html")
    page = tmp_path / "bad.html"
    page.write_text(html.replace("</main>", '<img src="http://127.0.0.1:9/x.png"></main>'))
    r = browse(page, tmp_path, "--dump-dom")
    assert console_errors(r.stderr), r.stderr[-2000:]


def test_show_html_to_stdout(cli, parts_run):
    r = cli("show", parts_run, "--format", "html")
    assert r.exit_code == 0 and r.stdout.startswith("<!doctype html>")
