"""cgroup v2: Lambda's CPU share and memory limit as root or in a delegated cgroup, and the note where neither is had.

This host may have no v2 hierarchy with controllers, so the v2 code runs on a model of the kernel's
cgroupfs (cgroup_v2_model.py) whose rules are checked against a real v2 mount wherever one is writable;
and wherever this host's cgroups are v2 and usable, the last test runs a real child in a real v2 group.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sandbox.cgroups import (
    KERNEL,
    PARENT,
    PERIOD_US,
    V2_LEAF,
    Cgroup,
    CgroupUnavailable,
    CgroupV1,
    CgroupV2,
    _host,
    cgroups_unavailable,
    detect,
    lambda_cpu_share,
)
from tests.sandbox.cgroup_v2_model import CORE_FILES, CgroupV2Model

USER = "/user.slice/user-1000.slice/user@1000.service"
SCOPE = f"{USER}/app.slice/run-r1.scope"  # what systemd-run --user --scope -p Delegate=yes makes
SESSION = "/user.slice/user-1000.slice/session-2.scope"  # a login: systemd's, not delegated
ARGV = [".venv/bin/orderctl", "sandbox", "up"]
MiB = 1024 * 1024


@pytest.fixture
def model(tmp_path: Path) -> CgroupV2Model:
    return CgroupV2Model(tmp_path / "cgroup")


def delegated_scope(model: CgroupV2Model, procs: str = "4242\n4243\n") -> Path:
    """A user's scope that systemd delegated: the user may write it, and nothing above it."""
    scope = model.make(SCOPE, procs=procs)
    for ancestor in scope.parents:
        if ancestor.is_relative_to(model.root):
            model.deny(ancestor)
    return scope


def test_the_cpu_quota_is_the_share_of_lambdas_20_ms_period() -> None:
    assert PERIOD_US == 20_000
    for memory_mb, quota in [(128, 1447), (256, 2894), (1024, 11577), (1769, 20000), (3538, 40000)]:
        assert round(lambda_cpu_share(memory_mb) * PERIOD_US) == quota


def test_as_root_at_the_root_groups_get_the_quota_and_the_memory_limit(model: CgroupV2Model) -> None:
    (model.root / "cgroup.procs").write_text("1\n")  # the root may hold processes and still enable controllers
    v2 = CgroupV2(model.root, "/", fs=model, euid=0)
    group = v2.create("fn-1", cpu_share=lambda_cpu_share(256), memory_mb=256)

    path = model.root / PARENT / "fn-1"
    assert group.version == 2
    assert group.paths == [path]
    assert set(group.dirs) == {"cpu", "cpuacct", "memory"}
    assert (path / "cpu.max").read_text() == "2894 20000\n"
    assert (path / "memory.max").read_text() == f"{256 * MiB}\n"
    assert (path / "memory.swap.max").read_text() == "0\n"  # no swap past the limit, as v1's memsw
    assert (model.root / "cgroup.subtree_control").read_text().split() == ["cpu", "memory"]
    assert (model.root / PARENT / "cgroup.subtree_control").read_text().split() == ["cpu", "memory"]
    assert (model.root / "cgroup.procs").read_text() == "1\n"  # nothing moved at the root
    assert model.cgroups() == {f"/{PARENT}", f"/{PARENT}/fn-1"}


