"""Python function tools: their signatures read at load, their calls run in the sandbox
(by default) or on this machine (``run: host``).

To read a signature, the tool's module is imported here, as Python imports any
module; what the sandbox guards against is what the *model* makes the function do,
so the call itself runs in the run's container: the tool's file is mounted
read-only, ``calltool.py`` calls the function with the JSON arguments, and its one
line of JSON is the result. A host call is the same script in a subprocess with a
scrubbed environment (no API key) in the work dir.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, Problem
from ..team import TeamSpec, ToolSpec
from ..team.toolcheck import FILE_FUNCTION, MODULE_FUNCTION
from .schema import SchemaError, check_arguments, function_schema

IN_SANDBOX = "/opt/agentteam-tools"
RUNNER = Path(__file__).with_name("calltool.py")


@dataclass
class PythonFunction:
    """A function tool, ready to offer (``schema``) and to call."""

    name: str
    spec: ToolSpec
    function: str
    path: Path | None = None          # file.py:func
    module: str | None = None         # pkg.module:func
    import_root: Path | None = None   # where pkg lives (shipped to the sandbox when local)
    schema: dict | None = None
    arguments: Any = None             # the pydantic model that checks a call's arguments


def load_functions(team: TeamSpec) -> list[PythonFunction]:
    """Import every function tool of the team and build its schema; ConfigError lists
    every function that cannot be a tool (file:line, the key, why, what to do)."""
    out, problems = [], []
    for i, spec in enumerate(team.tools):
        if not spec.function:
            continue
        try:
            out.append(_load(spec, team.base_dir))
        except SchemaError as e:
            problems.append(_problem(team, ("tools", i, "function"), f"`{spec.function}`: {e}"))
    if problems:
        raise ConfigError("\n".join(map(str, problems)), problems)
    return out


def _load(spec: ToolSpec, base_dir: Path) -> PythonFunction:
    text = spec.function or ""
    m = FILE_FUNCTION.match(text)
    fn = PythonFunction(spec.tool_name, spec, text.rpartition(":")[2])
    if m:
        path = fn.path = (base_dir / m["file"]).resolve()
        module = _import(lambda: _from_file(path), path.parent)
    else:
        mm = MODULE_FUNCTION.match(text)
        assert mm is not None     # the team file's check saw to that
        fn.module = mm["module"]
        module = _import(lambda: importlib.import_module(mm["module"]), base_dir)
        fn.import_root = _root_of(module, fn.module)
    func = getattr(module, fn.function, None)
    if not callable(func):
        raise SchemaError(f"no function `{fn.function}` in it")
    fn.schema, fn.arguments = function_schema(func, fn.name, spec.description)
    return fn


def _from_file(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"agentteam_tool_{uuid.uuid4().hex[:8]}", path)
    if spec is None or spec.loader is None:
        raise SchemaError("not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _import(load: Callable[[], Any], folder: Path) -> Any:
    """Import with ``folder`` on the path (sibling imports work), saying what failed."""
    sys.path.insert(0, str(folder))
    try:
        return load()
    except SchemaError:
        raise
    except (Exception, SystemExit) as e:  # whatever the module's own code raises
        raise SchemaError(f"cannot import it ({type(e).__name__}: {e}); its module is imported "
                          "on this machine to read the signature, so import what only the "
                          "sandbox has inside the function") from None
    finally:
        sys.path.remove(str(folder))


def _root_of(module: Any, name: str | None) -> Path | None:
    """The folder to put on the path for ``name`` (None for a module of Python itself)."""
    origin = getattr(module, "__file__", None)
    if not origin or not name:
        return None
    root = Path(origin).resolve().parent
    for _ in range(name.count(".") + (1 if Path(origin).name == "__init__.py" else 0)):
        root = root.parent
    return root


def _problem(team: TeamSpec, loc: tuple, message: str) -> Problem:
    from ..team import yamlsafe
    line = col = None
    if team.source and Path(team.source).is_file():
        try:
            _, positions, _, _ = yamlsafe.load(Path(team.source).read_text(encoding="utf-8"),
                                               team.source)
            line, col = yamlsafe.position(positions, loc)
        except Exception:  # the file changed since it was loaded: no position, same message
            pass
    return Problem(team.source or "<team>", line, col, yamlsafe.format_path(loc), message)


# -- calls ---------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one call gave: the text the model reads, and whether it is an error."""

    output: str
    is_error: bool = False


