"""The team file: the safe YAML reader, the schema, and ``load_team`` with its cross-checks.

Values only: nothing here calls a model, starts a process or prints.
"""

from .load import expand_vars, load_team, parse_team
from .schema import (
                     AGENT_RE,
                     KEYLESS,
                     LITERAL_KEY_RE,
                     NAME_RE,
                     VAR_RE,
                     AgentSpec,
                     Budget,
                     Cache,
                     CodeExecution,
                     McpServer,
                     ModelProfile,
                     SpeakerSelection,
                     TeamSpec,
                     Termination,
                     ToolSpec,
                     executes_code,
                     executes_tools,
                     human_input,
                     system_message,
)

__all__ = ["AGENT_RE", "KEYLESS", "LITERAL_KEY_RE", "NAME_RE", "VAR_RE", "AgentSpec", "Budget",
           "Cache", "CodeExecution", "McpServer", "ModelProfile", "SpeakerSelection", "TeamSpec",
           "Termination", "ToolSpec", "executes_code", "executes_tools", "expand_vars",
           "human_input", "load_team", "parse_team", "system_message"]
