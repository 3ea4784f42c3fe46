"""Lambda's CPU share and memory limit for a process, with Linux cgroups: v1 as root, v2 as root or delegated.

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU. A cgroup models that
with a CFS quota over a period (v1: `cpu.cfs_quota_us` over `cpu.cfs_period_us`; v2: `cpu.max`, "quota
period") and a memory limit (v1: `memory.limit_in_bytes`; v2: `memory.max`); over it the kernel's OOM
killer sends SIGKILL, as on Lambda. Swap past the limit is refused too, as Lambda has none (v1:
`memory.memsw.limit_in_bytes` = the limit; v2: `memory.swap.max` = 0), where the kernel accounts swap.

The period is 20 ms, not the kernel's default 100 ms: on Lambda, a function that uses more than its
share of a 20 ms slice is paused until the slice ends (observed and reported in
pwrdrvr/lambda-dispatch#246, "the throttling interval is actually 20 ms"). With 100 ms, a 256 MB
function could run 14.5 ms at full speed before its first pause, five times Lambda's 2.9 ms, and short
batches at small sizes looked faster (and cheaper) than Lambda makes them.

Which hierarchy (`detect`):

- v1 (/sys/fs/cgroup/cpu, cpuacct and memory are v1 mounts): groups nest under this process's own
  cgroup in each hierarchy; only root may make them.
- v2 (/sys/fs/cgroup/cgroup.controllers: the unified hierarchy; or its hybrid mount at
  /sys/fs/cgroup/unified when cpu and memory are not bound to v1): groups nest under this process's own
  cgroup (`0::/path` in /proc/self/cgroup) as `<own>/order-pipeline/<group>`. That needs cpu and memory
  in `<own>/cgroup.controllers` and the right to write `<own>`: root has it, and so has a user whose
  cgroup systemd delegated (`systemd-run --user --scope -p Delegate=yes -- …`; systemd chowns a
  delegated unit's cgroup to its user). Enabling the controllers for children (`+cpu +memory` in
  `cgroup.subtree_control`) is refused while the cgroup holds processes, unless it is the root ("no
  internal processes"), so the processes already in `<own>` move first into a leaf beside the groups,
  `<own>/order-pipeline-sandbox`: in a scope started for the sandbox they are the sandbox and its parents.

Either way a limit placed on the sandbox by whoever started it still holds for its children. Where no
hierarchy can be had, `cgroups_unavailable` says why, with the command that would enable it.

Starting a child inside a group: `subprocess.Popen(group.wrap(argv))` runs a shell that moves itself
into the group and then execs argv, so the child never runs a single instruction unconstrained and no
`preexec_fn` (unsafe in a threaded parent) is needed. `group.preexec` is offered for callers that
have no threads.

Every touch of the cgroup filesystem goes through `CgroupFs`, whose one instance `KERNEL` is the real
one, so the tests can run the v2 code on a model of the kernel's rules where v2 is not mounted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

LAMBDA_MB_PER_VCPU = 1769
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "cpuacct", "memory")
V2_CONTROLLERS = ("cpu", "memory")  # v2 has no cpuacct: cpu.stat is always there
PARENT = "order-pipeline"
V2_LEAF = "order-pipeline-sandbox"  # v2: where the processes of the sandbox's own cgroup move (see above)
PERIOD_US = 20_000  # Lambda's throttling interval (see above)
_MIN_QUOTA_US = 1_000  # the kernel refuses quotas under 1 ms


class CgroupUnavailable(RuntimeError):  # noqa: N818 (the name the agreed API gives it)
    """The cpu and memory controllers (and v1's cpuacct) cannot be used by this process."""


def lambda_cpu_share(memory_mb: int) -> float:
    """The share of one CPU Lambda gives a function of memory_mb: memory / 1,769 MB."""
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb}")
    return memory_mb / LAMBDA_MB_PER_VCPU


def quota_us(cpu_share: float) -> int:
    """The CFS quota per PERIOD_US for a share of one CPU (at least the kernel's 1 ms)."""
    return max(_MIN_QUOTA_US, round(cpu_share * PERIOD_US))


class CgroupFs:
    """The cgroup filesystem as this module uses it; `KERNEL` is the real one."""

    def read(self, path: Path) -> str:
        return path.read_text()

    def write(self, path: Path, text: str) -> None:
        path.write_text(text)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def mkdir(self, path: Path, *, exist_ok: bool = False) -> None:
        path.mkdir(exist_ok=exist_ok)

    def rmdir(self, path: Path) -> None:
        path.rmdir()


