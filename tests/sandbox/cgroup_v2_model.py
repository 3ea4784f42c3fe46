"""A model of the kernel's cgroup v2 filesystem in a temporary directory, for hosts where v2 is not mounted.

A plain directory is not cgroupfs: mkdir there makes an empty directory, and any write creates a file.
The model (a `CgroupFs`, which the code under test takes) adds the kernel's rules, as written in
Documentation/admin-guide/cgroup-v2.rst and checked against a real v2 mount by
test_cgroups_v2.py::test_the_model_matches_the_kernel_where_v2_is_mounted:

- mkdir makes a cgroup: its interface files, and the files of each controller its parent enables for
  children (cgroup.controllers = the parent's cgroup.subtree_control);
- a file that is not there cannot be created (EACCES), an unknown controller cannot be enabled (ENOENT);
- "no internal processes": a non-root cgroup (one with cgroup.type) cannot enable controllers for its
  children while it holds processes, nor take processes while it enables some (EBUSY);
- writing a pid to cgroup.procs moves the process: it leaves its old cgroup;
- rmdir refuses a cgroup with processes or children (EBUSY), and removes its files;
- cpu.max takes "quota period" or "max period", period 1 ms to 1 s, quota at least 1 ms (EINVAL otherwise);
- a directory can be made read-only (`deny`), as a cgroup that is not delegated to the user is.

Pids here are numbers in files, never signalled: the tests never ask the model's groups to kill.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from sandbox.cgroups import CgroupFs

CORE_FILES = ("cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.type", "cgroup.events")


def _error(code: int, path: Path) -> OSError:
    return OSError(code, os.strerror(code), str(path))


class CgroupV2Model(CgroupFs):
    def __init__(
        self, root: Path, *, controllers: str = "cpu io memory pids", swap: bool = True, peak: bool = True
    ) -> None:
        self.root = root
        self.swap = swap  # memory.swap.max exists only where the kernel accounts swap
        self.peak = peak  # memory.peak: Linux 5.19 and later
        self.denied: set[Path] = set()
        root.mkdir(parents=True, exist_ok=True)
        for name, text in {
            "cgroup.controllers": controllers,
            "cgroup.subtree_control": "",
            "cgroup.procs": "",
            "cpu.stat": "usage_usec 0\n",
        }.items():
            (root / name).write_text(text)

    # What a test sets up, as systemd or the kernel would have.

    def make(self, rel: str, *, procs: str = "", enable: str = "cpu memory pids") -> Path:
        """A cgroup systemd made before the code runs, each ancestor enabling `enable` for its children."""
        path = self.root
        for part in rel.strip("/").split("/"):
            available = (path / "cgroup.controllers").read_text().split()
            (path / "cgroup.subtree_control").write_text(" ".join(c for c in enable.split() if c in available))
            path = path / part
            if not path.exists():
                self.mkdir(path)
        (path / "cgroup.procs").write_text(procs)
        return path

    def deny(self, path: Path) -> None:
        """path's files and children can no longer be written or made by this process."""
        self.denied.add(path)

    def exited(self, pid: int) -> None:
        for procs in self.root.rglob("cgroup.procs"):
            procs.write_text("".join(f"{p}\n" for p in procs.read_text().split() if p != str(pid)))

    def cgroups(self, under: str = "") -> set[str]:
        """The cgroups below `under` ("/a/b"), as /proc/self/cgroup would name them."""
        top = self.root / under.lstrip("/")
        return {"/" + str(p.parent.relative_to(self.root)) for p in top.rglob("*/cgroup.type")}

    # CgroupFs

    def mkdir(self, path: Path, *, exist_ok: bool = False) -> None:
        if path.exists() and exist_ok:
            return
        if path.parent in self.denied:
            raise _error(errno.EACCES, path)
        if not (path.parent / "cgroup.procs").exists():
            raise _error(errno.ENOENT, path)
        path.mkdir()
        enabled = (path.parent / "cgroup.subtree_control").read_text().split()
        for name, text in {
            "cgroup.procs": "",
            "cgroup.controllers": " ".join(enabled),
            "cgroup.subtree_control": "",
            "cgroup.type": "domain\n",
            "cgroup.events": "populated 0\nfrozen 0\n",
            "cpu.stat": "usage_usec 0\n",
        }.items():
            (path / name).write_text(text)
        self._controller_files(path, enabled)

    def _controller_files(self, path: Path, controllers: list[str]) -> None:
        files: dict[str, str] = {}
        if "cpu" in controllers:
            files |= {"cpu.max": "max 100000\n", "cpu.weight": "100\n"}
        if "memory" in controllers:
            files |= {"memory.max": "max\n", "memory.current": "0\n", "memory.events": "oom 0\noom_kill 0\n"}
            if self.swap:
                files["memory.swap.max"] = "max\n"
            if self.peak:
                files["memory.peak"] = "0\n"
        for name, text in files.items():
            if not (path / name).exists():
                (path / name).write_text(text)

    def rmdir(self, path: Path) -> None:
        if path.parent in self.denied:
            raise _error(errno.EACCES, path)
        if (path / "cgroup.procs").read_text().split() or any(p.is_dir() for p in path.iterdir()):
            raise _error(errno.EBUSY, path)
        for file in path.iterdir():
            file.unlink()
        path.rmdir()

    def write(self, path: Path, text: str) -> None:
        if path.parent in self.denied:
            raise _error(errno.EACCES, path)
        if not path.exists():
            raise _error(errno.EACCES, path)  # cgroupfs has no create
        cgroup = path.parent
        inner = (cgroup / "cgroup.type").exists()
        if path.name == "cgroup.subtree_control":
            self._subtree_control(cgroup, text, inner=inner)
        elif path.name == "cgroup.procs":
            pid = text.strip()
            if inner and (cgroup / "cgroup.subtree_control").read_text().split():
                raise _error(errno.EBUSY, path)
            self.exited(int(pid))
            path.write_text(path.read_text() + f"{pid}\n")
        elif path.name == "cpu.max":
            quota, period = text.split()
            if not 1_000 <= int(period) <= 1_000_000 or (quota != "max" and int(quota) < 1_000):
                raise _error(errno.EINVAL, path)
            path.write_text(text + "\n")
        elif path.name in {"memory.max", "memory.swap.max"}:
            if text.strip() != "max" and not text.strip().isdigit():
                raise _error(errno.EINVAL, path)
            path.write_text(text + "\n")
        else:
            path.write_text(text)

    def _subtree_control(self, cgroup: Path, text: str, *, inner: bool) -> None:
        available = (cgroup / "cgroup.controllers").read_text().split()
        enabled = (cgroup / "cgroup.subtree_control").read_text().split()
        for token in text.split():
            sign, name = token[0], token[1:]
            if name not in available:
                raise _error(errno.ENOENT, cgroup / "cgroup.subtree_control")
            if sign == "+" and name not in enabled:
                if inner and (cgroup / "cgroup.procs").read_text().split():
                    raise _error(errno.EBUSY, cgroup / "cgroup.subtree_control")
                enabled.append(name)
            elif sign == "-" and name in enabled:
                enabled.remove(name)
        (cgroup / "cgroup.subtree_control").write_text(" ".join(enabled))
        for child in (p for p in cgroup.iterdir() if p.is_dir()):
            (child / "cgroup.controllers").write_text(" ".join(enabled))
            self._controller_files(child, enabled)
