"""Writing a team file: YAML that ``load_team`` reads back as it was, with comments.

PyYAML's safe emitter writes the values (it quotes whatever would read back as
something else: ``"yes"``, ``"2024-06-01"``, ``"null"``, control characters); multi-line
text becomes a ``|`` block where YAML allows one. Comments are then put above the
keys they are about, found by reading the text back with the loader's own positions.
Comment text is made single-line-safe: nothing in it can end the comment and start YAML.
"""

from __future__ import annotations

from typing import Any

import yaml

from . import yamlsafe

# Characters that end a line for a YAML reader, or that it refuses in a file.
_UNSAFE = {"\r", "\n", "\x85", "\u2028", "\u2029", "\ufeff"}


class _Dumper(yaml.SafeDumper):
    """Block mappings; short lists and rules of scalars in flow style; text as blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # list items indented under their key (`agents:` then `  - name: ...`)
        return super().increase_indent(flow, False)


class _Block(dict):
    """A mapping always written in block style (a top-level key's value: its keys may
    carry comments)."""


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _flowable(v: Any, budget: int = 70) -> bool:
    """Small, single-line values of scalars (``[a, b]``, ``{to: Critic}``) read best inline."""
    if _is_scalar(v):
        return not (isinstance(v, str) and (len(v) > budget or any(c in v for c in _UNSAFE)))
    items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else None
    if items is None or isinstance(v, _Block):
        return False
    return all(_flowable(x, budget) for _, x in items) and \
        len(yaml.safe_dump(v, default_flow_style=True, width=10**6)) <= budget


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # A reader turns "\r", NEL or U+2028 in a block or a plain scalar into a line break
    # (or a space): text with them is written double-quoted, where they are escaped.
    special = any(c in _UNSAFE for c in value.replace("\n", ""))
    style = '"' if special else "|" if "\n" in value.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: list) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value,
                                     flow_style=_flowable(value))


def _represent_dict(dumper: yaml.SafeDumper, value: dict) -> yaml.Node:
    flow = bool(value) and len(value) <= 3 and _flowable(value, 60)
    return dumper.represent_mapping("tag:yaml.org,2002:map", dict(value),
                                    flow_style=flow or None)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(_Block, _represent_dict)


def comment_text(text: str) -> list[str]:
    """``text`` as comment lines: one per line of it, with nothing that could end a
    comment early (a carriage return, NEL, a Unicode line separator)."""
    out = []
    for line in str(text).split("\n"):
        safe = "".join(c if c.isprintable() and c not in _UNSAFE else "?" for c in line)
        out.append(("# " + safe).rstrip())
    return out


def dump_team(data: dict, comments: dict[tuple, str] | None = None,
              header: str = "") -> str:
    """The team ``data`` as YAML text; ``comments`` maps key paths (``("agents", 0)``,
    ``("speaker_selection",)``) to text put above them, ``header`` goes first."""
    data = {k: _Block(v) if isinstance(v, dict) and v else v for k, v in data.items()}
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
    lines = body.splitlines()
    if comments:
        _, positions, _, _ = yamlsafe.load(body, "<written>")
        placed: dict[int, list[str]] = {}
        for path, text in comments.items():
            line, _ = positions.get(tuple(path), (None, None))
            if line is None:
                continue
            # indented as the line it is about: never deeper, where it could be read as
            # part of a block of text just above
            target = lines[line - 1]
            indent = " " * (len(target) - len(target.lstrip(" ")))
            placed.setdefault(line, []).extend(indent + c for c in comment_text(text))
        for line in sorted(placed, reverse=True):
            lines[line - 1:line - 1] = placed[line]
    head = comment_text(header) if header else []
    return "\n".join(head + lines) + "\n"
