"""A Python function's JSON schema, from its type hints and docstring.

``Annotated[float, "Amount in the base currency"]`` (or a pydantic ``Field``)
describes a parameter; ``Literal`` gives an enum; defaults make a parameter
optional; pydantic models become nested objects. A docstring's first paragraph
describes the tool, and a Google-style ``Args:`` section describes parameters
that ``Annotated`` does not. Every parameter needs a type hint.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Callable


class SchemaError(ValueError):
    """The function cannot be offered as a tool; the message says why and what to do."""


def function_schema(func: Callable, name: str,
                    description: str | None = None) -> tuple[dict, type]:
    """The OpenAI ``{"type": "function", "function": {...}}`` entry for ``func``, and the
    pydantic model that checks a call's arguments against it."""
    from pydantic import Field, create_model
    from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as e:  # a hint naming something undefined, or a broken annotation
        raise SchemaError(f"its type hints cannot be read ({type(e).__name__}: {e})") from None
    doc_params = _doc_params(inspect.getdoc(func) or "")
    fields: dict[str, Any] = {}
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise SchemaError(f"*{p.name} cannot be offered to a model; name every parameter")
        if p.kind is p.POSITIONAL_ONLY:
            raise SchemaError(f"parameter `{p.name}` is positional-only; models pass arguments "
                              "by name")
        if p.name not in hints:
            raise SchemaError(f"parameter `{p.name}` has no type hint; add one (e.g. "
                              f"`{p.name}: str`), so the model knows what to pass")
        hint = hints[p.name]
        desc = doc_params.get(p.name) if not _annotated_text(hint) else None
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (_plain(hint), Field(default, description=_annotated_text(hint) or desc))
    try:
        model = create_model(f"{name}_arguments", **fields)
        params = model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError, ValueError) as e:
        raise SchemaError(f"a parameter's type has no JSON schema ({_first_line(e)})") from None
    _drop_titles(params)
    params.setdefault("properties", {})
    return {"type": "function", "function": {
        "name": name, "description": description or _summary(inspect.getdoc(func) or "") or name,
        "parameters": params}}, model


def check_arguments(model: type, arguments: dict) -> tuple[dict | None, str]:
    """The arguments as the function's types want them (JSON values), or what is wrong
    with them, in words a model can act on."""
    from pydantic import ValidationError
    try:
        return model.model_validate(arguments).model_dump(  # type: ignore[attr-defined]
            mode="json", exclude_unset=True), ""
    except ValidationError as e:
        problems = [f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}"
                    for err in e.errors()]
        return None, "; ".join(problems)


def _annotated_text(hint: Any) -> str | None:
    """The description string of ``Annotated[T, "text"]``, if any."""
    if typing.get_origin(hint) is typing.Annotated:
        return next((m for m in hint.__metadata__ if isinstance(m, str)), None)
    return None


def _plain(hint: Any) -> Any:
    """``Annotated[T, "text", Field(...)]`` without its strings (pydantic keeps the rest)."""
    if typing.get_origin(hint) is typing.Annotated:
        rest = [m for m in hint.__metadata__ if not isinstance(m, str)]
        base = hint.__origin__
        return typing.Annotated[(base, *rest)] if rest else base  # type: ignore[valid-type]
    return hint


def _summary(doc: str) -> str:
    """The docstring's first paragraph."""
    return doc.split("\n\n", 1)[0].strip()


_SECTION = re.compile(r"^(Args|Arguments|Parameters):\s*$", re.MULTILINE)
_PARAM = re.compile(r"^\s{0,8}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


def _doc_params(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section."""
    m = _SECTION.search(doc)
    if not m:
        return {}
    out: dict[str, str] = {}
    last = None
    for line in doc[m.end():].splitlines():
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            break       # the next section
        pm = _PARAM.match(line)
        if pm and len(line) - len(line.lstrip()) <= 8 and pm.group(1) not in out:
            last = pm.group(1)
            out[last] = pm.group(2).strip()
        elif last:
            out[last] += " " + line.strip()
    return out


def _drop_titles(schema: Any) -> None:
    """pydantic's ``title`` keys only cost tokens; models do not need them."""
    if isinstance(schema, dict):
        if not isinstance(schema.get("title"), dict):   # a property named `title` stays
            schema.pop("title", None)
        for v in schema.values():
            _drop_titles(v)
    elif isinstance(schema, list):
        for v in schema:
            _drop_titles(v)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
