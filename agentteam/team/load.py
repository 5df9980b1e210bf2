"""Loading a team file: ``load_team`` reports every problem of a file at once.

Each problem names file:line:column, the key path, what was expected and a
"did you mean" where one fits.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import AbstractSet, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import ConfigError, Problem
from ..files import NotRegularFile, TooLarge, read_limited
from . import nesting, yamlsafe
from .checks import flow_problems
from .flow import Condition, TransitionRule
from .images import image_generator_problems
from .schema import (
    KEYLESS,
    LITERAL_KEY_RE,
    VAR_RE,
    AgentSpec,
    Budget,
    Cache,
    ChatSpec,
    CodeExecution,
    McpServer,
    ModelProfile,
    SpeakerSelection,
    TeamSpec,
    Termination,
    ToolSpec,
)
from .toolcheck import check_tools


def load_team(path: str | Path, env: dict[str, str] | None = None, *,
              _chain: tuple[Path, ...] = (), _depth: int = 0) -> TeamSpec:
    """Read, validate and cross-check a team file (and the team files it nests); raise
    ConfigError listing every problem.

    ``_chain`` and ``_depth``: the files and the nesting depth above this one, when it is
    loaded as an inner team (see ``team.nesting``)."""
    file = str(path)
    try:
        raw = read_limited(path, yamlsafe.MAX_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file; check the path "
                          "(example teams live in teams/)") from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a directory; give a team .yaml file") from None
    except NotRegularFile as e:
        raise ConfigError(f"{file}: {e}; give a team .yaml file") from None
    except TooLarge as e:
        raise ConfigError(f"{file}: file is {e.size} bytes; a team file may be at most "
                          f"{yamlsafe.MAX_BYTES} bytes") from None
    except OSError as e:
        raise ConfigError(f"{file}: cannot read: {e.strerror}") from None
    return parse_team(yamlsafe.decode(raw, file), file, env, _chain=_chain, _depth=_depth)


def parse_team(text: str, file: str = "<team>", env: dict[str, str] | None = None, *,
               _chain: tuple[Path, ...] = (), _depth: int = 0) -> TeamSpec:
    """Validate team-file text; ``file`` is used in messages and to place the work dir."""
    data, positions, problems, refused = yamlsafe.load(text, file)
    if not isinstance(data, dict):
        problem = Problem(file, 1, 1, "", "a team file is a mapping of keys "
                                          "(name:, task:, agents:, ...)")
        raise ConfigError(str(problem), [problem])
    team = None
    try:
        team = TeamSpec.model_validate(data)
    except ValidationError as e:
        problems += [_from_pydantic(err, _loc(err), positions, file) for err in e.errors()
                     if not _under(_loc(err), refused)]
    environ = env if env is not None else os.environ
    problems += _cross_check(data, positions, file, environ, refused)
    # inner teams: their own files' problems come after this file's
    inner = nesting.resolve(team, data, positions, file, environ,
                            _chain + (Path(file).resolve(),), _depth)
    if problems or inner:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        problems += inner
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise ConfigError("\n".join(map(str, problems)), problems)
    assert team is not None
    team.source = file
    where = _work_dir_problem(team)
    if where:
        loc = ("code_execution", "work_dir")
        line, col = yamlsafe.position(positions, loc)
        problem = Problem(file, line, col, yamlsafe.format_path(loc), where)
        raise ConfigError(str(problem), [problem])
    return team


def _work_dir_problem(team: TeamSpec) -> str | None:
    """Why the work dir may not be used: it lies outside the team's folder, unasked."""
    if team.code_execution.allow_work_dir_outside_team or not team.work_dir_outside():
        return None
    return work_dir_outside_message(team)


def work_dir_outside_message(team: TeamSpec) -> str:
    """The one-line refusal of a work dir outside the team's folder, with both fixes."""
    return (f"`{team.code_execution.work_dir}` is {team.work_dir}, not a folder inside the "
            f"team's folder {team.base_dir}: code runs with write access to it; choose a "
            "folder inside, or set `allow_work_dir_outside_team: true` under "
            "`code_execution` if that is what you mean")


_MODELS: dict[str, type[BaseModel]] = {"": TeamSpec, "models": ModelProfile, "termination": Termination,
           "speaker_selection": SpeakerSelection, "code_execution": CodeExecution,
           "cache": Cache, "budget": Budget, "agents": AgentSpec, "tools": ToolSpec,
           "chats": ChatSpec}


