"""Stack configuration, read once and checked against AWS's rules before any resource is declared.

Defaults live in `Pulumi.yaml` (the Pulumi CLI applies them), so this module only parses and
validates. Every error names the key, the value, the allowed range and the reason, and all errors
are reported at once so one `pulumi preview` shows everything that is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi

PROJECT = "order-pipeline"

# CloudWatch Logs accepts only these retention periods (days); "never expire" is not offered.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
# Level names both Powertools (Python logging) and Lambda's JSON log level filter understand.
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    reason: str

    def describe(self) -> str:
        return f"{self.low}..{self.high}"


INT_RANGES: dict[str, IntRange] = {
    "maxReceiveCount": IntRange(1, 1000, "SQS accepts a redrive policy maxReceiveCount of 1 to 1000"),
    "batchSize": IntRange(
        1, 10000, "an SQS event source mapping reads at most 10000 records per batch from a standard queue"
    ),
    "batchingWindowSeconds": IntRange(0, 300, "Lambda gathers a batch for at most 300 seconds"),
    "maximumConcurrency": IntRange(
        2, 1000, "an SQS event source mapping's ScalingConfig.MaximumConcurrency accepts 2 to 1000"
    ),
    "functionTimeoutSeconds": IntRange(1, 900, "a Lambda function runs for at most 900 seconds"),
    "functionMemoryMb": IntRange(128, 10240, "Lambda functions get 128 to 10240 MB of memory"),
    "visibilityTimeoutSeconds": IntRange(0, 43200, "SQS visibility timeouts are at most 12 hours"),
    "logRetentionDays": IntRange(1, 3653, "CloudWatch Logs retention periods run from 1 day to 10 years"),
    "backlogAgeAlarmSeconds": IntRange(
        0,
        345600,
        "the order queue keeps a message for SQS's default retention of 4 days, so no order is ever older",
    ),
    "tableWarmWriteUnits": IntRange(
        0,
        40000,
        "0 leaves the table's warm throughput to DynamoDB (a new on-demand table: 4,000 write units/s); a set "
        "value must be at least 4000 (DynamoDB's minimum) and at most 40000, the default table-level write "
        "quota (Service Quotas L-AB614373), which must be raised before a higher value",
    ),
}
# DynamoDB: warm throughput of a base table starts at 4,000 write units/s and can only grow (pulumi-aws
# TableWarmThroughputArgs, "Minimum value of 4000 (default)"; DynamoDB developer guide, "Understanding DynamoDB
# warm throughput", read 2026-12-03). 0 means unset.
WARM_WRITE_UNITS_MINIMUM = 4000

# visibilityTimeoutSeconds = 0 (Pulumi.yaml's default) means "derive it": 6 x timeout + window. The CLI
# requires a value for every typed key without a default, so "unset" cannot be the signal.
DERIVE_VISIBILITY = 0
DERIVE_BACKLOG_AGE = 0  # backlogAgeAlarmSeconds: 0 derives it (backlog_age_threshold)

# SQS's ApproximateAgeOfOldestMessage skips a message once it has been received three times ("Available
# CloudWatch metrics for Amazon SQS"), so a retried order counts towards the age for at most 3 receives.
AGE_METRIC_RECEIVES = 3
# Lambda: "The function name can contain only letters, numbers, hyphens, or underscores, with no spaces",
# at most 64 characters (Lambda API reference, CreateFunction, FunctionName).
FUNCTION_NAME_MAX = 64
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class ConfigError(pulumi.RunError):
    """Stack config AWS would reject. A RunError so `pulumi preview` prints the message, not a traceback.

    The message is a header line, then one problem per line, each indented by two spaces; `problems`
    holds the same lines (tools outside the program, such as `orderctl preflight`, read either)."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        super().__init__(f"invalid stack config for '{stack}':\n  " + "\n  ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class PipelineConfig:
    project: str
    stack: str
    max_receive_count: int
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int
    function_timeout_seconds: int
    function_memory_mb: int
    visibility_timeout_seconds: int
    log_retention_days: int
    log_level: str
    point_in_time_recovery: bool
    deletion_protection: bool
    topic_kms_key_id: str
    raw_message_delivery: bool
    alarm_emails: tuple[str, ...]
    backlog_age_alarm_seconds: int
    table_warm_write_units: int = 0
    # Legal but unwise settings; reported by `load_config` as Pulumi warnings.
    warnings: tuple[str, ...] = ()

    @property
    def recommended_visibility_timeout_seconds(self) -> int:
        return recommended_visibility_timeout(self.function_timeout_seconds, self.batching_window_seconds)

    @property
    def data_protection(self) -> bool:
        """`deletionProtection` protects all of the stack's data: the table, the order queue and both DLQs."""
        return self.deletion_protection

    @property
    def function_name(self) -> str:
        return function_name(self.project, self.stack)


