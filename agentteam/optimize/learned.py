"""Tools the optimizer writes: its code checked, then written to one Python file.

A run reads every function tool's signature by importing its module on this machine
(``tools/python.py``), so code from a model must do nothing when imported: its top
level may hold only a docstring, imports of the standard library, constants and plain
function definitions whose annotations and defaults are inert expressions (names,
attributes, subscripts, constants). What the functions do runs only when they are
called, and they are called only in the sandbox (``run: sandbox``, always).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass

from ..team.write import comment_text

# Standard modules that act when imported (open a browser, print, start a GUI), or
# whose subscripts load native code (``ctypes.cdll["lib.so"]``).
_ACTIVE_MODULES = {"antigravity", "this", "webbrowser", "turtle", "turtledemo", "tkinter",
                   "idlelib", "pydoc", "pdb", "site", "ensurepip", "venv", "lib2to3", "ctypes"}
# Names an import-time expression may not touch: the host's environment (its keys) and
# private or dunder attributes (``__builtins__``, ``__globals__``, ...).
_HIDDEN = {"environ", "environb"}
# The typing forms whose subscripts hold strings that are data, not types.
_STRING_FORMS = {"Literal", "Annotated"}
_TYPING = {"typing", "typing_extensions"}
_INERT = (ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List,
          ast.Load, ast.BinOp, ast.BitOr, ast.UnaryOp, ast.USub, ast.Slice)


@dataclass
class LearnedTool:
    """A tool written by the optimizer: its function's name, description and module code."""

    name: str
    description: str
    code: str


def check_code(name: str, code: str, elsewhere: frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with a tool's code (empty when it may be written and imported);
    ``elsewhere``: the string constants and aliases the other tools of its file define."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return [f"tool `{name}`: its code is not valid Python (line {e.lineno}: {e.msg})"]
    assigned = _risky(tree) | elsewhere
    problems = [f"tool `{name}`: line {node.lineno}: {why}" for node in tree.body
                for why in _top_level(node, assigned)]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    if name not in functions:
        problems.append(f"tool `{name}`: its code defines no function `{name}`")
    return problems


def _top_level(node: ast.stmt, assigned: set[str]) -> list[str]:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return []
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _imports(node)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        values = [node.value] if node.value is not None else []
        if isinstance(node, ast.AnnAssign):
            values.append(node.annotation)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if all(isinstance(t, ast.Name) for t in targets) and \
                all(_literal(v, assigned) for v in values):
            return []
        return ["a top-level assignment may only give a name a constant"]
    if isinstance(node, ast.FunctionDef):
        return _signature(node, assigned)
    return [f"`{type(node).__name__}` at the top level runs when the module is imported; "
            "put it inside the function"]


def _imports(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return ["relative imports are not allowed"]
        names = [node.module or ""]
    else:
        names = [a.name for a in node.names]
    bad = [n for n in names if n.split(".")[0] not in sys.stdlib_module_names
           or n.split(".")[0] in _ACTIVE_MODULES or n.startswith("_")]
    out = [f"`import {n}` at the top level: import what is not a plain standard module "
           "inside the function (it runs in the sandbox)" for n in bad]
    for a in node.names:
        bound = a.asname or a.name
        if a.name in _HIDDEN or a.name.startswith("_") or (
                bound in _STRING_FORMS and not (isinstance(node, ast.ImportFrom)
                                                and node.module in _TYPING)):
            out.append(f"`{a.name}{' as ' + a.asname if a.asname else ''}` may not be "
                       "imported at the top level; import it inside the function")
    return out


def _signature(node: ast.FunctionDef, assigned: set[str]) -> list[str]:
    if node.decorator_list:
        return ["decorators run when the module is imported; define a plain function"]
    a = node.args
    hints = [x.annotation for x in a.posonlyargs + a.args + a.kwonlyargs if x.annotation]
    hints += [node.returns] if node.returns else []
    defaults = [x for x in a.defaults + a.kw_defaults if x is not None]
    # a hint's strings are code: reading the signature (typing.get_type_hints) runs them
    if all(_inert(x, assigned) for x in hints) and \
            all(_inert(x, assigned, code_strings=False) for x in defaults):
        return []
    return [f"`{node.name}`: annotations and defaults are evaluated on import (a hint's "
            "strings too); use only names, constants and subscripts like list[int] (no "
            "calls, no code in strings, no os.environ)"]


def _inert(expr: ast.expr, assigned: set[str], code_strings: bool = True,
           depth: int = 0) -> bool:
    """Does evaluating ``expr`` (on import, or as a type hint) run nothing? Names,
    attributes, constants, type subscripts and ``|``; arithmetic of numbers only (no
    ``"a" * 10**9``); no environment, no private names; no subscript that looks up a
    string key (``os.environ["KEY"]``) outside ``Literal``/``Annotated``; with
    ``code_strings``, no string that is code (a type hint's strings are evaluated)."""
    for n in ast.walk(expr):
        if not isinstance(n, _INERT + (ast.expr_context, ast.operator, ast.unaryop)):
            return False
        word = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) \
            else None
        if word is not None and (word in _HIDDEN or word.startswith("_")):
            return False
        if isinstance(n, ast.BinOp) and not isinstance(n.op, ast.BitOr) and not _number(n):
            return False
        if isinstance(n, ast.Subscript) and not _type_subscript(n, assigned):
            return False
        if code_strings and isinstance(n, ast.Constant) and isinstance(n.value, str):
            if depth > 3 or not all(_inert(t, assigned, True, depth + 1)
                                    for t in _as_code(n.value)):
                return False
    return True


def _number(op: ast.BinOp) -> bool:
    """Arithmetic of number literals, small enough to compute (``2**31 - 1``)."""
    for n in ast.walk(op):
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Pow, ast.LShift)) and not (
                isinstance(n.left, ast.Constant) and isinstance(n.right, ast.Constant)
                and isinstance(n.right.value, int) and n.right.value <= 64):
            return False
        if isinstance(n, ast.Constant) and (isinstance(n.value, bool) or not isinstance(
                n.value, (int, float, complex))):
            return False
        if not isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator,
                              ast.unaryop)):
            return False
    return True


