"""``agentteam build``: a team file written by a model from a task (AutoGen's AgentBuilder).

One structured call proposes the whole team (experts with their descriptions and system
messages, whether code runs, the speaker selection, transitions); the answer is read
leniently, checked (its shape with pydantic, then the team through ``parse_team``), and
sent back with its problems, by key path, for at most two repairs. Nothing here prints or
exits: ``build_team`` is a generator of progress that returns a ``Built``.

    prompts    the builder's prompts and the JSON schema of its answer
    answer     the answer's shape (pydantic) and its problems, by key path
    convert    an answer as a team file's keys and comments, checked by ``parse_team``
    library    a library of agent definitions to pick from (``--library``)
    repair     the loop: ask, read, check, ask again with the problems
"""

from .library import Library, load_library
from .repair import BuildFailed, BuildOptions, Built, build_team, models_section

__all__ = ["BuildFailed", "BuildOptions", "Built", "Library", "build_team", "load_library",
           "models_section"]
