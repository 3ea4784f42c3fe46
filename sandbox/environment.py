"""Execution environments as Lambda runs them: one process each, running AWS's runtime interface client.

An environment is `python -S -m awslambdaric <handler>` in the function's task root (its code archive,
read-only), with Lambda's environment variables and an import path of the task root plus the libraries
the Lambda Python runtime provides (boto3, botocore and their dependencies) and the runtime client
itself: nothing else from the sandbox's venv. It talks to its own Runtime API endpoint
(sandbox/runtime_api.py). It initialises once, serves invocations one at a time while warm, and is
killed on a timeout or when it dies; where cgroups are permitted it runs under Lambda's CPU share and
memory limit for its memory size.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from sandbox.cgroups import Cgroup, CgroupUnavailable, lambda_cpu_share
from sandbox.logs import LogConfig, LogShipper, LogStream, Report, end_records, start_record
from sandbox.runtime_api import Invocation, RuntimeApi

# What the Lambda Python runtime puts on the import path besides the task root, and the runtime client.
RUNTIME_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "jmespath",
    "s3transfer",
    "urllib3",
    "python-dateutil",
    "six",
    "awslambdaric",
    "simplejson",
    "snapshot-restore-py",
)
INIT_LIMIT_SECONDS = 10.0  # Lambda's limit on an on-demand environment's init phase
PYTHON_RUNTIME = f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}"
_POLL = 0.02


def runtime_libraries(directory: Path) -> Path:
    """A directory holding only what the Lambda Python runtime provides, as links into this venv (built once)."""
    marker = directory / ".complete"
    if marker.exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_DISTRIBUTIONS:
        distribution = importlib.metadata.distribution(name)
        tops = {Path(str(entry)).parts[0] for entry in distribution.files or []}
        for top in tops - {"..", "__pycache__"}:
            source = Path(str(distribution.locate_file(top)))
            link = directory / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
    marker.touch()
    return directory


def make_read_only(root: Path) -> None:
    """The task root is read-only on Lambda (/var/task)."""
    read_only = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & read_only)


def make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@dataclass(frozen=True)
class FunctionSetup:
    """What an environment of one function needs."""

    name: str
    arn: str
    handler: str
    task_root: Path
    memory_mb: int
    timeout_seconds: float
    environment: dict[str, str]
    log: LogConfig
    region: str
    endpoint_url: str
    session: boto3.Session  # the credentials the function runs with


@dataclass(frozen=True)
class Outcome:
    """How an invocation ended: the function's response, or the error Lambda would report."""

    request_id: str
    response: Any = None
    error: dict[str, Any] | None = None
    cold: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class ExecutionEnvironment:
    def __init__(
        self,
        setup: FunctionSetup,
        libraries: Path,
        shipper: LogShipper,
        logs_client: Any,
        *,
        limits: bool,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.setup = setup
        self.api = RuntimeApi()
        self.stream = shipper.add(LogStream(logs_client, setup.log))
        self.cgroup: Cgroup | None = None
        if limits:
            with contextlib.suppress(CgroupUnavailable):
                self.cgroup = Cgroup.create(
                    f"{setup.name}-{uuid.uuid4().hex[:12]}",
                    cpu_share=lambda_cpu_share(setup.memory_mb),
                    memory_mb=setup.memory_mb,
                )
        argv = [sys.executable, "-S", "-m", "awslambdaric", setup.handler]
        self._started = time.monotonic()
        self.process = subprocess.Popen(
            self.cgroup.wrap(argv) if self.cgroup else argv,
            cwd=setup.task_root,
            env=self._environment(libraries),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one
        )
        self._echo = echo
        self._reader = threading.Thread(target=self._read_output, name=f"env-{self.process.pid}", daemon=True)
        self._reader.start()
        self.invocations = 0
        self.dead = False

    def _environment(self, libraries: Path) -> dict[str, str]:
        setup = self.setup
        credentials = setup.session.get_credentials()
        if credentials is None:
            raise RuntimeError(f"no credentials for function {setup.name}")
        frozen = credentials.get_frozen_credentials()
        env: dict[str, str] = {
            **setup.environment,
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": f"{setup.task_root}{os.pathsep}{libraries}",
            "LAMBDA_TASK_ROOT": str(setup.task_root),
            "LAMBDA_RUNTIME_DIR": str(libraries),
            "_HANDLER": setup.handler,
            "AWS_EXECUTION_ENV": PYTHON_RUNTIME,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": setup.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(setup.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": setup.log.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.stream.name,
            "AWS_REGION": setup.region,
            "AWS_DEFAULT_REGION": setup.region,
            "AWS_ENDPOINT_URL": setup.endpoint_url,
            "AWS_ACCESS_KEY_ID": str(frozen.access_key),
            "AWS_SECRET_ACCESS_KEY": str(frozen.secret_key),
        }
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = str(frozen.token)
        if setup.log.json:
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = setup.log.application_level
        return env

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stream.application(line)
            if self._echo is not None:
                self._echo(line)

    @property
    def alive(self) -> bool:
        return not self.dead and self.process.poll() is None

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """Runs one invocation: waits for init on a cold start, then for the answer, the deadline or the exit."""
        request_id = str(uuid.uuid4())
        cold = self.invocations == 0
        self.invocations += 1
        state = self.api.state
        init_deadline = self._started + INIT_LIMIT_SECONDS + self.setup.timeout_seconds
        while not state.ready.is_set():
            if state.init_failed.is_set() or self.process.poll() is not None or time.monotonic() > init_deadline:
                return self._init_failed(request_id)
            state.ready.wait(_POLL)
        init_ms = ((state.first_next_at or self._started) - self._started) * 1000 if cold else None
        began = time.monotonic()
        timeout = self.setup.timeout_seconds
        invocation = Invocation(
            request_id=request_id,
            payload=json.dumps(event).encode(),
            deadline_ms=int((time.time() + timeout) * 1000),
            function_arn=self.setup.arn,
            trace_id=f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        )
        self._system(start_record(self.setup.log, request_id, time.time()))
        state.hand(invocation)
        status, outcome = "success", None
        while not invocation.answered.wait(_POLL):
            if self.process.poll() is not None:
                status, outcome = "error", Outcome(request_id, error=self._exit_error(request_id), cold=cold)
                break
            if time.monotonic() - began > timeout:
                self.kill()
                self._system(f"{_iso_now()} {request_id} Task timed out after {timeout:.2f} seconds")
                message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
                status, outcome = "timeout", Outcome(request_id, error=error, cold=cold)
                break
        if outcome is None:
            if invocation.error is not None:
                status, outcome = "error", Outcome(request_id, error=invocation.error, cold=cold)
            else:
                outcome = Outcome(request_id, response=_parse(invocation.response), cold=cold)
        error_type = outcome.error.get("errorType") if outcome.error else None
        if error_type == "Runtime.ExitError" and outcome.error is not None:  # as Lambda logs a runtime that died
            self._system(f"{outcome.error.get('errorMessage')}\n{error_type}")
        duration_ms = (time.monotonic() - began) * 1000
        memory = self._max_memory_mb()
        report = Report(request_id, duration_ms, self.setup.memory_mb, memory, init_ms, status, error_type)
        for line in end_records(self.setup.log, report, time.time()):
            self._system(line)
        return outcome

    def _init_failed(self, request_id: str) -> Outcome:
        state = self.api.state
        if state.init_failed.is_set() and state.init_error is not None:
            error = state.init_error
        elif self.process.poll() is not None:
            error = self._exit_error(request_id)
        else:
            error = {"errorType": "Sandbox.Timedout", "errorMessage": "init did not finish in time"}
        self.kill()
        message = error.get("errorMessage", "")
        self._system(f"{_iso_now()} INIT_REPORT Phase: init Status: error Error Type: {error['errorType']} {message}")
        return Outcome(request_id, error=error, cold=True)

    def _exit_error(self, request_id: str) -> dict[str, Any]:
        code = self.process.wait()
        self.dead = True
        reason = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        if self.cgroup is not None and self.cgroup.oom_killed():
            reason = "signal: killed"  # what Lambda reports for an environment over its memory
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {reason}",
        }

    def _max_memory_mb(self) -> int:
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                return round(self.cgroup.peak_memory_bytes() / 2**20)
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
        return 0

    def _system(self, line: str | None) -> None:
        if line is not None:
            self.stream.system(line)

    def kill(self) -> None:
        """Stops the environment at once, as Lambda does after a timeout: every process in it."""
        self.dead = True
        if self.cgroup is not None:
            self.cgroup.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        self.kill()
        self.api.close()
        self._reader.join(timeout=2)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.cgroup is not None:
            with contextlib.suppress(CgroupUnavailable, OSError):
                self.cgroup.remove()


