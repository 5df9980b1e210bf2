"""The builder's model: its profile resolved as a run resolves a team's (``--model``, else
the default: a key in the environment, a local server, the embedded model), and the same
model stack a run uses, behind the completion cache unless ``--no-cache``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..conversation.events import Notice
from ..models.base import ChatModel
from ..models.profiles import Profile
from ..team import AgentSpec, Cache, CodeExecution, ModelProfile, TeamSpec
from .prompts import BUILDER

PROFILE = "default"
# A whole team in JSON: a few hundred tokens per agent (the embedded model's replies are
# otherwise capped for chat turns), bounded: on a small CPU each answer takes minutes.
EMBEDDED_MAX_TOKENS = 1024


@dataclass
class Builder:
    """The model the builder's calls go to, and what a person is told about it."""

    model: ChatModel
    profiles: dict[str, Profile]
    profile: str = PROFILE
    notices: list[Notice] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        p = self.profiles[self.profile]
        return p.is_local or p.embedded

    def describe(self) -> str:
        p = self.profiles[self.profile]
        return "model local (embedded)" if self.embedded else f"model {p.model}"


def builder(models: dict | None, no_cache: bool = False) -> Builder:
    """The builder for a team whose ``models:`` section is ``models`` (None: the default
    model, resolved as `agentteam run` resolves it for a team without one)."""
    from ..runner import model_stack, resolve_profiles
    team = TeamSpec(name="builder", task="(build)", agents=[AgentSpec(name=BUILDER.strip("()"))],
                    models={k: ModelProfile(**v) for k, v in (models or {}).items()},
                    code_execution=CodeExecution(executor="none"))
    profiles, notices = resolve_profiles(team, None)
    p = profiles[PROFILE]
    if p.is_local:
        p.params.setdefault("max_tokens", EMBEDDED_MAX_TOKENS)
        notices.append(Notice("the embedded local model (a 270M base model) rarely writes a "
                              "valid team; for a real build pass --model (a provider's "
                              "model, or a local server's with --api-base)", "warning"))
    return Builder(model_stack(profiles, None if no_cache else Cache()), profiles,
                   notices=notices)