KERNEL = CgroupFs()


def restart_command(argv: Sequence[str] | None = None) -> str:
    """This process's command line, runnable again from a shell (for the hint in a refusal)."""
    if argv is None:
        argv = sys.argv if sys.argv and os.access(sys.argv[0], os.X_OK) else sys.orig_argv
    return shlex.join(argv)


@dataclass(frozen=True)
class Cgroup:
    """One group: on v1 a directory in each of the cpu, cpuacct and memory hierarchies, on v2 one directory."""

    name: str
    dirs: dict[str, Path]  # controller -> directory; on v2 all three name the same one
    version: int = 1
    fs: CgroupFs = field(default=KERNEL, repr=False, compare=False)

    @classmethod
    def create(cls, name: str, *, cpu_share: float | None, memory_mb: int | None) -> Cgroup:
        """Make the group in this host's hierarchy; cpu_share in CPUs (0.145 = 14.5% of one), memory_mb in MiB.

        None: no limit."""
        host = _host()
        if isinstance(host, str):
            raise CgroupUnavailable(host)
        return host.create(name, cpu_share=cpu_share, memory_mb=memory_mb)

    @property
    def paths(self) -> list[Path]:
        """The group's distinct directories (one on v2)."""
        return list(dict.fromkeys(self.dirs.values()))

    def add(self, pid: int) -> None:
        """Move a process (and the children it starts afterwards) into the group."""
        for path in self.paths:
            self.fs.write(path / "cgroup.procs", str(pid))

    def preexec(self) -> None:
        """For subprocess's preexec_fn, in a parent without threads: the child joins the group."""
        self.add(os.getpid())

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv, prefixed so that the process joins the group before it execs (for Popen)."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(p / 'cgroup.procs'))}" for p in self.paths)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "cgroup-join", *argv]

    def pids(self) -> list[int]:
        text = self.fs.read(self.dirs["memory"] / "cgroup.procs")
        return [int(p) for p in text.split()]

    def peak_memory_bytes(self) -> int:
        """The group's peak memory use (v2: memory.peak, Linux 5.19 and later; before, FileNotFoundError)."""
        peak = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        return int(self.fs.read(self.dirs["memory"] / peak))

    def cpu_time_seconds(self) -> float:
        if self.version == 1:
            return int(self.fs.read(self.dirs["cpuacct"] / "cpuacct.usage")) / 1e9
        return _keyed(self.fs.read(self.dirs["cpu"] / "cpu.stat"))["usage_usec"] / 1e6

    def oom_killed(self) -> bool:
        """True once the kernel's OOM killer has killed a process of the group."""
        memory = self.dirs["memory"]
        if self.version == 2:
            return _keyed(self.fs.read(memory / "memory.events")).get("oom_kill", 0) > 0
        oom_control = _keyed(self.fs.read(memory / "memory.oom_control"))
        if "oom_kill" in oom_control:
            return oom_control["oom_kill"] > 0
        return self.fs.read(memory / "memory.failcnt").strip() != "0"

    def kill(self) -> None:
        """SIGKILL every process in the group."""
        with contextlib.suppress(FileNotFoundError):
            if self.version == 2 and self.fs.exists(self.dirs["memory"] / "cgroup.kill"):  # Linux 5.14 and later
                self.fs.write(self.dirs["memory"] / "cgroup.kill", "1")
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
        for path in self.paths:
            for _ in range(100):  # rmdir can fail with EBUSY for a moment after the last exit
                try:
                    self.fs.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _keyed(text: str) -> dict[str, int]:
    """A flat-keyed cgroup file ("key value" lines: cpu.stat, memory.events, memory.oom_control)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value)
    return values


def _check_name(name: str) -> None:
    if "/" in name or name in {"", ".", ".."}:
        raise ValueError(f"cgroup name must be one path segment, got {name!r}")


class CgroupV1:
    """The v1 hierarchies of cpu, cpuacct and memory under root, groups nested in this process's own cgroups."""

    version = 1

    def __init__(self, root: Path, own: Mapping[str, str], *, fs: CgroupFs = KERNEL, euid: int | None = None) -> None:
        self.root = root
        self.own = dict(own)  # controller -> this process's cgroup in its hierarchy ("/path")
        self.fs = fs
        self.euid = os.geteuid() if euid is None else euid

    def parent_dirs(self) -> dict[str, Path]:
        return {c: self.root / c / self.own[c].lstrip("/") / PARENT for c in CONTROLLERS}

    def create(self, name: str, *, cpu_share: float | None, memory_mb: int | None) -> Cgroup:
        _check_name(name)
        dirs: dict[str, Path] = {}
        try:
            for controller, parent in self.parent_dirs().items():
                self.fs.mkdir(parent, exist_ok=True)
                path = parent / name
                self.fs.mkdir(path)
                dirs[controller] = path
            if cpu_share is not None:
                self.fs.write(dirs["cpu"] / "cpu.cfs_period_us", str(PERIOD_US))
                self.fs.write(dirs["cpu"] / "cpu.cfs_quota_us", str(quota_us(cpu_share)))
            if memory_mb is not None:
                limit = str(memory_mb * 1024 * 1024)
                self.fs.write(dirs["memory"] / "memory.limit_in_bytes", limit)
                memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
                if self.fs.exists(memsw):  # no swapping past the limit either, as on Lambda
                    self.fs.write(memsw, limit)
        except OSError as exc:
            for path in dirs.values():
                with contextlib.suppress(OSError):
                    self.fs.rmdir(path)
            raise CgroupUnavailable(f"cannot create cgroup {name!r}: {exc}") from exc
        return Cgroup(name, dirs, 1, self.fs)

    def unavailable(self, argv: Sequence[str] | None = None) -> str | None:
        if self.euid != 0:
            return f"cgroup v1 needs root: run it as root, e.g. sudo {restart_command(argv)}"
        return _probe(self)


