"""Asking a model for a JSON object (models.structured): the request shape per backend
against the fake server, the retry without a schema a backend refuses, the cache, and
the lenient reading of replies."""

from __future__ import annotations

import pytest

from agentteam.models.cache import CachedModel
from agentteam.models.profiles import Profile
from agentteam.models.provider import ProviderModel
from agentteam.models.structured import ask, parse_object, schema_of
from agentteam.testing.fakeserver import FakeOpenAIServer

SCHEMA = schema_of("team", {"type": "object", "properties": {"agents": {"type": "array"}},
                            "required": ["agents"]})
PROMPT = [{"role": "user", "content": "Propose a team."}]


def drain(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def profile(model: str, url: str) -> dict[str, Profile]:
    return {"p": Profile("p", model, {"api_base": url, "api_key": "NULL"}, num_retries=0)}


@pytest.fixture
def fake():
    with FakeOpenAIServer(lambda body, agent: '{"agents": [{"name": "Coder"}]}', models=[]) as s:
        yield s


def test_an_openai_compatible_server_gets_the_schema_as_response_format(fake):
    answer = drain(ask(ProviderModel(profile("openai/m", fake.url)), "p", PROMPT, "(builder)",
                       SCHEMA))
    assert answer.value == {"agents": [{"name": "Coder"}]} and answer.problem == ""
    req = fake.completions()[0]
    assert req.headers["X-Agentteam-Agent"] == "(builder)"
    assert req.body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "team", "strict": False, "schema": SCHEMA["schema"]}}


def test_a_server_that_refuses_the_schema_is_asked_without_it(fake):
    fake.fail("400")
    model = ProviderModel(profile("openai/m", fake.url))
    answer = drain(ask(model, "p", PROMPT, "(builder)", SCHEMA))
    assert answer.value == {"agents": [{"name": "Coder"}]}
    first, second = fake.completions()
    assert "response_format" in first.body and "response_format" not in second.body
    drain(ask(model, "p", PROMPT, "(builder)", SCHEMA))     # not asked with it again
    assert "response_format" not in fake.completions()[2].body


def test_a_plain_call_carries_no_schema(fake):
    drain(ProviderModel(profile("openai/m", fake.url)).stream("p", PROMPT, "Coder"))
    assert "response_format" not in fake.completions()[0].body


def test_the_cache_keys_on_the_schema(fake, tmp_path):
    profiles = profile("openai/m", fake.url)
    model = CachedModel(ProviderModel(profiles), profiles, directory=tmp_path)
    drain(ask(model, "p", PROMPT, "(builder)", SCHEMA))
    drain(ask(model, "p", PROMPT, "(builder)", SCHEMA))
    assert len(fake.completions()) == 1 and model.hits == 1
    drain(ask(model, "p", PROMPT, "(builder)", schema_of("other", {"type": "object"})))
    assert len(fake.completions()) == 2


@pytest.mark.parametrize("text, value", [
    ('{"a": 1}', {"a": 1}),
    ('Here you go:\n```json\n{"a": 1,}\n```\nEnjoy.', {"a": 1}),
    ('<think>{"wrong": true} hmm</think> Sure! {"a": [1, 2,],}', {"a": [1, 2]}),
    ('The team is {"a": {"b": "}"}} as asked', {"a": {"b": "}"}}),
])
def test_replies_are_read_leniently(text, value):
    assert parse_object(text) == (value, "")


@pytest.mark.parametrize("text, problem", [
    ("", "the reply was empty"),
    ("No JSON here.", "the reply holds no JSON object"),
    ('{"a": 1', "the reply is not valid JSON"),
    ('{"a": nope}', "the reply is not valid JSON"),
    ("[1, 2]", "the reply is JSON but a list, not an object"),
])
def test_replies_without_an_object_say_why(text, problem):
    value, why = parse_object(text)
    assert value is None and why.startswith(problem)
