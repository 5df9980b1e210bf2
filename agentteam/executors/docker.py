"""``executor: docker``: one hardened container per run, ``docker exec`` per block.

The work dir is the only mount (at /workspace). No network unless asked, all
capabilities dropped, no-new-privileges, pids/memory/CPU limits, a non-root
user, a read-only root filesystem with a small tmpfs /tmp, and an environment
that holds no variable of the host. The only module that imports ``docker``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

from ..conversation.messages import CodeBlock, CodeResult
from ..errors import ExecutionError
from .base import CodeExecutor, OutputCap

LABEL = "agentteam"
SANDBOX_ENV = {"HOME": "/tmp", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp",
               "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
FIX = ("start Docker (`sudo dockerd &` or `systemctl start docker`), or run with "
       "`--executor local` (code runs on this machine) or `--executor none`")


def client(timeout: float = 30):
    """A Docker client that has answered a ping, or ExecutionError saying what to do.

    ``timeout`` bounds every socket read, the output stream of a running block included.
    """
    try:
        import docker
    except ImportError:
        raise ExecutionError("the `docker` Python package is missing: pip install docker") from None
    try:
        c = docker.from_env(timeout=timeout)
        c.ping()
        return c
    except Exception as e:  # docker raises many kinds here: all mean "not reachable"
        raise ExecutionError(f"Docker is not reachable ({type(e).__name__}); {FIX}") from None


def remove_leftovers(c) -> int:
    """Remove agentteam containers whose owning process is gone (after a kill -9)."""
    removed = 0
    for ct in c.containers.list(all=True, filters={"label": LABEL}):
        pid = int(ct.labels.get(f"{LABEL}.pid", "0") or 0)
        host = ct.labels.get(f"{LABEL}.host", "")
        if host == os.uname().nodename and pid and _alive(pid):
            continue
        try:
            ct.remove(force=True)
            removed += 1
        except Exception:  # already gone: fine
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class DockerExecutor(CodeExecutor):
    """Runs blocks in one long-lived sandbox container."""

    name = "docker"

    def __init__(self, spec, work_dir):
        super().__init__(spec, work_dir)
        self.client = None
        self.container = None
        self.run_id = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._closed = False
        # More host folders to mount read-only (host path -> container path): the tools.
        self.mounts: dict[str, str] = {}

    def check(self) -> None:
        import docker.errors
        # A block may print nothing for its whole time limit: reads must outlast it.
        self.client = client(timeout=self.spec.timeout + 30)
        try:
            self.client.images.get(self.spec.image)
        except docker.errors.ImageNotFound:
            raise ExecutionError(f"the sandbox image `{self.spec.image}` is missing; build it "
                                 "with `agentteam sandbox build` (or `agentteam sandbox build "
                                 "--offline` without a registry)") from None

    def user(self) -> str:
        """Run as the host user (files in the work dir stay theirs); root maps to 1000."""
        if self.spec.user != "1000:1000" or os.getuid() == 0:
            return self.spec.user
        return f"{os.getuid()}:{os.getgid()}"

    def start(self) -> None:
        super().start()
        if self.client is None:
            self.check()
        remove_leftovers(self.client)
        if self.user().split(":")[0] != str(os.getuid()):
            os.chmod(self.work_dir, 0o777)  # the sandbox user must be able to write here
        s = self.spec
        try:
            ct = self.client.containers.create(
                s.image, ["sleep", "infinity"], detach=True, name=f"agentteam-{self.run_id}",
                labels={LABEL: "1", f"{LABEL}.pid": str(os.getpid()),
                        f"{LABEL}.host": os.uname().nodename, f"{LABEL}.run": self.run_id},
                network_mode=s.network, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                pids_limit=s.pids_limit, mem_limit=s.memory, memswap_limit=s.memory,
                # An init (tini) reaps the zombies of killed blocks, which would otherwise
                # hold pids. It and its `sleep` run as uid 0 with no capability, so that the
                # sandbox user's `kill -9 -1` cannot stop the container; code always runs as
                # the sandbox user, through exec.
                init=True, user="0:0",
                nano_cpus=int(s.cpus * 1e9), read_only=True,
                tmpfs={"/tmp": f"size={s.tmpfs_size},mode=1777"},
                volumes={str(self.work_dir): {"bind": "/workspace", "mode": "rw"},
                         **{h: {"bind": c, "mode": "ro"} for h, c in self.mounts.items()}},
                working_dir="/workspace", environment=dict(SANDBOX_ENV))
        except Exception as e:
            raise ExecutionError(f"cannot create the sandbox container: {_short(e)}") from None
        with self._lock:
            self.container = ct
            if self._closed:   # closed while we were starting (Ctrl-C)
                self._remove()
                raise ExecutionError("the run ended while the sandbox was starting")
        try:
            ct.start()
        except Exception as e:
            self._remove()
            raise ExecutionError(f"cannot start the sandbox container: {_short(e)}") from None

    def run(self, block: CodeBlock) -> CodeResult:
        if self.container is None:
            raise ExecutionError("the sandbox container is not running")
        name = f".agentteam_{uuid.uuid4().hex[:8]}" + (".py" if block.language == "python" else ".sh")
        host_file = self.work_dir / name
        host_file.write_text(block.code, encoding="utf-8")
        os.chmod(host_file, 0o644)
        cmd = ["python3", f"/workspace/{name}"] if block.language == "python" \
            else ["sh", f"/workspace/{name}"]
        try:
            result = self._exec(block.language, cmd)
            if result.exit_code != 0 and _EXEC_FAILED in result.output:
                # The container could not even start a process (a fork bomb's survivors
                # hold every pid): reset it and run the block once more.
                self._reset()
                result = self._exec(block.language, cmd)
            return result
        finally:
            host_file.unlink(missing_ok=True)

    def run_command(self, cmd: list[str], timeout: float, limit: int,
                    env: dict[str, str] | None = None) -> CodeResult:
        """Run one command as the sandbox user (a tool call); what it leaves running is
        killed only when it times out, so that a call costs one exec."""
        if self.container is None:
            raise ExecutionError("the sandbox container is not running")
        return self._exec("tool", cmd, timeout, limit, kill_after=False, env=env)

    def _exec(self, language: str, cmd: list[str], timeout: float | None = None,
              limit: int | None = None, kill_after: bool = True,
              env: dict[str, str] | None = None) -> CodeResult:
        api = self.client.api
        timeout = self.spec.timeout if timeout is None else timeout
        cap = OutputCap(self.spec.output_limit if limit is None else limit)
        start = time.monotonic()
        try:
            exec_id = api.exec_create(self.container.id, cmd, user=self.user(),
                                      environment={**SANDBOX_ENV, **(env or {})},
                                      workdir="/workspace")["Id"]
            stream = api.exec_start(exec_id, stream=True, demux=False)
        except Exception as e:
            raise ExecutionError(f"the sandbox container stopped answering: {_short(e)}; "
                                 "`agentteam sandbox check` tells more") from None
        done = threading.Event()
        reader = threading.Thread(target=_drain, args=(stream, cap, done), daemon=True)
        reader.start()
        timed_out = not done.wait(timeout)
        if timed_out or kill_after:   # and so that no background process outlives its block
            self._kill_all()
        done.wait(10)
        info = api.exec_inspect(exec_id)
        code = 124 if timed_out else (info.get("ExitCode") if info.get("ExitCode") is not None else -1)
        out = cap.text()
        if timed_out:
            out += f"\n[killed: the block ran longer than {timeout:g}s]"
        elif code == 137:
            out += "\n[killed: out of memory or process limit (exit 137)]"
        return CodeResult(language, code, out, time.monotonic() - start, timed_out,
                          cap.dropped)

    def _kill_all(self) -> None:
        """Kill every process of the sandbox user but the container's init (pid 1).

        Rounds until only init is left, so that a fork bomb's children forked during one
        round are caught by the next; when not even that can start, reset the container.
        """
        # Counting with a glob and `read` forks nothing. Zombies (already dead, reaped by
        # init soon) do not count; a clean container shows init, its sleep and this shell.
        script = ("for i in 1 2 3 4 5 6 7 8 9 10; do kill -9 -1 2>/dev/null; n=0; "
                  "for p in /proc/[0-9]*; do read -r s < $p/stat 2>/dev/null || continue; "
                  "case \"$s\" in *') Z '*) ;; *) n=$((n+1)) ;; esac; done; "
                  "[ $n -le 3 ] && exit 0; sleep 0.05; done; exit 1")
        try:
            code, _ = self.container.exec_run(["sh", "-c", script], user=self.user())
        except Exception:  # the container may already be gone; close() removes it
            return
        if code != 0:
            self._reset()

    def _reset(self) -> None:
        """Restart the container: every process in it dies; the work dir stays."""
        try:
            self.container.restart(timeout=0)
        except Exception as e:  # docker-py raises APIError and friends
            raise ExecutionError(f"the sandbox container could not be reset: {_short(e)}; "
                                 "`agentteam sandbox check` tells more") from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._remove()

    def _remove(self) -> None:
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception:  # already removed
                pass
            self.container = None


_EXEC_FAILED = "OCI runtime exec failed"


def _drain(stream, cap: OutputCap, done: threading.Event) -> None:
    try:
        for chunk in stream:
            cap.feed(chunk)
    except Exception:  # the container was killed or removed under us
        pass
    finally:
        done.set()


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:200]
