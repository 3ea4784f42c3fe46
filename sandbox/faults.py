"""Injects DynamoDB write errors, the way a throttled or misconfigured table fails.

Two places, one set of rules:
- in the emulator (`wsgi`): the sandbox's HTTP server answers a matching PutItem with the service's
  error, so a function in its own execution environment (another process) sees a real ClientError;
- in this process (`install`): a botocore `before-call` hook does the same for clients created in this
  process (the handler's unit tests and the handler benchmark call the handler in process). Injected
  errors skip the SDK's own retries there, so every one reaches the handler and the queue's redelivery.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, cast

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

THROTTLED = ("ProvisionedThroughputExceededException", "The level of configured provisioned throughput was exceeded")
ACCESS_DENIED = (
    "AccessDeniedException",
    "User is not authorized to perform: dynamodb:PutItem on resource: table (no identity-based policy allows it)",
)
INTERNAL_ERROR = ("InternalServerError", "Internal server error")

_STATUS = {"ProvisionedThroughputExceededException": 400, "AccessDeniedException": 400, "InternalServerError": 500}


def default_session() -> boto3.Session:
    """The session `boto3.client()` uses, created if there is none yet (never replacing one)."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION


@dataclass
class FaultRule:
    error: tuple[str, str]  # (code, message)
    order_ids: Collection[str] | None = None  # None: any order
    times: int | None = None  # None: every matching write
    probability: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def take(self, order_id: str) -> bool:
        if self.order_ids is not None and order_id not in self.order_ids:
            return False
        if self.times is not None and self.times <= 0:
            return False
        if self.probability < 1.0 and self.rng.random() >= self.probability:
            return False
        if self.times is not None:
            self.times -= 1
        return True


class DynamoFaults:
    """PutItem faults for this process; `install` it before the handler's clients exist."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self.puts = 0  # PutItem calls seen
        self.injected: Counter[str] = Counter()
        self.on_put: Callable[[str], None] | None = None  # called with the order id of each write let through

    def install(self, session: boto3.Session | None = None) -> DynamoFaults:
        """Hooks `session` (default: the one `boto3.client()` uses) for clients created from now on."""
        (session or default_session()).events.register("before-call.dynamodb.PutItem", self._hook)
        return self

    def uninstall(self, session: boto3.Session | None = None) -> None:
        (session or default_session()).events.unregister("before-call.dynamodb.PutItem", self._hook)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail(
        self,
        error: tuple[str, str],
        order_ids: Collection[str] | None = None,
        times: int | None = None,
        probability: float = 1.0,
        seed: int = 7,
    ) -> FaultRule:
        return self.add(FaultRule(error, order_ids, times, probability, random.Random(seed)))

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.puts = 0
            self.injected.clear()

    @property
    def _hook(self) -> Callable[..., None]:
        # A before-call handler may return (response, parsed) to answer the call itself (botocore's
        # documented short-circuit); the stubs type handlers as returning None.
        return cast("Callable[..., None]", self._before_put)

    def _rule_for(self, order_id: str) -> FaultRule | None:
        with self._lock:
            self.puts += 1
            rule = next((rule for rule in self._rules if rule.take(order_id)), None)
            if rule is not None:
                self.injected[rule.error[0]] += 1
        if rule is None and self.on_put is not None:
            self.on_put(order_id)
        return rule

    def _before_put(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        rule = self._rule_for(_order_id(params["body"]))
        if rule is None:
            return None
        code, message = rule.error
        status = _STATUS.get(code, 400)
        response = AWSResponse(url="", status_code=status, headers=HTTPHeaders(), raw=None)
        return response, {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
        }


def _order_id(body: bytes | str) -> str:
    try:
        item = json.loads(body).get("Item", {})
    except ValueError:
        return ""
    return str(item.get("orderId", {}).get("S", "")) if isinstance(item, dict) else ""


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
_PUT_ITEM_TARGET = "DynamoDB_20120810.PutItem"


def faulty_dynamodb(app: WsgiApp, faults: DynamoFaults) -> WsgiApp:
    """The emulator's WSGI app, answering PutItems that a rule matches with DynamoDB's error response."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") != _PUT_ITEM_TARGET:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        rule = faults._rule_for(_order_id(body))
        if rule is None:
            return app(environ, start_response)
        code, message = rule.error
        status = _STATUS.get(code, 400)
        payload = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
        reason = "Bad Request" if status == 400 else "Internal Server Error"
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    return serve
