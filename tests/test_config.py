"""Team-file validation: every rule of spec §1, each error placed and actionable."""

from __future__ import annotations

import pytest

from agentteam.errors import ConfigError
from agentteam.team import load_team, parse_team

from .conftest import ROOT

GOOD = """\
name: ok-team
task: hi
agents:
  - name: Coder
"""


def problems(text: str, env=None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_team(text, "t.yaml", env or {})
    return [str(p) for p in e.value.problems] or [str(e.value)]


def test_minimal_file_is_valid_and_defaults_apply():
    team = parse_team(GOOD, "t.yaml", {})
    assert team.max_round == 20
    assert team.termination.keyword == "TERMINATE" and team.termination.match == "suffix"
    assert team.speaker_selection.method == "auto"
    assert team.code_execution.executor == "docker"


@pytest.mark.parametrize("path", sorted((ROOT / "teams").glob("*.yaml")))
def test_example_teams_are_valid(path):
    load_team(path)


def test_short_forms():
    team = parse_team(GOOD + "termination: DONE\nspeaker_selection: round_robin\ncache: true\n",
                      "t.yaml", {})
    assert team.termination.keyword == "DONE"
    assert team.speaker_selection.method == "round_robin"
    assert team.cache is not None and team.cache.seed == 0


def test_unknown_key_has_place_and_did_you_mean():
    out = problems(GOOD.replace("  - name: Coder", "  - name: Coder\n    modle: default"))
    assert out == ["t.yaml:5:5: agents[0].modle: unknown key `modle`; did you mean `model`?"]


def test_duplicate_keys_are_errors():
    out = problems(GOOD + "task: again\n")
    assert out == ["t.yaml:5:1: task: duplicate key `task` (first at line 2); remove one of them"]


def test_many_problems_reported_at_once_in_file_order():
    text = """\
name: Bad_Name
task: hi
max_round: lots
speaker_selection: autoo
models:
  default: {model: gpt-4o, tempreature: 0}
agents:
  - name: Coder
    model: defualt
transitions:
  Coder: [Critc]
"""
    out = problems(text)
    assert len(out) == 6
    assert out[0].startswith("t.yaml:1:1: name:")
    assert "max_round" in out[1] and "valid integer" in out[1]
    assert "did you mean `auto`" in out[2]
    assert "t.yaml:6:" in out[3] and "did you mean `temperature`" in out[3]
    assert "agents[0].model: unknown model profile `defualt`; did you mean `default`?" in out[4]
    assert "transitions.Coder[0]: unknown agent `Critc`" in out[5]


def test_wrong_types_and_enums():
    out = problems(GOOD + "max_round: [1]\ntermination: {keyword: X, match: suffx}\n")
    assert any("max_round" in p and "integer" in p for p in out)
    assert any("termination.match" in p and "did you mean `suffix`" in p for p in out)


def test_unset_variable_is_an_error_and_set_one_is_fine():
    text = GOOD + "models:\n  default:\n    model: gpt-4o\n    api_key: ${MY_KEY}\n"
    assert "environment variable ${MY_KEY} is not set" in problems(text)[0]
    parse_team(text, "t.yaml", {"MY_KEY": "x"})


@pytest.mark.parametrize("key", ["sk-proj-abcdefghijklmnop1234", "AIzaSyA1234567890abcdefgh"])
def test_literal_keys_are_refused_and_never_echoed(key):
    out = problems(GOOD + f"models:\n  default:\n    model: gpt-4o\n    api_key: {key}\n")
    assert "looks like a literal key" in out[0]
    assert key not in out[0]


@pytest.mark.parametrize("placeholder", ["NULL", "EMPTY", "'EMPTY'", "none"])
def test_keyless_placeholders_are_fine(placeholder):
    parse_team(GOOD + f"models:\n  default:\n    model: openai/x\n    api_base: http://h/v1\n"
               f"    api_key: {placeholder}\n", "t.yaml", {})


def test_unknown_names_in_fallbacks_transitions_and_selector():
    text = GOOD + """\
models:
  default: {model: a, fallbacks: [backup]}
speaker_selection: {method: auto, model: selector}
transitions:
  Nobody: [Coder]
"""
    out = problems(text)
    assert any("fallbacks[0]: unknown model profile `backup`" in p for p in out)
    assert any("speaker_selection.model: unknown model profile `selector`" in p for p in out)
    assert any("transitions.Nobody: unknown agent `Nobody`" in p for p in out)


def test_duplicate_agent_names():
    out = problems(GOOD + "  - name: Coder\n")
    assert "agent name `Coder` is used twice" in out[0]


def test_duplicate_agent_name_is_placed_at_its_own_entry():
    # entries that are not mappings, or have no name, come first: the index and line of
    # the duplicate are still those of the file's list
    text = ("name: x\ntask: hi\nagents:\n  - just text\n  - system_message: nameless\n"
            "  - name: A\n  - name: A\n")
    dup = [p for p in problems(text) if "used twice" in p]
    assert dup == ["t.yaml:7:5: agents[3].name: agent name `A` is used twice (also agents[2]); "
                   "names must be unique"]


def test_user_proxy_only_keys_on_assistant():
    out = problems(GOOD.replace("  - name: Coder", "  - name: Coder\n    human_input: always"))
    assert "applies only to agents with `kind: user_proxy`" in out[0]


def test_yaml_tags_are_refused():
    out = problems("name: x\ntask: !!python/object/apply:os.system [echo hi]\nagents: []\n")
    assert any(p.startswith("t.yaml:2:7: task: YAML tag") and "not allowed" in p for p in out)
    out = problems("name: x\ntask: !!python/name:os.system ''\nagents: []\n")
    assert any(p.startswith("t.yaml:2:7: task: YAML tag") for p in out)


@pytest.mark.parametrize("value", ["!!python/object/apply:os.system [echo hi]", "!secret hi",
                                   "!!set {a, b}", "!list [1, 2]",
                                   "!!int nope"])
def test_a_refused_tag_is_the_only_error_for_its_key(value):
    # the tag is the problem; the value it leaves behind is not a second one (a type error)
    out = problems(f"name: x\ntask: {value}\nagents:\n  - name: A\n")
    assert len(out) == 1 and out[0].startswith("t.yaml:2:7: task: "), out


def test_anchor_bomb_is_stopped():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=False):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    out = problems("\n".join(lines) + "\n")
    assert "alias/anchor bomb" in out[0]


