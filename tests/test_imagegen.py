"""`kind: image_generator` agents against the fake server's /v1/images/generations: the
request, the file in the work dir, the message, usage and cost, retries, the cache,
replay, and the example teams that draw and look."""

from __future__ import annotations

import base64
import io
import json
import shutil

import pytest
from PIL import Image

from agentteam.conversation.drawing import last_request
from agentteam.conversation.messages import Message
from agentteam.testing.fakeimages import png_for

from .conftest import ROOT, script

TEAM = """\
name: draw
task: "{task}"
models:
  pic:
{profile}
    num_retries: 2
    max_retry_wait: 0.1
    timeout: 20
  default: {{model: openai/fake-model, api_base: "{url}", api_key: NULL, vision: true}}
max_round: {max_round}
speaker_selection: round_robin
code_execution: {{executor: none, work_dir: pictures}}
{cache}
agents:
  - {{name: Painter, kind: image_generator, model: pic{options}}}
  - {{name: Critic, system_message: "Critic. You compare."}}
"""
DALLE = '    model: dall-e-3\n    api_base: "{url}"\n    api_key: NULL'


def team(team_file, task="A red fox in the snow", profile=DALLE, max_round=1, options="",
         cache=""):
    text = TEAM.replace("{profile}", profile).replace("{task}", task) \
        .replace("{options}", options).replace("{cache}", cache)
    return team_file(text, max_round=max_round)


def drawings(server):
    return [q for q in server.requests if q.path.split("?")[0].endswith("/images/generations")]


def messages(events):
    return [e for e in events if e["type"] == "message"]


