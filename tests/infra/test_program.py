"""The program as a whole: every stack builds, outputs, components, names and the code archive."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pulumi
import pytest
from packaging.requirements import Requirement

from contract import outputs
from contract import resource_types as types
from sandbox.program import run_program, stack_config
from tests.infra.conftest import PROJECT, PROJECT_DIR, MockedStack, deploy
from tests.infra.mocks import AwsMocks

OUTPUT_SOURCES = {
    outputs.TABLE_NAME: (types.TABLE, "", "name"),
    outputs.TABLE_ARN: (types.TABLE, "", "arn"),
    outputs.TOPIC_ARN: (types.TOPIC, "-topic", "arn"),
    outputs.QUEUE_URL: (types.QUEUE, "-queue", "url"),
    outputs.QUEUE_ARN: (types.QUEUE, "-queue", "arn"),
    outputs.DEAD_LETTER_QUEUE_URL: (types.QUEUE, "orders-dlq", "url"),
    outputs.DEAD_LETTER_QUEUE_ARN: (types.QUEUE, "orders-dlq", "arn"),
    outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_URL: (types.QUEUE, "-subscription-dlq", "url"),
    outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_ARN: (types.QUEUE, "-subscription-dlq", "arn"),
    outputs.FUNCTION_NAME: (types.FUNCTION, "", "name"),
    outputs.FUNCTION_ARN: (types.FUNCTION, "", "arn"),
    outputs.LOG_GROUP_NAME: (types.LOG_GROUP, "", "name"),
    outputs.ALARM_TOPIC_ARN: (types.TOPIC, "-alarms", "arn"),
}


@pytest.mark.parametrize("stack", PROJECT.stacks())
def test_every_stack_file_builds_with_every_output(stack: str) -> None:
    deployment = deploy(stack)
    assert set(deployment.run.outputs) == set(OUTPUT_SOURCES) == set(outputs.ALL)
    for output, (type_, suffix, attribute) in OUTPUT_SOURCES.items():
        assert deployment.run.outputs[output] == deployment.one(type_, suffix).state[attribute], output


def test_order_pipeline_registers_every_stack_output(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: dict[str, set[str]] = {}
    original = pulumi.ComponentResource.register_outputs

    def spy(self: pulumi.ComponentResource, values: dict[str, object]) -> None:
        registered[self.pulumi_resource_name] = set(values)
        original(self, values)

    monkeypatch.setattr(pulumi.ComponentResource, "register_outputs", spy)
    deploy("dev")
    assert registered["orders"] == set(outputs.ALL)


def test_the_project_has_a_dev_and_a_prod_stack() -> None:
    assert {"dev", "prod"} <= set(PROJECT.stacks())


def test_prod_differs_from_dev_where_it_should(dev: MockedStack, prod: MockedStack) -> None:
    assert dev.one(types.TABLE).inputs["deletionProtectionEnabled"] is False
    assert prod.one(types.TABLE).inputs["deletionProtectionEnabled"] is True
    assert prod.one(types.LOG_GROUP).inputs["retentionInDays"] == 90


def test_physical_names_are_unique_per_stack_so_stacks_share_an_account(dev: MockedStack, prod: MockedStack) -> None:
    def names(deployment: MockedStack) -> set[str]:
        return {r.state["name"] for r in deployment.mocks.resources if "name" in r.state and r.type.startswith("aws:")}

    assert names(dev).isdisjoint(names(prod))
    # Only the function and its log group are named explicitly; they carry project and stack.
    explicit = {r.inputs["name"] for r in dev.mocks.resources if "name" in r.inputs}
    assert explicit == {"order-pipeline-dev-processor", "/aws/lambda/order-pipeline-dev-processor"}


def test_no_logical_name_depends_on_the_stack_name() -> None:
    # Two stack names, the same logical names: `pulumi stack rename` or a new stack changes no URN
    # past its stack part.
    config = stack_config(PROJECT, "dev")

    def logical(stack: str) -> list[str]:
        return sorted(urn.split("::", 2)[2] for urn in run_program(PROJECT, stack, config, AwsMocks()).urns)

    assert logical("dev") == logical("a-much-longer-stack-name")


def test_every_resource_belongs_to_a_component_of_the_pipeline(dev: MockedStack) -> None:
    component_types = {r.type for r in dev.mocks.resources if r.type.startswith("orders:index:")}
    assert component_types == {
        "orders:index:OrderPipeline",
        "orders:index:OrdersTable",
        "orders:index:OrderTopic",
        "orders:index:OrderQueues",
        "orders:index:TopicQueueSubscription",
        "orders:index:OrderProcessor",
        "orders:index:QueueEventSource",
        "orders:index:PipelineAlarms",
    }
    # A URN's type part is "<parent type>$<type>": AWS resources sit under a concern's component,
    # and every concern's component under the pipeline.
    for urn in dev.run.urns:
        *_, parent, own = ("pulumi:pulumi:Stack$" + urn.split("::")[2]).split("$")
        if own.startswith("aws:"):
            assert parent.startswith("orders:index:"), urn
            assert parent != "orders:index:OrderPipeline", urn
        elif own != "orders:index:OrderPipeline":
            assert parent == "orders:index:OrderPipeline", urn


def _archive(deployment: MockedStack) -> dict[str, pulumi.Asset | pulumi.Archive]:
    code = deployment.one(types.FUNCTION).inputs["code"]
    assert isinstance(code, pulumi.AssetArchive)
    return code.assets


def test_code_archive_holds_the_handler_package_and_nothing_of_tests_or_infra(dev: MockedStack) -> None:
    archive = _archive(dev)
    handler_files = {
        path.relative_to(PROJECT_DIR).as_posix()
        for path in (PROJECT_DIR / "handler").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert {"handler/__init__.py", "handler/app.py"} <= handler_files
    assert handler_files <= set(archive)
    top_level = {name.split("/")[0] for name in archive}
    assert top_level.isdisjoint({"tests", "infra", "sandbox", "orderctl", "__main__.py", "Pulumi.yaml"})
    assert not [name for name in archive if "__pycache__" in name or name.endswith((".pyc", ".so"))]
    for name in handler_files:
        asset = archive[name]
        assert isinstance(asset, pulumi.FileAsset)
        assert Path(asset.path).read_bytes() == (PROJECT_DIR / name).read_bytes()


def _pinned(requirement_name: str) -> str:
    for line in (PROJECT_DIR / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith(("#", "-")):
            requirement = Requirement(line)
            if requirement.name == requirement_name:
                return next(iter(requirement.specifier)).version
    raise AssertionError(f"{requirement_name} is not pinned in requirements.txt")


def test_code_archive_packages_exactly_the_pinned_powertools(dev: MockedStack) -> None:
    archive = _archive(dev)
    version_file = archive["aws_lambda_powertools/shared/version.py"]
    assert isinstance(version_file, pulumi.FileAsset)
    packaged = re.search(r'VERSION = "([^"]+)"', Path(version_file.path).read_text())
    assert packaged is not None
    assert packaged.group(1) == _pinned("aws-lambda-powertools") == importlib.metadata.version("aws-lambda-powertools")
    assert "fastjsonschema/__init__.py" in archive
    assert "typing_extensions.py" in archive


def test_powertools_dependencies_are_packaged_or_in_the_lambda_runtime(dev: MockedStack) -> None:
    archive = _archive(dev)
    runtime_provided = {"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six"}
    for line in importlib.metadata.requires("aws-lambda-powertools") or []:
        requirement = Requirement(line)
        if requirement.marker is not None:  # an extra we do not use
            continue
        module = requirement.name.replace("-", "_")
        packaged = any(name.split("/")[0] in (module, f"{module}.py") for name in archive)
        assert packaged or requirement.name in runtime_provided, requirement.name
