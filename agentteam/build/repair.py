"""The build loop: ask the builder for a team, read and check the answer, and send the
problems back (by key path, with no file or line: there is no file yet) for at most
``MAX_REPAIRS`` more answers.

``build_team`` is a generator like a model stream: it yields the model's chunks and
``Notice``s for a view to show, and returns a ``Built`` (or raises ``BuildFailed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generator, Union

from ..conversation.events import Notice
from ..conversation.messages import Usage
from ..errors import AgentTeamError
from ..models import profiles as profiles_mod
from ..models.base import ChatModel, Chunk
from ..models.structured import ask
from . import prompts
from .answer import read
from .convert import TeamDraft, problems_of, to_team
from .library import Library

MAX_REPAIRS = 2
SHOWN_PROBLEMS = 8


class BuildFailed(AgentTeamError):
    """The builder's answers never made a valid team (exit 1: a model failure, not bad
    usage); ``problems`` are the last answer's."""

    exit_code = 1

    def __init__(self, message: str, problems: list[str]):
        self.answer_problems = problems
        super().__init__(message)


@dataclass
class BuildOptions:
    """What to build: the task and the limits the builder works in."""

    task: str
    max_agents: int = 5
    coding: bool | None = None       # None: the builder decides
    library: Library | None = None   # pick agents from here instead of inventing them
    models: dict | None = None       # the team file's `models:` (from --model), if any
    executor: str | None = None      # code_execution.executor of a team that runs code
    where: str = "built.yaml"        # the file the team goes to (its folder places work_dir)


@dataclass
class Built:
    """A team that loads, and what building it cost."""

    draft: TeamDraft
    usage: Usage = field(default_factory=Usage)
    answers: int = 0         # answers read: 1 + repairs
    cached: int = 0          # of them, served by the cache


Progress = Union[Chunk, Notice]


def models_section(model: str | None, api_base: str | None = None,
                   api_key_var: str | None = None) -> dict | None:
    """The team file's ``models:`` for ``--model M [--api-base URL] [--api-key-var VAR]``
    (the same endpoint and key rules as ``run``), or None without --model."""
    if not model:
        return None
    found = profiles_mod.endpoint_override(model, api_base, api_key_var)
    if found is None:
        return {"default": {"model": model}}
    if found.get("api_key") == "NULL":
        del found["api_key"]     # a keyless server: the profile says so by having none
    return {"default": found}


def build_team(model: ChatModel, profile: str, opts: BuildOptions, describe: str = "",
               embedded: bool = False) -> Generator[Progress, None, Built]:
    """Ask ``model`` (its profile ``profile``) for a team until one loads, at most
    1 + MAX_REPAIRS answers. ``describe`` names the model in notices and errors;
    ``embedded``: it is agentteam's own small local model (a failure says what to do)."""
    library = opts.library
    listing = library.listing() if library else None
    messages = prompts.messages(opts.task, opts.max_agents, opts.coding, listing)
    schema = prompts.schema(opts.max_agents, opts.coding, library.names() if library else None)
    built = Built(TeamDraft({}))
    problems: list[str] = []
    for attempt in range(1 + MAX_REPAIRS):
        what = "asking the builder for a team" if attempt == 0 else \
            f"asking the builder again (repair {attempt} of {MAX_REPAIRS})"
        yield Notice(f"{what} ({describe or profile}) …", "progress")
        answer = yield from ask(model, profile, messages, prompts.BUILDER, schema)
        done = answer.completion
        built.usage.add(done.usage)
        built.answers += 1
        built.cached += done.usage.calls == 0
        draft, problems = _check(answer.value, answer.problem, done.truncated, opts)
        if draft is not None:
            built.draft = draft
            return built
        yield Notice(f"the builder's answer is not a valid team yet ({len(problems)} "
                     f"problem{'s' if len(problems) != 1 else ''}: {problems[0]}"
                     f"{' …' if len(problems) > 1 else ''})", "warning")
        messages = messages + [{"role": "assistant", "content": done.text or "(empty)"},
                               {"role": "user", "content": prompts.repair_prompt(problems)}]
    raise BuildFailed(_failure(problems, describe or profile, embedded, built.cached > 0),
                      problems)


def _check(value: dict | None, unread: str, truncated: bool,
           opts: BuildOptions) -> tuple[TeamDraft | None, list[str]]:
    """The team an answer makes, or why it makes none."""
    if value is None:
        why = unread
        if truncated:
            why += ("; the reply was cut at the model's token limit (max_tokens): keep the "
                    "system messages shorter")
        return None, [f"the answer could not be read: {why}; answer with one JSON object"]
    names = opts.library.names() if opts.library else None
    reading = read(value, opts.max_agents, opts.coding, names)
    if reading.problems:
        return None, reading.problems
    draft = to_team(reading, opts.task, opts.coding, opts.models, opts.library, opts.executor)
    problems = problems_of(draft, opts.where)
    return (None, problems) if problems else (draft, [])


def _failure(problems: list[str], model: str, embedded: bool, cached: bool) -> str:
    shown = problems[:SHOWN_PROBLEMS]
    more = len(problems) - len(shown)
    lines = [f"the builder's answer is still not a valid team after {MAX_REPAIRS} repairs "
             f"({model}); its problems:"]
    lines += [f"  - {p}" for p in shown] + ([f"  - … and {more} more"] if more else [])
    if embedded:
        lines.append("the embedded local model (a 270M base model) rarely writes a valid "
                     "team; pass --model with a stronger one (a provider's, or a local "
                     "server's with --api-base)")
    else:
        lines.append("try a stronger model with --model, or fewer agents with --max-agents")
    if cached:
        lines.append("(answers came from the cache: --no-cache asks the model again)")
    return "\n".join(lines)
