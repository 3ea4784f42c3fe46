"""The sandbox: emulator up, the stack deployed into it, its functions loaded, a poller per event source mapping."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from sandbox.deploy import Deployment, FunctionSpec, deploy
from sandbox.emulator import Emulator, Endpoint
from sandbox.faults import DynamoFaults, default_session
from sandbox.lambda_runtime import load_handler
from sandbox.logs import FunctionLogs
from sandbox.poller import EventSourcePoller, Middleware
from sandbox.program import Project

OUTPUTS_FILE = "outputs.json"
LOCK_FILE = "sandbox.lock"  # held (flock) for the sandbox's life; holds its pid, for `orderctl sandbox down`


class SandboxBusy(RuntimeError):  # noqa: N818 (reads as the state it reports)
    """moto keeps one state per process: a second sandbox would wipe the first one's resources."""


class StateDirError(RuntimeError):
    """The state directory cannot be used: not writable, or another sandbox holds it."""


def claim_state_dir(state_dir: Path) -> int:
    """Creates `state_dir`, proves it writable and locks it for this process: returns the lock's fd.
    Checked before anything is deployed, so a bad directory costs nothing."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise StateDirError(
            f"cannot use state dir {state_dir}: {error.strerror}; choose another with --state-dir"
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "?"
        os.close(descriptor)
        raise StateDirError(
            f"another sandbox (pid {holder}) is running with state dir {state_dir}; "
            "stop it (orderctl sandbox down) or choose another --state-dir"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor


def state_dir_holder(state_dir: Path) -> int | None:
    """The pid of the sandbox holding `state_dir`, or None when no sandbox holds it."""
    try:
        descriptor = os.open(state_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        return None  # we got the lock: nobody holds it
    finally:
        os.close(descriptor)


class Sandbox:
    """Use as a context manager, or call start() and stop(). One sandbox at a time per process, and one
    function per handler package."""

    _running: ClassVar[Sandbox | None] = None

    def __init__(
        self,
        project_dir: Path,
        stack: str = "dev",
        overrides: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        state_dir: Path | None = None,
        echo_logs: bool = False,
        middleware: Middleware | None = None,
    ) -> None:
        self.project = Project.load(project_dir)
        self.stack = stack
        self.config = self.project.stack_config(stack, overrides)
        self.region = self.config.get("aws:region", "us-east-1")
        self.emulator = Emulator(self.region, port)
        self.state_dir = state_dir
        self.echo_logs = echo_logs
        self.middleware = middleware
        # Installed before any handler exists, so the handler's clients carry it; tests add rules to it.
        self.faults = DynamoFaults()
        self.deployment: Deployment | None = None
        self.pollers: list[EventSourcePoller] = []
        self.logs: FunctionLogs | None = None
        self._saved_environment: dict[str, str] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._lock: int | None = None

    @property
    def endpoint(self) -> Endpoint:
        return self.emulator.endpoint

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> Sandbox:
        if Sandbox._running is not None:
            raise SandboxBusy(
                f"a sandbox is already running in this process at {Sandbox._running.endpoint.url}; moto keeps "
                "one state per process, so a second one would wipe the first: stop it first"
            )
        try:
            if self.state_dir is not None:
                self._lock = claim_state_dir(self.state_dir)
            self.emulator.start()
            Sandbox._running = self  # only once it runs: a failed start leaves the process free
            self._start_in_emulator()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_in_emulator(self) -> None:
        self._saved_environment = dict(os.environ)
        os.environ.update(self.endpoint.environment())  # the handler reaches the emulator like any SDK would
        code_root = self._code_root()
        self.deployment = deploy(self.project, self.stack, self.config, self.endpoint, code_root)
        functions = self.deployment.functions
        services = {f.environment.get("POWERTOOLS_SERVICE_NAME", f.name): f.log_group for f in functions.values()}
        self.logs = FunctionLogs.attach(self.endpoint.client("logs"), services, echo=self.echo_logs)
        self.faults.install(default_session())
        for mapping in self.deployment.mappings:
            if not mapping.enabled:
                continue
            function = functions[mapping.function_arn]
            handler = load_handler(function.handler, function.code_dir, self._lambda_environment(function))
            poller = EventSourcePoller(mapping, function, handler, self.endpoint, self.middleware)
            self.pollers.append(poller.start())
        if self.state_dir is not None:
            outputs = {**self.deployment.outputs, "endpoint": self.endpoint.url}
            (self.state_dir / OUTPUTS_FILE).write_text(json.dumps(outputs, indent=2) + "\n")

    def _code_root(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir / "functions"
        self._scratch = tempfile.TemporaryDirectory(prefix="orders-sandbox-")
        return Path(self._scratch.name)

    def _lambda_environment(self, function: FunctionSpec) -> dict[str, str]:
        return {
            **function.environment,
            **self.endpoint.environment(),
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group,
        }

    def stop(self) -> None:
        """Undoes whatever start() got to: every step runs even when an earlier one fails; the first
        failure is raised at the end."""
        failures: list[Exception] = []
        for step in (
            self._stop_pollers,
            self._detach_logs,
            self.faults.uninstall,
            self._remove_outputs,
            self.emulator.stop,
            self._release,
        ):
            try:
                step()
            except Exception as failure:  # noqa: BLE001 (kept, raised once the rest is undone)
                failures.append(failure)
        if failures:
            raise failures[0]

    def _stop_pollers(self) -> None:
        pollers, self.pollers = self.pollers, []
        for poller in pollers:
            poller.stop()

    def _detach_logs(self) -> None:
        logs, self.logs = self.logs, None
        if logs is not None:
            logs.detach()

    def _remove_outputs(self) -> None:
        if self.state_dir is not None and self._lock is not None:  # never another sandbox's outputs
            (self.state_dir / OUTPUTS_FILE).unlink(missing_ok=True)

    def _release(self) -> None:
        if self._saved_environment is not None:
            os.environ.clear()
            os.environ.update(self._saved_environment)
            self._saved_environment = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None
        if Sandbox._running is self:
            Sandbox._running = None

    @property
    def outputs(self) -> dict[str, Any]:
        assert self.deployment is not None, "start() the sandbox first"
        return self.deployment.outputs

    def client(self, service: str) -> Any:
        return self.endpoint.client(service)

    def flush_logs(self) -> None:
        if self.logs is not None:
            self.logs.flush_to_cloudwatch()

    def in_flight(self) -> int:
        return sum(poller.stats.in_flight for poller in self.pollers)

    def wait_until(self, condition: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
        """Polls `condition()` until it is true or `timeout` seconds pass; returns whether it became true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(interval)
        return bool(condition())
