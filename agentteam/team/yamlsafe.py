"""Read YAML for people: safe, bounded, and with a line and column for every key.

PyYAML composes the node graph; we build plain Python values from it ourselves
so that we can refuse what a team file never needs (tags, huge alias
expansions, absurd nesting, duplicate keys, non-string keys) and remember where
each value came from, for error messages.
"""

from __future__ import annotations

import codecs

import yaml

from ..errors import ConfigError, Problem

MAX_BYTES = 1_000_000
MAX_NODES = 50_000
MAX_DEPTH = 40

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}

Path = tuple  # of str | int
Positions = dict  # Path -> (line, column), 1-based


def decode(raw: bytes, file: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM) or UTF-16 with a BOM; else a clear error."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{file}: file is {len(raw)} bytes; a team file may be at most "
                          f"{MAX_BYTES} bytes", [Problem(file, None, None, "",
                                                         f"file too large ({len(raw)} bytes)")])
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise _one(file, line, None, "this is a binary file, not YAML text (NUL byte); "
                   "a team file is UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise _one(file, line, col, f"byte 0x{raw[e.start]:02x} is not UTF-8; save the file "
                   "as UTF-8") from None


def _one(file: str, line: int | None, col: int | None, message: str, path: str = "") -> ConfigError:
    problem = Problem(file, line, col, path, message)
    return ConfigError(str(problem), [problem])


def load(text: str, file: str) -> tuple[object, Positions, list[Problem], set[Path]]:
    """Parse YAML text into plain values, a map from key path to (line, column), the
    problems that do not stop reading (duplicate keys, tags), and the paths of the values
    refused for those problems (their type is not worth a second error); fatal problems
    raise ConfigError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = " ".join(x for x in (e.context, e.problem) if x)
        raise _one(file, mark.line + 1 if mark else None, mark.column + 1 if mark else None,
                   f"YAML syntax: {what}") from None
    except yaml.YAMLError as e:
        raise _one(file, None, None, f"YAML: {e}") from None
    except RecursionError:
        raise _one(file, None, None, f"nesting is too deep (a team file needs at most "
                   f"{MAX_DEPTH} levels)") from None
    if node is None:
        raise _one(file, 1, 1, "the file is empty; a team file needs at least `name`, "
                   "`task` and `agents`")
    builder = _Builder(file)
    value = builder.build(node, (), 0)
    return value, builder.positions, builder.problems, builder.refused


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.positions: Positions = {}
        self.problems: list[Problem] = []
        self.refused: set[Path] = set()   # values replaced or kept despite a problem
        self.count = 0
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def _problem(self, node: yaml.Node, path: Path, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1,
                                     node.start_mark.column + 1, format_path(path), message))

    def _refuse(self, node: yaml.Node, path: Path, message: str) -> None:
        """A problem with the value at ``path`` itself: the one error reported for it."""
        self._problem(node, path, message)
        self.refused.add(path)

    def build(self, node: yaml.Node, path: Path, depth: int) -> object:
        self.count += 1
        if self.count > MAX_NODES:
            self._problem(node, path, f"more than {MAX_NODES} values (an alias/anchor bomb?); "
                          "a team file never needs that many")
            raise ConfigError(str(self.problems[-1]), self.problems)
        if depth > MAX_DEPTH:
            self._problem(node, path, f"nesting is deeper than {MAX_DEPTH} levels")
            raise ConfigError(str(self.problems[-1]), self.problems)
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _STD + "seq":
                self._refuse(node, path, f"YAML tag {node.tag} is not allowed here")
            return [self.build(n, path + (i,), depth + 1) for i, n in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            self._refuse(node, path, f"YAML tag {node.tag} is not allowed; write a plain value")
            return None
        if node.tag == _STD + "timestamp":   # `api_version: 2024-06-01` stays a string
            return node.value
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError) as e:
            self._refuse(node, path, f"bad value {node.value!r}: {e}")
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict:
        if node.tag != _STD + "map":
            self._refuse(node, path, f"YAML tag {node.tag} is not allowed here")
        out: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _STD + "merge":
                self._problem(key_node, path, "merge keys (<<) are not supported; "
                              "write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STD + "str":
                shown = getattr(key_node, "value", "?")
                self._problem(key_node, path, f"key {shown!r} must be a plain string")
                continue
            key = key_node.value
            if key in out:
                first = self.positions.get(path + (key,), ("?", "?"))
                self._problem(key_node, path + (key,),
                              f"duplicate key `{key}` (first at line {first[0]}); "
                              "remove one of them")
                continue
            self.positions[path + (key,)] = (key_node.start_mark.line + 1,
                                             key_node.start_mark.column + 1)
            out[key] = self.build(value_node, path + (key,), depth + 1)
        return out


def format_path(path: Path) -> str:
    """('agents', 1, 'modle') -> 'agents[1].modle'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def position(positions: Positions, path: Path) -> tuple[int | None, int | None]:
    """The (line, column) of the nearest existing prefix of ``path``."""
    path = tuple(path)
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return positions.get((), (None, None))
