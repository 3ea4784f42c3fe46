"""Lambda's CPU share and memory limit for a process, with Linux cgroup v1 (as root).

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU. A cgroup models that
with a CFS quota (`cpu.cfs_quota_us` over `cpu.cfs_period_us`) and a memory limit
(`memory.limit_in_bytes`; over it the kernel's OOM killer sends SIGKILL, as on Lambda).

The period is 20 ms, not the kernel's default 100 ms: on Lambda, a function that uses more than its
share of a 20 ms slice is paused until the slice ends (observed and reported in
pwrdrvr/lambda-dispatch#246, "the throttling interval is actually 20 ms"). With 100 ms, a 256 MB
function could run 14.5 ms at full speed before its first pause, five times Lambda's 2.9 ms, and short
batches at small sizes looked faster (and cheaper) than Lambda makes them.

Groups nest under this process's own cgroup in each hierarchy (read from /proc/self/cgroup), so a
limit placed on the sandbox by whoever started it still holds for its children.

Starting a child inside a group: `subprocess.Popen(group.wrap(argv))` runs a shell that moves itself
into the group and then execs argv, so the child never runs a single instruction unconstrained and no
`preexec_fn` (unsafe in a threaded parent) is needed. `group.preexec` is offered for callers that
have no threads.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LAMBDA_MB_PER_VCPU = 1769
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "cpuacct", "memory")
PARENT = "order-pipeline"
PERIOD_US = 20_000  # Lambda's throttling interval (see above)
_MIN_QUOTA_US = 1_000  # the kernel refuses quotas under 1 ms


class CgroupUnavailable(RuntimeError):  # noqa: N818 (the name the agreed API gives it)
    """The cpu, cpuacct and memory controllers cannot be used by this process."""


def lambda_cpu_share(memory_mb: int) -> float:
    """The share of one CPU Lambda gives a function of memory_mb: memory / 1,769 MB."""
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb}")
    return memory_mb / LAMBDA_MB_PER_VCPU


def _own_path(controller: str) -> Path:
    """This process's cgroup directory in the hierarchy that holds `controller`."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, rel = line.split(":", 2)
        if controller in names.split(","):
            return CGROUP_ROOT / controller / rel.lstrip("/")
    raise CgroupUnavailable(f"no cgroup v1 hierarchy holds the {controller} controller")


def _parent_dirs() -> dict[str, Path]:
    return {c: _own_path(c) / PARENT for c in CONTROLLERS}


@cache
def cgroups_unavailable() -> str | None:
    """None when cpu, cpuacct and memory groups can be made and limited here, else the reason."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "cgroups need root"
    try:
        probe = Cgroup.create(f"probe-{uuid.uuid4().hex[:8]}", cpu_share=0.5, memory_mb=64)
    except (CgroupUnavailable, OSError) as exc:
        return str(exc)
    probe.remove()
    return None


@dataclass(frozen=True)
class Cgroup:
    """One group in each of the cpu, cpuacct and memory hierarchies."""

    name: str
    dirs: dict[str, Path]

    @classmethod
    def create(cls, name: str, *, cpu_share: float | None, memory_mb: int | None) -> Cgroup:
        """Make the group; cpu_share in CPUs (0.145 = 14.5% of one), memory_mb in MiB. None: no limit."""
        if "/" in name or name in {"", ".", ".."}:
            raise ValueError(f"cgroup name must be one path segment, got {name!r}")
        dirs: dict[str, Path] = {}
        try:
            for controller, parent in _parent_dirs().items():
                parent.mkdir(exist_ok=True)
                path = parent / name
                path.mkdir()
                dirs[controller] = path
            group = cls(name, dirs)
            if cpu_share is not None:
                quota = max(_MIN_QUOTA_US, round(cpu_share * PERIOD_US))
                (dirs["cpu"] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
            if memory_mb is not None:
                limit = str(memory_mb * 1024 * 1024)
                (dirs["memory"] / "memory.limit_in_bytes").write_text(limit)
                memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
                if memsw.exists():  # no swapping past the limit either, as on Lambda
                    memsw.write_text(limit)
        except OSError as exc:
            for path in dirs.values():
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise CgroupUnavailable(f"cannot create cgroup {name!r}: {exc}") from exc
        return group

    def add(self, pid: int) -> None:
        """Move a process (and the children it starts afterwards) into the group."""
        for path in self.dirs.values():
            (path / "cgroup.procs").write_text(str(pid))

    def preexec(self) -> None:
        """For subprocess's preexec_fn, in a parent without threads: the child joins the group."""
        self.add(os.getpid())

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv, prefixed so that the process joins the group before it execs (for Popen)."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(p / 'cgroup.procs'))}" for p in self.dirs.values())
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "cgroup-join", *argv]

    def pids(self) -> list[int]:
        text = (self.dirs["memory"] / "cgroup.procs").read_text()
        return [int(p) for p in text.split()]

    def peak_memory_bytes(self) -> int:
        return int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text())

    def cpu_time_seconds(self) -> float:
        return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9

    def oom_killed(self) -> bool:
        """True once the kernel's OOM killer has killed a process of the group."""
        for line in (self.dirs["memory"] / "memory.oom_control").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value) > 0
        return (self.dirs["memory"] / "memory.failcnt").read_text().strip() != "0"

    def kill(self) -> None:
        """SIGKILL every process in the group."""
        with contextlib.suppress(FileNotFoundError):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left in the group and delete it."""
        deadline = time.monotonic() + timeout
        while True:
            self.kill()
            try:
                if not self.pids():
                    break
            except FileNotFoundError:
                break
            if time.monotonic() > deadline:
                raise CgroupUnavailable(f"cgroup {self.name!r} still has processes after SIGKILL")
            time.sleep(0.01)
        for path in self.dirs.values():
            for _ in range(100):  # rmdir can fail with EBUSY for a moment after the last exit
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
