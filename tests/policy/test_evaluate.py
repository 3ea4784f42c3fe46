"""The pure policy evaluator (sandbox/policy) against AWS's documented evaluation rules and the policy forms
users write: the SQS console's, CDK's and Terraform's.

Sources, AWS IAM User Guide unless said: "Policy evaluation logic" (and its pages "How AWS enforcement code
logic evaluates requests", "Policy evaluation for requests within a single account"), "IAM JSON policy
elements: Action / Resource / NotResource / Principal / NotPrincipal / Condition operators", "Conditions with
multiple context keys or values", "Single-valued vs multivalued context keys".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from sandbox.policy import (
    Effect,
    Principal,
    Request,
    RequestContext,
    evaluate,
    evaluate_key_access,
    request_context,
)

ACCOUNT = "111122223333"
REGION = "us-east-1"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-queue"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders-topic"
OTHER_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:other-topic"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/processor/sandbox-lambda"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/processor"
SNS = Principal.of_service("sns.amazonaws.com")


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_request(action: str, resource: str, **keys: Any) -> Request:
    principal = Principal.assumed_role(SESSION)
    return Request(principal, action, resource, request_context(principal, region=REGION, extra=keys))


def sns_delivery(topic: str = TOPIC, *, account: str = ACCOUNT, secure: bool = True) -> Request:
    """SNS's SendMessage for a topic's delivery: principal sns.amazonaws.com, aws:SourceArn the topic,
    aws:SourceAccount its owner, over TLS."""
    context = request_context(SNS, region=REGION, source_arn=topic, source_account=account, secure_transport=secure)
    return Request(SNS, "sqs:SendMessage", QUEUE, context)


ALLOW_PUT = {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE}


# Evaluation order: "An explicit deny overrides an explicit allow"; "By default, all requests are implicitly denied"


def test_nothing_allows_so_the_request_is_implicitly_denied() -> None:
    decision = evaluate(role_request("dynamodb:PutItem", TABLE), [policy()])
    assert decision.effect is Effect.IMPLICIT_DENY
    assert decision.statement is None


def test_an_explicit_deny_overrides_an_allow_and_is_the_deciding_statement() -> None:
    deny = {"Sid": "NoWrites", "Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
    decision = evaluate(role_request("dynamodb:PutItem", TABLE), [policy(ALLOW_PUT), policy(deny)])
    assert decision.effect is Effect.EXPLICIT_DENY
    assert decision.statement is not None
    assert decision.statement["Sid"] == "NoWrites"


def test_within_one_account_either_the_identity_or_the_resource_policy_may_allow() -> None:
    # "If either the identity-based policy or the resource-based policy within the same account allows the
    # request and the other doesn't, the request is still allowed." (Policy evaluation for requests within a
    # single account, the carlossalazar example)
    resource_policy = policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sqs:*", "Resource": QUEUE})
    assert evaluate(role_request("sqs:ReceiveMessage", QUEUE), [policy()], [resource_policy]).allowed
    identity = policy({"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE})
    assert evaluate(role_request("sqs:ReceiveMessage", QUEUE), [identity], [policy()]).allowed
    # ... and a Deny in either denies
    deny = policy({"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE})
    assert evaluate(role_request("sqs:ReceiveMessage", QUEUE), [identity], [deny]).explicit_deny


# Action and Resource matching


def test_action_names_are_case_insensitive() -> None:
    # Finding 1: "dynamodb:putitem" was refused. IAM: "the name of the action is not case sensitive".
    lower = policy({"Effect": "Allow", "Action": "dynamodb:putitem", "Resource": TABLE})
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [lower]).allowed
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [policy({**ALLOW_PUT, "Action": "DynamoDB:Put*"})]).allowed


def test_wildcards_in_actions_and_resources_and_resources_are_case_sensitive() -> None:
    star = policy(
        {"Effect": "Allow", "Action": "dynamodb:?etItem", "Resource": f"arn:aws:dynamodb:*:{ACCOUNT}:table/ord*"}
    )
    assert evaluate(role_request("dynamodb:GetItem", TABLE), [star]).allowed
    assert not evaluate(role_request("dynamodb:PutItem", TABLE), [star]).allowed  # ? is one character
    upper = policy({**ALLOW_PUT, "Resource": TABLE.replace("orders", "ORDERS")})
    assert not evaluate(role_request("dynamodb:PutItem", TABLE), [upper]).allowed


def test_not_action_applies_to_every_other_action() -> None:
    everything_but_delete = policy({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": TABLE})
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [everything_but_delete]).allowed
    assert not evaluate(role_request("dynamodb:DeleteItem", TABLE), [everything_but_delete]).allowed


def test_a_deny_with_not_resource_denies_the_others_and_never_allows() -> None:
    # Finding 1: moto took a NotResource statement as matching everything, so this Deny allowed.
    # "NotResource": with Deny, everything not listed is denied; nothing is allowed by it.
    deny_others = policy({"Effect": "Deny", "Action": "dynamodb:*", "NotResource": TABLE})
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [deny_others]).effect is Effect.IMPLICIT_DENY
    other = TABLE.replace("orders", "other")
    assert evaluate(role_request("dynamodb:PutItem", other), [deny_others]).explicit_deny
    with_allow = [deny_others, policy({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})]
    assert evaluate(role_request("dynamodb:PutItem", TABLE), with_allow).allowed
    assert evaluate(role_request("dynamodb:PutItem", other), with_allow).explicit_deny


# Conditions against the request context


def test_an_allow_conditioned_on_a_key_the_request_lacks_does_not_allow() -> None:
    # Finding 1: an Allow conditioned on aws:SourceVpc allowed. "If the key that you specify in a policy
    # condition is not present in the request context, the values do not match and the condition is false."
    vpc_only = policy({**ALLOW_PUT, "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1a2b3c4d"}}})
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [vpc_only]).effect is Effect.IMPLICIT_DENY
    assert evaluate(role_request("dynamodb:PutItem", TABLE, **{"aws:SourceVpc": "vpc-1a2b3c4d"}), [vpc_only]).allowed


def test_a_deny_conditioned_on_another_region_does_not_deny() -> None:
    # Finding 1: a Deny conditioned on aws:RequestedRegion always denied. The request names its region.
    deny_elsewhere = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
    }
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [policy(ALLOW_PUT, deny_elsewhere)]).allowed
    outside = {**deny_elsewhere, "Condition": {"StringNotEquals": {"aws:RequestedRegion": [REGION, "us-west-2"]}}}
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [policy(ALLOW_PUT, outside)]).allowed
    here = {**deny_elsewhere, "Condition": {"StringEquals": {"aws:RequestedRegion": REGION}}}
    assert evaluate(role_request("dynamodb:PutItem", TABLE), [policy(ALLOW_PUT, here)]).explicit_deny


def test_a_missing_key_makes_a_negated_operator_true_and_if_exists_true_and_null_tells_presence() -> None:
    # Condition operators: a negated operator with the key absent is true; "...IfExists ... If the key is not
    # present, evaluate the condition element as true"; Null "true" holds when the key is absent.
    context = RequestContext({"aws:RequestedRegion": REGION})

    def holds(condition: dict[str, Any]) -> bool:
        document = policy({**ALLOW_PUT, "Condition": condition})
        return evaluate(
            Request(Principal.assumed_role(SESSION), "dynamodb:PutItem", TABLE, context), [document]
        ).allowed

    assert not holds({"StringLike": {"aws:SourceVpc": "*"}})
    assert holds({"StringNotEquals": {"aws:SourceVpc": "vpc-1"}})
    assert holds({"ArnNotLike": {"aws:SourceArn": TOPIC}})
    assert holds({"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}})
    assert holds({"StringEqualsIfExists": {"aws:RequestedRegion": REGION}})
    assert not holds({"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}})
    assert holds({"Null": {"aws:SourceVpc": "true"}})
    assert holds({"Null": {"aws:SourceVpc": True}})
    assert not holds({"Null": {"aws:RequestedRegion": "true"}})
    assert holds({"Null": {"aws:RequestedRegion": "false"}})
    assert holds({"NumericLessThanIfExists": {"aws:MultiFactorAuthAge": "3600"}})
    assert not holds({"BoolIfExists": {"aws:SecureTransport": "false"}, "StringEquals": {"aws:SourceVpc": "x"}})


def test_several_operators_and_keys_are_anded_and_several_values_ored() -> None:
    # "Conditions with multiple context keys or values"
    def allowed(condition: dict[str, Any], **keys: Any) -> bool:
        return evaluate(
            role_request("dynamodb:PutItem", TABLE, **keys), [policy({**ALLOW_PUT, "Condition": condition})]
        ).allowed

    either = {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", REGION]}}
    assert allowed(either)
    both = {"StringEquals": {"aws:RequestedRegion": REGION, "aws:PrincipalAccount": ACCOUNT}}
    assert allowed(both)
    assert not allowed({"StringEquals": {"aws:RequestedRegion": REGION, "aws:PrincipalAccount": "999999999999"}})
    assert not allowed({**either, "Bool": {"aws:SecureTransport": "false"}}, **{"aws:SecureTransport": True})
    assert allowed({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-west-2"]}})
    assert not allowed({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", REGION]}})  # matches one: false


def test_set_operators_over_multivalued_keys() -> None:
    # "ForAllValues ... also returns true if there are no context keys in the request"; ForAnyValue is false then.
    def allowed(condition: dict[str, Any], **keys: Any) -> bool:
        return evaluate(
            role_request("dynamodb:PutItem", TABLE, **keys), [policy({**ALLOW_PUT, "Condition": condition})]
        ).allowed

    tags = {"aws:TagKeys": ["team", "cost"]}
    assert allowed({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost", "env"]}}, **tags)
    assert not allowed({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, **tags)
    assert allowed({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}})  # key missing: true
    assert allowed({"ForAnyValue:StringLike": {"aws:TagKeys": ["t*"]}}, **tags)
    assert not allowed({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, **tags)
    assert not allowed({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}})  # key missing: false


def test_each_documented_operator_family() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    principal = Principal.assumed_role(SESSION)
    context = request_context(
        principal,
        region=REGION,
        now=now,
        source_arn=TOPIC,
        extra={"aws:SourceIp": "203.0.113.7", "s3:max-keys": "10", "test:Blob": b"\x01\x02"},
    )

    def holds(operator: str, key: str, value: Any) -> bool:
        document = policy({**ALLOW_PUT, "Condition": {operator: {key: value}}})
        return evaluate(Request(principal, "dynamodb:PutItem", TABLE, context), [document]).allowed

    assert holds("StringEqualsIgnoreCase", "aws:RequestedRegion", "US-EAST-1")
    assert not holds("StringEquals", "aws:RequestedRegion", "US-EAST-1")
    assert holds("StringLike", "aws:PrincipalArn", "arn:aws:iam::*:role/proc?ssor")
    assert not holds("StringLike", "aws:PrincipalArn", "arn:aws:iam::*:role/[p]rocessor")  # no character classes
    assert holds("NumericLessThanEquals", "s3:max-keys", "10")
    assert not holds("NumericGreaterThan", "s3:max-keys", 10)
    assert holds("DateGreaterThan", "aws:CurrentTime", "2026-01-01T00:00:00Z")
    assert holds("DateLessThan", "aws:CurrentTime", "2027-01-01")
    assert holds("DateLessThan", "aws:EpochTime", str(int(now.timestamp()) + 1))
    assert holds("IpAddress", "aws:SourceIp", "203.0.113.0/24")
    assert holds("NotIpAddress", "aws:SourceIp", "10.0.0.0/8")
    assert holds("BinaryEquals", "test:Blob", "AQI=")
    assert holds("ArnLike", "aws:SourceArn", "arn:aws:sns:*:111122223333:orders-*")
    assert holds("ArnEquals", "aws:SourceArn", TOPIC)
    assert not holds("ArnEquals", "aws:SourceArn", TOPIC.upper())
    assert not holds("ArnLike", "aws:SourceArn", "arn:aws:sns:us-east-1:111122223333")  # five components only
    assert holds("ArnNotEquals", "aws:SourceArn", OTHER_TOPIC)
    assert not holds("NoSuchOperator", "aws:SourceArn", TOPIC)


# SNS -> SQS queue policies as users write them


def console_policy() -> str:
    """The SQS console's "Subscribe to Amazon SNS topic" policy: any AWS principal, SQS:SendMessage in capitals,
    ArnLike on aws:SourceArn."""
    return policy(
        {
            "Sid": "topic-subscription-" + TOPIC,
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "SQS:SendMessage",
            "Resource": QUEUE,
            "Condition": {"ArnLike": {"aws:SourceArn": TOPIC}},
        }
    )


def cdk_policy() -> str:
    """aws-cdk-lib/aws-sns-subscriptions SqsSubscription's statement on the queue."""
    return policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": QUEUE,
            "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC}},
        }
    )