def test_a_delegated_scope_moves_its_processes_to_a_leaf_then_enables_cpu_and_memory(model: CgroupV2Model) -> None:
    scope = delegated_scope(model)
    v2 = CgroupV2(model.root, SCOPE, fs=model, euid=1000)
    assert v2.unavailable(ARGV) is None  # the probe group is made and removed

    v2.create("fn-2", cpu_share=lambda_cpu_share(128), memory_mb=128)
    assert (scope / "cgroup.procs").read_text() == ""
    assert (scope / V2_LEAF / "cgroup.procs").read_text() == "4242\n4243\n"
    assert (scope / "cgroup.subtree_control").read_text().split() == ["cpu", "memory"]
    assert (scope / PARENT / "fn-2" / "cpu.max").read_text() == "1447 20000\n"
    assert (scope / PARENT / "fn-2" / "memory.max").read_text() == f"{128 * MiB}\n"
    assert model.cgroups(SCOPE) == {f"{SCOPE}/{V2_LEAF}", f"{SCOPE}/{PARENT}", f"{SCOPE}/{PARENT}/fn-2"}

    # Afterwards /proc/self/cgroup names the leaf: a later CgroupV2 finds the same place and moves nothing.
    again = CgroupV2(model.root, f"{SCOPE}/{V2_LEAF}", fs=model, euid=1000)
    assert again.base == scope
    again.create("fn-3", cpu_share=None, memory_mb=None)
    assert (scope / V2_LEAF / "cgroup.procs").read_text() == "4242\n4243\n"
    assert (scope / PARENT / "fn-3" / "cpu.max").read_text() == "max 100000\n"  # None: no limit written


def test_a_process_joins_the_group_and_removing_the_group_deletes_it(model: CgroupV2Model) -> None:
    scope = delegated_scope(model)
    group = CgroupV2(model.root, SCOPE, fs=model, euid=1000).create("fn-4", cpu_share=0.5, memory_mb=64)
    procs = scope / PARENT / "fn-4" / "cgroup.procs"

    group.add(4243)  # the kernel's move: out of the leaf, into the group
    assert group.pids() == [4243]
    assert (scope / V2_LEAF / "cgroup.procs").read_text() == "4242\n"
    model.exited(4243)

    # wrap: the shell writes its own pid to the group's cgroup.procs, then execs the command in place.
    child = subprocess.run(group.wrap(["/bin/sh", "-c", "echo $$"]), capture_output=True, text=True, check=True)
    assert procs.read_text().split() == child.stdout.split()
    model.exited(int(child.stdout))

    group.remove()
    assert not (scope / PARENT / "fn-4").exists()
    assert model.cgroups(SCOPE) == {f"{SCOPE}/{V2_LEAF}", f"{SCOPE}/{PARENT}"}


def test_a_v2_group_reports_cpu_time_peak_memory_and_oom_kills(model: CgroupV2Model) -> None:
    group = CgroupV2(model.root, "/", fs=model, euid=0).create("fn-5", cpu_share=0.5, memory_mb=64)
    path = group.paths[0]
    (path / "cpu.stat").write_text("usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\n")
    (path / "memory.peak").write_text(f"{40 * MiB}\n")
    assert group.cpu_time_seconds() == 0.25
    assert group.peak_memory_bytes() == 40 * MiB
    assert not group.oom_killed()
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_killed()


def test_without_swap_accounting_or_memory_peak_a_group_is_still_made(tmp_path: Path) -> None:
    model = CgroupV2Model(tmp_path / "cgroup", swap=False, peak=False)  # before Linux 5.19: no memory.peak
    group = CgroupV2(model.root, "/", fs=model, euid=0).create("fn-6", cpu_share=0.5, memory_mb=64)
    assert (group.paths[0] / "memory.max").read_text() == f"{64 * MiB}\n"
    assert not (group.paths[0] / "memory.swap.max").exists()
    with pytest.raises(FileNotFoundError):  # the environment then reports the process's VmHWM
        group.peak_memory_bytes()


def test_a_session_scope_is_not_delegated_and_the_note_gives_the_command(model: CgroupV2Model) -> None:
    session = model.make(SESSION, procs="900\n901\n")
    for cgroup in [session, *session.parents]:
        if cgroup.is_relative_to(model.root):
            model.deny(cgroup)
    v2 = CgroupV2(model.root, SESSION, fs=model, euid=1000)

    assert v2.unavailable(ARGV) == (
        f"cgroup v2: {SESSION} is not writable by uid 1000 (Permission denied); "
        "to enable: systemd-run --user --scope -p Delegate=yes -- .venv/bin/orderctl sandbox up"
    )
    with pytest.raises(CgroupUnavailable, match="not writable"):
        v2.create("fn-7", cpu_share=0.5, memory_mb=64)
    assert (session / "cgroup.procs").read_text() == "900\n901\n"  # nothing moved, nothing made
    assert model.cgroups(SESSION) == set()


