"""Build and check the default sandbox image.

``build`` uses the shipped Dockerfile (needs a registry for the base image);
``build_offline`` needs no registry: debootstrap (Debian packages) into a
folder, then ``docker import``. ``check`` proves the limits by running probes
in a container started exactly as a run starts it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Callable

from ...conversation.messages import CodeBlock
from ...errors import ExecutionError, UsageError
from ...team import CodeExecution

DEFAULT_IMAGE = "agentteam-sandbox:latest"
DEBIAN_PACKAGES = ["python3", "python3-pandas", "python3-numpy", "python3-matplotlib",
                   "python3-requests", "ca-certificates"]
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass
class BuildStep:
    """Where a build is: its stage, the packages fetched so far, and the raw log line."""

    stage: str
    fetched: int = 0
    line: str = ""


Progress = Callable[[BuildStep], None]


def _print(step: BuildStep) -> None:
    if step.line:
        print(step.line)


def dockerfile_dir() -> Path:
    return Path(str(files("agentteam.executors.sandbox")))


class _Steps:
    """Reads build log lines into BuildSteps: the stage they show and a package count."""

    # debootstrap's index files, retrieved before any package
    _INDEXES = {"Release", "Release.gpg", "InRelease", "Packages"}
    _OFFLINE = (("I: Retrieving", "fetching Debian packages"),
                ("I: Validating", "fetching Debian packages"),     # one by one, in turn
                ("I: Extracting", "extracting packages"), ("I: Unpacking", "unpacking packages"),
                ("I: Installing", "installing packages"), ("I: Configuring", "configuring packages"))

    def __init__(self, progress: Progress, stage: str):
        self.progress, self.stage, self.fetched = progress, stage, 0

    def docker(self, line: str) -> None:
        head = line.strip()
        if head.startswith("Step ") and " : " in head:
            what = head.split(" : ", 1)[1]
            self.stage = "pulling the base image" if what.startswith("FROM") else \
                "installing Python packages" if "pip install" in what else \
                head.split(" : ", 1)[0].lower()
        elif head.startswith("Collecting "):
            self.fetched += 1
        self.progress(BuildStep(self.stage, self.fetched, line))

    def debootstrap(self, line: str) -> None:
        for prefix, stage in self._OFFLINE:
            if line.startswith(prefix):
                self.stage = stage
                words = line.split()
                if prefix == "I: Retrieving" and len(words) > 2 and \
                        words[2] not in self._INDEXES:
                    self.fetched += 1
        self.progress(BuildStep(self.stage, self.fetched, line))

    def set(self, stage: str, line: str = "") -> None:
        self.stage = stage
        self.progress(BuildStep(stage, self.fetched, line or stage))


def build(image: str = DEFAULT_IMAGE, progress: Progress = _print) -> None:
    """``docker build`` of the shipped Dockerfile; every line of its log goes to
    ``progress`` as a BuildStep."""
    from ..docker import client
    c = client()
    steps = _Steps(progress, "starting docker build")
    try:
        for item in c.api.build(path=str(dockerfile_dir()), tag=image, rm=True, decode=True,
                                forcerm=True):
            if "stream" in item and item["stream"].strip():
                steps.docker(item["stream"].rstrip())
            elif item.get("status"):    # a layer of the base image being pulled
                steps.docker(f"{item.get('id', '')} {item['status']}".strip())
            if "error" in item:
                raise ExecutionError(f"docker build failed: {item['error'].strip()[:300]}; "
                                     "without a registry, use `agentteam sandbox build "
                                     "--offline`")
    except ExecutionError:
        raise
    except Exception as e:  # docker-py raises APIError/BuildError and friends
        raise ExecutionError(f"docker build failed: {str(e)[:300]}; without a registry, use "
                             "`agentteam sandbox build --offline`") from None


def offline_possible() -> str | None:
    """None when an offline build can work here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "debootstrap needs root (run `sudo agentteam sandbox build --offline`)"
    if not shutil.which("debootstrap"):
        return "debootstrap is not installed (`apt-get install debootstrap`)"
    return None


