"""Cross-checks of the keys that shape a chat's flow (``load.py`` runs them with the rest).

Names that must be agents (``initiator``, ``allow_repeat``, rule targets,
``termination.agents``), keys that only make sense together, the selection function's
file, and an ``OAI_CONFIG_LIST`` that is nowhere to be found (the same kind of error as
an unset ``${VAR}``). Reading a function's file never runs it: its top-level names are
read with ``ast``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any, Callable

Add = Callable[[tuple, str], None]
Hint = Callable[[str, list[str]], str]

# `module.sub:func` or `path/to/file.py:func`
FUNCTION_RE = re.compile(r"^(?P<where>[^:]+\.py|[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)$")


def flow_problems(data: dict, agent_names: list[str], base_dir: Path, env: Any,
                  add: Add, hint: Hint) -> None:
    """Report every problem of the flow keys through ``add(loc, message)``."""

    def agent_ref(loc: tuple, name: Any) -> None:
        if isinstance(name, str) and name not in agent_names:
            add(loc, f"unknown agent `{name}`{hint(name, agent_names)}")

    agent_ref(("initiator",), data.get("initiator"))
    sel = data.get("speaker_selection")
    sel = {"method": sel} if isinstance(sel, str) else sel
    if isinstance(sel, dict):
        repeat = sel.get("allow_repeat")
        for j, name in enumerate(repeat if isinstance(repeat, list) else []):
            agent_ref(("speaker_selection", "allow_repeat", j), name)
        _function_problems(sel, base_dir, add, hint)
    term = data.get("termination")
    if isinstance(term, dict) and isinstance(term.get("agents"), list):
        for j, name in enumerate(term["agents"]):
            agent_ref(("termination", "agents", j), name)
    trans = data.get("transitions")
    disallowed = data.get("transitions_type") == "disallowed"
    for src, entries in (trans.items() if isinstance(trans, dict) else []):
        for j, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            if disallowed:
                add(("transitions", src, j), "rules need `transitions_type: allowed`; a "
                    "disallowed list names agents only")
            agent_ref(("transitions", src, j, "to"), entry.get("to"))
    models = data.get("models")
    for pname, prof in (models.items() if isinstance(models, dict) else []):
        if isinstance(prof, dict):
            _config_list_problems(("models", pname), prof, base_dir, env, add)


def _function_problems(sel: dict, base_dir: Path, add: Add, hint: Hint) -> None:
    spec, method = sel.get("function"), sel.get("method")
    if method == "function" and spec is None:
        add(("speaker_selection", "method"), "method `function` needs `function: "
            "module:func` or `function: file.py:func` (a file next to the team file)")
    if spec is None:
        return
    loc = ("speaker_selection", "function")
    if method != "function":
        add(loc, "`function` applies only with `method: function`")
        return
    if not isinstance(spec, str):
        return
    m = FUNCTION_RE.match(spec.strip())
    if not m:
        add(loc, f"{spec!r} is not `module:func` or `file.py:func`")
        return
    where, name = m.group("where"), m.group("name")
    if where.endswith(".py"):
        _file_problem(loc, base_dir / where, where, name, add, hint)
    elif not _module_exists(where):
        add(loc, f"no module `{where}` can be imported (for a file next to the team file, "
            f"write `{where.replace('.', '/')}.py:{name}`)")


def _file_problem(loc: tuple, path: Path, shown: str, name: str, add: Add, hint: Hint) -> None:
    """Does ``path`` define ``name`` at its top level? Read, never run."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        add(loc, f"no file {shown} next to the team file ({path})")
        return
    except (OSError, UnicodeDecodeError) as e:
        add(loc, f"cannot read {shown}: {getattr(e, 'strerror', None) or e}")
        return
    except SyntaxError as e:
        add(loc, f"{shown}:{e.lineno}: Python syntax error: {e.msg}")
        return
    defined = [n.name for n in tree.body
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    defined += [t.id for n in tree.body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)]
    if name not in defined:
        add(loc, f"{shown} defines no `{name}`{hint(name, defined)}")


def _module_exists(dotted: str) -> bool:
    """Whether the top-level package of ``dotted`` can be found (nothing is imported)."""
    try:
        return importlib.util.find_spec(dotted.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


class ModelsOverridden(dict):
    """The environment to load a team with when ``run --model`` replaces every profile:
    its config lists are never read then, so a missing one is no problem."""


def _config_list_problems(loc: tuple, prof: dict, base_dir: Path, env: Any, add: Add) -> None:
    source = prof.get("config_list")
    for key in ("filter_models", "filter_dict"):
        if key in prof and source is None:
            add(loc + (key,), f"`{key}` applies only with `config_list:`")
    if not isinstance(source, str) or source in env or isinstance(env, ModelsOverridden):
        return
    for path in (Path(source), base_dir / source):
        try:
            if path.is_file():
                return
        except (OSError, ValueError):
            continue
    add(loc + ("config_list",), f"`{source}` is neither a set environment variable nor a "
        f"file; export {source}='[{{\"model\": ...}}]' (AutoGen's OAI_CONFIG_LIST) or give "
        "the path of a JSON file")
