"""A selector that cannot answer wrong: each provider's way of allowing only the candidate
names, and the reply read back as a name.

``shape`` returns the profile a selector call uses: its reply capped to what a name
needs (unless the model reasons before it answers) and, where the backend can do it,
constrained to one of the names:

========================================  ==============================================
backend                                   request
========================================  ==============================================
the embedded model (llama-cpp-python)     ``grammar``: a GBNF rule with the names
OpenAI, Azure, LM Studio, vLLM, an        ``response_format``: a JSON schema with an enum
OpenAI-compatible ``api_base`` (llama.cpp
server, Ollama's ``/v1``, SGLang)
Ollama (``ollama/``, ``ollama_chat/``)    ``response_format`` → LiteLLM sends ``format``
Gemini, Mistral, ... (LiteLLM)            ``response_format`` where LiteLLM's model table
                                          says the model takes a schema
Anthropic and the rest                    nothing: the lenient parser reads the reply
========================================  ==============================================

vLLM takes the schema in every version; its ``guided_choice`` was removed in vLLM 0.12
(ignored from then on), and ``structured_outputs`` is unknown before 0.10. A backend
that refuses the constraint (a 400) is asked again without it, and not asked with it
again in this run (``ProviderModel``).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from . import prices
from .profiles import Profile

SCHEMA_NAME = "next_speaker"
KEY = "speaker"
# Model families that always think before they answer (names as providers serve them).
_REASONING = re.compile(
    r"(^|[/_.:-])(o1|o3|o4|gpt-5(?!-chat)|r1|qwq|magistral|grok-4|grok-3-mini|gpt-oss)"
    r"([/_.:-]|$)|reasoner|thinking|gemini-2\.5-(pro|flash(?!-lite))|gemini-3|"
    r"qwen3(?!.*instruct)", re.IGNORECASE)
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?(</\1>|\Z)", re.IGNORECASE | re.DOTALL)
# Providers LiteLLM gives a schema to with `response_format` when its table says so.
_LITELLM_SCHEMA = {"gemini", "vertex_ai", "mistral", "groq", "deepseek", "fireworks_ai",
                   "together_ai", "openrouter", "xai", "cerebras"}


def reasons(p: Profile) -> bool:
    """Does this model think before it answers (so a capped reply would hold no name)?

    Asked to (``reasoning_effort``, ``thinking``), or of a family that always does (by
    its name: LiteLLM's table says which models *can* reason, not which always do).
    """
    if p.params.get("reasoning_effort") or p.params.get("thinking"):
        return True
    return bool(_REASONING.search(p.served_name))


def max_tokens(choices: list[str]) -> int:
    """Enough for a name, in JSON or in a short sentence."""
    return max(32, max(len(c) for c in choices))


def kind(p: Profile, on_wire: bool) -> str:
    """How this profile's backend is constrained: grammar, json_schema or "" (not at
    all)."""
    if p.embedded:
        return "grammar"
    if p.provider in ("azure", "lm_studio", "hosted_vllm", "ollama", "ollama_chat"):
        return "json_schema"
    if p.provider == "openai":
        if p.params.get("api_base"):
            return "json_schema"     # the OpenAI-compatible servers all take it
        entry = prices.entry(p.model)
        return "json_schema" if entry and entry.get("supports_response_schema") else ""
    if not on_wire and p.provider in _LITELLM_SCHEMA:
        entry = prices.entry(p.model)
        return "json_schema" if entry and entry.get("supports_response_schema") else ""
    return ""


def response_format(choices: list[str]) -> dict:
    """OpenAI's structured-output format: an object whose one field is one of the names."""
    schema = {"type": "object", "properties": {KEY: {"type": "string", "enum": list(choices)}},
              "required": [KEY], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "strict": True,
                                                   "schema": schema}}


def grammar(choices: list[str]) -> str:
    """A GBNF grammar (llama.cpp) whose only sentences are the names, after one space."""
    names = " | ".join(json.dumps(c) for c in choices)
    return f'root ::= " "? ({names})'


def shape(p: Profile, choices: list[str], on_wire: bool, constrain: bool = True) -> Profile:
    """The profile for one selector call among ``choices``."""
    params = dict(p.params)
    if not reasons(p):
        params["max_tokens"] = min(params.get("max_tokens") or 10**6, max_tokens(choices))
    how = kind(p, on_wire) if constrain else ""
    extra = dict(params.get("extra_body") or {})
    if how == "grammar":
        extra["grammar"] = grammar(choices)
    elif how == "json_schema" and on_wire:
        extra["response_format"] = response_format(choices)
    elif how == "json_schema":
        params["response_format"] = response_format(choices)
    if extra:
        params["extra_body"] = extra
    return replace(p, params=params)


def shape_json(p: Profile, schema: dict, on_wire: bool, constrain: bool = True) -> Profile:
    """The profile for a call whose reply must be a JSON object of ``schema`` (``{"name":
    ..., "schema": {...}}``, OpenAI's ``json_schema`` object): a structured-output request
    where the backend takes one (not strict: builders' schemas have optional fields), a
    grammar of that JSON on the embedded model, the plain call elsewhere (Anthropic, ...),
    whose reply is read leniently (``models.structured``)."""
    how = kind(p, on_wire) if constrain else ""
    if how == "grammar":
        gbnf = json_grammar(schema["schema"])
        if gbnf is None:
            return p
        return replace(p, params={**p.params, "extra_body": {
            **(p.params.get("extra_body") or {}), "grammar": gbnf}})
    if how != "json_schema":
        return p
    params = dict(p.params)
    fmt = {"type": "json_schema", "json_schema": {"name": schema["name"], "strict": False,
                                                  "schema": schema["schema"]}}
    if on_wire:
        params["extra_body"] = {**(params.get("extra_body") or {}), "response_format": fmt}
    else:
        params["response_format"] = fmt
    return replace(p, params=params)


def json_grammar(schema: dict) -> str | None:
    """llama.cpp's GBNF grammar for the JSON of ``schema`` (llama-cpp-python's own
    converter: installed wherever the embedded model is), or None when it cannot be
    made; the reply is then read leniently."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception:  # not installed, or a schema the converter does not take
        return None


def without_reasoning(text: str) -> str:
    """A reply without the reasoning a model wrote before it (``<think>…</think>``)."""
    return _THINKING.sub(" ", text).strip()


def answer(text: str) -> str:
    """A selector reply as the text to find a name in: reasoning dropped, and the name
    taken out of a structured reply (``{"speaker": "Critic"}``)."""
    text = without_reasoning(text)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return text
    try:
        value = json.loads(text[start:end + 1])
    except ValueError:
        return text
    if isinstance(value, dict) and isinstance(value.get(KEY), str):
        return value[KEY]
    return text
