"""IAM in the emulator: execution-role credentials, identity-policy enforcement, and a ledger of what was asked.

moto evaluates identity policies only when told to (`INITIAL_NO_AUTH_ACTION_COUNT`), and then for every
caller at once, with the resource resolved for a few services only: DynamoDB calls are checked against
`*`, so a policy naming the exact table denies everything. Here the emulator's WSGI application is
wrapped instead: a call signed with credentials from STS AssumeRole is resolved to its exact action
and resource ARN (the table from TableName, the queue from QueueUrl, the topic, the log group and
stream) and judged by the sandbox's one policy evaluator (sandbox/policy) against the role's policies and
the resource's own policy (a queue's, a topic's), with the request context the sandbox knows (the region,
TLS, the principal, the time). A call on a queue or topic under a KMS key is then judged by the key's
policy as well (sandbox/kms.py), as SQS and SNS call KMS for it. Admin credentials (the deployer,
orderctl) pass untouched, as a deployer's and an operator's would on AWS. Every judged call lands in a
ledger, served at `LEDGER_PATH` on the emulator's endpoint.

Lambda's own check is made here too, for any caller: CreateFunction and UpdateFunctionConfiguration are
refused when the role's trust policy does not let lambda.amazonaws.com sts:AssumeRole, with Lambda's answer
(InvalidParameterValueException, "The role defined for the function cannot be assumed by Lambda.").
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import boto3
from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.sts.models import sts_backends

from sandbox import kms
from sandbox.policy import Principal, RequestContext, evaluate, request_context
from sandbox.policy import Request as PolicyRequest

if TYPE_CHECKING:
    from sandbox.emulator import Endpoint

LEDGER_PATH = "/_sandbox/iam/ledger"
SESSION_NAME = "sandbox-lambda"

# Services whose resource this module resolves from the request; the pipeline's function uses only these.
ENFORCED_SERVICES = frozenset({"dynamodb", "sqs", "sns", "logs"})

# Batch operations IAM authorizes as their single-message action (SQS and SNS have no action of their own for them).
_BATCH_ACTIONS = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sns:PublishBatch": "sns:Publish",
}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def role_session(endpoint: Endpoint, role_arn: str, session_name: str = SESSION_NAME) -> boto3.Session:
    """The role's temporary credentials from STS AssumeRole in the emulator, as Lambda gets them."""
    sts = endpoint.client("sts")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=endpoint.region,
    )


@dataclass(frozen=True)
class Call:
    """One request as IAM sees it: who (the session ARN and its role), what, on which resource, and the verdict."""

    principal: str
    role_arn: str
    action: str
    resource: str
    allowed: bool
    at: float


class Ledger:
    """Every judged call, in order. Thread-safe: the emulator serves requests on several threads."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def to_json(self) -> bytes:
        return json.dumps([asdict(call) for call in self.calls()]).encode()


def fetch_ledger(endpoint_url: str) -> list[Call]:
    """The ledger of a running sandbox, read over its endpoint (orderctl runs in another process)."""
    with urllib.request.urlopen(f"{endpoint_url}{LEDGER_PATH}", timeout=10) as response:
        return [Call(**entry) for entry in json.loads(response.read())]


# Resolving a request to (action, resource ARN)


@dataclass(frozen=True)
class Request:
    service: str
    operation: str
    params: dict[str, Any]
    region: str
    account: str


def resources_of(request: Request) -> list[str]:
    """The ARNs IAM authorizes the request on: one per table or queue it names, `*` when it names none."""
    p, region, account = request.params, request.region, request.account
    if request.service == "dynamodb":
        names = [p["TableName"]] if "TableName" in p else list(p.get("RequestItems") or {})
        return [f"arn:aws:dynamodb:{region}:{account}:table/{name}" for name in names] or ["*"]
    if request.service == "sqs":
        return [_queue_arn(p, region, account)]
    if request.service == "sns":
        arn = p.get("TopicArn") or p.get("TargetArn") or p.get("ResourceArn")
        return [str(arn)] if arn else ["*"]
    if request.service == "logs" and "logGroupName" in p:
        group = f"arn:aws:logs:{region}:{account}:log-group:{p['logGroupName']}"
        # AWS names the stream for stream operations, and the group's ":*" form otherwise.
        return [f"{group}:log-stream:{p['logStreamName']}" if "logStreamName" in p else f"{group}:*"]
    return ["*"]


def _queue_arn(params: dict[str, Any], region: str, account: str) -> str:
    if "QueueUrl" in params:
        *_, queue_account, name = str(params["QueueUrl"]).rstrip("/").split("/")
        return f"arn:aws:sqs:{region}:{queue_account}:{name}"
    if "QueueName" in params:
        return f"arn:aws:sqs:{region}:{params.get('QueueOwnerAWSAccountId', account)}:{params['QueueName']}"
    return "*"


def _parse(environ: dict[str, Any], body: bytes) -> tuple[str, dict[str, Any]] | None:
    """The operation and its parameters, from a JSON-protocol target header or a query-protocol form."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return None
        return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}
    form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    form.update(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    if "Action" not in form:
        return None
    return form.pop("Action"), form


def _credential_scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key id, region, service) from a SigV4 Authorization header."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in authorization:
        return None
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return (scope[0], scope[2], scope[3]) if len(scope) >= 4 else None


