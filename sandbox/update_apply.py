"""Applies another version of the program to the running sandbox's emulator, as `pulumi up` applies an update
(`python -m sandbox.update_apply`, run by sandbox.update in a process of its own so that the program imports
its own `infra`).

The program runs under ApplyMocks, which, for each resource it registers, takes the engine's step
(sandbox.pulumi_engine.Planner, against the deployed state with the emulator's real values) and carries it out:

- same: the resource as it exists (its id and state);
- update: the API the provider (terraform-provider-aws, as pulumi-aws bridges it) calls for the changed
  inputs: DynamoDB UpdateTable / UpdateContinuousBackups, SQS SetQueueAttributes, SNS SetTopicAttributes /
  SetSubscriptionAttributes, IAM UpdateAssumeRolePolicy / PutRolePolicy, Logs PutRetentionPolicy /
  DeleteRetentionPolicy, Lambda UpdateFunctionConfiguration / UpdateFunctionCode /
  UpdateEventSourceMapping, CloudWatch PutMetricAlarm;
- create: sandbox.deploy's creator;
- replace: create-before-delete creates the new resource now and deletes the old one after every other
  step; delete-before-replace deletes the old one first;
- delete (an old resource nothing continued) after every other step; these and the old halves of
  replacements in reverse order of the old state. `retainOnDelete` drops the resource from the state only.

Resources are applied one at a time, in registration order (the engine runs independent steps in
parallel). New function code goes to a new code directory, never over the one running environments use.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
from botocore.exceptions import ClientError

from contract import resource_types as types
from sandbox.deploy import (
    Declared,
    DeployError,
    Deployment,
    EmulatorMocks,
    State,
    _auto_name,
    _int,
    _unpack_code,
    engine_state,
    mapping_spec,
    queue_attributes,
)
from sandbox.emulator import Endpoint
from sandbox.plan_capture import PROVIDER, plain
from sandbox.policy_check import undeliverable_subscriptions, unredrivable_subscriptions
from sandbox.program import Project, run_program, stack_config
from sandbox.pulumi_engine import Op, Planner, Step
from sandbox.update import Applied, deployment_from_json, deployment_json, write_json

Updater = Callable[[pulumi.runtime.MockResourceArgs, Declared, Step], State]
Deleter = Callable[[Declared], None]
# What a delete finds already gone is deleted, as the provider treats a 404 on delete.
_GONE = {
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
}
_READS = ("Get", "Describe", "List", "AssumeRole")


class ApplyMocks(EmulatorMocks):
    def __init__(self, endpoint: Endpoint, code_root: Path, deployed: Deployment, planner: Planner) -> None:
        super().__init__(endpoint, code_root)
        self.planner = planner
        self.olds = {resource.urn: resource for resource in deployed.resources}
        self.old_order = [state.urn for state in deployed.state]
        self.functions = dict(deployed.functions)  # a new mapping may name a function that stays
        self.old_mappings = {mapping.id: mapping for mapping in deployed.mappings}
        self.applied: list[Applied] = []
        self.doomed: list[Step] = []  # deleted after every other step
        self._apply_lock = threading.Lock()
        self._calls: list[str] = []
        self._hooked: set[str] = set()
        self._updaters: dict[str, Updater] = {
            types.TABLE: self._update_table,
            types.TOPIC: self._update_topic,
            types.TOPIC_SUBSCRIPTION: self._update_subscription,
            types.QUEUE: self._update_queue,
            types.QUEUE_POLICY: self._again(self._queue_policy),
            types.REDRIVE_ALLOW_POLICY: self._again(self._redrive_allow_policy),
            types.ROLE: self._update_role,
            types.ROLE_POLICY: self._again(self._role_policy),
            types.LOG_GROUP: self._update_log_group,
            types.FUNCTION: self._update_function,
            types.EVENT_SOURCE_MAPPING: self._update_mapping,
            types.METRIC_ALARM: self._again(self._metric_alarm),
        }
        self._deleters: dict[str, Deleter] = {
            types.TABLE: lambda old: self._client("dynamodb").delete_table(TableName=old.id),
            types.TOPIC: lambda old: self._client("sns").delete_topic(TopicArn=old.id),
            types.TOPIC_SUBSCRIPTION: lambda old: self._client("sns").unsubscribe(SubscriptionArn=old.id),
            types.QUEUE: lambda old: self._client("sqs").delete_queue(QueueUrl=old.state["url"]),
            types.QUEUE_POLICY: lambda old: self._clear_queue_attribute(old, "Policy"),
            types.REDRIVE_ALLOW_POLICY: lambda old: self._clear_queue_attribute(old, "RedriveAllowPolicy"),
            types.ROLE: lambda old: self._client("iam").delete_role(RoleName=old.id),
            types.ROLE_POLICY: self._delete_role_policy,
            types.LOG_GROUP: lambda old: self._client("logs").delete_log_group(logGroupName=old.id),
            types.FUNCTION: self._delete_function,
            types.EVENT_SOURCE_MAPPING: lambda old: None,  # not in moto: the sandbox stops its poller
            types.METRIC_ALARM: lambda old: self._client("cloudwatch").delete_alarms(AlarmNames=[old.id]),
        }

    def _client(self, service: str) -> Any:
        client = super()._client(service)
        if service not in self._hooked:  # note each call that changes something, for the step's line
            self._hooked.add(service)
            client.meta.events.register("before-call", self._note)
        return client

    def _note(self, model: Any, **_: Any) -> None:
        if not str(model.name).startswith(_READS):
            self._calls.append(str(model.name))

    def code_dir(self, name: str) -> Path:
        """A new directory for each version of the code: environments of the old one still run in theirs."""
        return self.code_root / f"{name}@{uuid.uuid4().hex[:8]}"

    # --- the steps

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> State:
        goal = self.goals[args.typ, args.name]
        if not args.custom:  # a component: continued or created, nothing in the cloud
            with self._apply_lock:
                self.planner.register(goal, {})
            return super().new_resource(args)
        with self._apply_lock:
            step, _ = self.planner.register(goal, plain(args.inputs))
            if step.refused:
                raise DeployError(step.refused)
            old = self.olds.get(step.old_urn or "")
            began, self._calls = time.monotonic(), []
            if step.op == Op.SAME and old is not None:
                resource_id, outputs, action = old.id, _computed(old), "same"
                if args.typ == types.EVENT_SOURCE_MAPPING:
                    self.mappings.append(self.old_mappings[old.id])
            elif step.op == Op.UPDATE and old is not None:
                resource_id, outputs = self._updaters[args.typ](args, old, step)
                action = "updated"
            else:
                action = "created"
                if step.op == Op.REPLACE and old is not None:
                    action = "replaced"
                    if step.delete_before_replace:
                        self._delete(old, step)
                        action = "replaced (deleted first)"
                    else:
                        self.doomed.append(step)
                resource_id, outputs = self._creators[args.typ](args, _auto_name(args))
            state = {**args.inputs, **outputs}
            self.resources.append(Declared(args.typ, args.name, dict(args.inputs), state, resource_id, goal.urn))
            self.applied.append(Applied(step, action, tuple(self._calls), time.monotonic() - began))
        return resource_id, state

    def finish(self) -> None:
        """The deletes: old resources nothing continued, and the old halves of create-before-delete
        replacements, last in the old state first."""
        deletes = [step for step in self.planner.finish() if step.op == Op.DELETE]
        refused = [step.refused for step in deletes if step.refused]
        if refused:
            raise DeployError(refused[0])
        position = {urn: index for index, urn in enumerate(self.old_order)}
        doomed = sorted([*self.doomed, *deletes], key=lambda step: -position.get(step.old_urn or "", -1))
        for step in doomed:
            old = self.olds.get(step.old_urn or "")  # None: a component, nothing in the cloud
            began, self._calls = time.monotonic(), []
            if step.retain:
                action = "retained (removed from the stack, kept in the cloud)"
            else:
                if old is not None:
                    self._delete(old, step)
                action = "deleted (replaced)" if step.op == Op.REPLACE else "deleted"
            self.applied.append(Applied(step, action, tuple(self._calls), time.monotonic() - began))

    def _delete(self, old: Declared, step: Step) -> None:
        if step.retain:
            return
        try:
            self._deleters[old.type](old)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _GONE:
                raise

    # --- updates: the calls the provider makes for the changed inputs

    def _again(self, creator: Callable[[pulumi.runtime.MockResourceArgs, str], State]) -> Updater:
        """A resource whose update is its create call again (PutMetricAlarm, PutRolePolicy, SetQueueAttributes)."""

        def update(args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
            resource_id, outputs = creator(args, str(old.state.get("name") or args.inputs.get("name") or old.id))
            return resource_id, {**_computed(old), **outputs}

        return update

    def _update_table(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        inputs, diff, dynamodb = args.inputs, set(step.diff), self._client("dynamodb")
        if diff & {"billingMode", "readCapacity", "writeCapacity"}:
            mode = inputs.get("billingMode", "PROVISIONED")
            params: dict[str, Any] = {"TableName": old.id, "BillingMode": mode}
            if mode == "PROVISIONED":
                params["ProvisionedThroughput"] = {
                    "ReadCapacityUnits": _int(inputs.get("readCapacity", 1)),
                    "WriteCapacityUnits": _int(inputs.get("writeCapacity", 1)),
                }
            dynamodb.update_table(**params)
        if "deletionProtectionEnabled" in diff:
            dynamodb.update_table(
                TableName=old.id, DeletionProtectionEnabled=bool(inputs.get("deletionProtectionEnabled"))
            )
        if "serverSideEncryption" in diff:
            enabled = bool((inputs.get("serverSideEncryption") or {}).get("enabled"))
            dynamodb.update_table(TableName=old.id, SSESpecification={"Enabled": enabled})
        if "pointInTimeRecovery" in diff:
            enabled = bool((inputs.get("pointInTimeRecovery") or {}).get("enabled"))
            dynamodb.update_continuous_backups(
                TableName=old.id, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled}
            )
        return old.id, _computed(old)

    def _update_topic(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        names = {"kmsMasterKeyId": "KmsMasterKeyId", "sqsFailureFeedbackRoleArn": "SQSFailureFeedbackRoleArn"}
        for key in set(step.diff) & set(names):
            self._client("sns").set_topic_attributes(
                TopicArn=old.id, AttributeName=names[key], AttributeValue=str(args.inputs.get(key) or "")
            )
        return old.id, _computed(old)

    def _update_subscription(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        inputs = args.inputs
        values = {
            "rawMessageDelivery": ("RawMessageDelivery", "true" if inputs.get("rawMessageDelivery") else "false"),
            "redrivePolicy": ("RedrivePolicy", str(inputs.get("redrivePolicy") or "")),
        }
        for key in set(step.diff) & set(values):
            name, value = values[key]
            self._client("sns").set_subscription_attributes(
                SubscriptionArn=old.id, AttributeName=name, AttributeValue=value
            )
        return old.id, _computed(old)

    def _update_queue(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        attributes = queue_attributes(args.inputs, only=step.diff)
        if attributes:
            self._client("sqs").set_queue_attributes(QueueUrl=old.state["url"], Attributes=attributes)
        return old.id, _computed(old)

    def _update_role(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        if "assumeRolePolicy" in step.diff:
            self._client("iam").update_assume_role_policy(
                RoleName=old.id, PolicyDocument=args.inputs["assumeRolePolicy"]
            )
        return old.id, _computed(old)

    def _update_log_group(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        if "retentionInDays" in step.diff:
            logs, days = self._client("logs"), args.inputs.get("retentionInDays")
            if days:
                logs.put_retention_policy(logGroupName=old.id, retentionInDays=_int(days))
            else:
                logs.delete_retention_policy(logGroupName=old.id)
        return old.id, _computed(old)

    def _update_function(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        inputs, name, arn = args.inputs, old.id, str(old.state["arn"])
        aws_lambda = self._client("lambda")
        code_dir = self.functions[arn].code_dir
        if "code" in step.diff:
            code_dir = self.code_dir(name)
            aws_lambda.update_function_code(FunctionName=name, ZipFile=_unpack_code(inputs["code"], code_dir))
        params = self.function_configuration(inputs, name)
        if set(step.diff) - {"code"}:
            aws_lambda.update_function_configuration(**params)
        self.functions[arn] = self.function_spec(arn, inputs, params, code_dir)
        return name, self.function_outputs(name, arn)

    def _update_mapping(self, args: pulumi.runtime.MockResourceArgs, old: Declared, step: Step) -> State:
        inputs = args.inputs
        spec = mapping_spec(old.id, self._function_arn(str(inputs["functionName"])), inputs)
        params: dict[str, Any] = {
            "UUID": old.id,
            "BatchSize": spec.batch_size,
            "MaximumBatchingWindowInSeconds": spec.batching_window_seconds,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if spec.report_batch_item_failures else [],
        }
        if spec.maximum_concurrency is not None:
            params["ScalingConfig"] = {"MaximumConcurrency": spec.maximum_concurrency}
        if "enabled" in step.diff:
            params["Enabled"] = spec.enabled
        self._client("lambda").update_event_source_mapping(**params)  # sandbox/event_sources.py answers it
        self.mappings.append(spec)
        return old.id, {**_computed(old), "functionArn": spec.function_arn}

    # --- deletes

    def _clear_queue_attribute(self, old: Declared, attribute: str) -> None:
        self._client("sqs").set_queue_attributes(QueueUrl=old.id, Attributes={attribute: ""})

    def _delete_role_policy(self, old: Declared) -> None:
        role, name = old.id.split(":", 1)
        self._client("iam").delete_role_policy(RoleName=role, PolicyName=name)

    def _delete_function(self, old: Declared) -> None:
        self._client("lambda").delete_function(FunctionName=old.id)
        self.functions.pop(str(old.state["arn"]), None)


def _computed(old: Declared) -> dict[str, Any]:
    """What the provider computed for a resource (its id, ARN, URL, name), as its state holds it."""
    return {key: value for key, value in old.state.items() if key not in old.inputs}


def apply(
    tree: Path, stack: str, overrides: Mapping[str, str], deployed: Deployment, *, endpoint: Endpoint, code_root: Path
) -> tuple[Deployment, list[Applied], list[str]]:
    project = Project.load(tree)
    config = stack_config(project, stack, overrides)
    planner = Planner(stack, project.name, deployed.state, PROVIDER)
    mocks = ApplyMocks(endpoint, code_root, deployed, planner)
    run = run_program(project, stack, config, mocks)
    if mocks.refusals:
        raise DeployError("refused: " + "; ".join(mocks.refusals))
    mocks.finish()
    deployment = Deployment(
        stack=stack,
        config=dict(config),
        outputs=run.outputs,
        resources=mocks.resources,
        functions=mocks.functions,
        mappings=mocks.mappings,
        state=engine_state(run, mocks.resources),
    )
    warnings = undeliverable_subscriptions(mocks.resources) + unredrivable_subscriptions(mocks.resources)
    return deployment, mocks.applied, warnings


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.update_apply")
    parser.add_argument("tree", type=Path)
    parser.add_argument("stack")
    parser.add_argument("--config", default="{}", help="JSON object: the stack config overrides")
    parser.add_argument("--deployed", type=Path, required=True, help="the sandbox's plan state file")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--code-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    deployed_json = json.loads(args.deployed.read_text())
    deployed = deployment_from_json(deployed_json)
    endpoint = Endpoint(args.endpoint, args.region)
    overrides = json.loads(args.config)
    deployment, applied, warnings = apply(
        args.tree, args.stack, overrides, deployed, endpoint=endpoint, code_root=args.code_root
    )
    result = {
        "deployment": deployment_json(deployment, deployed_json["project"], overrides),
        "applied": [step.to_json() for step in applied],
        "warnings": warnings,
    }
    write_json(args.out, result)


if __name__ == "__main__":
    main(sys.argv[1:])