def _type_subscript(n: ast.Subscript, assigned: set[str]) -> bool:
    """``list[int]``, ``Annotated[str, "the city"]``: not a lookup in a string, a
    module constant, or by a string key (``sys.modules["ctypes"]``)."""
    base = n.value
    if isinstance(base, ast.Constant) or (isinstance(base, ast.Name) and base.id in assigned):
        return False
    form = base.id if isinstance(base, ast.Name) else \
        base.attr if isinstance(base, ast.Attribute) else ""
    if form in _STRING_FORMS:
        return True
    return not any((isinstance(k, ast.Constant) and isinstance(k.value, (str, bytes))) or
                   (isinstance(k, ast.Name) and k.id in assigned) for k in ast.walk(n.slice))


def _as_code(text: str) -> list[ast.expr]:
    """What a string would run as a type hint (``typing.ForwardRef``), if it parses."""
    out = []
    for variant in {text, text.strip(), text.strip().lstrip("*").strip()}:
        try:
            out.append(ast.parse(variant, mode="eval").body)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
    return out


def _literal(expr: ast.expr, assigned: set[str]) -> bool:
    try:
        ast.literal_eval(expr)
        literal = True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        literal = False
    if literal:     # its strings may not be code: a type hint may name it (``x: CONST``)
        return all(_inert(t, assigned) for n in ast.walk(expr) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str) for t in _as_code(n.value))
    return _inert(expr, assigned) and not any(isinstance(n, ast.Attribute)
                                              for n in ast.walk(expr))


def top_level_names(code: str) -> set[str]:
    """The names a tool's module defines (functions, constants), imports left out."""
    names: set[str] = set()
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def clashes(tools: list[LearnedTool]) -> list[str]:
    """Names two tools' code both define: in one file the second would replace the first."""
    seen: dict[str, str] = {}
    problems = []
    for t in tools:
        for n in sorted(top_level_names(t.code)):
            if n in seen and seen[n] != t.name:
                problems.append(f"tools `{seen[n]}` and `{t.name}` both define `{n}`; "
                                "rename one (they share a file)")
            seen.setdefault(n, t.name)
    return problems


def _risky(tree: ast.Module) -> set[str]:
    """The constants whose subscripts or use as a key could be a lookup, not a type: the
    ones that hold a string and the aliases of another object (``M = modules``)."""
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and (
                isinstance(node.value, (ast.Name, ast.Attribute)) or any(
                    isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes))
                    for n in ast.walk(node.value))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out.update(t.id for t in targets if isinstance(t, ast.Name))
    return out


def check_together(tools: list[LearnedTool]) -> list[str]:
    """Each tool's code checked knowing what the others define: they share one file, so
    a hint of one may slice a constant of another."""
    names = [_risky(ast.parse(t.code)) for t in tools]
    out = []
    for i, t in enumerate(tools):
        others = frozenset().union(*(n for j, n in enumerate(names) if j != i))
        out += check_code(t.name, t.code, others)
    return out


def module_text(tools: list[LearnedTool], header: str) -> str:
    """The one file that holds every learned tool; ``from __future__`` lines go first."""
    future = False
    bodies = []
    for t in tools:
        code = t.code.strip("\n")
        lines = code.split("\n")
        for node in ast.parse(code).body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                future = True
                for i in range(node.lineno - 1, node.end_lineno or node.lineno):
                    lines[i] = ""
        bodies.append(f"# -- tool `{t.name}` --\n" + "\n".join(lines).strip("\n") + "\n")
    head = "\n".join(comment_text(header)) + "\n\n" + \
        ("from __future__ import annotations\n\n" if future else "")
    return head + "\n\n".join(bodies)
