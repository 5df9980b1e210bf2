"""What every command shares: the Typer app, one-line errors with their exit codes,
flags checked against their choices, debug logs, progress lines and the signals that
end a run like Ctrl-C."""

from __future__ import annotations

import sys

import typer

from ..errors import AgentTeamError, ConfigError
from ..ui.safe import json_line, safe

# Plain Click errors: one `Error: ...` line per bad flag, never a wrapped box.
# Completion: `--install-completion` / `--show-completion` (bash, zsh, fish, PowerShell).
app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Run teams of LLM agents defined in YAML.")
sandbox_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Build and check the code sandbox image.")
app.add_typer(sandbox_app, name="sandbox")


def _version(value: bool) -> None:
    if value:
        from importlib import metadata
        try:
            version = metadata.version("agentteam")
        except metadata.PackageNotFoundError:   # run from a source tree, not installed
            version = "unknown"
        print(f"agentteam {version}")
        raise typer.Exit(0)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Run teams of LLM agents defined in YAML."""


def _fail(e: AgentTeamError, as_json: bool = False) -> None:
    """Print a user error (one line per problem, no traceback) and exit with its code."""
    if as_json:
        print(json_line({"type": "error", "error": str(e), "exit_code": e.exit_code}))
    lines = [str(p) for p in getattr(e, "problems", [])] or [str(e)]
    for line in lines:
        print(safe(f"error: {line}" if not line.startswith("error") else line),
              file=sys.stderr)
    raise typer.Exit(e.exit_code)


def _check_choices(as_json: bool, **values: tuple) -> None:
    """Refuse a flag whose value is not one of its choices: {flag: (value, choices)}."""
    for flag, (value, allowed) in values.items():
        if value is not None and value not in allowed:
            _fail(ConfigError(f"--{flag} {value!r}: expected one of {', '.join(allowed)}"),
                  as_json)


EXECUTORS = ("docker", "local", "none")


def _interactive() -> bool:
    return sys.stdin.isatty()


def _verbose(on: bool) -> None:
    """Debug logs of agentteam and LiteLLM on stderr, every line scrubbed of keys and
    control characters."""
    if not on:
        return
    import logging
    import os

    from ..ui.safe import SafeFormatter
    os.environ["AGENTTEAM_VERBOSE"] = "1"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)


def _progress(line: str) -> None:
    print(safe(line), file=sys.stderr, flush=True)


_CAUGHT: list[int] = []     # the stop signal this process got, if any


def stopped_code(code: int) -> int:
    """A command's exit code, 130 (interrupted) made the shell's code of the stop signal
    that did it (143 SIGTERM, 129 SIGHUP), as for `run`: a batch or an optimize loop
    catches the interrupt deep inside and only knows it was interrupted."""
    return 128 + _CAUGHT[0] if code == 130 and _CAUGHT else code


def _stop_signals() -> None:
    """SIGTERM and SIGHUP end a run the way Ctrl-C does: raised as ``Interrupted`` in the
    main thread. The first one only: a second must not cut the orderly end short."""
    import signal

    from ..errors import Interrupted

    def handler(signum, frame) -> None:
        if not _CAUGHT:
            _CAUGHT.append(signum)
            raise Interrupted(signum)
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:   # nohup stays
            signal.signal(sig, handler)
