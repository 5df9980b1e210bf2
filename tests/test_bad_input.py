"""Bad input never crashes: a corpus of broken team files, bad flags, and a fuzzed loader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentteam.errors import ConfigError
from agentteam.team import parse_team

from .conftest import run_process

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
PLACE = re.compile(r"^error: .*\.yaml(:\d+(:\d+)?)?: ")


def test_corpus_is_big_enough():
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_broken_file_is_a_placed_one_line_error(cli, name, server):
    r = cli("run", CORPUS / name)
    assert r.exit_code == 2, r.stdout
    lines = r.stderr.strip().splitlines()
    assert lines and all(PLACE.match(line) for line in lines), r.stderr
    assert EXPECTED[name] in r.stderr
    assert all(str(CORPUS / name) in line for line in lines)
    assert "Traceback" not in r.stderr + r.stdout
    assert server.requests == []                     # nothing was called, nothing ran


@pytest.mark.parametrize("name", ["28_python_tag.yaml", "29_custom_tag.yaml"])
def test_a_yaml_tag_is_one_error_not_also_a_type_error(cli, name):
    r = cli("validate", CORPUS / name)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "task: YAML tag" in lines[0], r.stderr


def test_whole_corpus_through_the_real_command():
    r = run_process("validate", *sorted(CORPUS.glob("*.yaml")))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.count("error: ") >= len(EXPECTED)


@pytest.mark.parametrize("args,fragment", [
    (["run", "nope.yaml"], "no such file"),
    (["run"], "give a team file"),
    (["run", "{team}", "--human", "sometimes"], "expected one of always, terminate, never"),
    (["run", "{team}", "--max-round", "x"], "valid integer"),
    (["run", "{team}", "--resume", "missing.jsonl"], "no such transcript"),
    (["run", "{team}", "--replay", "{team}"], "not a JSON line"),
    (["run", "{team}", "--bogus"], "No such option"),
    (["models", "nope.yaml"], "no such file"),
    (["sandbox", "check", "nope.yaml"], "no such file"),
])
def test_bad_flags_are_clear_usage_errors(cli, team_file, args, fragment):
    team = str(team_file())
    r = cli(*[a.replace("{team}", team) for a in args])
    assert r.exit_code == 2, r.stdout + r.stderr
    assert fragment in r.stderr + r.stdout
    assert "Traceback" not in r.stderr + r.stdout


KEYS = ["name", "task", "agents", "models", "max_round", "termination", "speaker_selection",
        "transitions", "code_execution", "cache", "budget", "context", "model", "kind",
        "system_message", "human_input", "fallbacks", "api_key", "keyword", "match", "method"]
yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
              st.text(max_size=20), st.sampled_from(["${X}", "sk-aaaaaaaaaaaaaaaaaaaa", "NULL"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner,
                                            max_size=5)),
    max_leaves=25)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(KEYS), yaml_values, max_size=8))
def test_fuzz_structured_documents_never_traceback(doc):
    import yaml
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        parse_team(text, "fuzz.yaml", {})
    except ConfigError as e:
        assert str(e)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(list("ab:-[]{}&*!|>'\"#\n\t ,?%@`0.\\")
                                + ["name", "task", "agents", "\n  - ", "&a ", "*a", "!!str "]),
                max_size=60).map("".join))
def test_fuzz_raw_text_never_tracebacks(text):
    try:
        parse_team(text, "fuzz.yaml", {})
    except ConfigError as e:
        assert str(e)
