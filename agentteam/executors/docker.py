"""``executor: docker``: one hardened container per run, ``docker exec`` per block.

The work dir is the only mount (at /workspace); its mode is never changed: code
runs as a user who can already write it (``exec_user``). No network unless asked,
all capabilities dropped, no-new-privileges, pids/memory/CPU/file-size limits, a
non-root user, a read-only root filesystem with a small tmpfs /tmp, and an
environment that holds no variable of the host. The only module that imports
``docker``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

from ..conversation.messages import CodeBlock, CodeResult
from ..errors import ExecutionError, UsageError
from ..team.schema import parse_size
from .base import TIMED_OUT, CodeExecutor, OutputCap, kill_note, wait_block
from .leftovers import LABEL, owner_labels, remove_leftovers

DEFAULT_USER = "1000:1000"
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
        self._user: str | None = None
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
        self._check_cpus()
        self.exec_user()   # a work dir the sandbox cannot use is refused before any call

    def _check_cpus(self) -> None:
        try:
            ncpu = int(self.client.info().get("NCPU") or 0)
        except Exception:  # an engine that does not say: Docker itself will tell
            return
        if ncpu and self.spec.cpus > ncpu:
            raise UsageError(f"code_execution.cpus is {self.spec.cpus:g}, but the Docker "
                             f"engine has {ncpu} CPU(s); set `cpus` to {ncpu} or less")

    def work_dir_owner(self) -> tuple[int, int] | None:
        """As root, a work dir agentteam creates belongs to the sandbox user."""
        return self.spec.user_ids() if os.geteuid() == 0 else None

    def exec_user(self) -> str:
        """Who code runs as (never root), chosen so that the work dir is writable without
        changing any folder's mode: the user the team names; else you (when not root);
        else, as root, the work dir's owner (the sandbox user, when agentteam made it)."""
        if self._user:
            return self._user
        uid, gid = self.spec.user_ids()
        if self.spec.user != DEFAULT_USER:
            return f"{uid}:{gid}"
        if os.geteuid() != 0:
            return f"{os.getuid()}:{os.getgid()}"
        try:
            st = os.stat(self.work_dir)
        except FileNotFoundError:   # agentteam creates it, for the sandbox user
            return f"{uid}:{gid}"
        if st.st_uid != 0:
            return f"{st.st_uid}:{st.st_gid}"
        raise UsageError(f"the work dir {self.work_dir} belongs to root, and the sandbox never "
                         "runs code as root (agentteam changes no folder it did not create): "
                         f"give it to the sandbox user (`chown {uid}:{gid} {self.work_dir}`), "
                         "remove it so that agentteam creates it, or set `code_execution.user`")

    def user(self) -> str:
        """The ``uid:gid`` blocks run as (fixed when the container starts)."""
        return self.exec_user()

    def start(self) -> None:
        if self.client is None:
            self.check()
        super().start()
        self._user = self.exec_user()
        remove_leftovers(self.client)
        from docker.types import Ulimit
        s = self.spec
        fsize = parse_size(s.work_dir_max_size) or -1
        try:
            ct = self.client.containers.create(
                s.image, ["sleep", "infinity"], detach=True, name=f"agentteam-{self.run_id}",
                labels={LABEL: "1", **owner_labels(), f"{LABEL}.run": self.run_id},
                network_mode=s.network, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                pids_limit=s.pids_limit, mem_limit=parse_size(s.memory),
                memswap_limit=parse_size(s.memory),
                # An init (tini) reaps the zombies of killed blocks, which would otherwise
                # hold pids. It and its `sleep` run as uid 0 with no capability, so that the
                # sandbox user's `kill -9 -1` cannot stop the container; code always runs as
                # the sandbox user, through exec.
                init=True, user="0:0",
                nano_cpus=int(s.cpus * 1e9), read_only=True,
                tmpfs={"/tmp": f"size={parse_size(s.tmpfs_size)},mode=1777"},
                # the kernel stops any one file at the run's work dir allowance, at once
                ulimits=[Ulimit(name="fsize", soft=fsize, hard=fsize)],
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
        _write_new(host_file, block.code)
        cmd = ["python3", f"/workspace/{name}"] if block.language == "python" \
            else ["sh", f"/workspace/{name}"]
        self.quota.start_block()
        try:
            result = self._exec(block.language, cmd)
            if isinstance(result, str):
                # Docker itself says that no process started (a fork bomb's survivors held
                # every pid, the container had stopped): nothing of the block ran, so a
                # reset and one more try repeat nothing.
                self._reset()
                result = self._exec(block.language, cmd)
            if isinstance(result, str):
                raise ExecutionError(f"the sandbox could not start the block: {result}; "
                                     "`agentteam sandbox check` tells more")
            return result
        finally:
            host_file.unlink(missing_ok=True)

    def run_command(self, cmd: list[str], timeout: float, limit: int,
                    env: dict[str, str] | None = None) -> CodeResult:
        """Run one command as the sandbox user (a tool call); what it leaves running is
        killed only when it times out, so that a call costs one exec."""
        if self.container is None:
            raise ExecutionError("the sandbox container is not running")
        result = self._exec("tool", cmd, timeout, limit, kill_after=False, env=env)
        if isinstance(result, str):
            raise ExecutionError(f"the sandbox could not start the tool: {result}")
        return result

    def _exec(self, language: str, cmd: list[str], timeout: float | None = None,
              limit: int | None = None, kill_after: bool = True,
              env: dict[str, str] | None = None) -> CodeResult | str:
        """Run one block (or tool call); Docker's reason instead when it started no process.

        Whether it started is Docker's word (an exec that could not be created, or one
        whose inspection shows no pid), never the program's own output.
        """
        api = self.client.api
        timeout = self.spec.timeout if timeout is None else timeout
        cap = OutputCap(self.spec.output_limit if limit is None else limit)
        start = time.monotonic()
        try:
            exec_id = api.exec_create(self.container.id, cmd, user=self.user(),
                                      environment={**SANDBOX_ENV, **(env or {})},
                                      workdir="/workspace")["Id"]
        except Exception as e:   # no exec exists: nothing can have run
            return _short(e)
        try:
            stream = api.exec_start(exec_id, stream=True, demux=False)
        except Exception as e:
            return self._not_started(exec_id, _short(e))
        done = threading.Event()
        reader = threading.Thread(target=_drain, args=(stream, cap, done), daemon=True)
        reader.start()
        why = wait_block(done.wait, timeout, self.quota)
        if why or kill_after:   # and so that no background process outlives its block
            self._kill_all()
        done.wait(10)
        info = self._inspect(exec_id)
        if not info.get("Running") and info.get("Pid") == 0:
            return cap.text().strip() or "Docker started no process"
        why = why or self.quota.exceeded(force=True)
        code = -1 if info.get("ExitCode") is None else info["ExitCode"]
        if why == TIMED_OUT:
            code = 124
        elif why and code == 0:   # finished, but past the work dir's quota
            code = 1
        out = cap.text()
        if why:
            out += kill_note(why, timeout)
        elif code == 137:
            out += "\n[killed: out of memory or process limit (exit 137)]"
        return CodeResult(language, code, out, time.monotonic() - start,
                          why == TIMED_OUT, cap.truncated())

    def _not_started(self, exec_id: str, error: str) -> str:
        """``error`` when Docker shows that the exec never started a process; else the
        block may have run, and it is not run again."""
        info = self._inspect(exec_id)
        if not info.get("Running") and info.get("Pid") == 0:
            return error
        raise ExecutionError(f"the sandbox container stopped answering: {error}; "
                             "`agentteam sandbox check` tells more")

    def _inspect(self, exec_id: str) -> dict:
        try:
            return self.client.api.exec_inspect(exec_id)
        except Exception as e:  # docker-py raises APIError and friends
            raise ExecutionError(f"the sandbox container stopped answering: {_short(e)}; "
                                 "`agentteam sandbox check` tells more") from None

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


def _write_new(path, text: str) -> None:
    """Create ``path`` for the block's code: a new file, never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o644)   # readable by the sandbox user whatever the umask
        f.write(text)


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
