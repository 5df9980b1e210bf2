"""Images: `<img>` tags and code-written files as image parts, what each provider is sent,
downscaling, placeholders, refusals, and the terminal/JSON/transcript views of them.

Every run goes to the fake server over a real socket; the shapes asserted are the
request bodies that reached it (LiteLLM builds them for Gemini, Mistral, Ollama and
Anthropic).
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from agentteam.images import encode, tags
from agentteam.images.pictures import MAX_PER_MESSAGE

from .conftest import script

TEAM = """\
name: pics
task: "{task}"
models:
  default:
{profile}
    num_retries: 0
    timeout: 20
max_round: {max_round}
speaker_selection: round_robin
code_execution: {{executor: {executor}, work_dir: wd}}
agents:
  - {{name: User_proxy, kind: user_proxy}}
  - {{name: Critic, system_message: "Critic. You look."}}
"""
VISION = '    model: openai/fake-model\n    api_base: "{url}"\n    api_key: NULL\n    vision: true'


def png(width: int = 640, height: int = 480, color=(20, 120, 200), noise: bool = False) -> bytes:
    """A PNG; with ``noise``, one that compresses badly (a photo's worth of bytes)."""
    if noise:
        im = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        im = Image.new("RGB", (width, height), color)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def write_team(team_file, tmp_path, task: str, profile: str = VISION, max_round: int = 1,
               executor: str = "none", files: dict[str, bytes] | None = None) -> Path:
    (tmp_path / "wd").mkdir(exist_ok=True)
    for name, data in (files or {}).items():
        (tmp_path / "wd" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "wd" / name).write_bytes(data)
    text = TEAM.replace("{profile}", profile).replace("{task}", task)
    return team_file(text, max_round=max_round, executor=executor)


def image_urls(messages: list[dict]) -> list[str]:
    return [p["image_url"]["url"] for m in messages if isinstance(m.get("content"), list)
            for p in m["content"] if p.get("type") == "image_url"]


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def decoded(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def critic_request(server) -> list[dict]:
    return next(q for q in server.completions()
                if q.headers.get("X-Agentteam-Agent") == "Critic").body["messages"]


# -- what each provider is sent -------------------------------------------------------------

def test_openai_wire_gets_the_image_as_a_data_url_part(cli, server, team_file, tmp_path):
    plot = png()
    script(server, {"Critic": ["I see a blue plot."]})
    r = cli("run", write_team(team_file, tmp_path, "Judge <img plot.png>",
                              files={"plot.png": plot}).as_posix(), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    # An OpenAI-compatible server at an api_base: the speaker's name goes in the text.
    assert critic_request(server)[1] == {"role": "user", "content": [
        {"type": "text", "text": "User_proxy:"},
        {"type": "text", "text": "Judge <img plot.png>\n[image: plot.png 640x480]"},
        {"type": "image_url", "image_url": {"url": data_url(plot)}}]}


def test_azure_gets_image_url_parts_with_the_name_field(cli, server, team_file, tmp_path):
    plot = png()
    profile = (f'    model: azure/my-gpt4o\n    api_base: "{server.url[:-3]}"\n'
               '    api_version: 2024-06-01\n    api_key: az-key\n    vision: true')
    r = cli("run", write_team(team_file, tmp_path, "Judge <img plot.png>", profile,
                              files={"plot.png": plot}), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    req = server.completions()[0]
    assert req.path == "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-06-01"
    assert req.body["messages"][1] == {"role": "user", "name": "User_proxy", "content": [
        {"type": "text", "text": "Judge <img plot.png>\n[image: plot.png 640x480]"},
        {"type": "image_url", "image_url": {"url": data_url(plot)}}]}


LITELLM = {
    "gemini": ('    model: gemini/gemini-2.0-flash\n    api_base: "{base}"\n    api_key: g-key\n'
               '    vision: true'),
    "mistral": '    model: mistral/pixtral-12b\n    api_base: "{url}"\n    api_key: m-key\n'
               '    vision: true',
    "ollama_chat": '    model: ollama_chat/llava\n    api_base: "{base}"\n    vision: true',
    "ollama": '    model: ollama/llava\n    api_base: "{base}"\n    vision: true',
    "anthropic": ('    model: anthropic/claude-3-5-sonnet-20241022\n    api_base: "{base}"\n'
                  '    api_key: a-key\n    vision: true'),
}


@pytest.mark.parametrize("provider", list(LITELLM))
def test_litellm_providers_get_their_own_image_shape(cli, server, team_file, tmp_path,
                                                     provider):
    plot = png()
    b64 = base64.b64encode(plot).decode()
    server.models.extend(["llava", "pixtral-12b"])
    profile = LITELLM[provider].replace("{base}", server.url[:-3]).replace("{url}", server.url)
    r = cli("run", write_team(team_file, tmp_path, "Judge <img plot.png>", profile,
                              files={"plot.png": plot}), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    body = [q for q in server.requests if q.body][0].body
    label = "Judge <img plot.png>\n[image: plot.png 640x480]"
    if provider == "gemini":
        parts = body["contents"][0]["parts"]
        assert {"inline_data": {"data": b64, "mime_type": "image/png"}} in parts
        assert any(label in p.get("text", "") for p in parts)
    elif provider == "mistral":
        user = body["messages"][1]
        assert user["role"] == "user" and "name" not in user
        assert user["content"][-1] == {"type": "image_url", "image_url": {"url": data_url(plot)}}
    elif provider == "ollama_chat":
        user = body["messages"][1]
        assert user["images"] == [b64] and label in user["content"]
    elif provider == "ollama":
        assert body["images"] == [b64] and label in body["prompt"]
    else:
        # the last block also carries the prompt-cache breakpoint (models.prompt_cache)
        content = [{k: v for k, v in block.items() if k != "cache_control"}
                   for block in body["messages"][0]["content"]]
        assert {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                            "data": b64}} in content


class _ImageHost:
    """A web server with one image, counting how often it is fetched."""

    def __init__(self, data: bytes):
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                host.gets += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.gets = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/photo.png"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def image_host():
    host = _ImageHost(png(300, 200))
    yield host
    host.close()


def test_a_web_image_is_passed_as_its_address_to_a_provider_that_fetches(
        cli, server, team_file, tmp_path, image_host):
    r = cli("run", write_team(team_file, tmp_path, f"Judge <img {image_host.url}>"), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert image_urls(critic_request(server)) == [image_host.url]
    assert image_host.gets == 0


def test_a_web_image_is_fetched_for_ollama_which_takes_only_bytes(
        cli, server, team_file, tmp_path, image_host):
    server.models.append("llava")
    profile = f'    model: ollama_chat/llava\n    api_base: "{server.url[:-3]}"\n    vision: true'
    r = cli("run", write_team(team_file, tmp_path, f"Judge <img {image_host.url}>", profile,
                              max_round=3), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    users = [m for q in server.requests if q.path == "/api/chat" for m in q.body["messages"]
             if m.get("images")]
    assert users and all(m["images"] == [base64.b64encode(png(300, 200)).decode()]
                         for m in users)
    assert image_host.gets == 1         # fetched once per run, not per request


def test_a_web_image_a_model_wrote_is_never_fetched(cli, server, team_file, tmp_path,
                                                    image_host):
    """Only addresses a person wrote are fetched: a reply cannot make agentteam reach out."""
    server.models.append("llava")
    text = TEAM.replace("{profile}", f'    model: ollama_chat/llava\n    api_base: '
                        f'"{server.url[:-3]}"\n    vision: true').replace("{task}", "Look.")
    text = text.replace('  - {{name: Critic, system_message: "Critic. You look."}}',
                        '  - {{name: Coder}}\n  - {{name: Critic}}')
    script(server, {"Coder": [f"See <img {image_host.url}>"], "Critic": ["ok"]})
    r = cli("run", team_file(text, max_round=2, executor="none"), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert image_host.gets == 0
    notes = [e["text"] for e in r.events() if e["type"] == "notice"]
    assert any("not fetched" in n and image_host.url in n for n in notes)


# -- downscaling, placeholders, bounds ---------------------------------------------------------

def test_a_4000x3000_image_arrives_downscaled(cli, server, team_file, tmp_path):
    (tmp_path / "wd").mkdir()
    (tmp_path / "wd" / "big.png").write_bytes(png(4000, 3000, color=(200, 30, 30)))
    jpeg = io.BytesIO()
    Image.effect_noise((4000, 3000), 40).convert("RGB").save(jpeg, "JPEG")   # a "photo"
    (tmp_path / "wd" / "photo.jpg").write_bytes(jpeg.getvalue())
    r = cli("run", write_team(team_file, tmp_path, "Judge <img big.png> and <img photo.jpg>"),
            "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    sent = image_urls(critic_request(server))
    assert [u.split(";")[0] for u in sent] == ["data:image/png", "data:image/jpeg"]
    for url in sent:
        assert decoded(url).size == (encode.MAX_SIDE, 768)
    assert len(base64.b64decode(sent[1].split(",", 1)[1])) < len(jpeg.getvalue()) / 5
    msg = next(e for e in r.events() if e["type"] == "message")
    assert msg["images"] == [{"path": "big.png", "width": 4000, "height": 3000},
                             {"path": "photo.jpg", "width": 4000, "height": 3000}]


def test_downscaling_keeps_small_images_byte_for_byte_and_redraws_the_rest():
    small = png(800, 600)
    assert encode.for_model(small).data == small
    gif = io.BytesIO()
    Image.new("P", (2000, 500)).save(gif, "GIF")
    out = encode.for_model(gif.getvalue())
    assert out.mime == "image/png" and (out.width, out.height) == (1024, 256)
    rgba = io.BytesIO()
    Image.new("RGBA", (3000, 3000), (0, 0, 0, 0)).save(rgba, "WEBP")
    out = encode.for_model(rgba.getvalue())
    assert out.mime == "image/png" and max(out.width, out.height) == 1024
    assert encode.for_model(rgba.getvalue()).data == out.data       # the same bytes each time


@pytest.mark.parametrize("profile", [
    '    model: openai/fake-model\n    api_base: "{url}"\n    api_key: NULL',      # unknown
    '    model: openai/gpt-4o\n    api_base: "{url}"\n    api_key: NULL\n    vision: false'])
def test_a_profile_that_takes_no_images_gets_a_text_placeholder(cli, server, team_file,
                                                                 tmp_path, profile):
    server.models.append("gpt-4o")
    r = cli("run", write_team(team_file, tmp_path, "Judge <img plot.png>",
                              profile.replace("{url}", server.url),
                              files={"plot.png": png()}), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    messages = critic_request(server)
    assert messages[1]["content"] == "User_proxy: Judge <img plot.png>\n[image: plot.png 640x480]"
    assert not image_urls(messages)


def test_vision_comes_from_litellms_table_when_the_profile_does_not_say(cli, server,
                                                                        team_file, tmp_path):
    server.models.append("gpt-4o")
    profile = f'    model: openai/gpt-4o\n    api_base: "{server.url}"\n    api_key: NULL'
    r = cli("run", write_team(team_file, tmp_path, "Judge <img plot.png>", profile,
                              files={"plot.png": png()}), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert len(image_urls(critic_request(server))) == 1


def test_at_most_a_few_images_per_message(cli, server, team_file, tmp_path):
    files = {f"p{i}.png": png(10, 10, (i * 30, 0, 0)) for i in range(MAX_PER_MESSAGE + 2)}
    task = " ".join(f"<img {n}>" for n in files)
    r = cli("run", write_team(team_file, tmp_path, task, files=files), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert len(image_urls(critic_request(server))) == MAX_PER_MESSAGE
    notes = [e["text"] for e in r.events() if e["type"] == "notice"]
    assert any(f"the first {MAX_PER_MESSAGE} are attached" in n for n in notes)


# -- refused and broken images: a notice, and the run goes on --------------------------------

def test_an_img_outside_the_work_dir_and_team_folder_is_refused(cli, server, team_file,
                                                                tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-secret.png"
    outside.write_bytes(png(50, 50, (1, 2, 3)))
    (tmp_path / "wd").mkdir()
    os.symlink(outside, tmp_path / "wd" / "link.png")
    task = f"Judge <img ../../{outside.name}> <img {outside}> <img link.png>"
    try:
        script(server, {"Critic": ["nothing to see"]})
        r = cli("run", write_team(team_file, tmp_path, task), "--json")
    finally:
        outside.unlink()
    assert r.exit_code == 3, r.stdout + r.stderr
    notes = [e["text"] for e in r.events() if e["type"] == "notice"]
    assert len([n for n in notes if "refused: it is outside the work dir" in n]) == 3
    messages = critic_request(server)
    assert not image_urls(messages) and "[image:" not in json.dumps(messages)
    assert r.events()[-1]["reason"] == "max_round"


@pytest.mark.parametrize("name,data,says", [
    ("huge.png", None, "too large (50 MB; images up to 20 MB are taken)"),
    ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 100, "not a readable image"),
    ("cut.png", png(400, 300, noise=True)[:5000], "not a readable image"),
])
def test_a_huge_or_corrupt_image_is_a_notice_and_the_run_goes_on(cli, server, team_file,
                                                                 tmp_path, name, data, says):
    (tmp_path / "wd").mkdir()
    if data is None:
        with open(tmp_path / "wd" / name, "wb") as f:
            f.truncate(50 * 2**20)                 # 50 MB, never read
    else:
        (tmp_path / "wd" / name).write_bytes(data)
    script(server, {"Critic": ["fine"]})
    r = cli("run", write_team(team_file, tmp_path, f"Judge <img {name}> and <img ok.png>",
                              files={"ok.png": png(20, 20)}), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    notes = [e["text"] for e in r.events() if e["type"] == "notice"]
    assert any(f"<img {name}> left out: {says}" in n for n in notes), notes
    assert len(image_urls(critic_request(server))) == 1        # ok.png still goes
    assert "Traceback" not in r.stderr


# -- images that code writes -----------------------------------------------------------------

PLOT = """```python
import os
from PIL import Image
Image.new("RGB", (300, 200), {color}).save("chart.png")
open("notes.txt", "w").write("not an image")
if not os.path.lexists("link.png"):
    os.symlink("/etc/hostname", "link.png")
print("saved")
```"""


def test_images_a_block_writes_are_attached_and_frozen_as_they_were(cli, server, team_file,
                                                                    tmp_path):
    """Each code result carries the images its blocks wrote (not other files, not links); a
    later block that overwrites chart.png does not change what the earlier result showed."""
    text = TEAM.replace("{profile}", VISION.replace("{url}", server.url)).replace(
        "{task}", "Plot it.").replace(
        '  - {{name: Critic, system_message: "Critic. You look."}}',
        '  - {{name: Coder}}\n  - {{name: Critic}}')
    script(server, {"Coder": [PLOT.format(color="(255, 0, 0)"),
                              PLOT.format(color="(0, 0, 255)")], "Critic": ["redo it"]})
    (tmp_path / "wd").mkdir()
    r = cli("run", team_file(text, max_round=8, executor="local"), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    results = [e for e in r.events() if e["type"] == "message" and e["kind"] == "code_result"]
    assert [e["images"] for e in results] == [[{"path": "chart.png", "width": 300,
                                                "height": 200}]] * 2
    last_critic = [q for q in server.completions()
                   if q.headers.get("X-Agentteam-Agent") == "Critic"][-1].body["messages"]
    colors = [decoded(u).convert("RGB").getpixel((0, 0)) for u in image_urls(last_critic)]
    assert colors == [(255, 0, 0), (0, 0, 255)]


# -- terminal, --json, transcript ------------------------------------------------------------

def test_terminal_shows_a_line_per_image_and_previews_only_where_it_can(cli, server,
                                                                        team_file, tmp_path,
                                                                        monkeypatch):
    team = write_team(team_file, tmp_path, "Judge <img plot.png>", files={"plot.png": png()})
    for forced, marker in (("off", None), ("kitty", "\x1b_Ga=T,f=100"),
                           ("iterm", "\x1b]1337;File=inline=1")):
        monkeypatch.setenv("AGENTTEAM_INLINE_IMAGES", forced)
        r = cli("run", team)
        assert r.exit_code == 3, r.stdout + r.stderr
        assert "[image: plot.png 640x480]" in r.stdout
        if marker is None:
            assert "\x1b" not in r.stdout
        else:
            assert marker in r.stdout


def test_inline_image_support_is_detected_from_the_terminal():
    from rich.console import Console

    from agentteam.ui.images import protocol
    tty, pipe = Console(force_terminal=True), Console(file=io.StringIO())
    assert protocol(tty, {"TERM": "xterm-kitty"}) == "kitty"
    assert protocol(tty, {"TERM_PROGRAM": "iTerm.app"}) == "iterm"
    assert protocol(tty, {"TERM": "xterm-256color"}) is None
    assert protocol(tty, {"TERM": "xterm-kitty", "TMUX": "/tmp/tmux"}) is None
    assert protocol(pipe, {"TERM": "xterm-kitty"}) is None
    assert protocol(pipe, {"AGENTTEAM_INLINE_IMAGES": "kitty"}) == "kitty"
    assert protocol(tty, {"TERM": "xterm-kitty", "AGENTTEAM_INLINE_IMAGES": "off"}) is None


def test_json_and_transcript_list_images_by_path_never_as_bytes(cli, server, team_file,
                                                               tmp_path):
    plot = png(noise=True)
    t = tmp_path / "t.jsonl"
    r = cli("run", write_team(team_file, tmp_path, "Judge <img plot.png>",
                              files={"plot.png": plot}), "--json", "--transcript", t)
    assert r.exit_code == 3
    b64 = base64.b64encode(plot).decode()
    for text in (r.stdout, t.read_text()):
        assert "base64" not in text and b64[:40] not in text
    task = next(json.loads(x) for x in t.read_text().splitlines() if '"message"' in x)
    assert task["images"] == [{"path": "plot.png", "width": 640, "height": 480}]
    assert task["content"][1] == {"type": "image", "path": "plot.png", "width": 640,
                                  "height": 480}


# -- resume and replay --------------------------------------------------------------------------

def test_a_run_with_images_resumes_and_replays(cli, server, team_file, tmp_path):
    plot = png()
    team = write_team(team_file, tmp_path, "Judge <img plot.png>", max_round=1,
                      files={"plot.png": plot})
    t = tmp_path / "t.jsonl"
    script(server, {"Critic": ["first look", "second look"]})
    assert cli("run", team, "--json", "--transcript", t).exit_code == 3
    r = cli("run", "--resume", t, "--json", "--max-round", "2")
    assert r.exit_code == 3, r.stdout + r.stderr
    resumed = [q for q in server.completions()][-1].body["messages"]
    assert image_urls(resumed) == [data_url(plot)]         # read again from the work dir
    recorded = [json.loads(x) for x in t.read_text().splitlines()]
    server.stop()
    again = tmp_path / "again.jsonl"
    r = cli("run", team, "--replay", t, "--json", "--transcript", again, "--max-round", "2")
    assert r.exit_code == 3, r.stdout + r.stderr
    replayed = [json.loads(x) for x in again.read_text().splitlines()]
    pick = (lambda evs: [(e["round"], e["agent"], e["content"], e["images"]) for e in evs
                         if e["type"] == "message"])
    assert pick(replayed) == pick(recorded)


# -- the tag syntax ----------------------------------------------------------------------------

def test_img_tags_in_autogens_forms_and_never_inside_code():
    text = ('Look: <img plot.png> and <img src="my chart.png"> <img https://x.test/a.jpg>\n'
            "<IMG result.jpg/> <img width=3 more words.png> <imgnot.png> `<img inline.png>`\n"
            "```html\n<img src=\"page.png\">\n```\n<img plot.png>")
    assert tags.sources(text) == ["plot.png", "my chart.png", "https://x.test/a.jpg",
                                  "result.jpg", "more words.png"]


def test_finding_tags_is_linear():
    for hostile in ("<img " * 200_000, "<img " + " " * 1_000_000, "<img a=" * 150_000):
        start = time.monotonic()
        tags.sources(hostile)
        assert time.monotonic() - start < 20


# -- the team file ------------------------------------------------------------------------------

@pytest.mark.parametrize("agent,says", [
    ("{name: P, kind: image_generator}", "an image generator needs an image model profile"),
    ("{name: P, kind: image_generator, model: pic, size: huge}", "'huge' is not an image size"),
    ("{name: P, kind: image_generator, model: pic, prompt_template: '{x}'}",
     "unknown field {x} in prompt_template"),
    ("{name: P, kind: image_generator, model: pic, system_message: hi}",
     "an image generator has no system message"),
    ("{name: P, model: pic, size: 1024x1024}",
     "`size` applies only to agents with `kind: image_generator`"),
    ("{name: P, kind: image_generator, model: pic, quality: ultra}", "is not one of"),
])
def test_image_keys_are_checked(cli, tmp_path, agent, says):
    team = tmp_path / "t.yaml"
    team.write_text(f"name: t\ntask: draw\nmodels:\n  pic: {{model: dall-e-3}}\n"
                    f"agents:\n  - {agent}\n")
    r = cli("validate", team)
    assert r.exit_code == 2 and says in r.stderr, r.stderr


def test_vision_must_be_true_or_false(cli, tmp_path):
    team = tmp_path / "t.yaml"
    team.write_text("name: t\ntask: x\nmodels:\n  default: {model: gpt-4o, vision: maybe}\n"
                    "agents: [{name: A}]\n")
    r = cli("validate", team)
    assert r.exit_code == 2 and "models.default.vision" in r.stderr, r.stderr
