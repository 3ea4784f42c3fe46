"""KMS as this architecture meets it: queues and topics under a KMS key, and who may use the key.

moto stores keys, aliases and key policies but enforces none of them (moto 5.2.5 `moto/kms/models.py`: a key
policy is kept as text; SQS and SNS keep `KmsMasterKeyId` as an attribute and never call KMS). Here the
sandbox asks the policy evaluator (sandbox/policy) each time AWS would call KMS for a request:

- SQS with SSE-KMS: a producer needs kms:GenerateDataKey and kms:Decrypt, a consumer kms:Decrypt, on the
  queue's key (Amazon SQS Developer Guide, "Key management" > "Configure KMS permissions for producers /
  consumers"). SQS calls KMS on the caller's behalf, so the request carries kms:ViaService =
  `sqs.<region>.amazonaws.com` and kms:CallerAccount = the caller's account.
- SNS delivering to a queue under a key: "the key policy must allow sns.amazonaws.com kms:GenerateDataKey* and
  kms:Decrypt" (Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS services and
  encrypted topics"; Amazon SQS Developer Guide, "Key management"), and an AWS-managed key cannot be
  granted: "the AWS managed key for Amazon SQS ... its policy can't be modified", so SNS cannot deliver to a
  queue under `alias/aws/sqs`.
- CloudWatch publishing an alarm to a topic under a key needs that key's policy to allow
  cloudwatch.amazonaws.com; the AWS-managed `alias/aws/sns` key does not.
- AWS-managed keys (`alias/aws/<service>`) get the policy AWS gives them (AWS KMS Developer Guide, "AWS
  managed keys": usable only through their service, by principals of the account): any principal, for the
  cryptographic actions, on conditions kms:CallerAccount = the account and kms:ViaService =
  `<service>.<region>.amazonaws.com`. A service principal has no caller account, so it is refused.
- A key policy lets identity-based policies grant access only through a statement allowing the account
  (sandbox.policy.evaluate_key_access).

A refusal is answered with the code each service gives: SQS `KMS.AccessDeniedException` (the SQS Developer
Guide's "Troubleshoot an access denied error": "An error occurred (KMS.AccessDeniedException) when calling the
SendMessage operation: User: ... is not authorized to perform: kms:GenerateDataKey on resource: ..."),
`KMS.DisabledException` for a disabled key (SQS API reference, SendMessage errors: KmsAccessDenied,
KmsDisabled, HTTP 400); SNS Publish `KMSAccessDenied` / `KMSDisabled` (SNS API reference, Publish errors).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from moto.kms.models import kms_backends

from sandbox.policy import Principal, Request, evaluate_key_access, request_context
from sandbox.policy.evaluate import PolicyDocument

# The cryptographic actions an AWS-managed key's policy grants through its service.
_MANAGED_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:CreateGrant",
    "kms:DescribeKey",
]


@dataclass(frozen=True)
class Key:
    arn: str
    policy: str
    aws_managed: str | None  # the service of an AWS-managed key (`sqs` for alias/aws/sqs), else None
    enabled: bool


@dataclass(frozen=True)
class KeyRefusal:
    code: str  # SQS's query-protocol code: KMS.AccessDeniedException, KMS.DisabledException, KMS.NotFoundException
    message: str


def aws_managed_key_policy(service: str, account: str, region: str) -> str:
    """The policy AWS gives `alias/aws/<service>`: use through that service by the account's principals."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"Allow access through {service} for all principals in the account that are authorized",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": _MANAGED_ACTIONS,
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account,
                            "kms:ViaService": f"{service}.{region}.amazonaws.com",
                        }
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                    "Resource": "*",
                },
            ],
        }
    )


def find_key(key_id: str, account: str, region: str) -> Key | None:
    """The key a `KmsMasterKeyId` names (key id, key ARN, alias or alias ARN), as moto holds it."""
    if not key_id:
        return None
    if key_id.startswith("arn:"):
        _, _, _, region, account, _ = key_id.split(":", 5)
    backend = kms_backends[account][region]
    alias = backend.get_alias_name(key_id)
    if alias.startswith("alias/aws/") and not backend.alias_exists(alias):
        # AWS creates an AWS-managed key the first time its service uses it; moto knows only a few of them
        created = backend.create_key(None, "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", f"Default key ({alias})", None)
        backend.create_alias(created.id, alias)
    try:
        key = backend.keys[backend.any_id_to_key_id(key_id)]
    except (KeyError, AttributeError, TypeError):
        return None
    managed = next((a.removeprefix("alias/aws/") for a in key.aliases if a.startswith("alias/aws/")), None)
    policy = aws_managed_key_policy(managed, account, region) if managed else str(key.policy)
    return Key(str(key.arn), policy, managed, key.key_state == "Enabled")


def refusal(
    key: Key,
    principal: Principal,
    actions: Sequence[str],
    *,
    via_service: str,
    region: str,
    identity_policies: Sequence[PolicyDocument] = (),
    source_arn: str | None = None,
    source_account: str | None = None,
) -> KeyRefusal | None:
    """Why KMS refuses `principal` the `actions` on `key` when `via_service` calls it on its behalf, or None."""
    shown = principal.arn or principal.service
    if not key.enabled:
        return KeyRefusal("KMS.DisabledException", f"{key.arn} is disabled.")
    extra: dict[str, str] = {"kms:ViaService": f"{via_service}.{region}.amazonaws.com"}
    if principal.account and not principal.service:
        extra["kms:CallerAccount"] = principal.account
    context = request_context(
        principal, region=region, source_arn=source_arn, source_account=source_account, extra=extra
    )
    for action in actions:
        decision = evaluate_key_access(Request(principal, action, key.arn, context), key.policy, identity_policies)
        if not decision.allowed:
            why = (
                f"with an explicit deny in a {decision.kind.value if decision.kind else 'key'} policy"
                if decision.explicit_deny
                else f"because no resource-based policy allows the {action} action"
            )
            return KeyRefusal(
                "KMS.AccessDeniedException",
                f"User: {shown} is not authorized to perform: {action} on resource: {key.arn} {why}",
            )
    return None
