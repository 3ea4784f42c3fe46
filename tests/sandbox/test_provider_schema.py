"""ForceNew and the bridge's delete-before-replace rule, case by case, each case naming its upstream source.

terraform-provider-aws files are under internal/service/; pulumi-terraform-bridge files under pkg/tfbridge/.
"""

from __future__ import annotations

import pytest

from contract import resource_types as rt
from sandbox.provider_schema import SCHEMAS, delete_before_replace, replaces


def test_schemas_cover_exactly_the_declared_types() -> None:
    assert set(SCHEMAS) == rt.ALL
    for type_, schema in SCHEMAS.items():
        assert schema.type == type_
        assert schema.source.startswith("terraform-provider-aws v6.x internal/service/")


@pytest.mark.parametrize(
    ("type_", "changed", "expected"),
    [
        # dynamodb/table.go: "hash_key" ForceNew: true (so are name and range_key)
        (rt.TABLE, ["hashKey"], ["hashKey"]),
        (rt.TABLE, ["rangeKey", "billingMode"], ["rangeKey"]),
        # sqs/queue.go: "fifo_queue" and names.AttrName ForceNew: true
        (rt.QUEUE, ["fifoQueue"], ["fifoQueue"]),
        (rt.QUEUE, ["name", "visibilityTimeoutSeconds"], ["name"]),
        # sns/topic_subscription.go: "endpoint", "protocol", "topic_arn" (Pulumi `topic`) ForceNew: true
        (rt.TOPIC_SUBSCRIPTION, ["endpoint"], ["endpoint"]),
        (rt.TOPIC_SUBSCRIPTION, ["protocol"], ["protocol"]),
        (rt.TOPIC_SUBSCRIPTION, ["topic", "rawMessageDelivery"], ["topic"]),
        # lambda/event_source_mapping.go: "event_source_arn" ForceNew: true
        (rt.EVENT_SOURCE_MAPPING, ["eventSourceArn", "batchSize"], ["eventSourceArn"]),
        # lambda/function.go: "function_name" (Pulumi `name`), "package_type" ForceNew: true
        (rt.FUNCTION, ["packageType", "name"], ["name", "packageType"]),
        # cloudwatch/metric_alarm.go: "alarm_name" (Pulumi `name`) ForceNew: true
        (rt.METRIC_ALARM, ["name", "threshold"], ["name"]),
        # sqs/queue_policy.go, sqs/queue_redrive_allow_policy.go: "queue_url" ForceNew: true
        (rt.QUEUE_POLICY, ["queueUrl", "policy"], ["queueUrl"]),
        (rt.REDRIVE_ALLOW_POLICY, ["queueUrl"], ["queueUrl"]),
        # logs/group.go: names.AttrName, "log_group_class" ForceNew: true
        (rt.LOG_GROUP, ["logGroupClass", "retentionInDays"], ["logGroupClass"]),
        # iam/role.go: "path" ForceNew: true; iam/role_policy.go: "role" ForceNew: true
        (rt.ROLE, ["path", "assumeRolePolicy"], ["path"]),
        (rt.ROLE_POLICY, ["role", "policy"], ["role"]),
        # internal/provider/sdkv2/region.go forceNewIfRegionChanges: regional types replace on a region change
        (rt.QUEUE, ["region"], ["region"]),
    ],
)
def test_force_new_fields_replace(type_: str, changed: list[str], expected: list[str]) -> None:
    assert replaces(type_, changed) == expected


@pytest.mark.parametrize(
    ("type_", "changed"),
    [
        # sqs/queue.go: visibility_timeout_seconds has no ForceNew; SetQueueAttributes on update
        (rt.QUEUE, ["visibilityTimeoutSeconds", "messageRetentionSeconds", "redrivePolicy"]),
        # lambda/function.go: memory_size and timeout have no ForceNew; UpdateFunctionConfiguration
        (rt.FUNCTION, ["memorySize", "timeout", "environment", "code"]),
        # lambda/event_source_mapping.go: batch_size, function_name, scaling_config have no ForceNew
        (rt.EVENT_SOURCE_MAPPING, ["batchSize", "functionName", "scalingConfig", "maximumBatchingWindowInSeconds"]),
        # dynamodb/table.go: billing_mode, ttl, point_in_time_recovery, stream_* have no ForceNew
        (rt.TABLE, ["billingMode", "ttl", "pointInTimeRecovery", "streamEnabled", "deletionProtectionEnabled"]),
        # iam/role.go, iam/role_policy.go: IAM is global, so no region argument and no region rule
        (rt.ROLE, ["assumeRolePolicy", "region"]),
        (rt.ROLE_POLICY, ["policy"]),
    ],
)
def test_other_fields_stay_updates(type_: str, changed: list[str]) -> None:
    assert replaces(type_, changed) == []


def test_conditional_force_new_is_kept_apart() -> None:
    # dynamodb/table.go: customdiff.ForceNewIfChange("restore_source_name", ...) and warm_throughput decreases;
    # lambda/function.go: customdiff.ForceNewIfChange("durable_config", ...) when the block is added or removed
    assert set(SCHEMAS[rt.TABLE].force_new_if) == {"restoreSourceName", "restoreSourceTableArn", "warmThroughput"}
    assert set(SCHEMAS[rt.FUNCTION].force_new_if) == {"durableConfig"}
    assert replaces(rt.FUNCTION, ["durableConfig"]) == []


def test_autonamed_properties() -> None:
    # pulumi-aws provider/autonaming.go setAutonaming and provider/resource_overrides.go
    named = {type_: s.autoname for type_, s in SCHEMAS.items() if s.autoname is not None}
    assert named == {
        rt.TABLE: "name",
        rt.TOPIC: "name",
        rt.QUEUE: "name",
        rt.ROLE: "name",
        rt.ROLE_POLICY: "name",
        rt.LOG_GROUP: "name",
        rt.FUNCTION: "name",
        rt.METRIC_ALARM: "name",
    }


@pytest.mark.parametrize(
    ("type_", "news", "expected"),
    [
        # pulumi-terraform-bridge schema.go nameRequiresDeleteBeforeReplace, inputs as the program sends them
        (rt.QUEUE, {"name": "orders-dlq", "fifoQueue": True}, True),
        (rt.QUEUE, {"fifoQueue": True}, False),  # autonamed by Check
        (rt.QUEUE, {"namePrefix": "orders-"}, False),  # ConflictsWith: no autoname, no explicit name
        (rt.FUNCTION, {"name": "orders-processor-dev", "memorySize": 256}, True),
        (rt.TABLE, {"hashKey": "orderId"}, False),
        # types with no autonamed property never get it from the name rule
        (rt.TOPIC_SUBSCRIPTION, {"endpoint": "arn:aws:sqs:us-east-1:1:q", "protocol": "sqs"}, False),
        (rt.EVENT_SOURCE_MAPPING, {"eventSourceArn": "arn:aws:sqs:us-east-1:1:q"}, False),
        # checked inputs: the rule as written, on `__defaults`
        (rt.TABLE, {"name": "orders-3f2a1bc", "__defaults": ["name"]}, False),
        (rt.TABLE, {"name": "orders", "__defaults": []}, True),
        (rt.TABLE, {"name": "orders", "__defaults": "name"}, False),  # not an array: treated as autonamed
    ],
)
def test_explicit_name_rule(type_: str, news: dict[str, object], expected: bool) -> None:
    assert delete_before_replace(type_, news) is expected
