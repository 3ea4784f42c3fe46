"""IAM in the emulator: execution-role credentials, identity-policy enforcement, and a ledger of what was asked.

moto evaluates identity policies only when told to (`INITIAL_NO_AUTH_ACTION_COUNT`), and then for every
caller at once, with the resource resolved for a few services only: DynamoDB calls are checked against
`*`, so a policy naming the exact table denies everything. Here the emulator's WSGI application is
wrapped instead: a call signed with credentials from STS AssumeRole is resolved to its exact action
and resource ARN (the table from TableName, the queue from QueueUrl, the topic, the log group and
stream) and judged by moto's own policy matcher (`IAMPolicy`) against the role's policies. Admin
credentials (the deployer, orderctl) pass untouched, as a deployer's and an operator's would on AWS.
Every judged call lands in a ledger, served at `LEDGER_PATH` on the emulator's endpoint.
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
from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure, IAMPolicy, PermissionResult
from moto.sts.models import sts_backends

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


def judge(policies: Iterable[Any], action: str, resource: str) -> Verdict:
    """moto's policy matcher over all the role's policies: an explicit Deny wins, else some Allow is needed."""
    allowed = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return Verdict(False, True)
        allowed = allowed or result == PermissionResult.PERMITTED
    return Verdict(allowed, False)


def denial_message(principal: str, action: str, resource: str, explicit_deny: bool) -> str:
    """AWS's wording. SQS lowercases the action in it and names a batch call by its single action, SNS names its
    service in capitals (code AuthorizationError), as AWS's answers quoted in aws/serverless-application-model#3633
    ("not authorized to perform: sqs:sendmessage" for SendMessageBatch) and
    aws-ia/terraform-aws-control_tower_account_factory#151 ("SNS:Publish") read."""
    service, name = action.split(":", 1)
    shown = {"sqs": f"sqs:{name.lower()}", "sns": f"SNS:{name}"}.get(service, action)
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit_deny
        else f"because no identity-based policy allows the {shown} action"
    )
    return f"User: {principal} is not authorized to perform: {shown} on resource: {resource} {why}"


def _refusal(service: str, json_protocol: bool, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
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
        if scope is None or scope[2] not in ENFORCED_SERVICES:
            return self.app(environ, start_response)
        access_key_id, region, service = scope
        found = _assumed_role(access_key_id, environ)
        if found is None:  # admin credentials: not judged
            return self.app(environ, start_response)
        body = _read_body(environ)
        parsed = _parse(environ, body)
        if parsed is None:
            return self.app(environ, start_response)
        operation, params = parsed
        key, role_arn = found
        action = _BATCH_ACTIONS.get(f"{service}:{operation}", f"{service}:{operation}")
        request = Request(service, operation, params, region, role_arn.split(":")[4])
        policies = key.collect_policies()
        for resource in resources_of(request):
            verdict = judge(policies, action, resource)
            self.ledger.record(Call(key.arn, role_arn, action, resource, verdict.allowed, time.time()))
            if not verdict.allowed:
                message = denial_message(key.arn, action, resource, verdict.explicit_deny)
                status, headers, payload = _refusal(service, "HTTP_X_AMZ_TARGET" in environ, message)
                content_type = [] if any(h[0] == "Content-Type" for h in headers) else [_json_type(environ)]
                start_response(status, [*headers, *content_type, ("Content-Length", str(len(payload)))])
                return [payload]
        return self.app(environ, start_response)


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
