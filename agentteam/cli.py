"""The ``agentteam`` command: the only place that prints errors and exits.

Exit codes (spec §2): 0 keyword, 3 max_round/budget, 1 model/execution/runtime
failure, 2 bad usage or team file, 130 interrupted (143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import importlib
import sys

from .commands.common import _stop_signals, app

# Importing a command module registers its commands, in this order in `--help`.
for _group in ("run", "build", "inspect", "batch", "optimize", "sandbox"):
    importlib.import_module(f".commands.{_group}", __package__)

from .commands.batch import _optional_ray_address  # noqa: E402
from .commands.run import _building  # noqa: E402

__all__ = ["app", "main", "_building", "_optional_ray_address"]


def main() -> None:
    """Console-script entry point."""
    _stop_signals()
    try:
        # one name however it was started (`agentteam`, `python -m agentteam.cli`), so
        # shell completion scripts and their `_AGENTTEAM_COMPLETE` variable always match
        app(args=_optional_ray_address(sys.argv[1:]), prog_name="agentteam")
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 130))


if __name__ == "__main__":
    main()