class ToolFiles:
    """The folder mounted read-only in the sandbox: the runner, the tool files, the calls."""

    def __init__(self, functions: list[PythonFunction]):
        self.dir = Path(tempfile.mkdtemp(prefix="agentteam-tools-"))
        (self.dir / "calls").mkdir()
        shutil.copyfile(RUNNER, self.dir / "calltool.py")
        self.inside: dict[str, str] = {}      # tool name -> its file in the container
        for i, fn in enumerate(functions):
            if fn.path is not None:
                (self.dir / f"t{i}").mkdir()
                shutil.copyfile(fn.path, self.dir / f"t{i}" / fn.path.name)
                self.inside[fn.name] = f"{IN_SANDBOX}/t{i}/{fn.path.name}"
            elif fn.import_root and _is_project(fn.import_root):
                top = (fn.module or "").split(".")[0]
                src = fn.import_root / top
                dst = self.dir / "lib" / top
                if src.is_dir():
                    shutil.copytree(src, dst, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                elif src.with_suffix(".py").is_file():
                    dst.parent.mkdir(exist_ok=True)
                    shutil.copyfile(src.with_suffix(".py"), dst.with_suffix(".py"))
        for root, _dirs, files in os.walk(self.dir):   # the sandbox user reads them
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _is_project(root: Path) -> bool:
    """A module of the user's project (shipped), not one installed in Python (not)."""
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return not any(root == p or p in root.parents for p in installed)


class PythonRunner:
    """Runs calls of function tools: in the sandbox container, or on the host."""

    def __init__(self, files: ToolFiles, work_dir: Path, limit: int, sandbox=None):
        self.files, self.work_dir, self.limit, self.sandbox = files, work_dir, limit, sandbox

    def call(self, fn: PythonFunction, arguments: dict) -> Outcome:
        if fn.arguments is not None:
            checked, problem = check_arguments(fn.arguments, arguments)
            if checked is None:
                return Outcome(f"bad arguments for `{fn.name}`: {problem}", True)
            arguments = checked
        marker = f"@@agentteam-result-{uuid.uuid4().hex}@@"
        on_host = fn.spec.run == "host"
        call = {"function": fn.function, "arguments": arguments, "limit": self.limit,
                "marker": marker, "module": fn.module,
                "path": str(fn.path) if on_host and fn.path else self.files.inside.get(fn.name)}
        name = f"{uuid.uuid4().hex}.json"
        host_file = self.files.dir / "calls" / name
        host_file.write_text(json.dumps(call, ensure_ascii=False), encoding="utf-8")
        os.chmod(host_file, 0o644)
        timeout = fn.spec.timeout
        try:
            if on_host:
                raw, code, timed_out = self._host(fn, host_file, timeout)
            else:
                self.sandbox.wait_ready()
                r = self.sandbox.run_command(
                    ["python3", f"{IN_SANDBOX}/calltool.py", f"{IN_SANDBOX}/calls/{name}"],
                    timeout, self._cap(), env={"PYTHONPATH": f"{IN_SANDBOX}/lib"})
                raw, code, timed_out = r.output, r.exit_code, r.timed_out
        finally:
            host_file.unlink(missing_ok=True)
        return _result(raw, marker, code, timed_out, timeout)

    def _cap(self) -> int:
        # JSON escapes can make the runner's line longer than the capped output itself
        return self.limit * 6 + 4096

    def _host(self, fn: PythonFunction, call_file: Path, timeout: float) -> tuple[str, int, bool]:
        from ..executors.local import scrubbed_env
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="agentteam-home-") as home:
            env = scrubbed_env(home)
            if fn.import_root:
                env["PYTHONPATH"] = str(fn.import_root)
            proc = subprocess.Popen([sys.executable, str(self.files.dir / "calltool.py"),
                                     str(call_file)], cwd=self.work_dir, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            chunks: list[bytes] = []
            reader = threading.Thread(target=_read_capped, args=(proc, chunks, self._cap()),
                                      daemon=True)
            reader.start()
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
            reader.join(5)
        return b"".join(chunks).decode("utf-8", "replace"), proc.returncode, timed_out


def _read_capped(proc: subprocess.Popen, chunks: list[bytes], limit: int) -> None:
    size = 0
    assert proc.stdout is not None
    for chunk in iter(lambda: proc.stdout.read1(65536), b""):    # type: ignore[union-attr,attr-defined]
        if size < limit:
            chunks.append(chunk[:limit - size])
        size += len(chunk)


def _result(raw: str, marker: str, code: int, timed_out: bool, timeout: float) -> Outcome:
    if timed_out:
        return Outcome(f"the tool ran longer than its time limit ({timeout:g}s) and was stopped",
                       True)
    at = raw.rfind(marker)
    if at < 0:
        tail = raw.strip()[-300:]
        why = " (killed: out of memory or process limit)" if code == 137 else ""
        return Outcome(f"the tool gave no result (exit code {code}{why})"
                       + (f": {tail}" if tail else ""), True)
    try:
        data = json.loads(raw[at + len(marker):].splitlines()[0])
        return Outcome(str(data["output"]), not data["ok"])
    except (ValueError, KeyError, IndexError, TypeError):
        return Outcome("the tool's result could not be read (its output was cut)", True)