def test_the_painter_draws_the_request_into_the_work_dir(cli, server, team_file, tmp_path):
    r = cli("run", team(team_file, options=", size: 1792x1024, quality: hd"), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    [req] = drawings(server)
    assert req.path == "/v1/images/generations"
    assert req.body == {"model": "dall-e-3", "prompt": "A red fox in the snow", "n": 1,
                        "size": "1792x1024", "quality": "hd", "response_format": "b64_json"}
    assert req.headers.get("X-Agentteam-Agent") == "Painter"
    drawn = tmp_path / "pictures" / "painter-round1.png"
    assert drawn.read_bytes() == png_for("A red fox in the snow")
    msg = messages(r.events())[1]
    assert msg["agent"] == "Painter" and msg["model"] == "pic"
    assert msg["content"] == [
        {"type": "text", "text": "Image for the prompt: A red fox in the snow\n(The model "
                                 "drew it as: A picture: A red fox in the snow)"},
        {"type": "image", "path": "painter-round1.png", "width": 64, "height": 64}]
    assert msg["images"] == [{"path": "painter-round1.png", "width": 64, "height": 64}]
    assert msg["usage"]["calls"] == 1
    end = r.events()[-1]
    assert end["usage"]["agents"]["Painter"]["calls"] == 1
    assert end["usage"]["models"]["dall-e-3"]["calls"] == 1


def test_a_drawing_never_overwrites_a_file_or_follows_a_link(cli, server, team_file, tmp_path):
    (tmp_path / "pictures").mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "pictures" / "painter-round1.png").symlink_to(victim)
    r = cli("run", team(team_file), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert victim.read_text() == "keep me"
    assert messages(r.events())[1]["images"][0]["path"] == "painter-round1-2.png"
    assert (tmp_path / "pictures" / "painter-round1-2.png").read_bytes()[:4] == b"\x89PNG"


def test_gpt_image_models_answer_base64_and_tokens_which_are_priced(cli, server, team_file):
    profile = '    model: gpt-image-1\n    api_base: "{url}"\n    api_key: NULL'
    r = cli("run", team(team_file, profile=profile, options=", quality: low"), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    [req] = drawings(server)
    assert "response_format" not in req.body and req.body["quality"] == "low"
    usage = messages(r.events())[1]["usage"]
    assert usage["prompt_tokens"] == 6 and usage["completion_tokens"] == 272
    assert usage["cost"] is not None and usage["cost"] > 0


def test_azure_deployments_draw_on_their_own_path(cli, server, team_file):
    profile = (f'    model: azure/my-dalle\n    api_base: "{server.url[:-3]}"\n'
               '    api_version: 2024-02-01\n    api_key: az-key-123')
    r = cli("run", team(team_file, profile=profile), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    [req] = drawings(server)
    assert req.path == "/openai/deployments/my-dalle/images/generations?api-version=2024-02-01"
    assert req.headers.get("api-key") == "az-key-123"
    assert "az-key-123" not in r.stdout


def test_other_providers_draw_through_litellm(cli, server, team_file, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTTEAM_TRANSPORT", "litellm")
    r = cli("run", team(team_file, profile='    model: openai/dall-e-3\n    api_base: "{url}"\n'
                                           '    api_key: NULL'), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    [req] = drawings(server)
    assert req.body["prompt"] == "A red fox in the snow" and req.body["model"] == "dall-e-3"
    assert (tmp_path / "pictures" / "painter-round1.png").read_bytes() == \
        png_for("A red fox in the snow")


def test_a_failing_image_model_is_retried_then_an_error(cli, server, team_file):
    server.fail("500", times=1)
    r = cli("run", team(team_file), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert [e["type"] for e in r.events()].count("retry") == 1
    server.fail("401", times=1)
    r = cli("run", team(team_file), "--json")
    assert r.exit_code == 1 and "was refused" in r.events()[-1]["error"]


def test_the_painter_draws_the_critics_prompt_and_the_critic_sees_the_picture(
        cli, server, team_file):
    script(server, {"Critic": ["CRITICS: the fox is brown.\nPROMPT: A **red** fox, snow\n\n"
                               "Thanks."]})
    r = cli("run", team(team_file, max_round=3,
                        options=", prompt_template: 'Watercolour. {{request}}'"), "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    assert [q.body["prompt"] for q in drawings(server)] == [
        "Watercolour. A red fox in the snow", "Watercolour. A **red** fox, snow"]
    critic = server.completions()[0].body["messages"]
    sent = [p["image_url"]["url"] for m in critic if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]
    assert sent == ["data:image/png;base64," + base64.b64encode(
        png_for("Watercolour. A red fox in the snow")).decode()]


def test_the_request_is_the_last_message_of_someone_else():
    history = [Message("user", "Draw a cat <img ref.png>", 0),
               Message("Painter", "Image for the prompt: Draw a cat", 1),
               Message("Critic", "CRITICS: too dark\nprompt:  a bright cat\nin the sun\n\nbye "
                                 "TERMINATE", 2)]
    assert last_request(history[:1], "Painter", "TERMINATE") == "Draw a cat"
    assert last_request(history, "Painter", "TERMINATE") == "a bright cat in the sun"
    assert last_request(history[:2], "Painter", "TERMINATE") == "Draw a cat"
    assert last_request([Message("C", "Nice. TERMINATE", 1)], "P", "TERMINATE") == "Nice."


# -- the cache and replay ----------------------------------------------------------------------

def test_the_cache_keeps_the_drawing_and_replay_needs_no_server(cli, server, team_file,
                                                               tmp_path):
    path = team(team_file, cache="cache: {{seed: 7, dir: cache}}")
    first = cli("run", path, "--json", "--transcript", tmp_path / "t.jsonl")
    assert first.exit_code == 3, first.stdout + first.stderr
    again = cli("run", path, "--json")
    assert again.exit_code == 3, again.stdout + again.stderr
    assert len(drawings(server)) == 1                           # the second came from the cache
    pictures = tmp_path / "pictures"
    assert (pictures / "painter-round1-2.png").read_bytes() == \
        (pictures / "painter-round1.png").read_bytes()
    assert messages(again.events())[1]["usage"] == {}                # no call was made
    assert again.events()[-1]["usage"]["agents"]["Painter"]["calls"] == 0
    server.stop()
    replay = cli("run", path, "--replay", tmp_path / "t.jsonl", "--json")
    assert replay.exit_code == 3, replay.stdout + replay.stderr
    pick = (lambda evs: [(m["agent"], m["content"], m["images"]) for m in messages(evs)])
    assert pick(replay.events()) == pick(first.events())
    assert not (pictures / "painter-round1-3.png").exists()      # nothing drawn again


# -- the example teams ---------------------------------------------------------------------------

@pytest.fixture
def teams(tmp_path, server):
    """A copy of teams/ whose named profiles point at the fake server."""
    out = tmp_path / "teams"
    shutil.copytree(ROOT / "teams", out)
    server.models.extend(["gpt-4o", "gpt-4o-mini"])
    return out


def test_dalle_critic_loop_draws_until_the_critic_approves(cli, server, teams):
    file = teams / "dalle_critic.yaml"
    text = file.read_text()
    for model in ("dall-e-3", "gpt-4o"):
        text = text.replace(f"{{model: {model}", f'{{model: {model}, api_base: "{server.url}", '
                                                  "api_key: NULL")
    file.write_text(text)
    script(server, {"Critic": ["CRITICS: there is no cabin.\nPROMPT: A happy corgi in a red "
                               "scarf in the snow before a wooden cabin at dusk, lit window",
                               "APPROVED. TERMINATE"]})
    r = cli("run", file, "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    order = [(q.path, q.headers.get("X-Agentteam-Agent"), q.body.get("prompt"))
             for q in server.requests if q.body]
    task = " ".join(file.read_text().split("task: |", 1)[1].split("models:")[0].split())
    assert order == [
        ("/v1/images/generations", "Painter", task),
        ("/v1/chat/completions", "Critic", None),
        ("/v1/images/generations", "Painter", "A happy corgi in a red scarf in the snow before "
                                              "a wooden cabin at dusk, lit window"),
        ("/v1/chat/completions", "Critic", None)]
    last = server.completions()[-1].body["messages"]
    assert sum(1 for m in last if isinstance(m["content"], list)) == 2   # both pictures seen
    assert sorted(p.name for p in (teams / "pictures").iterdir()) == [
        "painter-round1.png", "painter-round3.png"]
    assert r.events()[-1]["reason"] == "keyword"


def test_describe_picture_sends_the_shipped_picture(cli, server, teams, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)        # the default: gpt-4o-mini
    script(server, {"Image_explainer": ["A cabin at dusk. TERMINATE"]})
    r = cli("run", teams / "describe_picture.yaml", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    scene = (ROOT / "teams" / "data" / "scene.png").read_bytes()
    assert len(scene) < 10_000 and Image.open(io.BytesIO(scene)).size == (320, 240)
    task = server.completions()[0].body["messages"][1]["content"]
    assert task[-1] == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(scene).decode()}}
    assert messages(r.events())[0]["images"] == [{"path": "../data/scene.png", "width": 320,
                                                  "height": 240}]
    assert json.dumps(r.events()).count("base64") == 0


def test_models_checks_an_image_profile_without_buying_a_picture(cli, server, team_file):
    server.models.append("dall-e-3")
    r = cli("models", team(team_file), "--json", "--timeout", "5")
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = {x["profile"]: x for x in json.loads(r.stdout)}
    assert rows["pic"]["healthy"] and rows["pic"]["listed"] and rows["pic"]["completion"] is None
    assert [q.body.get("model") for q in server.completions()] == ["fake-model"]
    assert drawings(server) == []

