"""Issue 17, findings 1 and 3, in the emulator: each case is how AWS behaves, with its source; each failed
before the sandbox's one evaluator (sandbox/policy) and its KMS model (sandbox/kms.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox import sns_delivery
from sandbox.emulator import Emulator, Endpoint
from sandbox.iam import role_session

REGION = "us-east-1"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass
class World:
    endpoint: Endpoint
    table_arn: str
    role_arn: str
    account: str

    def admin(self, service: str) -> Any:
        return self.endpoint.client(service)

    def grant(self, *statements: dict[str, Any]) -> None:
        document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        self.admin("iam").put_role_policy(RoleName="fn-role", PolicyName="fn", PolicyDocument=document)

    def role(self, service: str) -> Any:
        return self.endpoint.client(service, role_session(self.endpoint, self.role_arn))

    def queue(self, name: str, **attributes: str) -> tuple[str, str]:
        sqs = self.admin("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    emulator = Emulator(REGION)
    endpoint = emulator.start()
    try:
        table = endpoint.client("dynamodb").create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]["TableArn"]
        role = endpoint.client("iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
        yield World(endpoint, table, role["Role"]["Arn"], role["Role"]["Arn"].split(":")[4])
    finally:
        emulator.stop()


def put(world: World) -> None:
    world.role("dynamodb").put_item(TableName="orders", Item={"orderId": {"S": "1"}})


def denied(call: Any) -> str:
    with pytest.raises(ClientError) as error:
        call()
    return str(error.value.response["Error"]["Code"])


# Finding 1, on the role's calls (AWS IAM User Guide, "IAM JSON policy elements: Condition operators",
# "Action", "NotResource"; before: moto's is_action_permitted without a request context)


def test_an_allow_conditioned_on_source_vpc_does_not_allow_a_call_that_carries_no_vpc(world: World) -> None:
    # "If the key ... is not present in the request context, the values do not match and the condition is false."
    world.grant({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": world.table_arn,
                 "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1a2b3c4d"}}})  # fmt: skip
    assert denied(lambda: put(world)) == "AccessDeniedException"


def test_a_deny_conditioned_on_another_region_does_not_deny(world: World) -> None:
    world.grant(
        {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": world.table_arn},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}},
    )  # fmt: skip
    put(world)


def test_a_deny_with_not_resource_is_not_an_allow(world: World) -> None:
    # "NotResource" with Deny: denies what is not listed, allows nothing
    world.grant({"Effect": "Deny", "Action": "dynamodb:*", "NotResource": "arn:aws:dynamodb:*:*:table/other"})
    assert denied(lambda: put(world)) == "AccessDeniedException"


def test_an_action_in_lower_case_matches(world: World) -> None:
    # "IAM JSON policy elements: Action": action names are not case sensitive
    world.grant({"Effect": "Allow", "Action": "dynamodb:putitem", "Resource": world.table_arn})
    put(world)


def test_a_queue_policy_naming_the_role_lets_it_receive_without_an_identity_grant(world: World) -> None:
    # "Policy evaluation for requests within a single account": either policy may allow
    url, arn = world.queue("granted-by-queue-policy")
    world.grant({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": world.table_arn})  # nothing on SQS
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": world.role_arn},
        "Action": "sqs:ReceiveMessage",
        "Resource": arn,
    }
    queue_policy = {"Version": "2012-10-17", "Statement": [statement]}
    world.admin("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(queue_policy)})
    world.role("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0)


# Finding 1: the trust policy (AWS Lambda API reference, CreateFunction: InvalidParameterValueException "The role
# defined for the function cannot be assumed by Lambda.")


def create_function(world: World, role_arn: str) -> Any:
    return world.admin("lambda").create_function(
        FunctionName=f"fn-{role_arn.rsplit('/', 1)[-1]}",
        Runtime="python3.12",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )


def test_a_role_lambda_cannot_assume_fails_create_function_as_aws_does(world: World) -> None:
    ec2_trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    role = world.admin("iam").create_role(RoleName="ec2-role", AssumeRolePolicyDocument=json.dumps(ec2_trust))
    with pytest.raises(ClientError) as error:
        create_function(world, role["Role"]["Arn"])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert error.value.response["Error"]["Message"] == "The role defined for the function cannot be assumed by Lambda."


def test_a_role_that_trusts_lambda_creates_the_function(world: World) -> None:
    assert create_function(world, world.role_arn)["Role"] == world.role_arn


# Finding 3: KMS (Amazon SQS Developer Guide, "Key management"; "Troubleshoot an access denied error":
# "An error occurred (KMS.AccessDeniedException) when calling the SendMessage operation: User: ... is not
# authorized to perform: kms:GenerateDataKey on resource: ...")

RECEIVE = {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:SendMessage"], "Resource": "*"}


def customer_key(world: World, *statements: dict[str, Any]) -> str:
    """A customer key whose policy allows the account (so IAM policies may grant it) and `statements`."""
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{world.account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [root, *statements]})
    return str(world.admin("kms").create_key(Policy=policy)["KeyMetadata"]["Arn"])


def test_a_consumer_of_a_queue_under_a_customer_key_needs_kms_decrypt(world: World) -> None:
    key = customer_key(world)
    url, _ = world.queue("under-customer-key", KmsMasterKeyId=key)
    world.grant(RECEIVE)
    assert (
        denied(lambda: world.role("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0))
        == "KMS.AccessDeniedException"
    )
    world.grant(RECEIVE, {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key})
    world.role("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0)
    # a producer needs kms:GenerateDataKey too
    assert denied(lambda: world.role("sqs").send_message(QueueUrl=url, MessageBody="x")) == "KMS.AccessDeniedException"


def test_a_queue_under_the_aws_managed_key_serves_the_accounts_roles_through_sqs(world: World) -> None:
    # AWS managed keys: usable through their service by the account's principals, with no grant of their own
    url, _ = world.queue("under-aws-sqs", KmsMasterKeyId="alias/aws/sqs")
    world.grant(RECEIVE)
    world.role("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0)


def deliveries(world: World, queue_name: str, key_id: str) -> tuple[int, str | None]:
    """Publishes once to a topic subscribed to a queue under `key_id` whose policy admits the topic (CDK's form);
    what arrived, and SNS's refusal of the delivery."""
    topic = world.admin("sns").create_topic(Name=f"t-{queue_name}")["TopicArn"]
    url, arn = world.queue(queue_name, KmsMasterKeyId=key_id)
    admit = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
         "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}  # fmt: skip
    world.admin("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(admit)})
    world.admin("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    failure = sns_delivery.refusal(arn, topic)
    world.admin("sns").publish(TopicArn=topic, Message="order")
    received = world.admin("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
    return len(received), failure.error_code if failure else None


def test_sns_cannot_deliver_to_a_queue_under_the_aws_managed_sqs_key(world: World) -> None:
    # SQS Developer Guide, "Key management": SNS needs a customer key; alias/aws/sqs's policy cannot grant SNS
    assert deliveries(world, "sns-to-aws-sqs", "alias/aws/sqs") == (0, "KMS.AccessDeniedException")


def test_sns_delivers_to_a_queue_under_a_customer_key_only_if_its_policy_lets_sns_use_it(world: World) -> None:
    assert deliveries(world, "sns-key-without-grant", customer_key(world)) == (0, "KMS.AccessDeniedException")
    for_sns = {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
               "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*"}  # fmt: skip
    assert deliveries(world, "sns-key-with-grant", customer_key(world, for_sns)) == (1, None)


def test_sns_cannot_deliver_to_a_queue_under_a_disabled_key(world: World) -> None:
    for_sns = {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
               "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*"}  # fmt: skip
    key = customer_key(world, for_sns)
    world.admin("kms").disable_key(KeyId=key.rsplit("/", 1)[-1])
    assert deliveries(world, "sns-disabled-key", key) == (0, "KMS.DisabledException")
