"""The sandbox: emulator up, the stack deployed into it, a poller per event source mapping, each invoking its
function in execution environments of their own (processes running AWS's runtime interface client)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
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
from sandbox.deploy import Deployment, FunctionSpec, MappingSpec, deploy
from sandbox.emulator import Emulator, Endpoint
from sandbox.environment import EnvironmentPool, FunctionSetup, make_read_only, make_writable, runtime_libraries
from sandbox.event_sources import MappingState, MappingStates, event_source_api
from sandbox.faults import DynamoFaults, faulty_dynamodb
from sandbox.iam import role_session
from sandbox.logs import LogConfig, LogShipper
from sandbox.poller import BeforeInvoke, EventSourcePoller
from sandbox.program import Project, stack_config
from sandbox.update import (
    PLAN_STATE_FILE,
    UpdateOutcome,
    apply_update,
    control_api,
    deployment_json,
    plan_update,
    refusal,
    write_json,
)

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
        self.overrides = dict(overrides or {})  # the deployed version's --config; an update's add to them
        self.config = stack_config(self.project, stack, overrides)  # the Pulumi CLI's rules, its refusals
        self.region = self.config.get("aws:region", "us-east-1")
        # The emulator answers the functions' writes with these faults; tests add rules to it.
        self.faults = DynamoFaults()
        # Lambda's event source mapping API (Get, List, Update's Enabled) answered for the sandbox's mappings.
        self.mapping_states = MappingStates()
        self.mapping_states.on_change = self._mapping_changed
        # ... and `orderctl sandbox update` (POST /_sandbox/update), since the pollers live in this process.
        self.emulator = Emulator(
            self.region,
            port,
            middleware=lambda app: control_api(
                event_source_api(faulty_dynamodb(app, self.faults), self.mapping_states), self.update
            ),
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
        self.code_root: Path | None = None
        self._code_dirs: set[Path] = set()  # made read-only for environments; writable again on stop
        self._libraries: Path | None = None
        self._update_lock = threading.Lock()
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
        code_root = self.code_root = self._code_root()
        deployment = deploy(
            self.project, self.stack, self.config, self.endpoint, code_root, abandoned=self.cancel.is_set
        )
        self._go_on()
        self.deployment = deployment
        self.limits_off = cgroups_unavailable()
        self._tell_about_limits()
        self._libraries = runtime_libraries(code_root.parent / RUNTIME_LIBRARIES_DIR)
        self.shipper = LogShipper()
        for mapping in self.deployment.mappings:
            self._go_on()
            self._add_poller(mapping, self.deployment.functions[mapping.function_arn])
        self.alarms = AlarmEvaluator(self.endpoint.client, self.region, self._queues(), self._function_errors).start()
        self._write_state()

    def _setup(self, function: FunctionSpec, session: boto3.Session) -> FunctionSetup:
        """What the function's environments start with; its code directory becomes read-only, as /var/task."""
        if function.code_dir not in self._code_dirs:
            make_read_only(function.code_dir)
            self._code_dirs.add(function.code_dir)
        return FunctionSetup(
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

    def _add_poller(self, mapping: MappingSpec, function: FunctionSpec) -> None:
        assert self._libraries is not None
        assert self.shipper is not None
        state = self.mapping_states.add(mapping)  # a disabled one polls once enabled (UpdateEventSourceMapping)
        session = self.function_session(function)
        # Lambda writes the function's logs with its execution role, so the emulator judges those calls too.
        logs_client = session.client("logs", endpoint_url=self.endpoint.url)
        echo = (lambda line: print(line, flush=True)) if self.echo_logs else None
        pool = EnvironmentPool(
            self._setup(function, session),
            self._libraries,
            self.shipper,
            logs_client,
            limit=_concurrency(mapping),
            limits=self.limits_off is None,
            echo=echo,
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

    def _queues(self) -> dict[str, str]:
        assert self.deployment is not None
        return {r.state["name"]: r.state["url"] for r in self.deployment.resources if r.type == "aws:sqs/queue:Queue"}

    def _write_state(self) -> None:
        """outputs.json for orderctl, and the deployed state an update plans against (plan-state.json)."""
        if self.state_dir is None or self.deployment is None:
            return
        outputs = {**self.deployment.outputs, "endpoint": self.endpoint.url}
        (self.state_dir / OUTPUTS_FILE).write_text(json.dumps(outputs, indent=2) + "\n")
        state = deployment_json(self.deployment, self.project.name, self.overrides)
        write_json(self.state_dir / PLAN_STATE_FILE, state)

    # --- updates (sandbox.update): `orderctl sandbox update` while orders flow

    def update(self, tree: Path, overrides: Mapping[str, str] | None = None) -> UpdateOutcome:
        """Plans the program in `tree`, with `overrides` on top of the deployed version's, against what this
        sandbox deployed, and applies it to the emulator and to the pollers and environments (one update
        at a time). A plan the engine refuses, or one that loses data, changes nothing: the outcome says why."""
        with self._update_lock:
            if self.deployment is None or self.code_root is None:
                raise RuntimeError("the sandbox is not running")
            merged = {**self.overrides, **(overrides or {})}
            preview = plan_update(tree, self.deployment, self.project.name, merged)
            why = refusal(preview)
            if why:
                return UpdateOutcome(preview, [], f"nothing was changed: {why}")
            new, applied, warnings = apply_update(
                tree, self.deployment, self.project.name, merged, self.endpoint.url, self.code_root
            )
            self._take_up(new)
            self.overrides = merged
            self._write_state()
            return UpdateOutcome(preview, applied, "", tuple(warnings))

    def _take_up(self, new: Deployment) -> None:
        """The runtime follows the applied deployment: a changed function gets new environments for new
        invocations (EnvironmentPool.switch), a changed mapping reaches its poller's next batch, a new
        mapping gets a poller, a deleted one loses its poller once its invocations end."""
        mappings = {mapping.id: mapping for mapping in new.mappings}
        kept: list[EventSourcePoller] = []
        for poller in self.pollers:
            mapping = mappings.pop(poller.mapping.id, None)
            if mapping is None:
                poller.stop()
                poller.pool.close()
                self.mapping_states.remove(poller.mapping.id)
                continue
            function = new.functions[mapping.function_arn]
            if function != poller.function:  # new code, configuration or role: a new version of it
                poller.pool.switch(self._setup(function, self.function_session(function)))
            poller.pool.limit = _concurrency(mapping)
            poller.retarget(mapping, function, poller.pool)
            state = self.mapping_states.get(mapping.id)
            if state is not None:
                state.spec = mapping
            kept.append(poller)
        self.pollers = kept
        self.deployment = new
        for mapping in mappings.values():
            self._add_poller(mapping, new.functions[mapping.function_arn])
        self.pools = {poller.function.name: poller.pool for poller in self.pollers}
        if self.alarms is not None:
            self.alarms.watch_queues(self._queues())

    def _mapping_changed(self, state: MappingState) -> None:
        """UpdateEventSourceMapping changed a mapping's batch size, window, concurrency or response types."""
        for poller in self.pollers:
            if poller.mapping.id == state.spec.id:
                poller.pool.limit = _concurrency(state.spec)
                poller.retarget(state.spec, poller.function, poller.pool)

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
        code_dirs, self._code_dirs = self._code_dirs, set()
        for code_dir in code_dirs:
            if code_dir.exists():
                make_writable(code_dir)  # so the next deploy can replace it
                if "@" in code_dir.name:  # a version an update made: the next deploy starts afresh
                    shutil.rmtree(code_dir)

    def _remove_outputs(self) -> None:
        if self.state_dir is not None and self._lock is not None:  # never another sandbox's outputs
            (self.state_dir / OUTPUTS_FILE).unlink(missing_ok=True)
            (self.state_dir / PLAN_STATE_FILE).unlink(missing_ok=True)

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


def _concurrency(mapping: MappingSpec) -> int:
    """Lambda defaults to 1000 concurrent executions when the mapping sets no maximum."""
    return mapping.maximum_concurrency or 1000