def test_where_systemd_delegates_no_cpu_the_note_says_how_to_delegate_it(model: CgroupV2Model) -> None:
    model.make(SCOPE, procs="4242\n", enable="memory pids")  # systemd before 252: user@.service gets pids memory
    v2 = CgroupV2(model.root, SCOPE, fs=model, euid=1000)

    assert v2.unavailable(ARGV) == (
        f"cgroup v2: the cpu controller is not delegated to {SCOPE}; to enable: systemd does not delegate cpu to "
        "user@1000.service: add a drop-in /etc/systemd/system/user@.service.d/delegate.conf with [Service] "
        "Delegate=cpu memory pids, run sudo systemctl daemon-reload, log in again, then "
        "systemd-run --user --scope -p Delegate=yes -- .venv/bin/orderctl sandbox up"
    )
    assert not (model.root / SCOPE.lstrip("/") / PARENT).exists()


def test_as_root_without_the_controllers_the_note_offers_a_delegated_system_scope(tmp_path: Path) -> None:
    model = CgroupV2Model(tmp_path / "cgroup", controllers="io pids")
    v2 = CgroupV2(model.root, "/", fs=model, euid=0)
    assert v2.unavailable(ARGV) == (
        "cgroup v2: the cpu and memory controllers are not delegated to /; "
        "to enable: systemd-run --scope -p Delegate=yes -- .venv/bin/orderctl sandbox up"
    )


def test_v1_without_root_says_to_run_as_root(tmp_path: Path) -> None:
    v1 = CgroupV1(tmp_path, {"cpu": "/", "cpuacct": "/", "memory": "/"}, euid=1000)
    assert v1.unavailable(ARGV) == "cgroup v1 needs root: run it as root, e.g. sudo .venv/bin/orderctl sandbox up"


def test_the_hierarchy_is_detected_from_the_mounts_and_proc_self_cgroup(tmp_path: Path) -> None:
    unified = CgroupV2Model(tmp_path / "unified-host")
    found = detect(unified.root, f"0::{SCOPE}\n", fs=unified, euid=1000)
    assert isinstance(found, CgroupV2)
    assert (found.root, found.own) == (unified.root, SCOPE)

    v1_host = tmp_path / "v1-host"
    for controller in ("cpu", "cpuacct", "memory"):
        (v1_host / controller).mkdir(parents=True)
    own = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n"
    found = detect(v1_host, own, euid=0)
    assert isinstance(found, CgroupV1)
    assert found.parent_dirs() == {c: v1_host / c / "docker/abc" / PARENT for c in ("cpu", "cpuacct", "memory")}

    hybrid = tmp_path / "hybrid-host"
    CgroupV2Model(hybrid / "unified")
    found = detect(hybrid, "1:name=systemd:/x\n0::/x\n", euid=0)  # cpu and memory on no v1 hierarchy
    assert isinstance(found, CgroupV2)
    assert found.base == hybrid / "unified" / "x"

    assert (
        detect(tmp_path / "empty", "0::/\n")
        == f"no cgroup hierarchy holds the cpu and memory controllers under {tmp_path / 'empty'}"
    )


def _mounts() -> dict[str, str]:
    return {line.split()[1]: line.split()[2] for line in Path("/proc/self/mounts").read_text().splitlines()}


