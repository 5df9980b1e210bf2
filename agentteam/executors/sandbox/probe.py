# Run inside the sandbox by `agentteam sandbox check`: reports what the container can do.
import json
import os
import socket
import subprocess


def attempt(fn):
    try:
        fn()
        return True
    except Exception:
        return False

def net():
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()

def write_root():
    open("/etc/agentteam-probe", "w").write("x")

def cap_eff():
    for line in open("/proc/self/status"):
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)

def cg(*paths):
    """The first readable cgroup file (v2 names first, then v1)."""
    for path in paths:
        try:
            return open("/sys/fs/cgroup/" + path).read().strip()
        except OSError:
            pass
    return None

def cpu_max():
    v2 = cg("cpu.max")
    if v2:
        return v2
    quota, period = cg("cpu/cpu.cfs_quota_us"), cg("cpu/cpu.cfs_period_us")
    return None if quota in (None, "-1") else f"{quota} {period}"

def forks_allowed(cap=4096):
    """Fork sleeping children until the kernel refuses; the count proves the pids limit."""
    kids = []
    try:
        while len(kids) < cap:
            pid = os.fork()
            if pid == 0:
                import time
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
    except OSError:
        pass
    finally:
        for pid in kids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    return len(kids)

def memory_killed(limit_bytes):
    """A child allocates 1.5x the limit; True when the kernel stops it."""
    if not limit_bytes:
        return None
    code = ("b = []\n"
            f"for _ in range({int(limit_bytes * 1.5) // (32 * 2**20) + 1}):\n"
            "    b.append(bytearray(32 * 2**20))\n")
    r = subprocess.run(["python3", "-c", code], capture_output=True)
    return r.returncode != 0

def write_work():
    open("/workspace/.agentteam_probe", "w").write("x")
    os.unlink("/workspace/.agentteam_probe")

mem = cg("memory.max", "memory/memory.limit_in_bytes")
print(json.dumps({
    "memory_killed": memory_killed(int(mem) if mem and mem.isdigit() and int(mem) < 2**50 else 0),
    "uid": os.getuid(),
    "network": attempt(net),
    "root_writable": attempt(write_root),
    "workspace_writable": attempt(write_work),
    "tmp_writable": attempt(lambda: open("/tmp/probe", "w").write("x")),
    "cap_eff": cap_eff(),
    "pids_max": cg("pids.max", "pids/pids.max"),
    "memory_max": cg("memory.max", "memory/memory.limit_in_bytes"),
    "cpu_max": cpu_max(),
    "forks_allowed": forks_allowed(),
    "env": sorted(os.environ),
}))
