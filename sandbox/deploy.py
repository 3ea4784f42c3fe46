"""Deploys a Pulumi program into the emulator: under Pulumi's mocks, creating a resource creates it in moto.

Every resource returns the ARN, URL and name moto gave it, so each reference between resources is the
real one. Event source mappings are not created in moto (its own SQS-to-Lambda path needs Docker and
miscounts receives); they are recorded for the sandbox's pollers instead.
"""

from __future__ import annotations

import io
import logging
import secrets
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from contract import resource_types as types
from sandbox.emulator import Endpoint
from sandbox.iam import judge_role, role_policies, role_session
from sandbox.plan_capture import plain
from sandbox.policy_check import undeliverable_subscriptions, unredrivable_subscriptions
from sandbox.program import ProgramRun, Project, run_program
from sandbox.pulumi_engine import Goal, ResourceState


class DeployError(Exception):
    """The program cannot run in the sandbox, or would not work on AWS."""


@dataclass(frozen=True)
class Declared:
    """A resource as the program declared it (inputs) and as the emulator created it (state)."""

    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    id: str
    urn: str = ""  # its engine URN: what `orderctl sandbox update` plans against


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    log_group: str
    role_arn: str  # the execution role: the function and its event source poll with its credentials
    log_format: str = "Text"
    application_log_level: str = "INFO"
    system_log_level: str = "INFO"


@dataclass(frozen=True)
class MappingSpec:
    id: str
    queue_arn: str
    function_arn: str
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    enabled: bool


@dataclass
class Deployment:
    stack: str
    config: dict[str, str]
    outputs: dict[str, Any]
    resources: list[Declared]
    functions: dict[str, FunctionSpec]  # by ARN
    mappings: list[MappingSpec]
    warnings: list[str] = field(default_factory=list)
    # Every resource as the engine's checkpoint would keep it (components and the stack included), with the
    # values the emulator gave: the old state `orderctl sandbox update` plans the next version against.
    state: list[ResourceState] = field(default_factory=list)


# What Lambda checks the execution role for before it creates an SQS event source mapping, in its order.
SQS_POLL_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")

State = tuple[str, dict[str, Any]]
Creator = Callable[[pulumi.runtime.MockResourceArgs, str], State]


def _int(value: Any) -> int:
    return int(float(value))