def _signal_name(number: int) -> str:
    return "killed" if number == signal.SIGKILL else signal.Signals(number).name.lower().removeprefix("sig")


def _iso_now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


@dataclass
class PoolStats:
    cold_starts: int = 0
    busy: int = 0
    peak_busy: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class EnvironmentPool:
    """A function's environments: warm ones are reused, one invocation each at a time, at most `limit` of them."""

    def __init__(
        self,
        setup: FunctionSetup,
        libraries: Path,
        shipper: LogShipper,
        logs_client: Any,
        *,
        limit: int,
        limits: bool,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.setup = setup  # the function's version now: what new environments start with
        self.limit = limit
        self.stats = PoolStats()
        self._new: Callable[[], ExecutionEnvironment] = lambda: ExecutionEnvironment(
            self.setup, libraries, shipper, logs_client, limits=limits, echo=echo
        )
        self.sibling: Callable[[], EnvironmentPool] = lambda: EnvironmentPool(
            self.setup, libraries, shipper, logs_client, limit=self.limit, limits=limits, echo=echo
        )  # another pool of the same function (a second mapping on the same queue, say)
        self._idle: list[ExecutionEnvironment] = []
        self._all: list[ExecutionEnvironment] = []
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any], before: Callable[[ExecutionEnvironment], None] | None = None) -> Outcome:
        environment = self._acquire()
        try:
            if before is not None:
                before(environment)
            outcome = environment.invoke(event)
        finally:
            self._release(environment)
        if outcome.cold:
            with self.stats._lock:
                self.stats.cold_starts += 1
        return outcome

    def _acquire(self) -> ExecutionEnvironment:
        with self._lock:
            if self.stats.busy >= self.limit:
                raise RuntimeError(f"{self.setup.name}: more than {self.limit} concurrent invocations asked for")
            self.stats.busy += 1
            self.stats.peak_busy = max(self.stats.peak_busy, self.stats.busy)
            while self._idle:
                environment = self._idle.pop()
                if environment.alive:
                    return environment
                self._retire(environment)
        try:
            environment = self._new()
        except BaseException:
            with self._lock:
                self.stats.busy -= 1
            raise
        with self._lock:
            self._all.append(environment)
        return environment

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            self.stats.busy -= 1
            if environment.alive and environment.setup is self.setup:
                self._idle.append(environment)
                return
        self._retire(environment)  # dead, or of a version the function no longer runs

    def switch(self, setup: FunctionSetup) -> None:
        """The function's code or configuration changed (UpdateFunctionCode, UpdateFunctionConfiguration): as
        on Lambda, new invocations get environments of `setup`, an invocation under way finishes on the
        version it started with, and no environment of the old version is used again: idle ones are stopped
        now, busy ones once their invocation ends."""
        with self._lock:
            self.setup = setup
            idle, self._idle = self._idle, []
        for environment in idle:
            self._retire(environment)

    def _retire(self, environment: ExecutionEnvironment) -> None:
        environment.close()
        with self._lock:
            if environment in self._all:
                self._all.remove(environment)

    def pids(self) -> list[int]:
        """The processes of this function's live environments (for measuring their memory, say)."""
        with self._lock:
            return [environment.process.pid for environment in self._all if environment.alive]

    def close(self) -> None:
        with self._lock:
            environments, self._all, self._idle = list(self._all), [], []
        for environment in environments:
            environment.close()
