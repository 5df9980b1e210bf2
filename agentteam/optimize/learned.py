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

# Standard modules that act when imported (open a browser, print, start a GUI).
_ACTIVE_MODULES = {"antigravity", "this", "webbrowser", "turtle", "turtledemo", "tkinter",
                   "idlelib", "pydoc", "pdb", "site", "ensurepip", "venv", "lib2to3"}
_INERT = (ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List,
          ast.Load, ast.BinOp, ast.BitOr, ast.UnaryOp, ast.USub, ast.Slice)


@dataclass
class LearnedTool:
    """A tool written by the optimizer: its function's name, description and module code."""

    name: str
    description: str
    code: str


def check_code(name: str, code: str) -> list[str]:
    """What is wrong with a tool's code (empty when it may be written and imported)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return [f"tool `{name}`: its code is not valid Python (line {e.lineno}: {e.msg})"]
    problems = [f"tool `{name}`: line {node.lineno}: {why}" for node in tree.body
                for why in _top_level(node)]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    if name not in functions:
        problems.append(f"tool `{name}`: its code defines no function `{name}`")
    return problems


def _top_level(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return []
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _imports(node)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        values = [node.value] if node.value is not None else []
        if isinstance(node, ast.AnnAssign):
            values.append(node.annotation)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if all(isinstance(t, ast.Name) for t in targets) and all(map(_literal, values)):
            return []
        return ["a top-level assignment may only give a name a constant"]
    if isinstance(node, ast.FunctionDef):
        return _signature(node)
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
           or n.split(".")[0] in _ACTIVE_MODULES]
    return [f"`import {n}` at the top level: import what is not a plain standard module "
            "inside the function (it runs in the sandbox)" for n in bad]


def _signature(node: ast.FunctionDef) -> list[str]:
    if node.decorator_list:
        return ["decorators run when the module is imported; define a plain function"]
    a = node.args
    exprs = [x.annotation for x in a.posonlyargs + a.args + a.kwonlyargs if x.annotation]
    exprs += [x for x in a.defaults + a.kw_defaults if x is not None]
    exprs += [node.returns] if node.returns else []
    if all(_inert(x) for x in exprs):
        return []
    return [f"`{node.name}`: annotations and defaults are evaluated on import; use only "
            "names, constants and subscripts like list[int] (no calls)"]


def _inert(expr: ast.expr) -> bool:
    return all(isinstance(n, _INERT + (ast.expr_context, ast.operator, ast.unaryop))
               for n in ast.walk(expr))


def _literal(expr: ast.expr) -> bool:
    try:
        ast.literal_eval(expr)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _inert(expr) and not any(isinstance(n, ast.Attribute) for n in ast.walk(expr))


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