def _placeholder(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """A resource declared but not created (a cancelled or failed deploy): its inputs, and a name and ARN of
    the provider's shape, so the program's own code that parses them (a policy from a topic's ARN) finishes
    the run instead of failing a task that would outlive it into the next run of the process."""
    name = str(args.inputs.get("name") or args.name)
    return {"name": name, "arn": f"arn:aws:abandoned:us-east-1:000000000000:{name}", **args.inputs}


def _auto_name(args: pulumi.runtime.MockResourceArgs) -> str:
    """An explicit name, else one made as the AWS provider makes it: the logical name and a random suffix."""
    explicit = args.inputs.get("name")
    return str(explicit) if explicit else f"{args.name}-{secrets.token_hex(4)[:7]}"


# The provider's camelCase inputs and the AWS API's names for them.
QUEUE_ATTRIBUTES = {
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "redrivePolicy": "RedrivePolicy",
}


def queue_attributes(inputs: Mapping[str, Any], only: Iterable[str] | None = None) -> dict[str, str]:
    """The queue's inputs (or the `only` ones among them) as SQS attributes; unset ones are left out."""
    attributes = {}
    for key, attribute in QUEUE_ATTRIBUTES.items():
        value = inputs.get(key)
        if (only is not None and key not in only) or value is None or value == "":
            continue
        if isinstance(value, bool):
            attributes[attribute] = "true" if value else "false"
        elif isinstance(value, float):
            attributes[attribute] = str(int(value))
        else:
            attributes[attribute] = str(value)
    return attributes


_ALARM_FIELDS = {
    "comparisonOperator": "ComparisonOperator",
    "evaluationPeriods": "EvaluationPeriods",
    "metricName": "MetricName",
    "namespace": "Namespace",
    "period": "Period",
    "statistic": "Statistic",
    "threshold": "Threshold",
    "treatMissingData": "TreatMissingData",
    "alarmDescription": "AlarmDescription",
    "alarmActions": "AlarmActions",
    "okActions": "OKActions",
}


class EmulatorMocks(pulumi.runtime.Mocks):
    def __init__(self, endpoint: Endpoint, code_root: Path, abandoned: Callable[[], bool] = lambda: False) -> None:
        self.endpoint = endpoint
        self.code_root = code_root
        self.abandoned = abandoned
        self.failure: Exception | None = None  # the first resource the emulator refused to create
        self.resources: list[Declared] = []
        self.functions: dict[str, FunctionSpec] = {}
        self.mappings: list[MappingSpec] = []
        self.refusals: list[str] = []  # what AWS would refuse to create, reported after the run
        self.goals: dict[tuple[str, str], Goal] = {}  # by (type, name), which is what MockResourceArgs names
        self._goals_lock = threading.Lock()  # the SDK registers resources from several threads
        session = endpoint.session()
        self._clients: dict[str, Any] = {}
        self._session = session
        self._creators: dict[str, Creator] = {
            types.TABLE: self._table,
            types.TOPIC: self._topic,
            types.TOPIC_SUBSCRIPTION: self._subscription,
            types.QUEUE: self._queue,
            types.QUEUE_POLICY: self._queue_policy,
            types.REDRIVE_ALLOW_POLICY: self._redrive_allow_policy,
            types.ROLE: self._role,
            types.ROLE_POLICY: self._role_policy,
            types.LOG_GROUP: self._log_group,
            types.FUNCTION: self._function,
            types.EVENT_SOURCE_MAPPING: self._event_source_mapping,
            types.METRIC_ALARM: self._metric_alarm,
        }

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.endpoint.client(service, self._session)
        return self._clients[service]

    def register_goal(self, goal: Goal) -> None:
        """Called by the recording monitor (sandbox.program) before the resource is created: its URN and options."""
        with self._goals_lock:
            self.goals[goal.type, goal.name] = goal

    def urn_of(self, args: pulumi.runtime.MockResourceArgs) -> str:
        with self._goals_lock:
            goal = self.goals.get((args.typ, args.name))
        return goal.urn if goal is not None else ""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> State:
        if self.abandoned() or self.failure is not None:  # the rest is declared, not created: the run ends
            return f"{args.name}-abandoned", _placeholder(args)  # at once, every registration answered
        if not args.custom:  # a ComponentResource: nothing to create
            return f"{args.name}-component", dict(args.inputs)
        try:
            resource_id, outputs = self._create(args)
        except Exception as error:  # noqa: BLE001 (raised by deploy() once the program has run to its end)
            # Raising here would fail this registration while the program's others went on in its threads,
            # into the next run's engine: a later sandbox in this process would meet them.
            self.failure = error
            return f"{args.name}-failed", _placeholder(args)
        state = {**args.inputs, **outputs}
        self.resources.append(Declared(args.typ, args.name, dict(args.inputs), state, resource_id, self.urn_of(args)))
        return resource_id, state

    def _create(self, args: pulumi.runtime.MockResourceArgs) -> State:
        creator = self._creators.get(args.typ)
        if creator is None:
            supported = ", ".join(sorted(self._creators))
            raise DeployError(f"the sandbox cannot create {args.typ} ('{args.name}'); it supports: {supported}")
        return creator(args, _auto_name(args))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        raise DeployError(f"the sandbox does not answer the invoke {args.token}: build the value as data instead")

    # one creator per resource type, mapping the provider's camelCase inputs onto the AWS API

    def _table(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        inputs = args.inputs
        key_schema = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
        if inputs.get("rangeKey"):
            key_schema.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
        params: dict[str, Any] = {
            "TableName": name,
            "KeySchema": key_schema,
            "AttributeDefinitions": [
                {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs.get("attributes", [])
            ],
            "BillingMode": inputs.get("billingMode", "PROVISIONED"),
        }
        if params["BillingMode"] == "PROVISIONED":
            params["ProvisionedThroughput"] = {
                "ReadCapacityUnits": _int(inputs.get("readCapacity", 1)),
                "WriteCapacityUnits": _int(inputs.get("writeCapacity", 1)),
            }
        if (inputs.get("serverSideEncryption") or {}).get("enabled"):
            params["SSESpecification"] = {"Enabled": True}
        if inputs.get("deletionProtectionEnabled"):
            params["DeletionProtectionEnabled"] = True
        dynamodb = self._client("dynamodb")
        table = dynamodb.create_table(**params)["TableDescription"]
        if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return name, {"name": name, "arn": table["TableArn"]}

    def _topic(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        attributes = {"KmsMasterKeyId": args.inputs["kmsMasterKeyId"]} if args.inputs.get("kmsMasterKeyId") else {}
        arn = self._client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        if args.inputs.get("sqsFailureFeedbackRoleArn"):  # delivery status logging: sandbox/sns_delivery.py
            self._client("sns").set_topic_attributes(
                TopicArn=arn,
                AttributeName="SQSFailureFeedbackRoleArn",
                AttributeValue=str(args.inputs["sqsFailureFeedbackRoleArn"]),
            )
        return arn, {"name": name, "arn": arn}

    def _subscription(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        inputs = args.inputs
        attributes = {"RawMessageDelivery": "true"} if inputs.get("rawMessageDelivery") else {}
        if inputs.get("redrivePolicy"):  # the subscription's DLQ: sandbox/sns_delivery.py moves failures there
            attributes["RedrivePolicy"] = str(inputs["redrivePolicy"])
        arn = self._client("sns").subscribe(
            TopicArn=inputs["topic"],
            Protocol=inputs["protocol"],
            Endpoint=inputs["endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return arn, {"arn": arn}

    def _queue(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        attributes = queue_attributes(args.inputs)
        sqs = self._client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {"name": name, "url": url, "arn": arn}

    def _queue_policy(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        url = args.inputs["queueUrl"]
        self._client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": args.inputs["policy"]})
        return url, {}

    def _redrive_allow_policy(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        url = args.inputs["queueUrl"]
        self._client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"RedriveAllowPolicy": args.inputs["redriveAllowPolicy"]}
        )
        return url, {}

    def _role(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        role = self._client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=args.inputs["assumeRolePolicy"])
        return name, {"name": name, "arn": role["Role"]["Arn"], "uniqueId": role["Role"]["RoleId"]}

    def _role_policy(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        role = args.inputs["role"]
        self._client("iam").put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=args.inputs["policy"])
        return f"{role}:{name}", {"name": name}

    def _log_group(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        logs = self._client("logs")
        logs.create_log_group(logGroupName=name)
        if args.inputs.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=_int(args.inputs["retentionInDays"]))
        [group] = [
            g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name
        ]
        return name, {"name": name, "arn": group["arn"].removesuffix(":*")}  # the provider strips ":*" too

    def code_dir(self, name: str) -> Path:
        """Where a function's code is unpacked: the task root its environments run in."""
        return self.code_root / name

    @staticmethod
    def function_configuration(inputs: Mapping[str, Any], name: str) -> dict[str, Any]:
        """CreateFunction's (and UpdateFunctionConfiguration's) parameters but the code."""
        environment = {str(k): str(v) for k, v in ((inputs.get("environment") or {}).get("variables") or {}).items()}
        return {
            "FunctionName": name,
            "Runtime": inputs.get("runtime", "python3.12"),
            "Role": inputs["role"],
            "Handler": inputs["handler"],
            "Timeout": _int(inputs.get("timeout", 3)),
            "MemorySize": _int(inputs.get("memorySize", 128)),
            "Environment": {"Variables": environment},
        }

    @staticmethod
    def function_spec(arn: str, inputs: Mapping[str, Any], params: Mapping[str, Any], code_dir: Path) -> FunctionSpec:
        name = str(params["FunctionName"])
        logging_config = inputs.get("loggingConfig") or {}  # moto drops LoggingConfig, so keep it here
        return FunctionSpec(
            name=name,
            arn=arn,
            handler=params["Handler"],
            code_dir=code_dir,
            environment=dict(params["Environment"]["Variables"]),
            timeout_seconds=params["Timeout"],
            memory_mb=params["MemorySize"],
            log_group=logging_config.get("logGroup") or f"/aws/lambda/{name}",
            role_arn=str(params["Role"]),
            log_format=logging_config.get("logFormat") or "Text",
            application_log_level=logging_config.get("applicationLogLevel") or "INFO",
            system_log_level=logging_config.get("systemLogLevel") or "INFO",
        )

    def _function(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        inputs = args.inputs
        code_dir = self.code_dir(name)
        zipped = _unpack_code(inputs["code"], code_dir)
        params = self.function_configuration(inputs, name)
        architectures = list(inputs.get("architectures") or ["x86_64"])
        function = self._client("lambda").create_function(
            **params, Code={"ZipFile": zipped}, Architectures=architectures
        )
        arn = function["FunctionArn"]
        self.functions[arn] = self.function_spec(arn, inputs, params, code_dir)
        return name, self.function_outputs(name, arn)

    def function_outputs(self, name: str, arn: str) -> dict[str, Any]:
        return {
            "name": name,
            "arn": arn,
            "qualifiedArn": f"{arn}:$LATEST",
            "version": "$LATEST",
            "invokeArn": (
                f"arn:aws:apigateway:{self.endpoint.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
            ),
        }

    def _event_source_mapping(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        inputs = args.inputs
        function_arn = self._function_arn(str(inputs["functionName"]))
        refusal = self._poll_refusal(args.name, self.functions[function_arn].role_arn, str(inputs["eventSourceArn"]))
        if refusal:
            # Reported once the program has run: raising inside the mocks would leave the run's other
            # registrations pending, to surface in the next deploy of this process.
            self.refusals.append(refusal)
            return f"refused-{args.name}", {}
        mapping = mapping_spec(str(uuid.uuid4()), function_arn, inputs)
        self.mappings.append(mapping)
        return mapping.id, {"uuid": mapping.id, "functionArn": function_arn, "state": "Enabled"}

    def _poll_refusal(self, mapping: str, role_arn: str, queue_arn: str) -> str | None:
        """Lambda refuses CreateEventSourceMapping when the role cannot poll the queue, naming the first
        action missing (InvalidParameterValueException); so does the sandbox."""
        policies = list(role_policies(self._client("iam"), role_arn.rsplit("/", 1)[-1]))
        for action in SQS_POLL_ACTIONS:
            if not judge_role(policies, role_arn, f"sqs:{action}", queue_arn).allowed:  # and the queue policy
                return (
                    f"event source mapping '{mapping}' refused, as AWS refuses it (InvalidParameterValueException): "
                    f"The function execution role does not have permissions to call {action} on SQS "
                    f"({role_arn} lacks sqs:{action} on {queue_arn})"
                )
        # Lambda then reads the queue's attributes with the role, as a poller of its own would.
        sqs = self.endpoint.client("sqs", role_session(self.endpoint, role_arn))
        *_, account, queue_name = queue_arn.split(":")
        url = self._client("sqs").get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        return None

    def _function_arn(self, name_or_arn: str) -> str:
        for arn, function in self.functions.items():
            if name_or_arn in (arn, function.name):
                return arn
        raise DeployError(f"event source mapping names function {name_or_arn!r}, which this program does not declare")

    def _metric_alarm(self, args: pulumi.runtime.MockResourceArgs, name: str) -> State:
        params: dict[str, Any] = {"AlarmName": name}
        for key, field_name in _ALARM_FIELDS.items():
            if args.inputs.get(key) is not None:
                params[field_name] = args.inputs[key]
        for integer in ("EvaluationPeriods", "Period"):
            if integer in params:
                params[integer] = _int(params[integer])
        params["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in (args.inputs.get("dimensions") or {}).items()]
        cloudwatch = self._client("cloudwatch")
        cloudwatch.put_metric_alarm(**params)
        [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return name, {"name": name, "arn": alarm["AlarmArn"]}


def mapping_spec(mapping_id: str, function_arn: str, inputs: Mapping[str, Any]) -> MappingSpec:
    """An SQS event source mapping's settings, from the provider's inputs."""
    scaling = inputs.get("scalingConfig") or {}
    return MappingSpec(
        id=mapping_id,
        queue_arn=str(inputs["eventSourceArn"]),
        function_arn=function_arn,
        batch_size=_int(inputs.get("batchSize", 10)),
        batching_window_seconds=_int(inputs.get("maximumBatchingWindowInSeconds", 0)),
        maximum_concurrency=_int(scaling["maximumConcurrency"]) if scaling.get("maximumConcurrency") else None,
        report_batch_item_failures="ReportBatchItemFailures" in (inputs.get("functionResponseTypes") or []),
        enabled=inputs.get("enabled", True) is not False,
    )


def engine_state(run: ProgramRun, resources: list[Declared]) -> list[ResourceState]:
    """The checkpoint's view of a run: each registered resource, in registration order, with its inputs and
    the state the emulator gave it (as JSON, in sandbox.plan_capture's form), its options and dependencies."""
    declared = {resource.urn: resource for resource in resources}
    state = []
    for urn, goal in run.goals.items():
        created = declared.get(goal.urn)
        if goal.custom and created is None:
            continue  # not created (a refused mapping): nothing to plan against
        state.append(
            ResourceState(
                urn=goal.urn,
                type=goal.type,
                custom=goal.custom,
                inputs=plain(created.inputs) if created is not None else {},
                # with its id, which a reference to the resource itself (`role.id`) resolves to
                outputs=plain({**created.state, "id": created.id}) if created is not None else {},
                parent=goal.parent,
                protect=goal.protect,
                retain_on_delete=goal.retain_on_delete,
                dependencies=tuple(sorted(run.dependencies.get(urn, ()))),
            )
        )
    return state


def _unpack_code(code: Any, directory: Path) -> bytes:
    """Writes the function's archive to `directory` (the code the sandbox runs) and returns it zipped."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, asset in _assets(code):
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(asset, pulumi.FileAsset):
                shutil.copyfile(str(asset.path), target)
            elif isinstance(asset, pulumi.StringAsset):
                target.write_text(str(asset.text))
            else:
                raise DeployError(f"the sandbox cannot unpack a {type(asset).__name__} in a function's code")
            archive.write(target, path)
    return buffer.getvalue()


def _assets(code: Any) -> list[tuple[str, pulumi.Asset]]:
    if isinstance(code, pulumi.AssetArchive):
        found: list[tuple[str, pulumi.Asset]] = []
        for path, asset in code.assets.items():
            if isinstance(asset, pulumi.Archive):
                found.extend((f"{path}/{inner}", inner_asset) for inner, inner_asset in _assets(asset))
            else:
                found.append((path, asset))
        return found
    if isinstance(code, pulumi.FileArchive) and Path(str(code.path)).is_dir():
        root = Path(str(code.path))
        return [
            (str(p.relative_to(root)), pulumi.FileAsset(str(p)))
            for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        ]
    raise DeployError(f"the sandbox cannot unpack function code of type {type(code).__name__}")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def deploy(
    project: Project,
    stack: str,
    config: Mapping[str, str],
    endpoint: Endpoint,
    code_root: Path,
    *,
    abandoned: Callable[[], bool] = lambda: False,
) -> Deployment:
    """Runs the program against the emulator, then refuses it if SNS could not deliver to a subscribed queue;
    warns of a subscription DLQ that SNS could not send to (what it cannot deliver would be lost).

    Once `abandoned()` is true (a cancelled start), no further resource is created; the caller is to discard
    what this returns."""
    mocks = EmulatorMocks(endpoint, code_root, abandoned)
    warnings = _Collect()
    program_log = logging.getLogger(f"sandbox.program.{uuid.uuid4().hex}")
    program_log.propagate = False
    program_log.addHandler(warnings)
    run = run_program(project, stack, config, mocks, logger=program_log)
    if mocks.failure is not None:
        raise mocks.failure
    problems = mocks.refusals + undeliverable_subscriptions(mocks.resources)
    if problems:
        raise DeployError("refused: " + "; ".join(problems))
    return Deployment(
        stack=stack,
        config=dict(config),
        outputs=run.outputs,
        resources=mocks.resources,
        functions=mocks.functions,
        mappings=mocks.mappings,
        warnings=warnings.messages + unredrivable_subscriptions(mocks.resources),
        state=engine_state(run, mocks.resources),
    )
