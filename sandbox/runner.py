"""The sandbox: emulator up, the stack deployed into it, its functions loaded, a poller per event source mapping."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import boto3

from sandbox.alarms import AlarmEvaluator
from sandbox.deploy import Deployment, FunctionSpec, deploy
from sandbox.emulator import Emulator, Endpoint
from sandbox.faults import DynamoFaults
from sandbox.iam import role_session
from sandbox.lambda_runtime import load_handler
from sandbox.logs import FunctionLogs
from sandbox.poller import EventSourcePoller, Middleware
from sandbox.program import Project

OUTPUTS_FILE = "outputs.json"


class SandboxBusy(RuntimeError):  # noqa: N818 (reads as the state it reports)
    """moto keeps one state per process: a second sandbox would wipe the first one's resources."""


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
        self.endpoint: Endpoint = self.emulator.endpoint
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
        self._role_sessions: list[boto3.Session] = []
        self.alarms: AlarmEvaluator | None = None

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
        Sandbox._running = self
        self.emulator.start()
        try:
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
        # Lambda writes a function's logs with its execution role; the in-process log router has one client,
        # so it carries the role when every function shares one (the pipeline has one function).
        roles = {f.role_arn for f in functions.values()}
        logs_session = role_session(self.endpoint, roles.pop()) if len(roles) == 1 else None
        self.logs = FunctionLogs.attach(self.endpoint.client("logs", logs_session), services, echo=self.echo_logs)
        for mapping in self.deployment.mappings:
            if not mapping.enabled:
                continue
            function = functions[mapping.function_arn]
            session = role_session(self.endpoint, function.role_arn)
            # In-process handlers make their clients from boto3's default session: make it the role's, so
            # every call the function makes carries the role's credentials and the emulator judges it.
            boto3.DEFAULT_SESSION = session
            self._role_sessions.append(session)
            self.faults.install(session)
            handler = load_handler(function.handler, function.code_dir, self._lambda_environment(function))
            poller = EventSourcePoller(mapping, function, handler, self.endpoint, self.middleware, session=session)
            self.pollers.append(poller.start())
        queues = {r.state["name"]: r.state["url"] for r in self.deployment.resources if r.type == "aws:sqs/queue:Queue"}
        self.alarms = AlarmEvaluator(self.endpoint.client, self.region, queues, self._function_errors).start()
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            outputs = {**self.deployment.outputs, "endpoint": self.endpoint.url}
            (self.state_dir / OUTPUTS_FILE).write_text(json.dumps(outputs, indent=2) + "\n")

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
        if self.alarms is not None:
            self.alarms.stop()
            self.alarms = None
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.logs is not None:
            self.logs.detach()
            self.logs = None
        for session in self._role_sessions:
            self.faults.uninstall(session)
        if boto3.DEFAULT_SESSION in self._role_sessions:
            boto3.DEFAULT_SESSION = None  # the next default session reads the environment again
        self._role_sessions = []
        if self.state_dir is not None:
            (self.state_dir / OUTPUTS_FILE).unlink(missing_ok=True)
        self.emulator.stop()
        if self._saved_environment is not None:
            os.environ.clear()
            os.environ.update(self._saved_environment)
            self._saved_environment = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
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
