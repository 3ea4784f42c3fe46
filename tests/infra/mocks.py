"""Pulumi mocks that answer like AWS: realistic ARNs, URLs, names and ids, and a record of every resource."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from contract import resource_types as types

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Recorded:
    type: str
    name: str  # logical name
    inputs: dict[str, Any]
    state: dict[str, Any]
    id: str


def physical_name(args: pulumi.runtime.MockResourceArgs) -> str:
    """The explicit name, else an auto-name as the provider makes one: logical name plus a suffix. Pulumi's
    suffix is random, so two stacks' auto-names differ; here it is a hash of stack and name, for repeatability."""
    explicit = args.inputs.get("name")
    if explicit:
        return str(explicit)
    seed = f"{pulumi.get_stack()}/{args.name}"
    return f"{args.name}-{hashlib.sha256(seed.encode()).hexdigest()[:7]}"


State = tuple[str, dict[str, Any]]


class AwsMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.resources: list[Recorded] = []
        self.calls: list[str] = []
        self.builders: dict[str, Callable[[pulumi.runtime.MockResourceArgs, str], State]] = {
            types.TABLE: self._table,
            types.TOPIC: self._topic,
            types.TOPIC_SUBSCRIPTION: self._subscription,
            types.QUEUE: self._queue,
            types.QUEUE_POLICY: self._by_queue_url,
            types.REDRIVE_ALLOW_POLICY: self._by_queue_url,
            types.ROLE: self._role,
            types.ROLE_POLICY: self._role_policy,
            types.LOG_GROUP: self._log_group,
            types.FUNCTION: self._function,
            types.EVENT_SOURCE_MAPPING: self._event_source_mapping,
            types.METRIC_ALARM: self._metric_alarm,
        }

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if regional else ''}:{ACCOUNT}:{resource}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> State:
        extra: dict[str, Any]
        if not args.custom:  # a ComponentResource: nothing to create
            resource_id, extra = f"{args.name}-component", {}
        else:
            builder = self.builders.get(args.typ)
            if builder is None:
                raise NotImplementedError(f"no mock for resource type {args.typ}: add one to tests/infra/mocks.py")
            resource_id, extra = builder(args, physical_name(args))
        state = {**args.inputs, **extra}
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs), state, resource_id))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        # The program builds its policies as data; any invoke is unexpected and recorded for the tests.
        self.calls.append(args.token)
        return {}, None

    # lookups for tests
    def of_type(self, type_: str) -> list[Recorded]:
        return [resource for resource in self.resources if resource.type == type_]

    def one(self, type_: str, name_suffix: str = "") -> Recorded:
        found = [resource for resource in self.of_type(type_) if resource.name.endswith(name_suffix)]
        assert len(found) == 1, f"expected one {type_} named *{name_suffix}, found {[r.name for r in found]}"
        return found[0]

    # builders: (id, computed outputs) per type, as the AWS provider reports them
    def _table(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        return name, {"name": name, "arn": self.arn("dynamodb", f"table/{name}")}

    def _topic(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        arn = self.arn("sns", name)
        return arn, {"name": name, "arn": arn}

    def _subscription(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        arn = f"{args.inputs['topic']}:{uuid.uuid5(uuid.NAMESPACE_URL, args.name)}"
        return arn, {"arn": arn}

    def _queue(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        url = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{name}"
        return url, {"name": name, "url": url, "arn": self.arn("sqs", name)}

    def _by_queue_url(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        return str(args.inputs["queueUrl"]), {}

    def _role(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        return name, {"name": name, "arn": self.arn("iam", f"role/{name}", regional=False)}

    def _role_policy(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        return f"{args.inputs['role']}:{name}", {"name": name}

    def _log_group(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        return name, {"name": name, "arn": self.arn("logs", f"log-group:{name}")}

    def _function(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        arn = self.arn("lambda", f"function:{name}")
        return name, {"name": name, "arn": arn, "qualifiedArn": f"{arn}:$LATEST", "version": "$LATEST"}

    def _event_source_mapping(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        mapping_id = str(uuid.uuid5(uuid.NAMESPACE_URL, args.name))
        return mapping_id, {"uuid": mapping_id, "functionArn": args.inputs["functionName"], "state": "Enabled"}

    def _metric_alarm(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        return name, {"name": name, "arn": self.arn("cloudwatch", f"alarm:{name}")}
