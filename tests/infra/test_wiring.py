"""The dev stack's resources are wired to each other by value: each test fails if its wiring breaks."""

from __future__ import annotations

import json

from contract.permissions import LOG_ACTIONS, QUEUE_ACTIONS, TABLE_ACTIONS
from contract.resource_types import (
    EVENT_SOURCE_MAPPING,
    FUNCTION,
    LOG_GROUP,
    METRIC_ALARM,
    QUEUE,
    QUEUE_POLICY,
    REDRIVE_ALLOW_POLICY,
    ROLE,
    ROLE_POLICY,
    TABLE,
    TOPIC,
    TOPIC_SUBSCRIPTION,
)
from tests.infra.conftest import MockedStack, deploy


def test_subscription_delivers_the_order_topic_to_the_main_queue(dev: MockedStack) -> None:
    subscription = dev.one(TOPIC_SUBSCRIPTION, "-subscription")
    assert subscription.inputs["topic"] == dev.one(TOPIC, "-topic").state["arn"]
    assert subscription.inputs["endpoint"] == dev.one(QUEUE, "-queue").state["arn"]
    assert subscription.inputs["protocol"] == "sqs"
    assert subscription.inputs["rawMessageDelivery"] is False  # enveloped, as the seeds publish


def test_raw_delivery_is_configurable() -> None:
    assert deploy("dev", rawMessageDelivery="true").one(TOPIC_SUBSCRIPTION).inputs["rawMessageDelivery"] is True


def test_subscription_is_created_after_the_queue_policy(dev: MockedStack) -> None:
    subscription = dev.urn_of(dev.one(TOPIC_SUBSCRIPTION, "-subscription"))
    assert dev.urn_of(dev.one(QUEUE_POLICY, "-queue-policy")) in dev.run.dependencies[subscription]


def test_redrive_sends_to_the_dlq_after_three_receives(dev: MockedStack) -> None:
    redrive = json.loads(dev.one(QUEUE, "-queue").inputs["redrivePolicy"])
    assert redrive == {"deadLetterTargetArn": dev.one(QUEUE, "orders-dlq").state["arn"], "maxReceiveCount": 3}


def test_max_receive_count_is_configurable() -> None:
    redrive = json.loads(deploy("dev", maxReceiveCount="5").one(QUEUE, "-queue").inputs["redrivePolicy"])
    assert redrive["maxReceiveCount"] == 5


def test_dlq_accepts_only_the_main_queue(dev: MockedStack) -> None:
    dlq, queue = dev.one(QUEUE, "orders-dlq"), dev.one(QUEUE, "-queue")
    allow = dev.one(REDRIVE_ALLOW_POLICY)
    assert allow.inputs["queueUrl"] == dlq.state["url"]
    assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [queue.state["arn"]],
    }


def test_queues_are_encrypted_long_polled_and_the_dlq_keeps_14_days(dev: MockedStack) -> None:
    queue, dlq = dev.one(QUEUE, "-queue").inputs, dev.one(QUEUE, "orders-dlq").inputs
    assert queue["sqsManagedSseEnabled"] is True
    assert dlq["sqsManagedSseEnabled"] is True
    assert queue["receiveWaitTimeSeconds"] == 20
    assert dlq["messageRetentionSeconds"] == 14 * 24 * 3600


def test_visibility_timeout_is_derived_from_function_timeout_and_window(dev: MockedStack) -> None:
    assert dev.one(QUEUE, "-queue").inputs["visibilityTimeoutSeconds"] == 6 * 30 + 0
    tuned = deploy("dev", functionTimeoutSeconds="10", batchSize="50", batchingWindowSeconds="5")
    assert tuned.one(QUEUE, "-queue").inputs["visibilityTimeoutSeconds"] == 6 * 10 + 5
    explicit = deploy("dev", visibilityTimeoutSeconds="600")
    assert explicit.one(QUEUE, "-queue").inputs["visibilityTimeoutSeconds"] == 600