# Judging and refusing


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    explicit_deny: bool
    where: str = "identity-based"  # the kind of policy that held the deciding Deny


def _document(policy: Any) -> str | dict[str, Any]:
    """A policy document from what moto keeps: inline policies are text, managed ones objects with versions."""
    if isinstance(policy, (str, dict)):
        return policy
    versions = getattr(policy, "versions", None)
    if versions:
        return str(next(v for v in versions if v.is_default).document)
    return str(policy["policy_document"])


def _region_of(resource: str) -> str | None:
    parts = resource.split(":")
    return parts[3] or None if len(parts) >= 6 else None


def judge(
    policies: Iterable[Any],
    action: str,
    resource: str,
    *,
    principal: Principal | None = None,
    context: RequestContext | None = None,
    resource_policies: Iterable[str] = (),
) -> Verdict:
    """The policy evaluator (sandbox/policy) over the caller's identity-based policies and the resource's
    policy: an explicit Deny wins, else some Allow is needed, in either. Without a context, the request
    carries the principal's keys, the resource's region, TLS and the time."""
    who = principal or Principal()
    context = context or request_context(who, region=_region_of(resource))
    decision = evaluate(PolicyRequest(who, action, resource, context), map(_document, policies), resource_policies)
    where = decision.kind.value if decision.kind is not None else "identity-based"
    return Verdict(decision.allowed, decision.explicit_deny, where)


def resource_policies(resource: str) -> list[str]:
    """The resource's own policy, as the emulator holds it: a queue's Policy attribute, a topic's policy."""
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return []
    _, _, service, region, account, name = parts
    if service == "sqs":
        queue = sqs_backends[account][region].queues.get(name)
        return [queue.policy] if queue is not None and queue.policy else []
    if service == "sns":
        topic = sns_backends[account][region].topics.get(resource)
        return [topic.policy] if topic is not None else []
    return []


def judge_role(policies: Iterable[Any], role_arn: str, action: str, resource: str) -> Verdict:
    """A call by a session of `role_arn`: its identity-based policies and the resource's policy together."""
    return judge(
        policies, action, resource, principal=Principal.role(role_arn), resource_policies=resource_policies(resource)
    )


def denial_message(
    principal: str, action: str, resource: str, explicit_deny: bool, where: str = "identity-based"
) -> str:
    """AWS's wording. SQS lowercases the action in it and names a batch call by its single action, SNS names its
    service in capitals (code AuthorizationError), as AWS's answers quoted in aws/serverless-application-model#3633
    ("not authorized to perform: sqs:sendmessage" for SendMessageBatch) and
    aws-ia/terraform-aws-control_tower_account_factory#151 ("SNS:Publish") read."""
    service, name = action.split(":", 1)
    shown = {"sqs": f"sqs:{name.lower()}", "sns": f"SNS:{name}"}.get(service, action)
    why = (
        f"with an explicit deny in a{'n' if where.startswith('i') else ''} {where} policy"
        if explicit_deny
        else f"because no identity-based policy allows the {shown} action"
    )
    return f"User: {principal} is not authorized to perform: {shown} on resource: {resource} {why}"


Answer = tuple[str, list[tuple[str, str]], bytes]  # a WSGI status, headers and body


def _refusal(service: str, json_protocol: bool, message: str) -> Answer:
    """The status, headers and body each service answers a denied call with."""
    if json_protocol:
        if service == "sqs":  # SQS's JSON protocol keeps its query-protocol code in a header, read by the SDKs
            body = {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
            return "403 Forbidden", [("x-amzn-query-error", "AccessDenied;Sender")], json.dumps(body).encode()
        body = {"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException", "message": message}
        if service != "dynamodb":
            body["__type"] = "AccessDeniedException"
        return "400 Bad Request", [], json.dumps(body).encode()
    code = "AuthorizationError" if service == "sns" else "AccessDenied"
    xml = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
        "</Error><RequestId>sandbox</RequestId></ErrorResponse>"
    )
    return "403 Forbidden", [("Content-Type", "text/xml")], xml.encode()


