"""The example teams, run for real: cars_critic end to end in the Docker sandbox, and the
default model resolution that lets them run with no `models:` section."""

from __future__ import annotations

import base64
import json
import shutil

import pytest

from agentteam.models.defaults import default_profiles
from agentteam.models.localmodel import model_path

from .conftest import ROOT, docker_ready, run_process, script

CODER = """I will look at the fields first, then plot.
```python
import pandas as pd
import matplotlib.pyplot as plt
df = pd.read_csv("cars.csv")
print(list(df.columns))
ax = df.plot.scatter(x="Weight_in_lbs", y="Horsepower", alpha=0.6)
ax.set_title("Weight vs horsepower")
plt.savefig("weight_vs_horsepower.png", dpi=80)
print("saved")
```"""


@pytest.mark.skipif(not docker_ready(), reason="no Docker engine with the sandbox image")
def test_cars_critic_end_to_end_in_the_sandbox(server, tmp_path):
    """A scripted model plays the Coder; the real sandbox runs its code; the PNG stays."""
    teams = tmp_path / "teams"
    shutil.copytree(ROOT / "teams", teams)
    server.models.append("gpt-4o-mini")
    script(server, {"Coder": [CODER, "The plot is saved."], "(selector)": ["Critic"],
                    "Critic": ["{bugs: 9, transformation: 8, compliance: 9, type: 9, "
                               "encoding: 8, aesthetics: 8} Looks good. TERMINATE"]})
    env = {"OPENAI_API_KEY": "sk-test-0123456789abcdefghij", "OPENAI_BASE_URL": server.url}
    r = run_process("run", teams / "cars_critic.yaml", "--json", cwd=tmp_path, env=env,
                    timeout=300)
    assert r.returncode == 0, r.stderr
    ev = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(e["type"] == "notice" and "OPENAI_API_KEY is set" in e["text"] for e in ev)
    code = [e for e in ev if e["type"] == "code_result"]
    assert code[0]["exit_code"] == 0
    assert "'Weight_in_lbs'" in code[0]["output"] and "saved" in code[0]["output"]
    png = teams / "groupchat" / "weight_vs_horsepower.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (teams / "groupchat" / "cars.csv").exists()      # copied in by `files:`
    assert ev[-1]["reason"] == "keyword"
    # The plot is attached to the code result and reaches the Critic (gpt-4o-mini takes
    # images, by LiteLLM's table) as the PNG itself: small enough to go as it is.
    result = next(e for e in ev if e["type"] == "message" and e["kind"] == "code_result")
    assert result["images"] == [{"path": "weight_vs_horsepower.png", "width": 512,
                                 "height": 384}]
    critic = next(q for q in server.completions()
                  if q.headers.get("X-Agentteam-Agent") == "Critic").body["messages"]
    sent = [p["image_url"]["url"] for m in critic if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]
    assert sent == ["data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()]
    assert "[image: weight_vs_horsepower.png 512x384]" in json.dumps(critic)


def test_default_resolution_order(monkeypatch, server):
    import agentteam.models.defaults as d
    env = {"MISTRAL_API_KEY": "mk-0123456789abcdef"}
    profiles, why = default_profiles(env)
    assert profiles["default"].model == "mistral/mistral-small-latest"
    assert "MISTRAL_API_KEY is set" in why
    # no key: a local server answering on a usual port comes next
    monkeypatch.setattr(d, "LOCAL_SERVERS", [("vLLM/FastChat", server.port, "/v1/models")])
    profiles, why = default_profiles({})
    assert profiles["default"].model == "openai/fake-model"
    assert profiles["default"].params["api_base"] == server.url
    assert "answers at" in why
    # nothing at all: the embedded model
    monkeypatch.setattr(d, "LOCAL_SERVERS", [("nothing", 9, "/v1/models")])
    profiles, why = default_profiles({})
    assert profiles["default"].model == "local" and "no API key is set" in why


def test_local_model_paths(tmp_path):
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF")
    assert model_path(f"local:{gguf}") == gguf
    from agentteam.errors import UsageError
    with pytest.raises(UsageError, match="no GGUF file at"):
        model_path(f"local:{tmp_path / 'missing.gguf'}")