def test_queue_policy_admits_only_sns_from_this_topic_and_denies_plain_http(dev: MockedStack) -> None:
    queue, topic = dev.one(QUEUE, "-queue"), dev.one(TOPIC, "-topic")
    policy = dev.one(QUEUE_POLICY, "-queue-policy")
    assert policy.inputs["queueUrl"] == queue.state["url"]
    allow, deny = json.loads(policy.inputs["policy"])["Statement"]
    assert allow == {
        "Sid": "AllowOrderTopicDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue.state["arn"],
        "Condition": {"ArnEquals": {"aws:SourceArn": topic.state["arn"]}},
    }
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue.state["arn"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_dlq_denies_plain_http(dev: MockedStack) -> None:
    dlq = dev.one(QUEUE, "orders-dlq")
    policy = dev.one(QUEUE_POLICY, "orders-dlq-policy")
    assert policy.inputs["queueUrl"] == dlq.state["url"]
    [deny] = json.loads(policy.inputs["policy"])["Statement"]
    assert (deny["Effect"], deny["Resource"], deny["Condition"]) == (
        "Deny",
        dlq.state["arn"],
        {"Bool": {"aws:SecureTransport": "false"}},
    )


def test_order_topic_logs_failed_sqs_deliveries_through_its_delivery_status_role(dev: MockedStack) -> None:
    topic, role = dev.one(TOPIC, "-topic"), dev.one(ROLE, "-topic-delivery-status-role")
    assert topic.inputs["sqsFailureFeedbackRoleArn"] == role.state["arn"]
    # failures only: no success sampling, and no other protocol's logging
    assert not [key for key in topic.inputs if key.endswith(("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate"))]
    assert [key for key in topic.inputs if key.endswith("FailureFeedbackRoleArn")] == ["sqsFailureFeedbackRoleArn"]


def test_delivery_status_role_is_trusted_by_sns_only(dev: MockedStack) -> None:
    trust = json.loads(dev.one(ROLE, "-topic-delivery-status-role").inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_delivery_status_role_may_write_only_the_topics_failure_log(dev: MockedStack) -> None:
    topic, role = dev.one(TOPIC, "-topic"), dev.one(ROLE, "-topic-delivery-status-role")
    policy = dev.one(ROLE_POLICY, "-topic-delivery-status-policy")
    assert policy.inputs["role"] == role.id
    _, _, _, region, account, name = topic.state["arn"].split(":")
    assert (region, account) == ("us-east-1", "123456789012")
    group = f"arn:aws:logs:{region}:{account}:log-group:sns/{region}/{account}/{name}/Failure"
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {
            "Sid": "WriteDeliveryFailureLog",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{group}:*",
        }
    ]
    assert [p for p in dev.mocks.of_type(ROLE_POLICY) if p.inputs["role"] == role.id] == [policy]
    assert len(dev.mocks.of_type(ROLE)) == 2  # the processor's and this one


def test_the_subscription_waits_for_the_delivery_status_policy(dev: MockedStack) -> None:
    subscription = dev.urn_of(dev.one(TOPIC_SUBSCRIPTION, "-subscription"))
    policy = dev.urn_of(dev.one(ROLE_POLICY, "-topic-delivery-status-policy"))
    assert policy in dev.run.dependencies[subscription]


def test_processor_role_is_trusted_by_lambda_only(dev: MockedStack) -> None:
    trust = json.loads(dev.one(ROLE, "-processor-role").inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_processor_policy_grants_exactly_what_the_processor_uses(dev: MockedStack) -> None:
    table, queue, log_group = dev.one(TABLE), dev.one(QUEUE, "-queue"), dev.one(LOG_GROUP)
    policy = dev.one(ROLE_POLICY, "-processor-policy")
    assert policy.inputs["role"] == dev.one(ROLE, "-processor-role").id
    statements = json.loads(policy.inputs["policy"])["Statement"]
    grants = {(s["Effect"], tuple(sorted(s["Action"])), s["Resource"]) for s in statements}
    assert grants == {
        ("Allow", tuple(sorted(TABLE_ACTIONS)), table.state["arn"]),
        ("Allow", tuple(sorted(QUEUE_ACTIONS)), queue.state["arn"]),
        ("Allow", tuple(sorted(LOG_ACTIONS)), log_group.state["arn"] + ":*"),
    }
    assert len(statements) == 3
    # one inline policy, nothing attached besides it
    assert [p for p in dev.mocks.of_type(ROLE_POLICY) if p.inputs["role"] == dev.one(ROLE, "-processor-role").id] == [
        policy
    ]


def test_function_runs_the_handler_on_python_312_arm64_with_its_config(dev: MockedStack) -> None:
    function = dev.one(FUNCTION)
    inputs = function.inputs
    assert inputs["role"] == dev.one(ROLE, "-processor-role").state["arn"]
    assert (inputs["runtime"], inputs["architectures"], inputs["handler"]) == (
        "python3.12",
        ["arm64"],
        "handler.app.lambda_handler",
    )
    assert (inputs["timeout"], inputs["memorySize"]) == (30, 1024)
    assert inputs["loggingConfig"]["logFormat"] == "JSON"
    assert inputs["loggingConfig"]["logGroup"] == dev.one(LOG_GROUP).state["name"]


def test_function_environment_names_the_table_and_its_settings(dev: MockedStack) -> None:
    variables = dev.one(FUNCTION).inputs["environment"]["variables"]
    assert variables == {
        "TABLE_NAME": dev.one(TABLE).state["name"],
        "MAX_RECEIVE_COUNT": "3",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_METRICS_NAMESPACE": "OrderPipeline",
        "LOG_LEVEL": "INFO",
    }


def test_function_waits_for_its_permissions_and_log_group(dev: MockedStack) -> None:
    function = dev.urn_of(dev.one(FUNCTION))
    policy = dev.one(ROLE_POLICY, "-processor-policy")
    assert {dev.urn_of(policy), dev.urn_of(dev.one(LOG_GROUP))} <= dev.run.dependencies[function]


def test_log_group_is_the_functions_own_with_retention(dev: MockedStack, prod: MockedStack) -> None:
    group = dev.one(LOG_GROUP).inputs
    assert group["name"] == f"/aws/lambda/{dev.one(FUNCTION).state['name']}"
    assert group["retentionInDays"] == 14
    assert prod.one(LOG_GROUP).inputs["retentionInDays"] == 90


def test_event_source_mapping_feeds_the_main_queue_to_the_function(dev: MockedStack) -> None:
    mapping = dev.one(EVENT_SOURCE_MAPPING).inputs
    assert mapping["eventSourceArn"] == dev.one(QUEUE, "-queue").state["arn"]
    assert mapping["functionName"] == dev.one(FUNCTION).state["arn"]
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"]) == (10, 0)
    assert mapping["scalingConfig"] == {"maximumConcurrency": 5}
    policy = dev.urn_of(dev.one(ROLE_POLICY, "-processor-policy"))
    assert policy in dev.run.dependencies[dev.urn_of(dev.one(EVENT_SOURCE_MAPPING))]


def test_event_source_mapping_takes_its_batching_from_config() -> None:
    mapping = deploy("dev", batchSize="100", batchingWindowSeconds="2", maximumConcurrency="50").one(
        EVENT_SOURCE_MAPPING
    )
    assert (mapping.inputs["batchSize"], mapping.inputs["maximumBatchingWindowInSeconds"]) == (100, 2)
    assert mapping.inputs["scalingConfig"] == {"maximumConcurrency": 50}


def test_table_is_keyed_by_order_id_on_demand_and_encrypted(dev: MockedStack, prod: MockedStack) -> None:
    table = dev.one(TABLE).inputs
    assert table["hashKey"] == "orderId"
    assert table["attributes"] == [{"name": "orderId", "type": "S"}]
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["serverSideEncryption"] == {"enabled": True}
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is False
    assert prod.one(TABLE).inputs["deletionProtectionEnabled"] is True


def test_table_warm_throughput_only_when_configured(dev: MockedStack) -> None:
    """tableWarmWriteUnits = 0 (the default) leaves the table's inputs as they were: no change for a deployed dev."""
    assert "warmThroughput" not in dev.one(TABLE).inputs
    warmed = deploy("dev", tableWarmWriteUnits="12000")
    assert warmed.one(TABLE).inputs["warmThroughput"] == {"writeUnitsPerSecond": 12000}


def test_order_topic_is_encrypted_with_the_configured_key(dev: MockedStack) -> None:
    assert dev.one(TOPIC, "-topic").inputs["kmsMasterKeyId"] == "alias/aws/sns"
    custom = deploy("dev", topicKmsKeyId="alias/orders")
    assert custom.one(TOPIC, "-topic").inputs["kmsMasterKeyId"] == "alias/orders"


def test_dlq_depth_alarm_fires_on_any_visible_message_within_a_minute(dev: MockedStack) -> None:
    alarm = dev.one(METRIC_ALARM, "orders-dlq-depth").inputs
    assert alarm["dimensions"] == {"QueueName": dev.one(QUEUE, "orders-dlq").state["name"]}
    assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert (alarm["period"], alarm["evaluationPeriods"], alarm["threshold"], alarm["comparisonOperator"]) == (
        60,
        1,
        0,
        "GreaterThanThreshold",
    )
    assert alarm["alarmActions"] == [dev.one(TOPIC, "-alarms").state["arn"]]


def test_function_errors_alarm_watches_the_processor(dev: MockedStack) -> None:
    alarm = dev.one(METRIC_ALARM, "-processor-errors").inputs
    assert alarm["dimensions"] == {"FunctionName": dev.one(FUNCTION).state["name"]}
    assert (alarm["namespace"], alarm["metricName"], alarm["threshold"]) == ("AWS/Lambda", "Errors", 0)
    assert alarm["alarmActions"] == [dev.one(TOPIC, "-alarms").state["arn"]]


def test_alarm_topic_is_publishable_by_cloudwatch(dev: MockedStack) -> None:
    assert "kmsMasterKeyId" not in dev.one(TOPIC, "-alarms").inputs  # alias/aws/sns would block CloudWatch


def test_alarm_emails_subscribe_to_the_alarm_topic(dev: MockedStack) -> None:
    assert [s for s in dev.mocks.of_type(TOPIC_SUBSCRIPTION) if s.inputs["protocol"] == "email"] == []
    # `pulumi up --config-path --config 'alarmEmails[0]=...'`: a plain --config value is a string, which
    # the CLI refuses for an array key.
    with_emails = deploy("dev", **{"alarmEmails[0]": "ops@example.com", "alarmEmails[1]": "oncall@example.com"})
    emails = [s.inputs for s in with_emails.mocks.of_type(TOPIC_SUBSCRIPTION) if s.inputs["protocol"] == "email"]
    alarm_topic = with_emails.one(TOPIC, "-alarms").state["arn"]
    assert sorted((s["endpoint"], s["topic"]) for s in emails) == [
        ("oncall@example.com", alarm_topic),
        ("ops@example.com", alarm_topic),
    ]


def test_program_makes_no_invokes(dev: MockedStack) -> None:
    assert dev.mocks.calls == []


def test_an_order_sns_cannot_deliver_goes_to_the_subscription_dlq_which_only_this_topic_may_fill(
    dev: MockedStack,
) -> None:
    dlq = dev.one(QUEUE, "-subscription-dlq")
    subscription = dev.one(TOPIC_SUBSCRIPTION)
    assert json.loads(subscription.inputs["redrivePolicy"]) == {"deadLetterTargetArn": dlq.state["arn"]}
    assert dlq.inputs["sqsManagedSseEnabled"] is True
    assert dlq.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    policy = dev.one(QUEUE_POLICY, "-subscription-dlq-policy")
    assert policy.inputs["queueUrl"] == dlq.state["url"]
    allow, deny = json.loads(policy.inputs["policy"])["Statement"]
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert (allow["Action"], allow["Resource"]) == ("sqs:SendMessage", dlq.state["arn"])
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": dev.one(TOPIC, "-topic").state["arn"]}}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The subscription is created once both queues let SNS send.
    assert {dev.urn_of(policy)} <= dev.run.dependencies[dev.urn_of(subscription)]


def test_the_subscription_dlq_is_alarmed_like_the_order_dlq(dev: MockedStack) -> None:
    alarm = dev.one(METRIC_ALARM, "-subscription-dlq-depth").inputs
    assert alarm["dimensions"] == {"QueueName": dev.one(QUEUE, "-subscription-dlq").state["name"]}
    assert (alarm["metricName"], alarm["statistic"], alarm["threshold"]) == (
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
        0,
    )
    assert alarm["alarmActions"] == [dev.one(TOPIC, "-alarms").state["arn"]]


def test_the_backlog_alarm_watches_the_age_of_the_oldest_order(dev: MockedStack) -> None:
    alarm = dev.one(METRIC_ALARM, "-backlog-age").inputs
    assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert alarm["dimensions"] == {"QueueName": dev.one(QUEUE, "-queue").state["name"]}
    assert (alarm["threshold"], alarm["comparisonOperator"], alarm["period"]) == (390, "GreaterThanThreshold", 60)
    assert alarm["alarmActions"] == alarm["okActions"] == [dev.one(TOPIC, "-alarms").state["arn"]]