def function_name(project: str, stack: str) -> str:
    """The processor's physical name: unique per project and stack in one account and region."""
    return f"{project}-{stack}-processor"


def backlog_age_threshold(
    visibility_timeout: int, function_timeout: int, batching_window: int, max_receive_count: int
) -> int:
    """The oldest age a healthy pipeline's message reaches while the metric still counts it: an order
    failing on each receive is received again one visibility timeout after the last, and counts for
    at most AGE_METRIC_RECEIVES receives. Older than this, nothing is consuming the queue."""
    receives = min(max_receive_count, AGE_METRIC_RECEIVES)
    return (receives - 1) * visibility_timeout + receives * batching_window + function_timeout


def recommended_visibility_timeout(function_timeout: int, batching_window: int) -> int:
    """AWS's guidance for a queue feeding Lambda: 6 x function timeout + batching window."""
    return 6 * function_timeout + batching_window


class _Reader:
    """Parses raw config strings, collecting every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self._raw = raw
        self.errors: list[str] = []

    def fail(self, key: str, value: object, allowed: str, reason: str) -> None:
        self.errors.append(f"{PROJECT}:{key} = {value!r} is invalid: allowed {allowed}; {reason}.")

    def _get(self, key: str, kind: str, parse: Callable[[str], object]) -> object:
        text = self._raw.get(key)
        if text is None:
            self.errors.append(
                f"{PROJECT}:{key} is not set: Pulumi.yaml declares its default, which the Pulumi CLI applies; "
                f"set it with `pulumi config set {key} <value>`."
            )
            return None
        try:
            return parse(text)
        except ValueError:
            self.fail(key, text, kind, "the value does not parse as one")
            return None

    def integer(self, key: str) -> int:
        value = self._get(key, "an integer", _parse_int)
        if value is None:
            return 0
        assert isinstance(value, int)
        rule = INT_RANGES[key]
        if not rule.low <= value <= rule.high:
            self.fail(key, value, rule.describe(), rule.reason)
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key, "true or false", _parse_bool)
        return bool(value)

    def choice(self, key: str, allowed: tuple[str, ...], reason: str) -> str:
        value = self._get(key, "a string", str)
        if value is None:
            return ""
        if value not in allowed:
            self.fail(key, value, "one of " + ", ".join(allowed), reason)
        return str(value)

    def text(self, key: str, reason: str) -> str:
        value = self._get(key, "a string", str)
        if value is not None and not str(value).strip():
            self.fail(key, value, "a non-empty string", reason)
        return str(value or "")

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key, "a JSON list of strings", _parse_string_list)
        return tuple(value) if isinstance(value, list) else ()


def _parse_int(text: str) -> int:
    value = json.loads(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(text)
    return value


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


def _parse_string_list(text: str) -> list[str]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(text)
    return value


def _warm_write_units(read: _Reader) -> int:
    """tableWarmWriteUnits: 0 (unset), or DynamoDB's minimum warm throughput up to the range's top."""
    value = read.integer("tableWarmWriteUnits")
    if 0 < value < WARM_WRITE_UNITS_MINIMUM:
        read.fail(
            "tableWarmWriteUnits",
            value,
            f"0 (unset) or {WARM_WRITE_UNITS_MINIMUM}..{INT_RANGES['tableWarmWriteUnits'].high}",
            "DynamoDB's warm throughput for a table is at least 4000 write units/s, what a new on-demand table has",
        )
    return value


def parse_config(raw: Mapping[str, str], stack: str, project: str = PROJECT) -> PipelineConfig:
    """Builds the config from raw Pulumi config strings, or raises ConfigError listing every problem."""
    read = _Reader(raw)
    max_receive_count = read.integer("maxReceiveCount")
    batch_size = read.integer("batchSize")
    window = read.integer("batchingWindowSeconds")
    concurrency = read.integer("maximumConcurrency")
    timeout = read.integer("functionTimeoutSeconds")
    memory = read.integer("functionMemoryMb")
    explicit_visibility = read.integer("visibilityTimeoutSeconds")
    retention = read.integer("logRetentionDays")
    log_level = read.choice("logLevel", LOG_LEVELS, "both Lambda's log level filter and Powertools accept these")
    topic_key = read.text("topicKmsKeyId", "the order topic must be encrypted (alias/aws/sns or a customer key)")
    emails = read.string_list("alarmEmails")
    point_in_time_recovery = read.boolean("pointInTimeRecovery")
    deletion_protection = read.boolean("deletionProtection")
    raw_message_delivery = read.boolean("rawMessageDelivery")
    explicit_backlog_age = read.integer("backlogAgeAlarmSeconds")
    warm_write_units = _warm_write_units(read)
    warnings: list[str] = []

    name = function_name(project, stack)
    if len(name) > FUNCTION_NAME_MAX or not _FUNCTION_NAME.match(name):
        room = FUNCTION_NAME_MAX - len(function_name(project, ""))
        read.errors.append(
            f"stack name {stack!r} with project {project!r} is invalid: allowed at most {room} characters of "
            f"letters, digits, hyphens and underscores; the function is named {name!r} ({len(name)} characters) "
            f"and Lambda accepts function names of at most {FUNCTION_NAME_MAX} such characters."
        )

    if retention and retention not in LOG_RETENTION_DAYS:
        read.fail(
            "logRetentionDays",
            retention,
            "one of " + ", ".join(map(str, LOG_RETENTION_DAYS)),
            "CloudWatch Logs accepts only these retention periods",
        )
    if batch_size > 10 and window < 1:
        read.fail(
            "batchingWindowSeconds",
            window,
            f"1..300 when batchSize ({batch_size}) is above 10",
            "Lambda rejects a batch size above 10 without a batching window of at least 1 second",
        )
    for email in emails:
        if not _EMAIL.match(email):
            read.fail("alarmEmails", email, "e-mail addresses", "each entry becomes an SNS e-mail subscription")

    recommended = recommended_visibility_timeout(timeout, window)
    if explicit_visibility == DERIVE_VISIBILITY:
        visibility = recommended
    else:
        visibility = explicit_visibility
        minimum = timeout + window
        if visibility < minimum:
            read.fail(
                "visibilityTimeoutSeconds",
                visibility,
                f"at least {minimum} (functionTimeoutSeconds {timeout} + batchingWindowSeconds {window})",
                "AWS rejects the event source mapping, and a message still being processed would be delivered again",
            )
        elif visibility < recommended:
            warnings.append(
                f"{PROJECT}:visibilityTimeoutSeconds = {visibility} is below AWS's recommended {recommended} "
                f"(6 x functionTimeoutSeconds + batchingWindowSeconds): throttled retries may reach the DLQ early."
            )

    derived_backlog_age = backlog_age_threshold(visibility, timeout, window, max_receive_count)
    backlog_age = derived_backlog_age if explicit_backlog_age == DERIVE_BACKLOG_AGE else explicit_backlog_age
    if backlog_age < derived_backlog_age:
        warnings.append(
            f"{PROJECT}:backlogAgeAlarmSeconds = {explicit_backlog_age} is below {derived_backlog_age}, the age an "
            f"order being retried reaches on a healthy pipeline: the backlog alarm will fire for one failing order."
        )
    if deletion_protection and not emails:
        warnings.append(
            f"{PROJECT}:alarmEmails is empty on a protected stack: its alarms (DLQ depth, backlog age, processor "
            f"errors) change state and notify nobody, so a stalled or failing pipeline goes unseen; add a "
            f"subscriber with `pulumi config set --path 'alarmEmails[0]' ops@example.com`."
        )

    if read.errors:
        raise ConfigError(stack, read.errors)
    return PipelineConfig(
        project=project,
        stack=stack,
        max_receive_count=max_receive_count,
        batch_size=batch_size,
        batching_window_seconds=window,
        maximum_concurrency=concurrency,
        function_timeout_seconds=timeout,
        function_memory_mb=memory,
        visibility_timeout_seconds=visibility,
        log_retention_days=retention,
        log_level=log_level,
        point_in_time_recovery=point_in_time_recovery,
        deletion_protection=deletion_protection,
        topic_kms_key_id=topic_key,
        raw_message_delivery=raw_message_delivery,
        alarm_emails=emails,
        backlog_age_alarm_seconds=backlog_age,
        table_warm_write_units=warm_write_units,
        warnings=tuple(warnings),
    )


CONFIG_KEYS = (
    "maxReceiveCount",
    "batchSize",
    "batchingWindowSeconds",
    "maximumConcurrency",
    "functionTimeoutSeconds",
    "functionMemoryMb",
    "visibilityTimeoutSeconds",
    "logRetentionDays",
    "logLevel",
    "pointInTimeRecovery",
    "deletionProtection",
    "topicKmsKeyId",
    "rawMessageDelivery",
    "alarmEmails",
    "backlogAgeAlarmSeconds",
    "tableWarmWriteUnits",
)


def load_config() -> PipelineConfig:
    """Reads this stack's config once; the one place the program touches `pulumi.Config`."""
    source = pulumi.Config()
    raw = {key: value for key in CONFIG_KEYS if (value := source.get(key)) is not None}
    config = parse_config(raw, pulumi.get_stack(), pulumi.get_project())
    for warning in config.warnings:
        pulumi.log.warn(warning)
    return config