def build_offline(image: str = DEFAULT_IMAGE, mirror: str | None = None,
                  suite: str = "bookworm", progress: Progress = _print) -> None:
    """Debian packages → folder → ``docker import``; no container registry needed."""
    from ..docker import client
    why = offline_possible()
    if why:
        raise UsageError(f"cannot build offline: {why}")
    c = client()
    mirror = mirror or os.environ.get("AGENTTEAM_DEBIAN_MIRROR") or DEFAULT_MIRROR
    root = Path(tempfile.mkdtemp(prefix="agentteam-rootfs-"))
    steps = _Steps(progress, "starting debootstrap")
    try:
        steps.set("starting debootstrap", f"debootstrap {suite} from {mirror} with "
                  f"{', '.join(DEBIAN_PACKAGES)} (about 2 minutes)…")
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
               suite, str(root), mirror]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None      # stdout=PIPE
        tail: list[str] = []
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-5:]
            steps.debootstrap(line.rstrip())
        if proc.wait() != 0:
            raise ExecutionError("debootstrap failed: " + " | ".join(tail))
        steps.set("slimming the image")
        _slim(root)
        steps.set("importing the image", f"importing {image}…")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        c.api.import_image(src=tar.stdout, repository=image.split(":")[0],
                           tag=image.split(":")[1] if ":" in image else "latest",
                           changes=["WORKDIR /workspace", "ENV MPLBACKEND=Agg",
                                    'CMD ["sleep", "infinity"]'], stream_src=True)
        tar.wait()
        steps.set("built", f"built {image}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _slim(root: Path) -> None:
    """Drop what a sandbox never needs: package caches, docs, man pages, locales."""
    for sub in ("var/cache/apt/archives", "usr/share/doc", "usr/share/man", "usr/share/locale",
                "var/lib/apt/lists"):
        shutil.rmtree(root / sub, ignore_errors=True)
    (root / "workspace").mkdir(exist_ok=True)
    os.chmod(root / "workspace", 0o777)


@dataclass
class CheckRow:
    name: str
    ok: bool
    detail: str


def check(spec: CodeExecution | None = None) -> list[CheckRow]:
    """Docker reachable, image present, and the limits really enforced (by probes)."""
    from ..docker import DockerExecutor, client, remove_leftovers
    spec = spec or CodeExecution()
    rows: list[CheckRow] = []
    try:
        c = client()
        version = c.version().get("Version", "?")
        rows.append(CheckRow("docker", True, f"engine {version} reachable"))
    except ExecutionError as e:
        return [CheckRow("docker", False, str(e))]
    left = remove_leftovers(c)
    rows.append(CheckRow("leftovers", True, f"{left.removed} stale agentteam container(s) "
                         f"removed; {left.kept} of live runs or other hosts left alone"))
    try:
        img = c.images.get(spec.image)
        rows.append(CheckRow("image", True, f"{spec.image} ({img.attrs.get('Size', 0) // 2**20} MB)"))
    except Exception:
        rows.append(CheckRow("image", False, f"{spec.image} is missing: run `agentteam sandbox "
                                             "build` (or `--offline`)"))
        return rows
    with tempfile.TemporaryDirectory(prefix="agentteam-check-") as work:
        ex = DockerExecutor(spec, Path(work) / "work")   # made by the run, as a run's is
        try:
            t = time.monotonic()
            ex.start()
            started = time.monotonic() - t
            code = (files("agentteam.executors.sandbox") / "probe.py").read_text()
            result = ex.run(CodeBlock("python", code))
            t = time.monotonic()
            ex.run(CodeBlock("sh", "true"))
            per_block = time.monotonic() - t
        except (ExecutionError, UsageError) as e:
            rows.append(CheckRow("container", False, str(e)))
            return rows
        finally:
            ex.close()
    rows.append(CheckRow("container", True, f"started in {started:.2f}s; a block takes "
                                            f"{per_block * 1000:.0f} ms"))
    try:
        probe = json.loads(result.output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        rows.append(CheckRow("probes", False, f"probe failed: {result.output[:200]}"))
        return rows
    rows += _judge(probe, spec)
    return rows


def _judge(p: dict, spec: CodeExecution) -> list[CheckRow]:
    from ..docker import SANDBOX_ENV
    want_net = spec.network == "bridge"
    return [
        CheckRow("network", p["network"] == want_net,
                 "no network" if not p["network"] else "network reachable"
                 + ("" if want_net else " — it should not be")),
        CheckRow("user", p["uid"] != 0, f"runs as uid {p['uid']}"),
        CheckRow("capabilities", p["cap_eff"] == 0, f"effective capabilities {p['cap_eff']:#x}"),
        CheckRow("root filesystem", not p["root_writable"],
                 "read-only" if not p["root_writable"] else "writable — it should not be"),
        CheckRow("work dir", p["workspace_writable"], "/workspace writable"
                 if p["workspace_writable"] else "/workspace not writable"),
        CheckRow("/tmp", p["tmp_writable"], f"tmpfs {spec.tmpfs_size}"),
        CheckRow("pids limit", p["pids_max"] == str(spec.pids_limit)
                 and p["forks_allowed"] < spec.pids_limit,
                 f"pids.max={p['pids_max']}; a fork loop was stopped after "
                 f"{p['forks_allowed']} processes"),
        CheckRow("memory limit", p["memory_max"] not in (None, "max") and bool(p["memory_killed"]),
                 f"limit {int(p['memory_max']) // 2**20 if str(p['memory_max']).isdigit() else '?'}"
                 f" MB; allocating 1.5x of it was "
                 + ("stopped" if p["memory_killed"] else "NOT stopped")),
        CheckRow("cpu limit", p["cpu_max"] not in (None,) and not str(p["cpu_max"]).startswith("max"),
                 f"cpu.max={p['cpu_max']}"),
        CheckRow("environment", set(p["env"]) <= set(SANDBOX_ENV) | {"HOSTNAME", "PWD", "SHLVL",
                                                                     "_"},
                 f"only {', '.join(p['env'])}"),
    ]