def _model_for(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model whose field list applies at ``loc`` (for did-you-mean)."""
    if len(loc) == 1:
        return TeamSpec
    head = loc[0]
    if head in ("agents", "chats") and len(loc) > 3 and loc[2] == "team":
        return _model_for(loc[3:])      # inside an inline team
    if head in ("models", "agents", "tools", "chats") and len(loc) == 3:
        return _MODELS[head]
    if head == "tools" and len(loc) == 4 and loc[2] == "mcp":
        return McpServer
    if head in _MODELS and len(loc) == 2:
        return _MODELS[head]
    if head == "transitions" and len(loc) in (4, 5):
        return TransitionRule if len(loc) == 4 else Condition
    return None


def _loc(err: Any) -> tuple:
    """A pydantic error's location as a key path (validator names and union tags left out)."""
    return tuple(p for p in err["loc"]
                 if not (isinstance(p, str) and p.startswith(("function-", "="))))


def _under(loc: tuple, refused: AbstractSet[tuple]) -> bool:
    """Is ``loc`` a value the YAML reader already refused (e.g. for its tag), or inside one?"""
    return any(loc[:n] in refused for n in range(1, len(loc) + 1))


def _from_pydantic(err: ErrorDetails, loc: tuple, positions: dict, file: str) -> Problem:
    line, col = yamlsafe.position(positions, loc)
    path = yamlsafe.format_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_for(loc)
        fields = sorted(model.model_fields) if model else []
        fields = [f for f in fields if f != "source"]
        hint = _did_you_mean(str(loc[-1]), fields)
        msg = f"unknown key `{loc[-1]}`{hint}"
        if not hint and fields:
            msg += f"; allowed: {', '.join(fields)}"
        return Problem(file, line, col, path, msg)
    if kind == "value_error":   # our validators' own messages, kept as they are
        return Problem(file, line, col, path, str(err.get("ctx", {}).get("error", err["msg"])))
    if kind == "string_type" and loc[:1] == ("transitions",) and len(loc) == 3:
        return Problem(file, line, col, path, "expected an agent name or a rule like "
                       "{to: Critic, when: {contains: DONE}}")
    if kind == "missing":
        return Problem(file, line, col, path, f"required key `{loc[-1]}` is missing")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        got = str(err.get("input"))
        options = re.findall(r"'([^']*)'", expected)
        return Problem(file, line, col, path,
                       f"`{got}` is not one of {expected}{_did_you_mean(got, options)}")
    if kind == "string_pattern_mismatch" and loc[-1] == "size":
        return Problem(file, line, col, path, f"{err['input']!r} is not an image size: write "
                       "WIDTHxHEIGHT (like 1024x1024) or auto")
    if kind == "string_pattern_mismatch":
        what = "letters, digits, _ and -" if "A-Z" in err["ctx"]["pattern"] \
            else "lowercase letters, digits and -"
        return Problem(file, line, col, path, f"{err['input']!r} may only use {what}")
    value = err.get("input")
    shown = type(value).__name__ if isinstance(value, (dict, list)) else repr(value)
    return Problem(file, line, col, path, f"{err['msg'].lower()} (got {shown})")


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = [o for o in options if o.lower() == word.lower()]
    return f"; did you mean `{close[0]}`?" if close else ""


def _cross_check(data: dict, positions: dict, file: str, env,
                 refused: AbstractSet[tuple] = frozenset(), prefix: tuple = (),
                 profiles: bool = True) -> list[Problem]:
    """Checks across keys: names that must exist, unique agents, ${VAR} and literal keys.

    ``prefix``: where ``data`` is in the file (an inline team); ``profiles``: check the
    profiles of ``models`` too (an inline team's are its file's, checked there)."""
    out: list[Problem] = []

    def add(loc: tuple, msg: str) -> None:
        loc = prefix + loc
        if _under(loc, refused):
            return
        line, col = yamlsafe.position(positions, loc)
        out.append(Problem(file, line, col, yamlsafe.format_path(loc), msg))

    models: dict = data["models"] if isinstance(data.get("models"), dict) else {}
    entries: list = data["agents"] if isinstance(data.get("agents"), list) else []
    # (index in the file's list, name): indices stay those of the file, even when
    # entries that are not mappings or have no name come first.
    named = [(i, a["name"]) for i, a in enumerate(entries)
             if isinstance(a, dict) and isinstance(a.get("name"), str)]
    profile_names = list(models)
    agent_names = [name for _, name in named]

    def check_profile_ref(loc: tuple, name: Any) -> None:
        if not isinstance(name, str):
            return
        if not models and name == "default":
            return  # no models: section; the default model is resolved at run time
        if name not in models:
            add(loc, f"unknown model profile `{name}`{_did_you_mean(name, profile_names)}"
                + ("" if profile_names else "; define it under `models:`")
                + (f" (profiles: {', '.join(profile_names)})" if profile_names else ""))

    for i, a in enumerate(entries):
        if isinstance(a, dict):
            check_profile_ref(("agents", i, "model"), a.get("model", "default"))
            if a.get("kind", "assistant") != "user_proxy":
                for key in ("human_input", "execute_code", "default_auto_reply"):
                    if key in a:
                        add(("agents", i, key), f"`{key}` applies only to agents with "
                            "`kind: user_proxy`")
            for loc, msg in image_generator_problems(a, models):
                add(("agents", i, *loc), msg)
    seen: dict[str, int] = {}
    for i, name in named:
        if name in seen:
            add(("agents", i, "name"), f"agent name `{name}` is used twice (also agents"
                f"[{seen[name]}]); names must be unique")
        seen.setdefault(name, i)

    sel = data.get("speaker_selection")
    if isinstance(sel, dict) and "model" in sel:
        check_profile_ref(("speaker_selection", "model"), sel["model"])

    for pname, prof in models.items() if profiles else ():
        if not isinstance(prof, dict):
            continue
        if "model" not in prof and "config_list" not in prof:
            add(("models", pname), "a profile needs `model:` (a LiteLLM model id) or "
                "`config_list:`")
        for j, fb in enumerate(prof.get("fallbacks") or [] if isinstance(prof.get("fallbacks"), list) else []):
            check_profile_ref(("models", pname, "fallbacks", j), fb)
            if fb == pname:
                add(("models", pname, "fallbacks", j), "a profile cannot fall back to itself")
        for key, value in prof.items():
            _check_secret_value(("models", pname, key), key, value, env, add)
        headers = prof.get("extra_headers")
        for hname, value in (headers.items() if isinstance(headers, dict) else ()):
            _check_secret_value(("models", pname, "extra_headers", hname), "header", value, env,
                                add)

    trans = data.get("transitions")
    if isinstance(trans, dict):
        for src, dsts in trans.items():
            if src not in agent_names:
                add(("transitions", src), f"unknown agent `{src}`"
                    f"{_did_you_mean(src, agent_names)}")
            for j, dst in enumerate(dsts if isinstance(dsts, list) else []):
                if isinstance(dst, str) and dst not in agent_names:
                    add(("transitions", src, j), f"unknown agent `{dst}`"
                        f"{_did_you_mean(dst, agent_names)}")
    flow_problems(data if profiles else {k: v for k, v in data.items() if k != "models"},
                  agent_names, Path(file).resolve().parent, env, add, _did_you_mean)
    check_tools(data, Path(file).resolve().parent, add, env, _did_you_mean)
    nesting.member_problems(data, add, _did_you_mean)
    return out


def _check_secret_value(loc, key, value, env, add) -> None:
    if not isinstance(value, str):
        return
    for var in VAR_RE.findall(value):
        if var not in env:
            add(loc, f"environment variable ${{{var}}} is not set; export it or remove "
                "the reference")
    if key == "api_key" and not VAR_RE.search(value) and value.strip().upper() not in KEYLESS:
        if LITERAL_KEY_RE.search(value.strip()) or len(value.strip()) >= 20:
            add(loc, "api_key looks like a literal key; never put keys in a team file — "
                "write `api_key: ${OPENAI_API_KEY}` (or another variable) instead")
    if key == "header" and LITERAL_KEY_RE.search(value.strip().removeprefix("Bearer ").strip()):
        add(loc, "this header looks like a literal key; never put keys in a team file — "
            "write `Bearer ${MY_TOKEN}` (or another variable) instead")


def expand_vars(value: str, env=None) -> str:
    """Replace ${VAR} references with their values from the environment."""
    env = os.environ if env is None else env
    return VAR_RE.sub(lambda m: env.get(m.group(1), ""), value)