def terraform_policy(tls_value: Any = "false") -> str:
    """Terraform's aws_iam_policy_document output: an empty Sid, a list collapsed to a string, `principals
    {type = "*"}` as "*", plus the TLS deny from `condition { test = "Bool" ... values = ["false"] }`."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": QUEUE,
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": TOPIC},
                        "StringEquals": {"aws:SourceAccount": ACCOUNT},
                    },
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": QUEUE,
                    "Condition": {"Bool": {"aws:SecureTransport": tls_value}},
                },
            ],
        }
    )


@pytest.mark.parametrize(
    "document", [console_policy(), cdk_policy(), terraform_policy()], ids=["console", "cdk", "terraform"]
)
def test_each_generated_form_admits_its_topic_and_no_other(document: str) -> None:
    # Finding 1: the console's form ({"AWS": "*"}, "SQS:SendMessage", ArnLike) was refused. Principal
    # documentation: "Principal": "*" and {"AWS": "*"} are equivalent.
    assert evaluate(sns_delivery(), [], [document]).allowed
    assert not evaluate(sns_delivery(OTHER_TOPIC), [], [document]).allowed


def test_a_wrong_source_account_refuses() -> None:
    # Finding 1: a wrong aws:SourceAccount was admitted. StringEquals on a present key that differs is false.
    assert not evaluate(sns_delivery(account="999999999999"), [], [terraform_policy()]).allowed


@pytest.mark.parametrize("tls_value", ["false", False, "False"])
def test_the_tls_deny_applies_only_to_plain_http_whatever_the_form_of_false(tls_value: Any) -> None:
    # Finding 1: a conditioned Deny was taken as unconditional, and the TLS deny was recognised only as the
    # string "false". Bool takes "true"/"false" as strings or JSON booleans; SNS delivers over TLS.
    document = terraform_policy(tls_value)
    assert evaluate(sns_delivery(), [], [document]).allowed
    assert evaluate(sns_delivery(secure=False), [], [document]).explicit_deny


def test_a_conditioned_deny_denies_only_when_its_condition_holds() -> None:
    deny_other = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
        "Condition": {"ArnNotEquals": {"aws:SourceArn": TOPIC}},
    }
    allow = json.loads(cdk_policy())["Statement"][0]
    both = policy(allow, deny_other)
    assert evaluate(sns_delivery(), [], [both]).allowed
    assert evaluate(sns_delivery(OTHER_TOPIC), [], [both]).explicit_deny


def test_a_service_principal_is_not_an_aws_principal_and_not_principal_excludes() -> None:
    only_role = policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sqs:SendMessage", "Resource": QUEUE})
    assert not evaluate(sns_delivery(), [], [only_role]).allowed
    everyone_but_sns = policy(
        {
            "Effect": "Deny",
            "NotPrincipal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": QUEUE,
        }
    )
    assert not evaluate(sns_delivery(), [], [everyone_but_sns, cdk_policy()]).explicit_deny
    assert evaluate(role_request("sqs:SendMessage", QUEUE), [], [everyone_but_sns]).explicit_deny


def test_an_account_principal_delegates_an_allow_but_its_deny_applies_to_the_accounts_identities() -> None:
    # Principal: an account principal "delegates authority to the account": it grants the role nothing itself.
    account_allow = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sqs:*", "Resource": QUEUE})
    assert not evaluate(role_request("sqs:ReceiveMessage", QUEUE), [], [account_allow]).allowed
    root = f"arn:aws:iam::{ACCOUNT}:root"
    account_deny = policy({"Effect": "Deny", "Principal": {"AWS": root}, "Action": "sqs:*", "Resource": QUEUE})
    identity = policy({"Effect": "Allow", "Action": "sqs:*", "Resource": QUEUE})
    assert evaluate(role_request("sqs:ReceiveMessage", QUEUE), [identity], [account_deny]).explicit_deny


# Trust policies and key policies


def test_a_trust_policy_lets_in_only_the_service_it_names() -> None:
    trust = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    lam = Principal.of_service("lambda.amazonaws.com")
    assert evaluate(Request(lam, "sts:AssumeRole", ROLE, request_context(lam)), [], [trust]).allowed
    assert not evaluate(Request(SNS, "sts:AssumeRole", ROLE, request_context(SNS)), [], [trust]).allowed
    url_encoded = "%7B" + json.dumps(json.loads(trust))[1:].replace("{", "%7B").replace("}", "%7D").replace('"', "%22")
    assert evaluate(Request(lam, "sts:AssumeRole", ROLE, request_context(lam)), [], [url_encoded]).allowed


KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEFAULT_KEY_POLICY = policy(  # KMS's default key policy: "Enable IAM User Permissions"
    {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
)


def test_a_key_policy_that_allows_the_account_lets_identity_policies_grant_and_one_that_does_not_refuses() -> None:
    # KMS: "Unless the key policy explicitly allows it, you cannot use IAM policies to allow access to a KMS key."
    identity = policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY})
    assert evaluate_key_access(role_request("kms:Decrypt", KEY), DEFAULT_KEY_POLICY, [identity]).allowed
    assert not evaluate_key_access(role_request("kms:Decrypt", KEY), DEFAULT_KEY_POLICY, []).allowed
    no_iam = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    assert not evaluate_key_access(role_request("kms:Decrypt", KEY), no_iam, [identity]).allowed
    for_sns = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
        }
    )
    sns = Request(SNS, "kms:GenerateDataKey", KEY, request_context(SNS, source_arn=TOPIC))
    assert evaluate_key_access(sns, for_sns).allowed
    assert not evaluate_key_access(sns, DEFAULT_KEY_POLICY).allowed
