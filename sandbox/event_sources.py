"""Lambda's event source mapping API for the sandbox's own mappings: GetEventSourceMapping,
ListEventSourceMappings and UpdateEventSourceMapping (`Enabled`, `BatchSize`, `MaximumBatchingWindowInSeconds`,
`ScalingConfig`, `FunctionResponseTypes`), answered by the emulator.

The mappings are not registered in moto (sandbox/deploy.py says why), so moto's Lambda would answer
"not found"; this middleware answers from the sandbox's mappings instead, and a poller honours its
mapping's `Enabled` as Lambda's does: disabled, it stops receiving (what it has in flight finishes), and
the queue's messages wait, ageing, until it is enabled again. The other settings reach the mapping's poller
(`MappingStates.on_change`) for its next batch, as `orderctl sandbox update` applies them.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sandbox.deploy import MappingSpec

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
PREFIX = "/2015-03-31/event-source-mappings"


@dataclass
class MappingState:
    """A mapping as deployed, and whether it is enabled now (set: enabled)."""

    spec: MappingSpec
    enabled: threading.Event = field(default_factory=threading.Event)
    last_modified: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.spec.enabled:
            self.enabled.set()

    def describe(self, state: str | None = None) -> dict[str, Any]:
        """As GetEventSourceMapping answers (EventSourceMappingConfiguration)."""
        described: dict[str, Any] = {
            "UUID": self.spec.id,
            "BatchSize": self.spec.batch_size,
            "MaximumBatchingWindowInSeconds": self.spec.batching_window_seconds,
            "EventSourceArn": self.spec.queue_arn,
            "FunctionArn": self.spec.function_arn,
            "LastModified": self.last_modified,
            "State": state or ("Enabled" if self.enabled.is_set() else "Disabled"),
            "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if self.spec.report_batch_item_failures else [],
        }
        if self.spec.maximum_concurrency is not None:
            described["ScalingConfig"] = {"MaximumConcurrency": self.spec.maximum_concurrency}
        return described


class MappingStates:
    """The sandbox's mappings by UUID, filled once the program is deployed. `on_change` is told of a mapping
    whose settings an UpdateEventSourceMapping changed (the sandbox hands them to its poller)."""

    def __init__(self) -> None:
        self._states: dict[str, MappingState] = {}
        self.on_change: Callable[[MappingState], None] | None = None

    def add(self, spec: MappingSpec) -> MappingState:
        state = MappingState(spec)
        self._states[spec.id] = state
        return state

    def remove(self, uuid: str) -> None:
        self._states.pop(uuid, None)

    def get(self, uuid: str) -> MappingState | None:
        return self._states.get(uuid)

    def all(self) -> list[MappingState]:
        return list(self._states.values())

    def clear(self) -> None:
        self._states = {}


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if not status.startswith("2"):
        headers.append(("x-amzn-ErrorType", str(body.get("Type", ""))))
    start_response(status, headers)
    return [payload]


def _not_found(start_response: Callable[..., Any], uuid: str) -> list[bytes]:
    message = f"The resource you requested does not exist. (Service: Lambda, mapping {uuid})"
    return _answer(start_response, "404 Not Found", {"Type": "ResourceNotFoundException", "Message": message})


def _list(states: MappingStates, environ: dict[str, Any]) -> dict[str, Any]:
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    source = query["EventSourceArn"][0] if "EventSourceArn" in query else None
    function = query["FunctionName"][0] if "FunctionName" in query else None
    found = [
        s.describe()
        for s in states.all()
        if (source is None or s.spec.queue_arn == source)
        and (function is None or function in (s.spec.function_arn, s.spec.function_arn.rsplit(":", 1)[-1]))
    ]
    return {"EventSourceMappings": found}


_SETTINGS = {
    "BatchSize": "batch_size",
    "MaximumBatchingWindowInSeconds": "batching_window_seconds",
    "ScalingConfig": "maximum_concurrency",
    "FunctionResponseTypes": "report_batch_item_failures",
}


def _settings(update: dict[str, Any]) -> dict[str, Any]:
    """UpdateEventSourceMapping's settings as MappingSpec fields."""
    changed: dict[str, Any] = {}
    for key, field_name in _SETTINGS.items():
        if key not in update:
            continue
        value = update[key]
        if key == "ScalingConfig":
            value = (value or {}).get("MaximumConcurrency")
        elif key == "FunctionResponseTypes":
            value = "ReportBatchItemFailures" in (value or [])
        changed[field_name] = value
    return changed


def _update(states: MappingStates, state: MappingState, environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    update = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
    unsupported = sorted(set(update) - {"Enabled", "UUID", *_SETTINGS})
    if unsupported:
        message = (
            "the sandbox changes only Enabled, "
            + ", ".join(_SETTINGS)
            + f" on an event source mapping, not {', '.join(unsupported)}"
        )
        return "400 Bad Request", {"Type": "InvalidParameterValueException", "Message": message}
    settings = _settings(update)
    if settings:
        state.spec = dataclasses.replace(state.spec, **settings)
        state.last_modified = time.time()
        if states.on_change is not None:
            states.on_change(state)
    transition = None
    if "Enabled" in update:
        was = state.enabled.is_set()
        if update["Enabled"]:
            transition = None if was else "Enabling"
            state.enabled.set()
        else:
            transition = "Disabling" if was else None
            state.enabled.clear()
        state.last_modified = time.time()
    return "202 Accepted", state.describe(transition)


def event_source_api(app: WsgiApp, states: MappingStates) -> WsgiApp:
    """The emulator's WSGI app, answering the event source mapping calls from `states`."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "GET")
        if not path.startswith(PREFIX) or method not in ("GET", "PUT"):
            return app(environ, start_response)
        uuid = path[len(PREFIX) :].strip("/")
        if not uuid:
            return _answer(start_response, "200 OK", _list(states, environ))
        state = states.get(uuid)
        if state is None:
            return _not_found(start_response, uuid)
        if method == "GET":
            return _answer(start_response, "200 OK", state.describe())
        return _answer(start_response, *_update(states, state, environ))

    return serve
