"""The policy pack as the Pulumi engine drives it: pulumi-policy's own analyzer servicer, fed protobuf requests.

`pulumi preview` / `pulumi up` start the pack as a plugin and call its gRPC `Analyze` (once per resource, on the
resource's inputs) and `AnalyzeStack` (once, on every resource's state). The servicer wraps each resource's
properties in `unknown_checking_proxy`; a policy that reads a value the engine sent as unknown raises
`UnknownValueError`, which the servicer turns into an ADVISORY diagnostic "can't run policy ... during preview"
instead of a violation (pulumi_policy/policy.py, `Analyze` and `AnalyzeStack`). So on a first preview a rule
that needs an ARN, a URL or a generated name does not run at all.

`FirstPreviewMocks` runs the real program the way a first `pulumi preview` of a new stack sees it: nothing
exists yet, so every output the provider computes (ARN, URL, id, generated name, ...) is unknown, and so is
every input built from one (a policy document holding an ARN, a queue URL, a function name). The engine
sends an unknown to the analyzer as the string `UNKNOWN_STRING_VALUE` (pulumi's `plugin.UnknownStringValue`),
which is what these mocks record.

Each resource also carries its options as the program registered them (`ProgramRun.goals`, keyed by URN):
`protect` reaches the analyzer in `AnalyzerResourceOptions`, as the engine sends it. `retainOnDelete` does
not: the analyzer protocol has no field for it, so the pack never sees it (docs/policy.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.deserialize import serialize_properties
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policypack.policies import PACK_NAME, POLICIES
from policypack.rules import Resource
from sandbox.program import run_program, stack_config
from tests.infra.conftest import PROJECT, MockedStack
from tests.infra.mocks import AwsMocks, Recorded, physical_name


def as_policy_sees(deployment: MockedStack, recorded: Recorded, props: Any) -> Resource:
    """A recorded AWS resource with `props` and the options the program registered it with."""
    urn = deployment.urn_of(recorded)
    goal = deployment.run.goals[urn]
    return Resource(
        recorded.type, recorded.name, urn, props, protect=goal.protect, retain_on_delete=goal.retain_on_delete
    )


def _as_engine_sends(value: Any) -> Any:
    """The SDK's `Unknown` inputs as the engine hands them to an analyzer: the unknown-string sentinel."""
    if isinstance(value, Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {key: _as_engine_sends(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_engine_sends(item) for item in value]
    return value


def declared(deployment: MockedStack) -> list[Resource]:
    """The stack's AWS resources as the policy engine sees them after an update: inputs and outputs, and the
    options the program gave each (`protect`, and `retainOnDelete`, which the engine itself never reports)."""
    return [
        as_policy_sees(deployment, r, copy.deepcopy(r.state))
        for r in deployment.mocks.resources
        if r.type.startswith("aws:")
    ]


class FirstPreviewMocks(AwsMocks):
    """A provider's preview of a create: it returns the inputs, and every output it would compute is unknown."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if not args.custom:
            return super().new_resource(args)
        _, computed = self.builders[args.typ](args, physical_name(args))
        inputs = _as_engine_sends(dict(args.inputs))
        state = {**inputs, **{key: UNKNOWN_STRING_VALUE for key in computed if key not in inputs}}
        self.resources.append(Recorded(args.typ, args.name, inputs, state, ""))
        return "", state  # an empty id: unknown during a preview


def first_preview(stack: str, **overrides: str) -> list[Resource]:
    """The stack's AWS resources as a first `pulumi preview` of a new stack sends them to the policy pack
    (`--config key=value` style overrides)."""
    mocks = FirstPreviewMocks(region="us-east-1")
    run = run_program(PROJECT, stack, stack_config(PROJECT, stack, overrides), mocks, preview=True)
    deployment = MockedStack(stack, mocks, run)
    return [as_policy_sees(deployment, r, r.state) for r in mocks.resources if r.type.startswith("aws:")]


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    level: str  # "advisory" or "mandatory"
    message: str


def _servicer() -> Any:  # pulumi_policy's servicer is untyped: its Analyze methods would be untyped calls
    servicer: _PolicyAnalyzerServicer = _PolicyAnalyzerServicer(
        PACK_NAME, "0.0.1", list(POLICIES), EnforcementLevel.MANDATORY
    )
    return servicer


def _struct(props: Any) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(serialize_properties({k: v for k, v in props.items() if k != "code"}))  # the archive: unread
    return struct


def _diagnostics(response: Any) -> list[Diagnostic]:
    levels = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory"}
    return [Diagnostic(d.policyName, levels[d.enforcementLevel], d.message) for d in response.diagnostics]


def _options(resource: Resource) -> proto.AnalyzerResourceOptions:
    """The options the engine sends with a resource: `protect` is one; `retainOnDelete` has no field."""
    return proto.AnalyzerResourceOptions(protect=resource.protect)


def analyze(resources: list[Resource]) -> list[Diagnostic]:
    """Every diagnostic the pack returns for the stack: `Analyze` per resource, then `AnalyzeStack`.

    The engine gives `Analyze` a resource's inputs and `AnalyzeStack` its state (inputs and outputs); both get the
    state here, which holds the inputs under the same names: the resource rules read input properties only."""
    servicer = _servicer()
    found: list[Diagnostic] = []
    for r in resources:
        request = proto.AnalyzeRequest(
            type=r.type, properties=_struct(r.props), urn=r.urn, name=r.name, options=_options(r)
        )
        found += _diagnostics(servicer.Analyze(request, None))
    stack = [
        proto.AnalyzerResource(type=r.type, properties=_struct(r.props), urn=r.urn, name=r.name, options=_options(r))
        for r in resources
    ]
    found += _diagnostics(servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=stack), None))
    return found