class CgroupV2:
    """The v2 (unified) hierarchy mounted at root; groups go under this process's cgroup `own` ("/path")."""

    version = 2

    def __init__(self, root: Path, own: str, *, fs: CgroupFs = KERNEL, euid: int | None = None) -> None:
        own_path = PurePosixPath("/" + own.strip("/"))
        if own_path.name == V2_LEAF:  # this process was moved there by an earlier CgroupV2
            own_path = own_path.parent
        self.root = root
        self.own = str(own_path)
        self.base = root / self.own.lstrip("/")
        self.fs = fs
        self.euid = os.geteuid() if euid is None else euid
        self._parent: Path | None = None
        self._lock = threading.Lock()

    def parent_dir(self) -> Path:
        """`<own>/order-pipeline`, with cpu and memory enabled for the groups in it; prepared once."""
        with self._lock:
            if self._parent is None:
                self._parent = self._prepare()
            return self._parent

    def create(self, name: str, *, cpu_share: float | None, memory_mb: int | None) -> Cgroup:
        _check_name(name)
        path = self.parent_dir() / name
        try:
            self.fs.mkdir(path)
        except OSError as exc:
            raise CgroupUnavailable(f"cannot create cgroup {name!r}: {exc}") from exc
        try:
            if cpu_share is not None:
                self.fs.write(path / "cpu.max", f"{quota_us(cpu_share)} {PERIOD_US}")
            if memory_mb is not None:
                self.fs.write(path / "memory.max", str(memory_mb * 1024 * 1024))
                swap = path / "memory.swap.max"
                if self.fs.exists(swap):  # no swapping past the limit either, as on Lambda
                    self.fs.write(swap, "0")
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.fs.rmdir(path)
            raise CgroupUnavailable(f"cannot create cgroup {name!r}: {exc}") from exc
        return Cgroup(name, dict.fromkeys(CONTROLLERS, path), 2, self.fs)

    def unavailable(self, argv: Sequence[str] | None = None) -> str | None:
        try:
            self.parent_dir()
        except CgroupUnavailable as exc:
            return f"{exc}; to enable: {self.hint(argv)}"
        return _probe(self)

    def hint(self, argv: Sequence[str] | None = None) -> str:
        """The command that would give this process a cgroup it may use."""
        command = restart_command(argv)
        if self.euid == 0:
            return f"systemd-run --scope -p Delegate=yes -- {command}"
        user_manager = self.root / f"user.slice/user-{self.euid}.slice/user@{self.euid}.service"
        with contextlib.suppress(OSError):
            given = set(self.fs.read(user_manager / "cgroup.controllers").split())
            if missing := [c for c in V2_CONTROLLERS if c not in given]:
                return (
                    f"systemd does not delegate {' and '.join(missing)} to user@{self.euid}.service: add a drop-in "
                    "/etc/systemd/system/user@.service.d/delegate.conf with [Service] Delegate=cpu memory pids, "
                    f"run sudo systemctl daemon-reload, log in again, then systemd-run --user --scope -p Delegate=yes "
                    f"-- {command}"
                )
        return f"systemd-run --user --scope -p Delegate=yes -- {command}"

    def _prepare(self) -> Path:
        try:
            available = set(self.fs.read(self.base / "cgroup.controllers").split())
        except OSError as exc:
            raise CgroupUnavailable(f"cgroup v2: cannot read the controllers of {self.own}: {exc.strerror}") from exc
        if missing := [c for c in V2_CONTROLLERS if c not in available]:
            are = "are" if len(missing) > 1 else "is"
            raise CgroupUnavailable(
                f"cgroup v2: the {' and '.join(missing)} controller{'s' if len(missing) > 1 else ''} {are} "
                f"not delegated to {self.own}"
            )
        parent = self.base / PARENT
        try:
            self._enable_for_children(self.base)
            self.fs.mkdir(parent, exist_ok=True)
            self._enable_for_children(parent)
        except OSError as exc:
            if exc.errno in {errno.EACCES, errno.EPERM, errno.EROFS}:
                whose = "root" if self.euid == 0 else f"uid {self.euid}"
                reason = f"cgroup v2: {self.own} is not writable by {whose} ({exc.strerror})"
            else:
                reason = f"cgroup v2: cannot enable cpu and memory under {self.own}: {exc}"
            raise CgroupUnavailable(reason) from exc
        return parent

    def _enable_for_children(self, path: Path) -> None:
        """`+cpu +memory` in path's cgroup.subtree_control, moving its processes to a leaf first if it must."""
        enabled = set(self.fs.read(path / "cgroup.subtree_control").split())
        if all(c in enabled for c in V2_CONTROLLERS):
            return
        if self.fs.exists(path / "cgroup.type"):  # not the root: no internal processes
            self._evacuate(path)
        self.fs.write(path / "cgroup.subtree_control", " ".join(f"+{c}" for c in V2_CONTROLLERS))

    def _evacuate(self, path: Path) -> None:
        leaf = path / V2_LEAF
        for _ in range(10):  # a process forked meanwhile lands in path: move it too
            pids = self.fs.read(path / "cgroup.procs").split()
            if not pids:
                return
            self.fs.mkdir(leaf, exist_ok=True)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                    self.fs.write(leaf / "cgroup.procs", pid)


