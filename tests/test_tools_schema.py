"""Tool schemas from type hints and docstrings, and every bad `tools:` key as a clear
error at load (file:line, did-you-mean, exit 2)."""

from __future__ import annotations

import textwrap
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from agentteam.tools.schema import SchemaError, check_arguments, function_schema


class Currency(BaseModel):
    currency: Annotated[Literal["USD", "EUR"], Field(description="Currency symbol")]
    amount: Annotated[float, Field(0, description="Amount of currency", ge=0)]


def convert(base_amount: Annotated[float, "Amount of currency in base_currency"],
            base_currency: Annotated[Literal["USD", "EUR"], "Base currency"] = "USD",
            rounding: int = 2, title: str = "x") -> str:
    """Currency exchange calculator.

    More words that are not the description.

    Args:
        rounding: digits after the
            decimal point.
    """
    return ""


def with_model(base: Currency, quote: Literal["USD", "EUR"] = "EUR") -> Currency:
    return base


def test_schema_from_hints_docstring_and_defaults():
    schema, _ = function_schema(convert, "convert")
    f = schema["function"]
    assert schema["type"] == "function" and f["name"] == "convert"
    assert f["description"] == "Currency exchange calculator."
    p = f["parameters"]
    assert p["type"] == "object" and p["required"] == ["base_amount"]
    assert p["properties"] == {
        "base_amount": {"description": "Amount of currency in base_currency", "type": "number"},
        "base_currency": {"default": "USD", "description": "Base currency",
                          "enum": ["USD", "EUR"], "type": "string"},
        "rounding": {"default": 2, "description": "digits after the decimal point.",
                     "type": "integer"},
        "title": {"default": "x", "type": "string"}}     # a parameter named title stays


def test_pydantic_models_become_objects_and_arguments_are_checked():
    schema, model = function_schema(with_model, "with_model", "Converts.")
    p = schema["function"]["parameters"]
    assert schema["function"]["description"] == "Converts."
    assert p["properties"]["base"] == {"$ref": "#/$defs/Currency"}
    assert p["$defs"]["Currency"]["properties"]["amount"]["minimum"] == 0
    assert p["$defs"]["Currency"]["required"] == ["currency"]
    assert check_arguments(model, {"base": {"currency": "USD", "amount": "2"}}) == \
        ({"base": {"currency": "USD", "amount": 2.0}}, "")
    args, problem = check_arguments(model, {"base": {"currency": "GBP"}, "extra": 1})
    assert args is None and problem.startswith("base.currency: Input should be 'USD' or 'EUR'")


@pytest.mark.parametrize("source,message", [
    ("def f(x, y: int): pass", "parameter `x` has no type hint; add one (e.g. `x: str`)"),
    ("def f(*args: int): pass", "*args cannot be offered to a model"),
    ("def f(x: int, /): pass", "parameter `x` is positional-only"),
    ("class Foo: pass\ndef f(x: Foo): pass", "a parameter's type has no JSON schema"),
    ("def f(x: 'Nowhere'): pass", "its type hints cannot be read (NameError"),
])
def test_functions_that_cannot_be_tools(source, message):
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(SchemaError) as e:
        function_schema(namespace["f"], "f")
    assert str(e.value).startswith(message)


def test_every_bad_tools_key_is_reported_at_load(cli, tmp_path):
    (tmp_path / "t.py").write_text("def g(x, y: int):\n    pass\n\ndef h(x: int) -> int:\n"
                                   "    return x\n")
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n\ndef f(x: int): pass\n")
    team = tmp_path / "team.yaml"
    team.write_text(textwrap.dedent("""\
        name: t
        task: x
        tools:
          - function: tools/nothere.py:f
          - function: "bad spec"
          - {name: srv, mcp: {command: x, url: y}}
          - {mcp: {command: x}}
          - {name: srv2, mcp: {command: x}, run: host}
          - function: t.py:h
            timeot: 3
          - {function: t.py:h, name: run_code}
          - {function: t.py:h, name: h2, mcp: {command: x}}
          - {name: env, mcp: {command: x, env: {TOKEN: "sk-abcdefghijklmnop0123"}}}
        agents:
          - {name: U, kind: user_proxy, execute_tools: false}
          - {name: A, tools: [h, nosuch, hh, srvv.*, run_code, srv.any]}
        """))
    r = cli("validate", team)
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    expected = [
        "team.yaml:4:5: tools[0].function: no file tools/nothere.py next to the team file",
        "team.yaml:5:5: tools[1].function: `bad spec` is not file.py:function",
        "team.yaml:6:17: tools[2].mcp: an MCP server needs `command:` (started over stdio) "
        "or `url:`",
        "team.yaml:7:5: tools[3]: an MCP server needs `name:`",
        "team.yaml:8:37: tools[4].run: `run` applies to function tools",
        "team.yaml:10:5: tools[5].timeot: unknown key `timeot`; did you mean `timeout`?",
        "team.yaml:11:24: tools[6].name: `run_code` is agentteam's own code tool",
        "team.yaml:12:5: tools[7]: give either `function:` or `mcp:`, not both",
        "team.yaml:13:41: tools[8].mcp.env.TOKEN: this looks like a literal key",
        "team.yaml:16:15: agents[1].tools: agents are offered tools, but no agent runs tool "
        "calls; give one `execute_tools: true`",
        "team.yaml:16:26: agents[1].tools[1]: unknown tool `nosuch` (tools: f, h, run_code, "
        "srv.*, srv2.*, env.*)",
        "team.yaml:16:34: agents[1].tools[2]: unknown tool `hh`; did you mean `h`?",
        "team.yaml:16:38: agents[1].tools[3]: unknown tool `srvv.*`; did you mean `srv.*`?",
    ]
    for want in expected:
        assert any(want in line for line in lines), (want, lines)
    assert "Traceback" not in r.stderr


def test_functions_are_read_at_validate(cli, tmp_path):
    (tmp_path / "t.py").write_text("def g(x, y: int):\n    pass\n")
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n\ndef f(x: int): pass\n")
    team = tmp_path / "team.yaml"
    team.write_text(textwrap.dedent("""\
        name: t
        task: x
        tools:
          - function: t.py:g
          - function: broken.py:f
          - function: t.py:missing
          - function: json:dumps
        agents:
          - {name: U, kind: user_proxy}
          - {name: A, tools: [g, f, missing, dumps]}
        """))
    r = cli("validate", team)
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert any(line.startswith(f"error: {team}:4:5: tools[0].function: `t.py:g`: parameter "
                               "`x` has no type hint") for line in lines), lines
    assert any("tools[1].function: `broken.py:f`: cannot import it (ModuleNotFoundError: No "
               "module named 'not_a_module_anywhere')" in line for line in lines), lines
    assert any("tools[2].function: `t.py:missing`: no function `missing` in it" in line
               for line in lines), lines
    assert any("tools[3].function: `json:dumps`: parameter `obj` has no type hint" in line
               for line in lines), lines
    assert "Traceback" not in r.stderr
    r = cli("run", team)
    assert r.exit_code == 2 and "parameter `x` has no type hint" in r.stderr