def test_this_hosts_hierarchy_is_the_one_mounted() -> None:
    mounts, host = _mounts(), _host()
    if mounts.get("/sys/fs/cgroup") == "cgroup2":
        assert isinstance(host, CgroupV2)
        assert host.root == Path("/sys/fs/cgroup")
    elif {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory"} <= {m for m, kind in mounts.items() if kind == "cgroup"}:
        assert isinstance(host, CgroupV1)
    else:
        assert isinstance(host, str | CgroupV2)
    note = cgroups_unavailable()
    assert note is None or "to enable:" in note or "needs root" in note or "no cgroup hierarchy" in note


def _writable_v2_mount() -> Path | None:
    """This process's own cgroup in a real v2 mount, if it may make a child there (root, or delegated)."""
    for mount, kind in _mounts().items():
        if kind == "cgroup2":
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                if line.startswith("0::"):
                    own = Path(mount) / line[3:].lstrip("/")
                    if os.access(own, os.W_OK) and os.access(own / "cgroup.procs", os.W_OK):
                        return own
    return None


REAL_V2 = _writable_v2_mount()

if REAL_V2 is not None:  # collected only where a writable v2 mount is there: the model's rules against the kernel's

    def test_the_model_matches_the_kernel_where_v2_is_mounted(tmp_path: Path) -> None:
        assert REAL_V2 is not None
        name = f"model-check-{uuid.uuid4().hex[:8]}"
        real = REAL_V2 / name
        model = CgroupV2Model(tmp_path / "cgroup", controllers=(REAL_V2 / "cgroup.controllers").read_text())
        (model.root / "cgroup.subtree_control").write_text((REAL_V2 / "cgroup.subtree_control").read_text())
        modelled = model.root / name
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            for fs, path in [(KERNEL, real), (model, modelled)]:
                fs.mkdir(path)
                assert set(CORE_FILES) <= {p.name for p in path.iterdir()}
                assert (path / "cgroup.controllers").read_text().split() == (
                    (path.parent / "cgroup.subtree_control").read_text().split()
                )
                with pytest.raises(PermissionError):  # cgroupfs has no create
                    fs.write(path / "no-such.file", "1")
                absent = next(
                    c
                    for c in ("cpu", "memory", "io", "pids", "rdma", "hugetlb", "misc", "cpuset", "nope")
                    if c not in (path / "cgroup.controllers").read_text().split()
                )
                with pytest.raises(FileNotFoundError):  # ENOENT
                    fs.write(path / "cgroup.subtree_control", f"+{absent}")
                fs.write(path / "cgroup.procs", str(sleeper.pid))
                assert (path / "cgroup.procs").read_text().split() == [str(sleeper.pid)]
                with pytest.raises(OSError, match="busy"):  # EBUSY
                    fs.rmdir(path)
            model_files = {p.name for p in modelled.iterdir()}
            assert model_files <= {p.name for p in real.iterdir()}  # the model makes nothing the kernel does not
        finally:
            sleeper.kill()
            sleeper.wait()
            for _ in range(100):
                try:
                    real.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    subprocess.run(["sleep", "0.01"], check=True)


HOST = _host()

if isinstance(HOST, CgroupV2) and cgroups_unavailable() is None:  # collected only where this host's cgroups are v2

    def test_on_this_hosts_v2_a_child_runs_in_its_group_under_the_limits() -> None:
        assert isinstance(HOST, CgroupV2)
        group = Cgroup.create(f"test-{uuid.uuid4().hex[:8]}", cpu_share=lambda_cpu_share(128), memory_mb=128)
        try:
            path = group.paths[0]
            assert path == HOST.parent_dir() / group.name
            assert (path / "cpu.max").read_text() == "1447 20000\n"
            assert (path / "memory.max").read_text() == f"{128 * MiB}\n"
            child = subprocess.run(
                group.wrap([sys.executable, "-S", "-c", "print(open('/proc/self/cgroup').read())"]),
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            )
            assert f"0::{HOST.own.rstrip('/')}/{PARENT}/{group.name}" in child.stdout.splitlines()
        finally:
            group.remove()


def test_a_cgroup_that_is_gone_is_refused_not_raised(model: CgroupV2Model) -> None:
    v2 = CgroupV2(model.root, "/system.slice/gone.scope", fs=model, euid=0)
    note = v2.unavailable(ARGV)
    assert note is not None
    assert note.startswith("cgroup v2: cannot read the controllers of /system.slice/gone.scope: No such file")