# The KMS actions SQS and SNS need of the caller's key for each call (Amazon SQS Developer Guide, "Key
# management": producers kms:GenerateDataKey and kms:Decrypt, consumers kms:Decrypt; SNS alike for Publish).
_KMS_ACTIONS = {
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
}
# SNS answers a KMS refusal with its own codes (SNS API reference, Publish: KMSAccessDenied, KMSDisabled, ...).
_SNS_KMS_CODES = {"KMS.AccessDeniedException": "KMSAccessDenied", "KMS.DisabledException": "KMSDisabled"}


def encryption_key(resource: str) -> str | None:
    """The KmsMasterKeyId of a queue or topic (None for SSE-SQS or none)."""
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return None
    _, _, service, region, account, name = parts
    if service == "sqs":
        queue = sqs_backends[account][region].queues.get(name)
        key_id = getattr(queue, "kms_master_key_id", None)  # moto sets the attribute only when given
        return str(key_id) if key_id else None
    if service == "sns":
        topic = sns_backends[account][region].topics.get(resource)
        return str(topic.kms_master_key_id) if topic is not None and topic.kms_master_key_id else None
    return None


def key_refusal(
    principal: Principal, action: str, resource: str, identity_policies: Iterable[Any]
) -> kms.KeyRefusal | None:
    """Why KMS refuses the key under the queue or topic to this call, or None (no key, or the key allows it)."""
    actions = _KMS_ACTIONS.get(action)
    key_id = encryption_key(resource) if actions else None
    if not actions or not key_id:
        return None
    _, _, service, region, account, _ = resource.split(":", 5)
    key = kms.find_key(key_id, account, region)
    if key is None:
        return kms.KeyRefusal("KMS.NotFoundException", f"Key '{key_id}' does not exist")
    policies = [_document(p) for p in identity_policies]
    return kms.refusal(key, principal, actions, via_service=service, region=region, identity_policies=policies)


# Lambda's check of the execution role (CreateFunction, UpdateFunctionConfiguration with a Role)
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
CANNOT_ASSUME = "The role defined for the function cannot be assumed by Lambda."


def lambda_may_assume(role_arn: str) -> bool:
    """Whether the role exists and its trust policy lets lambda.amazonaws.com sts:AssumeRole. The request
    carries the service principal and the region; no aws:SourceArn or aws:SourceAccount (the sandbox's reading:
    Lambda documents none for the execution role)."""
    parts = role_arn.split(":")
    if len(parts) != 6:
        return False
    try:
        role = iam_backends[parts[4]][parts[1]].get_role_by_arn(role_arn)
    except (NotFoundException, KeyError):
        return False
    lam = Principal.of_service(LAMBDA_PRINCIPAL)
    request = PolicyRequest(lam, "sts:AssumeRole", role_arn, request_context(lam, region=None))
    return evaluate(request, (), [role.assume_role_policy_document]).allowed


