"""Which input changes replace a resource, for the 12 types the program declares, as pulumi-aws decides it.
Pure data plus two helpers, so the offline model of `pulumi preview` (sandbox/pulumi_engine.py) can tell an
update from a replacement without the Pulumi CLI or the provider plugin.

Read on 2026-12-03. Versions:

- pulumi-aws 7.51.1 (the SDK in .venv: pulumi_aws/pulumi-plugin.json). Its provider module is
  `github.com/pulumi/pulumi-aws/provider/v7`; `provider/go.mod` replaces terraform-provider-aws with
  `../upstream` (a git submodule), so the exact upstream tag is not in any file that could be read here.
  pulumi-aws tracks upstream v6.x (PR #6392, 2026-05-22, moved it to v6.46.0 with bridge v3.130.0); the
  files below are the newest stored versions found of each (commit named per type). Their field lists match
  the 7.51.1 SDK's arguments except where a type's notes say otherwise.
- pulumi-terraform-bridge at 59de6c66 (2026-08-05, newest tag v3.136.0).

Input names are Pulumi's camelCase names as the program sends them (the SDK's `@pulumi.getter(name=...)`):
pulumi-aws renames some Terraform fields (`function_name` -> `name`, `alarm_name` -> `name`, `topic_arn`
-> `topic`, `filename` -> `code`) and pluralises list blocks (`attribute` -> `attributes`,
`local_secondary_index` -> `localSecondaryIndexes`, `source_access_configuration` ->
`sourceAccessConfigurations`).

ForceNew: a top-level Terraform attribute with `ForceNew: true` replaces the resource when it changes (the
bridge turns the plan's RequiresNew attributes into `replaces`, trimmed to the top-level property:
pkg/tfbridge/provider.go, `Diff`). A ForceNew field nested in a block also replaces when that field changes;
those are named in `notes` only, because `replaces` here works on top-level names. CustomizeDiff rules that
force new only under a condition (`customdiff.ForceNewIfChange`) are in `force_new_if`, not `force_new`.
Every regional resource also gets terraform-provider-aws v6's injected `region` argument, which
`forceNewIfRegionChanges` (internal/provider/sdkv2/region.go, wired for every non-global resource in
internal/provider/sdkv2/provider.go) forces new whenever it changes, except between unset and the provider's
own region (no real change): it is in `force_new` for the 10 regional types; IAM is global.

Delete-before-replace: pulumi-terraform-bridge pkg/tfbridge/provider.go, `(*Provider).Diff`:

    deleteBeforeReplace := len(replaces) > 0 &&
        (res.Schema.DeleteBeforeReplace || nameRequiresDeleteBeforeReplace(news, olds, schema, res.Schema))

and pkg/tfbridge/schema.go, `nameRequiresDeleteBeforeReplace` ("returns true if the given set of resource
inputs includes an autonameable property with a value that was not populated by the autonamer"): `news` are
the inputs after the provider's Check, whose `__defaults` array lists the properties Check filled in from
defaults. If `news` has no `__defaults` array the answer is false ("consider the resource autonamed",
resources created before the list existed). Otherwise, for a resource without `UniqueNameFields` (none of
the 12 has any; only pulumi-gcp uses them), it is true iff some key in `news` maps to a field whose
SchemaInfo default is `AutoNamed` and that key is not in `__defaults`, i.e. the program set the name itself.
`ResourceInfo.DeleteBeforeReplace` is false for all 12 (pulumi-aws provider/resource_overrides.go sets it
only for attachments, filters and the like). So an explicitly named resource that must be replaced is
deleted first, because its replacement could not be created under the same name while the old one exists.

Autonamed properties come from pulumi-aws provider/autonaming.go, `setAutonaming` (every resource whose
Terraform schema has an Optional or Required `name` gets `tfbridge.AutoName("name", 255, "-")` unless
resource_overrides.go already configures `name`) and provider/resource_overrides.go (`aws_iam_role`
`name` AutoName 64; `aws_lambda_function` `function_name` -> AutoName("name", 64); `aws_cloudwatch_metric_alarm`
`alarm_name` -> AutoName("name", 255); `aws_sqs_queue` and `aws_sns_topic` `name` AutoNameWithCustomOptions,
max 80, `.fifo` appended for FIFO). The bridge skips a default whose field conflicts with one the program
set (`applyDefaults`, `buildConflictsWith`), so a program that sets `namePrefix` gets no autoname and no
explicit name either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

TF_AWS: Final = "terraform-provider-aws v6.x"
DEFAULTS_KEY: Final = "__defaults"  # pulumi-terraform-bridge pkg/reservedkeys/keys.go, `Defaults`


@dataclass(frozen=True)
class ResourceSchema:
    type: str
    force_new: frozenset[str]  # camelCase input properties whose change replaces
    autoname: str | None  # the property the provider auto-names ("name"), None if none
    source: str  # "terraform-provider-aws vX internal/service/.../x.go"
    notes: str = ""  # CustomizeDiff rules, nested ForceNew, what is not modelled
    # CustomizeDiff `ForceNewIfChange` rules: property -> when its change replaces. Not part of `replaces`.
    force_new_if: Mapping[str, str] = field(default_factory=dict)


def _schema(
    type_: str,
    force_new: Iterable[str],
    autoname: str | None,
    path: str,
    commit: str,
    *,
    notes: str = "",
    force_new_if: Mapping[str, str] | None = None,
) -> ResourceSchema:
    return ResourceSchema(
        type=type_,
        force_new=frozenset(force_new),
        autoname=autoname,
        source=f"{TF_AWS} {path} ({commit})",
        notes=notes,
        force_new_if=MappingProxyType(dict(force_new_if or {})),
    )


_ALL: Final = (
    _schema(
        "aws:dynamodb/table:Table",
        {
            "name",
            "hashKey",
            "rangeKey",
            "localSecondaryIndexes",
            "restoreDateTime",
            "restoreToLatestTime",
            "region",
        },
        "name",
        "internal/service/dynamodb/table.go",
        "a 2026 version, SchemaFunc with GSI key_schema and global_table_witness; index file id 4982952849",
        notes=(
            "Nested ForceNew: every localSecondaryIndexes[] field (name, nonKeyAttributes, projectionType, "
            "rangeKey) and importTable.s3BucketSource. attributes, billingMode, globalSecondaryIndexes, "
            "streamEnabled/streamViewType, ttl, replicas, pointInTimeRecovery, serverSideEncryption, "
            "deletionProtectionEnabled, tableClass update in place. CustomizeDiff customDiffGlobalSecondaryIndex "
            "only clears no-op GSI diffs, and clears `attribute` when no GSI changes; it forces nothing. "
            "restoreBackupArn is in the 7.51.1 SDK but not in the stored table.go: not modelled. "
            "TF `name` is Required; pulumi-aws setAutonaming makes it optional and autonamed."
        ),
        force_new_if={
            "restoreSourceName": "ForceNewIfChange: old != new and new != '' (clearing it does not replace; #25214)",
            "restoreSourceTableArn": "ForceNewIfChange: old != new and new != ''",
            "warmThroughput": "ForceNewIfChange on warm_throughput.0.read_units_per_second and "
            ".write_units_per_second: new != 0 and new < old (warm throughput can only grow)",
        },
    ),
    _schema(
        "aws:sns/topic:Topic",
        {"name", "namePrefix", "fifoTopic", "region"},
        "name",
        "internal/service/sns/topic.go",
        "commit 00a35305dc1b297a6fcdecdfbba33f1e63c3da39",
        notes=(
            "resourceTopicCustomizeDiff only validates (name regex on create, FIFO-only archivePolicy, "
            "fifoThroughputScope, contentBasedDeduplication); it forces nothing. maximumMessageSize is in the "
            "7.51.1 SDK but not in the stored topic.go: not modelled (treated as an update). Autoname: "
            "AutoNameWithCustomOptions, max 80, `.fifo` suffix when fifoTopic."
        ),
    ),
    _schema(
        "aws:sns/topicSubscription:TopicSubscription",
        {"endpoint", "protocol", "topic", "region"},
        None,
        "internal/service/sns/topic_subscription.go",
        "commit 04a2e6e5bc625ec85ea8c678219b483fc674877e",
        notes=(
            "TF topic_arn is Pulumi `topic`. rawMessageDelivery, filterPolicy(Scope), redrivePolicy, "
            "deliveryPolicy, replayPolicy, subscriptionRoleArn update in place (SetSubscriptionAttributes). "
            "The stored version is pre-v6 (no region argument in the file; region comes from the v6 provider "
            "wrapper)."
        ),
    ),
    _schema(
        "aws:sqs/queue:Queue",
        {"name", "namePrefix", "fifoQueue", "region"},
        "name",
        "internal/service/sqs/queue.go",
        "commit 00a35305dc1b297a6fcdecdfbba33f1e63c3da39",
        notes=(
            "Every other attribute is a queue attribute set by SetQueueAttributes on update. "
            "resourceQueueCustomizeDiff validates the name on create, clears kmsDataKeyReusePeriodSeconds for "
            "SQS-managed SSE, and refuses contentBasedDeduplication on a standard queue; it forces nothing. "
            "Autoname: AutoNameWithCustomOptions, max 80, `.fifo` suffix when fifoQueue."
        ),
    ),
    _schema(
        "aws:sqs/queuePolicy:QueuePolicy",
        {"queueUrl", "region"},
        None,
        "internal/service/sqs/queue_policy.go",
        "commit 0148137dc6fb802b97b74036846777ab15c0f9ad",
        notes=(
            "policy updates in place (SetQueueAttributes Policy). Newer versions build this resource on the "
            "shared queueAttributeHandler (as queue_redrive_allow_policy.go does) with the same schema: "
            "queue_url ForceNew, policy updatable. The stored version read is the old aws-sdk-go v1 one."
        ),
    ),
    _schema(
        "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
        {"queueUrl", "region"},
        None,
        "internal/service/sqs/queue_redrive_allow_policy.go",
        "commit 0389eecfc28a5e2ac619651541a16d7fc289abf6",
        notes="Built on the shared queueAttributeHandler (Upsert on create and update); redriveAllowPolicy updates.",
    ),
    _schema(
        "aws:iam/role:Role",
        {"name", "namePrefix", "path"},
        "name",
        "internal/service/iam/role.go",
        "commit 0040ea6911af00bea2cca6dbb14e86829826ad8e",
        notes=(
            "IAM is global: no region argument. assumeRolePolicy, description, maxSessionDuration, "
            "permissionsBoundary, inlinePolicies, managedPolicyArns, tags update in place. Autoname: "
            "AutoName('name', 64, '-'). The stored version is older than v6; ForceNew there is unchanged "
            "since v3."
        ),
    ),
    _schema(
        "aws:iam/rolePolicy:RolePolicy",
        {"name", "namePrefix", "role"},
        "name",
        "internal/service/iam/role_policy.go",
        "commit 02f97af85f89a04e8ed89f5e8b64a9a67f3cfe07",
        notes="IAM is global: no region argument. policy updates in place (PutRolePolicy). Autoname: setAutonaming.",
    ),
    _schema(
        "aws:cloudwatch/logGroup:LogGroup",
        {"name", "namePrefix", "logGroupClass", "region"},
        "name",
        "internal/service/logs/group.go",
        "commit 0073593e7d6993ba482409f4dc35438daaa79bb3",
        notes=(
            "retentionInDays and kmsKeyId update in place; skipDestroy is state-only. deletionProtectionEnabled "
            "is in the 7.51.1 SDK but not in the stored group.go: not modelled (treated as an update)."
        ),
    ),
    _schema(
        "aws:lambda/function:Function",
        {"name", "packageType", "tenancyConfig", "region"},
        "name",
        "internal/service/lambda/function.go",
        "commit 0156d84e6bb47e4a5fe0c8e87cf2d14fb1dc3b8c",
        notes=(
            "TF function_name is Pulumi `name` (AutoName 64); TF filename is Pulumi `code`. memorySize, timeout, "
            "handler, runtime, role, environment, code/s3*/imageUri, architectures, layers, vpcConfig etc. update "
            "in place (UpdateFunctionConfiguration / UpdateFunctionCode). CustomizeDiff also runs "
            "checkHandlerRuntimeForZipFunction (validation) and updateComputedAttributesOnPublish (marks "
            "version/qualifiedArn computed); neither forces new."
        ),
        force_new_if={
            "durableConfig": "ForceNewIfChange: the block is added (0 -> 1) or removed (1 -> 0); editing "
            "executionTimeout or retentionPeriod of an existing block updates in place",
        },
    ),
    _schema(
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        {
            "eventSourceArn",
            "startingPosition",
            "startingPositionTimestamp",
            "queues",
            "topics",
            "selfManagedEventSource",
            "selfManagedKafkaEventSourceConfig",
            "amazonManagedKafkaEventSourceConfig",
            "region",
        },
        None,
        "internal/service/lambda/event_source_mapping.go",
        "commit 0603f3b6edfc8e5a5dec9f7b9486c6b160740ade",
        notes=(
            "functionName, batchSize, enabled, maximumBatchingWindowInSeconds, scalingConfig, filterCriteria, "
            "functionResponseTypes, destinationConfig etc. update in place (UpdateEventSourceMapping). Nested "
            "ForceNew: selfManagedEventSource.endpoints, *KafkaEventSourceConfig.consumerGroupId. CustomizeDiff is "
            "only SetTagsDiff. metricsConfig and provisionedPollerConfig are in the 7.51.1 SDK but not in the "
            "stored file: not modelled (treated as updates)."
        ),
    ),
    _schema(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {"name", "region"},
        "name",
        "internal/service/cloudwatch/metric_alarm.go",
        "commit 055611a654738da73e7b1e2b5d2b7672c6d4d531",
        notes=(
            "TF alarm_name is Pulumi `name` (AutoName 255). Everything else goes through PutMetricAlarm on update. "
            "CustomizeDiff only validates statistic/extendedStatistic and metricQueries. evaluationCriteria, "
            "evaluationInterval, evaluationWindow, warmUpConfiguration are in the 7.51.1 SDK but not in the stored "
            "file: not modelled (treated as updates)."
        ),
    ),
)

SCHEMAS: Final[Mapping[str, ResourceSchema]] = MappingProxyType({s.type: s for s in _ALL})


def replaces(type_: str, changed: Iterable[str]) -> list[str]:
    """The changed top-level properties that force a replacement (unconditional ForceNew only), sorted."""
    schema = SCHEMAS[type_]
    return sorted({name for name in changed if name in schema.force_new})


def _explicit_after_check(news: Mapping[str, Any], autoname: str) -> bool:
    """`nameRequiresDeleteBeforeReplace` on inputs that went through the bridge's Check (`__defaults` present)."""
    defaults = news[DEFAULTS_KEY]
    if not isinstance(defaults, list | tuple):
        return False  # `!defaults.IsArray()`: treated as autonamed
    defaulted = {key for key in defaults if isinstance(key, str)}
    return autoname in news and autoname not in defaulted


def delete_before_replace(type_: str, news: Mapping[str, Any]) -> bool:
    """Whether the bridge sets DeleteBeforeReplace on a Diff of this type that has replacements.

    `news` are the resource's inputs. With a `__defaults` key they are taken as checked inputs and the bridge
    rule is applied as written. Without it they are taken as the program's own inputs (what mocks see, before
    any Check) and Check is simulated: it fills the autonamed property, and lists it in `__defaults`, only when
    the program left it unset, so the rule reduces to "the program set the autonamed property itself".
    """
    schema = SCHEMAS[type_]
    if schema.autoname is None:
        return False
    if DEFAULTS_KEY in news:
        return _explicit_after_check(news, schema.autoname)
    return news.get(schema.autoname) is not None
