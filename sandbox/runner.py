"""The sandbox: emulator up, the stack deployed into it, a poller per event source mapping, each invoking its
function in execution environments of their own (processes running AWS's runtime interface client)."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import boto3

from sandbox.alarms import AlarmEvaluator
from sandbox.cgroups import cgroups_unavailable
from sandbox.deploy import Deployment, FunctionSpec, deploy
from sandbox.emulator import Emulator, Endpoint
from sandbox.environment import EnvironmentPool, FunctionSetup, make_read_only, make_writable, runtime_libraries
from sandbox.event_sources import MappingStates, event_source_api
from sandbox.faults import DynamoFaults, faulty_dynamodb
from sandbox.iam import role_session
from sandbox.logs import LogConfig, LogShipper
from sandbox.poller import BeforeInvoke, EventSourcePoller
from sandbox.program import Project, stack_config

OUTPUTS_FILE = "outputs.json"
RUNTIME_LIBRARIES_DIR = "lambda-runtime"
_told_about_cgroups = False  # "say so once": the first sandbox of a process tells why limits are off
LOCK_FILE = "sandbox.lock"  # held (flock) for the sandbox's life; holds its pid, for `orderctl sandbox down`


_CANCELLED = "the start was cancelled"


class StartCancelled(Exception):  # noqa: N818 (reads as what happened)
    """The start was cancelled (Ctrl-C while deploying, say); start() undid what it had done."""


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
        before_invoke: BeforeInvoke | None = None,
        function_session: Callable[[FunctionSpec], boto3.Session] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.project = Project.load(project_dir)
        self.stack = stack
        self.config = stack_config(self.project, stack, overrides)  # the Pulumi CLI's rules, its refusals
        self.region = self.config.get("aws:region", "us-east-1")
        # The emulator answers the functions' writes with these faults; tests add rules to it.
        self.faults = DynamoFaults()
        # Lambda's event source mapping API (Get, List, Update's Enabled) answered for the sandbox's mappings.
        self.mapping_states = MappingStates()
        self.emulator = Emulator(
            self.region,
            port,
            middleware=lambda app: event_source_api(faulty_dynamodb(app, self.faults), self.mapping_states),
        )
        self.state_dir = state_dir
        self.echo_logs = echo_logs
        self.before_invoke = before_invoke
        # The credentials each function and its event source run with: by default its execution role's, from
        # STS AssumeRole in the emulator, as Lambda gets them; the emulator judges every call they sign.
        self.function_session = function_session or (lambda function: role_session(self.endpoint, function.role_arn))
        self.deployment: Deployment | None = None
        self.pollers: list[EventSourcePoller] = []
        self.pools: dict[str, EnvironmentPool] = {}
        self.shipper: LogShipper | None = None
        self.limits_off: str | None = None  # why environments run without CPU and memory limits, if they do
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._lock: int | None = None
        self.alarms: AlarmEvaluator | None = None
        # Set it (from a signal handler, say) to abandon a start under way: start() checks it between its
        # steps, the deploy creates no further resource, and start() undoes what it did and raises
        # StartCancelled. A signal handler that raised instead could land anywhere (a weakref callback
        # swallows it; a library's cleanup is cut short), so the start would go on, or hang.
        self.cancel = cancel or threading.Event()

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
            self._go_on()
            self.emulator.start()
            Sandbox._running = self  # only once it runs: a failed start leaves the process free
            self._start_in_emulator()
            self._go_on()
        except BaseException as error:
            self.stop()
            if self.cancel.is_set() and not isinstance(error, StartCancelled):
                # a deploy cut short may be refused (a subscription left without its policy): it was cancelled
                raise StartCancelled(_CANCELLED) from error
            raise
        return self

    def _go_on(self) -> None:
        if self.cancel.is_set():
            raise StartCancelled(_CANCELLED)

    def _start_in_emulator(self) -> None:
        code_root = self._code_root()
        deployment = deploy(
            self.project, self.stack, self.config, self.endpoint, code_root, abandoned=self.cancel.is_set
        )
        self._go_on()
        self.deployment = deployment
        functions = self.deployment.functions
        self.limits_off = cgroups_unavailable()
        self._tell_about_limits()
        libraries = runtime_libraries(code_root.parent / RUNTIME_LIBRARIES_DIR)
        self.shipper = LogShipper()
        echo = (lambda line: print(line, flush=True)) if self.echo_logs else None
        for mapping in self.deployment.mappings:
            self._go_on()
            state = self.mapping_states.add(mapping)  # a disabled one polls once enabled (UpdateEventSourceMapping)
            function = functions[mapping.function_arn]
            make_read_only(function.code_dir)
            session = self.function_session(function)
            setup = FunctionSetup(
                name=function.name,
                arn=function.arn,
                handler=function.handler,
                task_root=function.code_dir,
                memory_mb=function.memory_mb,
                timeout_seconds=function.timeout_seconds,
                environment=function.environment,
                log=LogConfig(
                    function.log_group,
                    function.log_format,
                    function.application_log_level,
                    function.system_log_level,
                ),
                region=self.region,
                endpoint_url=self.endpoint.url,
                session=session,
            )
            # Lambda defaults to 1000 concurrent executions when the mapping sets no maximum.
            limit = mapping.maximum_concurrency or 1000
            # Lambda writes the function's logs with its execution role, so the emulator judges those calls too.
            logs_client = session.client("logs", endpoint_url=self.endpoint.url)
            pool = EnvironmentPool(
                setup, libraries, self.shipper, logs_client, limit=limit, limits=self.limits_off is None, echo=echo
            )
            self.pools[function.name] = pool
            poller = EventSourcePoller(
                mapping,
                function,
                pool,
                session,
                self.endpoint.url,
                before_invoke=self.before_invoke,
                enabled=state.enabled,
            )
            self.pollers.append(poller.start())
        queues = {r.state["name"]: r.state["url"] for r in self.deployment.resources if r.type == "aws:sqs/queue:Queue"}
        self.alarms = AlarmEvaluator(self.endpoint.client, self.region, queues, self._function_errors).start()
        if self.state_dir is not None:
            outputs = {**self.deployment.outputs, "endpoint": self.endpoint.url}
            (self.state_dir / OUTPUTS_FILE).write_text(json.dumps(outputs, indent=2) + "\n")

    def _tell_about_limits(self) -> None:
        global _told_about_cgroups  # noqa: PLW0603 (once per process, however many sandboxes it starts)
        if self.limits_off is not None and not _told_about_cgroups:
            _told_about_cgroups = True
            print(
                f"note: functions run without Lambda's CPU share and memory limit here ({self.limits_off})",
                file=sys.stderr,
            )

    def _function_errors(self) -> dict[str, int]:
        """Failed invocations per function, as the runtime counts them: what Lambda reports as Errors."""
        errors: dict[str, int] = {}
        for poller in self.pollers:
            errors[poller.function.name] = errors.get(poller.function.name, 0) + poller.stats.batch_failures
        return errors

    def _code_root(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir / "functions"
        self._scratch = tempfile.TemporaryDirectory(prefix="orders-sandbox-")
        return Path(self._scratch.name) / "functions"

    def stop(self) -> None:
        """Undoes whatever start() got to: every step runs even when an earlier one fails; the first
        failure is raised at the end."""
        failures: list[Exception] = []
        for step in (
            self._stop_alarms,
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

    def _stop_alarms(self) -> None:
        alarms, self.alarms = self.alarms, None
        if alarms is not None:
            alarms.stop()

    def _stop_pollers(self) -> None:
        pollers, self.pollers = self.pollers, []
        self.mapping_states.clear()
        for poller in pollers:
            poller.stop()
        for pool in self.pools.values():
            pool.close()
        self.pools = {}

    def _detach_logs(self) -> None:
        shipper, self.shipper = self.shipper, None
        if shipper is not None:
            shipper.close()
        if self.deployment is not None:
            for function in self.deployment.functions.values():
                if function.code_dir.exists():
                    make_writable(function.code_dir)  # so the next deploy can replace it

    def _remove_outputs(self) -> None:
        if self.state_dir is not None and self._lock is not None:  # never another sandbox's outputs
            (self.state_dir / OUTPUTS_FILE).unlink(missing_ok=True)

    def _release(self) -> None:
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
        if self.shipper is not None:
            self.shipper.flush()

    def environment_pids(self) -> list[int]:
        """The execution environments' processes: the sandbox's memory is its own plus theirs."""
        return [pid for pool in self.pools.values() for pid in pool.pids()]

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
