"""Identity policies enforced in the emulator on calls made with an assumed role's credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.emulator import Emulator, Endpoint
from sandbox.iam import fetch_ledger, report, role_session

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass
class World:
    endpoint: Endpoint
    admin: Any
    table_arn: str
    other_table_arn: str
    queue_url: str
    queue_arn: str
    topic_arn: str
    group: str
    role_arn: str

    def grant(self, *statements: dict[str, Any]) -> None:
        policy = {"Version": "2012-10-17", "Statement": list(statements)}
        self.admin("iam").put_role_policy(RoleName="fn-role", PolicyName="fn", PolicyDocument=json.dumps(policy))

    def role(self, service: str) -> Any:
        return self.endpoint.client(service, role_session(self.endpoint, self.role_arn))


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    emulator = Emulator("us-east-1")
    endpoint = emulator.start()
    try:

        def admin(service: str) -> Any:
            return endpoint.client(service)

        def table(name: str) -> str:
            return str(
                admin("dynamodb").create_table(
                    TableName=name,
                    KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )["TableDescription"]["TableArn"]
            )

        sqs = admin("sqs")
        url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        admin("logs").create_log_group(logGroupName="/aws/lambda/fn")
        role = admin("iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(TRUST))
        yield World(
            endpoint,
            admin,
            table("orders"),
            table("other"),
            url,
            queue_arn,
            admin("sns").create_topic(Name="alarms")["TopicArn"],
            "/aws/lambda/fn",
            role["Role"]["Arn"],
        )
    finally:
        emulator.stop()


def _error(call: Any, **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    error = raised.value.response["Error"]
    return {"Code": str(error.get("Code")), "Message": str(error.get("Message"))}


def _item(order_id: str) -> dict[str, Any]:
    return {"orderId": {"S": order_id}}


def test_a_granted_write_on_the_exact_table_arn_is_allowed(world: World) -> None:
    world.grant({"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": world.table_arn})
    world.role("dynamodb").put_item(TableName="orders", Item=_item("1001"))
    assert "Item" in world.admin("dynamodb").get_item(TableName="orders", Key=_item("1001"))


def test_a_missing_action_is_denied_with_aws_code_and_message(world: World) -> None:
    world.grant({"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": world.table_arn})
    error = _error(world.role("dynamodb").put_item, TableName="orders", Item=_item("1002"))
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/fn-role/sandbox-lambda is not authorized to perform: "
        f"dynamodb:PutItem on resource: {world.table_arn} because no identity-based policy allows the "
        "dynamodb:PutItem action"
    )
    assert "Item" not in world.admin("dynamodb").get_item(TableName="orders", Key=_item("1002"))


def test_the_right_action_on_another_table_is_denied(world: World) -> None:
    world.grant({"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": world.table_arn})
    error = _error(world.role("dynamodb").put_item, TableName="other", Item=_item("1003"))
    assert error["Code"] == "AccessDeniedException"
    assert world.other_table_arn in error["Message"]


def test_an_explicit_deny_wins_over_an_allow(world: World) -> None:
    world.grant(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": world.table_arn},
    )
    error = _error(world.role("dynamodb").put_item, TableName="orders", Item=_item("1004"))
    assert error["Message"].endswith("with an explicit deny in an identity-based policy")


def test_sqs_is_judged_on_the_queue_arn_from_its_url(world: World) -> None:
    world.grant({"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": world.queue_arn})
    sqs = world.role("sqs")
    sqs.receive_message(QueueUrl=world.queue_url, WaitTimeSeconds=0)
    error = _error(sqs.delete_message, QueueUrl=world.queue_url, ReceiptHandle="x")
    assert error["Code"] == "AccessDenied"
    assert f"sqs:deletemessage on resource: {world.queue_arn}" in error["Message"]


def test_sns_publish_is_judged_on_the_topic(world: World) -> None:
    world.grant({"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:aws:sns:us-east-1:123456789012:nope"})
    error = _error(world.role("sns").publish, TopicArn=world.topic_arn, Message="m")
    assert error["Code"] == "AuthorizationError"
    assert f"SNS:Publish on resource: {world.topic_arn}" in error["Message"]
    world.grant({"Effect": "Allow", "Action": "sns:Publish", "Resource": world.topic_arn})
    world.role("sns").publish(TopicArn=world.topic_arn, Message="m")


def test_logs_are_judged_on_the_stream_under_the_group(world: World) -> None:
    group_arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{world.group}"
    world.grant({"Effect": "Allow", "Action": ["logs:CreateLogStream"], "Resource": f"{group_arn}:*"})
    logs = world.role("logs")
    logs.create_log_stream(logGroupName=world.group, logStreamName="s1")
    error = _error(
        logs.put_log_events, logGroupName=world.group, logStreamName="s1", logEvents=[{"timestamp": 1, "message": "m"}]
    )
    assert error["Code"] == "AccessDeniedException"
    assert f"logs:PutLogEvents on resource: {group_arn}:log-stream:s1" in error["Message"]


def test_admin_credentials_are_not_judged(world: World) -> None:
    world.grant({"Effect": "Deny", "Action": "*", "Resource": "*"})
    world.admin("dynamodb").put_item(TableName="other", Item=_item("1005"))
    world.admin("sqs").send_message(QueueUrl=world.queue_url, MessageBody="m")
    world.admin("sns").publish(TopicArn=world.topic_arn, Message="m")


def test_the_ledger_records_allowed_and_denied_calls_and_reports_unused_grants(world: World) -> None:
    statement = {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:GetItem"], "Resource": world.table_arn}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    world.grant(statement)
    before = len(fetch_ledger(world.endpoint.url))
    dynamodb = world.role("dynamodb")
    dynamodb.put_item(TableName="orders", Item=_item("1006"))
    _error(dynamodb.delete_item, TableName="orders", Key=_item("1006"))
    calls = fetch_ledger(world.endpoint.url)[before:]
    assert [(c.action, c.resource, c.allowed) for c in calls] == [
        ("dynamodb:PutItem", world.table_arn, True),
        ("dynamodb:DeleteItem", world.table_arn, False),
    ]
    found = report(world.role_arn, [json.dumps(policy)], calls)
    assert [(g.action, g.resource) for g in found.unused] == [("dynamodb:GetItem", world.table_arn)]
    assert [(c.action, c.resource) for c in found.denied] == [("dynamodb:DeleteItem", world.table_arn)]
    assert not found.least_privilege