def _lambda_role_refusal(environ: dict[str, Any]) -> Answer | None:
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
    creates = method == "POST" and path.rstrip("/").endswith("/functions")
    configures = method == "PUT" and path.endswith("/configuration")
    if not (creates or configures):
        return None
    try:
        role = json.loads(_read_body(environ) or b"{}").get("Role")
    except ValueError:
        return None
    if not role or lambda_may_assume(str(role)):
        return None
    body = json.dumps({"Type": "User", "message": CANNOT_ASSUME}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InvalidParameterValueException")]
    return "400 Bad Request", headers, body


class Enforcer:
    """WSGI middleware in front of moto's application."""

    def __init__(self, app: WsgiApp, ledger: Ledger) -> None:
        self.app = app
        self.ledger = ledger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == LEDGER_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [self.ledger.to_json()]
        scope = _credential_scope(environ)
        refused = None
        if scope is not None and scope[2] == "lambda":
            refused = _lambda_role_refusal(environ)
        elif scope is not None and scope[2] in ENFORCED_SERVICES:
            refused = self._judge(environ, *scope)
        if refused is None:
            return self.app(environ, start_response)
        status, headers, payload = refused
        content_type = [] if any(h[0] == "Content-Type" for h in headers) else [_json_type(environ)]
        start_response(status, [*headers, *content_type, ("Content-Length", str(len(payload)))])
        return [payload]

    def _judge(self, environ: dict[str, Any], access_key_id: str, region: str, service: str) -> Answer | None:
        """The refusal of a call signed by an assumed role, or None to let moto answer it."""
        found = _assumed_role(access_key_id, environ)
        if found is None:  # admin credentials: not judged
            return None
        parsed = _parse(environ, _read_body(environ))
        if parsed is None:
            return None
        operation, params = parsed
        key, role_arn = found
        action = _BATCH_ACTIONS.get(f"{service}:{operation}", f"{service}:{operation}")
        request = Request(service, operation, params, region, role_arn.split(":")[4])
        policies = key.collect_policies()
        principal = Principal.assumed_role(key.arn)
        context = request_context(principal, region=region)  # SDKs reach AWS over TLS
        json_protocol = "HTTP_X_AMZ_TARGET" in environ
        for resource in resources_of(request):
            verdict = judge(
                policies, action, resource, principal=principal, context=context,
                resource_policies=resource_policies(resource),
            )  # fmt: skip
            by_key = key_refusal(principal, action, resource, policies) if verdict.allowed else None
            allowed = verdict.allowed and by_key is None
            self.ledger.record(Call(key.arn, role_arn, action, resource, allowed, time.time()))
            if by_key is not None:  # the key refused: the service answers with KMS's code
                code = _SNS_KMS_CODES.get(by_key.code, by_key.code) if service == "sns" else by_key.code
                return _kms_refusal(json_protocol, code, by_key.message)
            if not verdict.allowed:
                message = denial_message(key.arn, action, resource, verdict.explicit_deny, verdict.where)
                return _refusal(service, json_protocol, message)
        return None


def _kms_refusal(json_protocol: bool, code: str, message: str) -> Answer:
    """A KMS refusal as SQS (KMS.AccessDeniedException, HTTP 400) or SNS (KMSAccessDenied) answers it."""
    if json_protocol:
        body = {"__type": f"com.amazonaws.sqs#{code}", "message": message}
        return "400 Bad Request", [("x-amzn-query-error", f"{code};Sender")], json.dumps(body).encode()
    xml = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
        "</Error><RequestId>sandbox</RequestId></ErrorResponse>"
    )
    return "400 Bad Request", [("Content-Type", "text/xml")], xml.encode()


def _json_type(environ: dict[str, Any]) -> tuple[str, str]:
    return ("Content-Type", environ.get("CONTENT_TYPE") or "application/x-amz-json-1.0")


def _read_body(environ: dict[str, Any]) -> bytes:
    """Reads the body and puts it back, so moto reads it as if nobody had."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _assumed_role(access_key_id: str, environ: dict[str, Any]) -> tuple[AssumedRoleAccessKey, str] | None:
    """The assumed-role key and its role's ARN, or None for any other credentials."""
    for account_id, by_partition in list(sts_backends.items()):
        backend = by_partition.get("aws") if hasattr(by_partition, "get") else None
        role = backend.get_assumed_role_from_access_key(access_key_id) if backend is not None else None
        if role is None:
            continue
        headers = {"X-Amz-Security-Token": environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")}
        try:
            return AssumedRoleAccessKey(account_id, "aws", access_key_id, headers), role.role_arn
        except CreateAccessKeyFailure:
            return None
    return None


# The report: a role's grants against what its sessions did


@dataclass(frozen=True)
class Grant:
    action: str
    resource: str


def grants_of(policies: Iterable[str]) -> list[Grant]:
    """Each (action, resource) pair an Allow statement of these policy documents names."""
    grants: list[Grant] = []
    for document in policies:
        statements = json.loads(document)["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            for action in _as_list(statement.get("Action", [])):
                grants.extend(Grant(action, resource) for resource in _as_list(statement.get("Resource", "*")))
    return grants


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass(frozen=True)
class Report:
    role_arn: str
    unused: list[Grant]
    denied: list[Call]

    @property
    def least_privilege(self) -> bool:
        return not self.unused and not self.denied


def report(role_arn: str, policies: Iterable[str], calls: Iterable[Call]) -> Report:
    """Grants no allowed call of the role used, and the role's calls that were denied (each distinct once)."""
    mine = [call for call in calls if call.role_arn == role_arn]
    unused = []
    for grant in grants_of(policies):
        single = json.dumps({"Statement": [{"Effect": "Allow", "Action": grant.action, "Resource": grant.resource}]})
        if not any(c.allowed and judge([single], c.action, c.resource).allowed for c in mine):
            unused.append(grant)
    denied: dict[tuple[str, str], Call] = {}
    for call in mine:
        if not call.allowed:
            denied.setdefault((call.action, call.resource), call)
    return Report(role_arn, unused, list(denied.values()))


def role_policies(iam: Any, role_name: str) -> Iterator[str]:
    """The role's inline policy documents, as JSON text, through the IAM API."""
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        yield document if isinstance(document, str) else json.dumps(document)
