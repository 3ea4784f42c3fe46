"""The cgroup helper on this host's hierarchy (v1, or v2 where usable): Lambda's CPU share and memory limit hold
for a real child process. The v2 code on a model of the kernel, and its refusals: test_cgroups_v2.py."""

import signal
import subprocess
import sys
import uuid

import pytest

from sandbox.cgroups import Cgroup, cgroups_unavailable, lambda_cpu_share

needs_cgroups = pytest.mark.skipif(cgroups_unavailable() is not None, reason=f"{cgroups_unavailable()}")


def test_cpu_share_is_memory_over_1769_mb() -> None:
    assert lambda_cpu_share(1769) == 1.0
    assert lambda_cpu_share(256) == pytest.approx(0.1447, abs=1e-4)
    with pytest.raises(ValueError, match="positive"):
        lambda_cpu_share(0)


@pytest.fixture
def group_name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@needs_cgroups
def test_cpu_quota_bounds_a_busy_child(group_name: str) -> None:
    group = Cgroup.create(group_name, cpu_share=0.05, memory_mb=None)
    try:
        spin = "import time\nend = time.monotonic() + 0.5\nwhile time.monotonic() < end: pass"
        subprocess.run(group.wrap([sys.executable, "-S", "-c", spin]), check=True, timeout=10)
        used = group.cpu_time_seconds()
        # 0.5 s of wall clock at 5% of one CPU: about 25 ms (plus start-up), far from the 0.5 s unbounded.
        assert 0 < used < 0.15
    finally:
        group.remove()


@needs_cgroups
def test_a_burst_over_the_share_is_paused_within_lambdas_20_ms_slice(group_name: str) -> None:
    # 8 ms of CPU at a tenth of a CPU, after an idle pause: with Lambda's 20 ms slice (2 ms of CPU each) it
    # spreads over four slices, at least 60 ms; the kernel's default 100 ms period would let it run through
    # in one 10 ms quota, at full speed.
    group = Cgroup.create(group_name, cpu_share=0.1, memory_mb=None)
    burst = (
        "import sys, time\n"
        "sys.stdin.readline()\n"
        "time.sleep(0.3)\n"
        "started, cpu = time.monotonic(), time.process_time()\n"
        "while time.process_time() - cpu < 0.008: pass\n"
        "print(time.monotonic() - started)\n"
    )
    try:
        child = subprocess.run(
            group.wrap([sys.executable, "-S", "-c", burst]),
            input="go\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert float(child.stdout) >= 0.045
    finally:
        group.remove()


@needs_cgroups
def test_over_its_memory_a_child_is_killed(group_name: str) -> None:
    group = Cgroup.create(group_name, cpu_share=None, memory_mb=32)
    try:
        hog = "blocks = [bytearray(16 * 1024 * 1024) for _ in range(8)]"
        result = subprocess.run(group.wrap([sys.executable, "-S", "-c", hog]), timeout=10, check=False)
        assert result.returncode == -signal.SIGKILL
        assert group.oom_killed()
        if group.version == 1 or (group.dirs["memory"] / "memory.peak").exists():  # v2: Linux 5.19 and later
            assert group.peak_memory_bytes() >= 30 * 1024 * 1024
    finally:
        group.remove()


@needs_cgroups
def test_remove_kills_what_is_left(group_name: str) -> None:
    group = Cgroup.create(group_name, cpu_share=0.5, memory_mb=64)
    child = subprocess.Popen(group.wrap([sys.executable, "-S", "-c", "import time; time.sleep(60)"]))
    try:
        for _ in range(500):
            if child.pid in group.pids():
                break
            subprocess.run(["sleep", "0.01"], check=True)
        assert group.pids() == [child.pid]
        group.remove()
        assert child.wait(timeout=5) == -signal.SIGKILL
        assert not group.dirs["memory"].exists()
    finally:
        child.kill()