def test_absurd_nesting_is_stopped():
    out = problems("[" * 3000 + "]" * 3000)
    assert "nesting" in out[0]


def test_empty_and_non_mapping_files():
    assert "the file is empty" in problems("")[0]
    assert "a team file is a mapping" in problems("- a\n- b\n")[0]


def test_binary_and_bad_encoding_files(tmp_path):
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: x\n\x00\x01\x02")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: x\ntask: caf\xe9\n")
    utf16 = tmp_path / "u16.yaml"
    utf16.write_text(GOOD, encoding="utf-16")
    with pytest.raises(ConfigError, match=r"bin.yaml:2: this is a binary file"):
        load_team(binary)
    with pytest.raises(ConfigError, match=r"latin.yaml:2:10: byte 0xe9 is not UTF-8"):
        load_team(latin)
    assert load_team(utf16).name == "ok-team"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_team(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_team(tmp_path)


def test_dates_stay_strings():
    team = parse_team(GOOD + "models:\n  default:\n    model: azure/x\n    api_version: 2024-06-01\n",
                      "t.yaml", {})
    assert team.models["default"].api_version == "2024-06-01"


def test_provider_recipes_are_valid_with_their_variables_set():
    env = {v: "x" for v in ("OPENAI_API_KEY", "AZURE_API_BASE", "AZURE_API_KEY",
                            "GEMINI_API_KEY", "MISTRAL_API_KEY", "OAI_CONFIG_LIST")}
    team = load_team(ROOT / "teams" / "recipes" / "providers.yaml", env)
    assert {"openai", "azure", "gemini", "mistral", "vllm", "fastchat", "lm_studio", "ollama",
            "llama_cpp", "embedded", "autogen_config_list"} <= set(team.models)
    with pytest.raises(ConfigError, match=r"\$\{OPENAI_API_KEY\} is not set"):
        load_team(ROOT / "teams" / "recipes" / "providers.yaml", {})