def _probe(hierarchy: CgroupV1 | CgroupV2) -> str | None:
    try:
        probe = hierarchy.create(f"probe-{uuid.uuid4().hex[:8]}", cpu_share=0.5, memory_mb=64)
    except (CgroupUnavailable, OSError) as exc:
        return str(exc)
    probe.remove()
    return None


def detect(
    root: Path = CGROUP_ROOT, proc_self_cgroup: str | None = None, *, fs: CgroupFs = KERNEL, euid: int | None = None
) -> CgroupV1 | CgroupV2 | str:
    """The hierarchy that holds cpu and memory here, or why there is none. proc_self_cgroup: /proc/self/cgroup."""
    if proc_self_cgroup is None:
        try:
            proc_self_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError as exc:  # not Linux
            return f"no cgroups here: {exc.strerror}"
    v1: dict[str, str] = {}
    v2_own: str | None = None
    for line in proc_self_cgroup.splitlines():
        hierarchy_id, names, rel = line.split(":", 2)
        if hierarchy_id == "0" and not names:
            v2_own = rel
        for name in names.split(","):
            v1[name] = rel
    if v2_own is not None and fs.exists(root / "cgroup.controllers"):
        return CgroupV2(root, v2_own, fs=fs, euid=euid)
    if all(c in v1 for c in CONTROLLERS):
        return CgroupV1(root, v1, fs=fs, euid=euid)
    if v2_own is not None and fs.exists(root / "unified" / "cgroup.controllers"):  # hybrid, cpu and memory not on v1
        return CgroupV2(root / "unified", v2_own, fs=fs, euid=euid)
    return f"no cgroup hierarchy holds the cpu and memory controllers under {root}"


@cache
def _host() -> CgroupV1 | CgroupV2 | str:
    return detect()


@cache
def cgroups_unavailable() -> str | None:
    """None when groups with a CPU quota and a memory limit can be made here, else why not and how to enable it."""
    host = _host()
    if isinstance(host, str):
        return host
    return host.unavailable()
