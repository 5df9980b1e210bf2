"""Tools agents call: Python functions (schemas from type hints, calls run in the sandbox
or, when asked, on the host), the tools of MCP servers, and ``run_code``.

``load_functions`` reads the functions a team names (``validate`` and a run's
preparation call it); ``ToolBox`` is one run's set of tools, offered per agent and
called by name; ``RecordedTools`` answers calls from a transcript for ``--replay``.
"""

from .python import PythonFunction, load_functions
from .registry import RecordedTools, ToolBox, ToolOutcome

__all__ = ["PythonFunction", "RecordedTools", "ToolBox", "ToolOutcome", "load_functions"]
