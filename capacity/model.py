"""The capacity model of one stack: every rule AWS publishes that bounds how many orders a second it carries,
each with its source and the date it was read, and the measured service time of our function.

Rules (read 2026-12-03 through the documentation search; re-check each against its page before relying on it):

- SQS event source mapping scaling (Lambda developer guide, "Configuring scaling behavior for SQS event source
  mappings", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html): for a standard queue Lambda
  starts with five concurrent batches, adds up to 300 concurrent invokes a minute while messages remain, and one
  mapping processes at most 1,250 invokes at once (the page's older text said 1,000; both versions were found,
  the newer one is used). `MaximumConcurrency` caps one mapping at 2..1000 (AWS::Lambda::EventSourceMapping
  ScalingConfig, CloudFormation user guide); a higher cap needs a quota ticket. When traffic is low Lambda scales
  back to five (or two) concurrent batches.
- Lambda account concurrency (Lambda developer guide, "Lambda quotas",
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): 1,000 concurrent executions per
  Region by default, increasable to tens of thousands; new accounts may have less.
- Lambda function scaling (Lambda developer guide, "Lambda scaling behavior",
  https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html): each function adds at most 1,000 execution
  environments every 10 seconds; an invocation beyond the concurrency available is throttled (429).
- DynamoDB on-demand (DynamoDB developer guide, "DynamoDB on-demand capacity mode" and "Pre-warming a table for
  on-demand capacity mode", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html):
  a new on-demand table sustains up to 4,000 writes/s (12,000 reads/s); a table serves up to double its previous
  peak at once, and throttling can occur above twice the previous peak within the same 30 minutes; the default
  table-level quota is 40,000 write request units/s (increasable). One write request unit writes an item of up
  to 1 KB; larger items take one unit per started KB.
- DynamoDB partitions (AWS re:Post knowledge center "on-demand-table-throttling-dynamodb"; DynamoDB developer
  guide "Understanding DynamoDB warm throughput in different scenarios"): each partition serves up to 1,000 write
  units/s and 3,000 read units/s. Our key, orderId, is unique per order, so writes spread over every partition;
  the table-level figures bind first.
- DynamoDB warm throughput (DynamoDB developer guide, "Understanding DynamoDB warm throughput",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html; pulumi-aws
  `TableWarmThroughputArgs`): what a table serves instantly; a new on-demand table starts at 4,000 write
  units/s, it can be raised before a peak (`tableWarmWriteUnits`), never lowered, minimum 4,000.
- SNS publish quota (AWS General Reference, "Amazon Simple Notification Service endpoints and quotas",
  https://docs.aws.amazon.com/general/latest/gr/sns.html): Publish to standard topics, per account and Region:
  30,000 messages/s in us-east-1, 9,000 in us-west-2 and eu-west-1, 1,500 elsewhere. The search returned the
  page's endpoint table, not its quota table: these figures are the ones the issue gives and commonly quoted;
  check the quota in the Service Quotas console for the account.
- SQS (SQS developer guide, "Amazon SQS standard queue quotas" and "Amazon SQS message quotas",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html): a standard queue
  supports a nearly unlimited number of API calls per second per action and an unlimited backlog; about 120,000
  messages may be in flight (received, not deleted) at once.
- DynamoDB latency (the on-demand page above): on-demand tables "deliver the same single-digit millisecond
  latency" as provisioned ones. The service times are measured against a 10 ms round trip per request: the top of
  that range plus the in-Region network (bench/handler_bench.py's convention).

The function's service time per batch is measured (capacity/service_times.json, written by
`python -m bench.service_times`): our handler in a fresh interpreter under a cgroup CPU quota of memory / 1,769 of
one CPU (Lambda's share), against moto's DynamoDB answering no earlier than 10 ms after each request.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent
SERVICE_TIMES_FILE = DATA_DIR / "service_times.json"
PRICES_FILE = DATA_DIR / "prices.json"
READ_ON = "2026-12-03"
PROJECT = "order-pipeline"


@dataclass(frozen=True)
class Source:
    title: str
    url: str
    read: str = READ_ON


SQS_SCALING = Source(
    "Lambda developer guide: Configuring scaling behavior for SQS event source mappings",
    "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
)
ESM_SCALING_CONFIG = Source(
    "CloudFormation user guide: AWS::Lambda::EventSourceMapping ScalingConfig (MaximumConcurrency 2..1000)",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-eventsourcemapping-scalingconfig.html",
)
LAMBDA_QUOTAS = Source(
    "Lambda developer guide: Lambda quotas", "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
)
LAMBDA_SCALING = Source(
    "Lambda developer guide: Lambda scaling behavior",
    "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html",
)
DYNAMODB_ON_DEMAND = Source(
    "DynamoDB developer guide: DynamoDB on-demand capacity mode (initial throughput and scaling properties)",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html",
)
DYNAMODB_PREWARM = Source(
    "DynamoDB developer guide: Pre-warming a table for on-demand capacity mode",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html",
)
DYNAMODB_PARTITIONS = Source(
    "AWS re:Post knowledge center: on-demand table throttling (per-partition 1,000 WCU / 3,000 RCU)",
    "https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb",
)
DYNAMODB_WARM = Source(
    "DynamoDB developer guide: Understanding DynamoDB warm throughput",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html",
)
SNS_QUOTAS = Source(
    "AWS General Reference: Amazon SNS endpoints and quotas (Publish, standard topics)",
    "https://docs.aws.amazon.com/general/latest/gr/sns.html",
)
SQS_QUOTAS = Source(
    "SQS developer guide: Amazon SQS standard queue quotas",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html",
)

# The SQS event source mapping (standard queue).
ESM_INITIAL_CONCURRENCY = 5
ESM_SCALE_UP_PER_MINUTE = 300
ESM_MAX_CONCURRENCY = 1250
MAXIMUM_CONCURRENCY_RANGE = (2, 1000)
# Lambda.
ACCOUNT_CONCURRENCY_DEFAULT = 1000
FUNCTION_SCALE_UP_PER_10_SECONDS = 1000
LAMBDA_MB_PER_VCPU = 1769
# DynamoDB on-demand.
NEW_TABLE_WRITE_UNITS = 4000
PREVIOUS_PEAK_FACTOR = 2
PREVIOUS_PEAK_WINDOW_SECONDS = 30 * 60
TABLE_WRITE_QUOTA_DEFAULT = 40_000
PARTITION_WRITE_UNITS = 1000
WRITE_UNIT_BYTES = 1024
WARM_WRITE_UNITS_MINIMUM = NEW_TABLE_WRITE_UNITS
# SNS Publish, standard topics, messages per second per account and Region.
SNS_PUBLISH_PER_SECOND = {"us-east-1": 30_000, "us-west-2": 9_000, "eu-west-1": 9_000}
SNS_PUBLISH_PER_SECOND_ELSEWHERE = 1_500
# SQS standard queue.
SQS_IN_FLIGHT_MAX = 120_000
SQS_LONG_POLL_SECONDS = 20
# boto3 "standard" retry mode (handler/app.py's client): 3 attempts in all.
SDK_ATTEMPTS = 3


def sns_publish_quota(region: str) -> int:
    return SNS_PUBLISH_PER_SECOND.get(region, SNS_PUBLISH_PER_SECOND_ELSEWHERE)


def recommended_visibility_timeout(function_timeout: int, batching_window: int) -> int:
    """infra/config.py's derivation of visibilityTimeoutSeconds = 0 (tests/capacity checks they agree)."""
    return 6 * function_timeout + batching_window


def write_units(item_bytes: float) -> int:
    """Write request units of one PutItem of an item this size: one per started KB."""
    return max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))


def dynamodb_item_bytes(item: Mapping[str, Any]) -> float:
    """An item's size as DynamoDB counts it for write units, from its DynamoDB JSON (DynamoDB developer guide,
    "Item sizes and formats", read 2026-12-03): each attribute's name in UTF-8 plus its value; a string its UTF-8
    length; a number about 1 byte per two significant digits plus 1; a boolean or null 1 byte; a list or map 3
    bytes plus 1 byte per element plus the elements (map keys counted as names)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Mapping[str, Any]) -> float:  # noqa: PLR0911 (one return per DynamoDB type)
    [(kind, inner)] = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_bytes(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(key.encode()) + _value_bytes(element) for key, element in inner.items())
    if kind == "B":
        return len(inner)
    return len(json.dumps(inner))  # sets and the rest: an upper bound


@dataclass(frozen=True)
class StackSettings:
    """What the model needs of a stack's config (the keys of Pulumi.yaml), plus the account's own quotas."""

    stack: str
    region: str = "us-east-1"
    batch_size: int = 10
    batching_window_seconds: int = 0
    maximum_concurrency: int | None = 5
    memory_mb: int = 1024
    function_timeout_seconds: int = 30
    visibility_timeout_seconds: int = 180
    max_receive_count: int = 3
    warm_write_units: int = 0  # 0: not set, the table is new (4,000) or as warm as its history made it
    account_concurrency: int = ACCOUNT_CONCURRENCY_DEFAULT
    reserved_concurrency: int | None = None
    table_write_quota: int = TABLE_WRITE_QUOTA_DEFAULT
    table_previous_peak_write_units: float = 0.0  # 0: a new table

    @classmethod
    def from_config(cls, config: Mapping[str, str], stack: str, **overrides: Any) -> StackSettings:
        """From the map `pulumi up` hands the program (sandbox.program.stack_config), keys `order-pipeline:*`."""

        def integer(key: str, default: int) -> int:
            return int(json.loads(config.get(f"{PROJECT}:{key}", str(default))))

        timeout = integer("functionTimeoutSeconds", 30)
        window = integer("batchingWindowSeconds", 0)
        visibility = integer("visibilityTimeoutSeconds", 0) or recommended_visibility_timeout(timeout, window)
        settings = cls(
            stack=stack,
            region=config.get("aws:region", "us-east-1"),
            batch_size=integer("batchSize", 10),
            batching_window_seconds=window,
            maximum_concurrency=integer("maximumConcurrency", 5),
            memory_mb=integer("functionMemoryMb", 1024),
            function_timeout_seconds=timeout,
            visibility_timeout_seconds=visibility,
            max_receive_count=integer("maxReceiveCount", 3),
            warm_write_units=integer("tableWarmWriteUnits", 0),
        )
        return replace(settings, **overrides)

    @property
    def mapping_ceiling(self) -> int:
        """The most concurrent batches the mapping itself starts."""
        return min(self.maximum_concurrency or ESM_MAX_CONCURRENCY, ESM_MAX_CONCURRENCY)

    @property
    def lambda_ceiling(self) -> int:
        """The most concurrent executions Lambda lets this function have."""
        return self.reserved_concurrency if self.reserved_concurrency is not None else self.account_concurrency

    @property
    def instant_write_units(self) -> float:
        """What the table serves at once: its warm throughput, at least a new table's 4,000, at least double
        its previous peak; never more than the table-level quota."""
        previous = PREVIOUS_PEAK_FACTOR * self.table_previous_peak_write_units
        warm = max(self.warm_write_units, NEW_TABLE_WRITE_UNITS, previous)
        return min(warm, self.table_write_quota)


@dataclass(frozen=True)
class ServiceTimes:
    """The function's measured batch durations (ms) per memory size and records per batch, and what it writes
    per order (log bytes, the item's size)."""

    batches_ms: dict[int, dict[int, float]]  # memory -> records per batch -> median duration (robust to the VM)
    p99_ms: dict[int, dict[int, float]]
    log_bytes_per_order: float
    log_bytes_per_invocation: float
    item_bytes: float
    conditions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = SERVICE_TIMES_FILE) -> ServiceTimes:
        data = json.loads(path.read_text())

        def table(key: str) -> dict[int, dict[int, float]]:
            return {int(m): {int(n): float(v) for n, v in by_n.items()} for m, by_n in data[key].items()}

        return cls(
            batches_ms=table("batch_median_ms"),
            p99_ms=table("batch_p99_ms"),
            log_bytes_per_order=float(data["log_bytes_per_order"]),
            log_bytes_per_invocation=float(data["log_bytes_per_invocation"]),
            item_bytes=float(data["item_bytes"]),
            conditions=dict(data.get("conditions", {})),
        )

    @property
    def memories(self) -> list[int]:
        return sorted(self.batches_ms)

    def batch_ms(self, memory_mb: int, records: float) -> float:
        """Mean duration of a batch of `records` at `memory_mb`: linear in the records between the measured
        batch sizes, interpolated between measured memory sizes (clamped at the ends: above the largest measured
        size the handler, bound by one interpreter, gains nothing)."""
        return _interpolate_memory(self.batches_ms, memory_mb, records)

    def p99_batch_ms(self, memory_mb: int, records: float) -> float:
        return _interpolate_memory(self.p99_ms, memory_mb, records)


def _interpolate_records(by_records: dict[int, float], records: float) -> float:
    sizes = sorted(by_records)
    if len(sizes) == 1:
        return by_records[sizes[0]]
    low, high = sizes[0], sizes[-1]
    for a, b in itertools.pairwise(sizes):
        if records <= b:
            low, high = a, b
            break
    slope = (by_records[high] - by_records[low]) / (high - low)
    return max(by_records[low] + slope * (records - low), 0.1)


def _interpolate_memory(table: dict[int, dict[int, float]], memory_mb: int, records: float) -> float:
    memories = sorted(table)
    if memory_mb <= memories[0]:
        return _interpolate_records(table[memories[0]], records)
    if memory_mb >= memories[-1]:
        return _interpolate_records(table[memories[-1]], records)
    for low, high in itertools.pairwise(memories):
        if low <= memory_mb <= high:
            a, b = _interpolate_records(table[low], records), _interpolate_records(table[high], records)
            return a + (b - a) * (memory_mb - low) / (high - low)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Platform:
    """How the consuming side scales: AWS's published rules, or the sandbox's (for the calibration)."""

    name: str
    esm_initial: float = ESM_INITIAL_CONCURRENCY
    esm_scale_up_per_second: float = ESM_SCALE_UP_PER_MINUTE / 60
    esm_max: int = ESM_MAX_CONCURRENCY
    function_scale_up_per_second: float = FUNCTION_SCALE_UP_PER_10_SECONDS / 10
    poll_overhead_ms: float = 20.0  # receive and delete around each batch (an assumption on AWS: SQS round trips)
    delivery_ms: float = 0.0  # publish -> visible in the queue, beyond the step
    service_time_factor: float = 1.0
    consumer_cap_per_second: float | None = None  # a shared bottleneck (the sandbox's emulator), None on AWS
    publish_cap_per_second: float | None = None  # None: the region's SNS quota
    poll_starts_per_second: float | None = None  # batches a poller can begin per second (the sandbox's one thread)
    pre_invoke_ms: float | None = None  # the part of the overhead before the function runs (None: half of it)
    store_base_ms: float | None = None  # an order is stored this long into the invocation (None: at its end) ...
    store_per_record_ms: float = 0.0  # ... plus this per record of the batch
    duration_factors: tuple[float, ...] = ()  # measured spread of batch durations, taken in turn (steps < a batch)


AWS = Platform("AWS")


@dataclass(frozen=True)
class Limit:
    name: str
    orders_per_second: float
    detail: str
    source: Source
    quota_increase: str = ""  # what to ask AWS for, when configuration alone cannot lift it


def batch_seconds(settings: StackSettings, times: ServiceTimes, platform: Platform, records: float) -> float:
    """One poller's time per batch: the function's duration plus the receive and delete around it."""
    duration = times.batch_ms(settings.memory_mb, records) * platform.service_time_factor
    return (duration + platform.poll_overhead_ms) / 1000


def orders_per_execution_second(settings: StackSettings, times: ServiceTimes, platform: Platform) -> float:
    """Orders one concurrent execution stores per second with full batches."""
    return settings.batch_size / batch_seconds(settings, times, platform, settings.batch_size)


def limits(settings: StackSettings, times: ServiceTimes, platform: Platform = AWS) -> list[Limit]:
    """Each limit on the sustained rate, lowest first."""
    per_execution = orders_per_execution_second(settings, times, platform)
    wru = write_units(times.item_bytes)
    found = [
        Limit(
            "mapping maximum concurrency" if settings.maximum_concurrency else "mapping ceiling",
            settings.mapping_ceiling * per_execution,
            f"{settings.mapping_ceiling} concurrent batches x {per_execution:.0f} orders/s each "
            f"(batch of {settings.batch_size} at {settings.memory_mb} MB: "
            f"{batch_seconds(settings, times, platform, settings.batch_size) * 1000:.0f} ms with receive and delete)",
            ESM_SCALING_CONFIG if settings.maximum_concurrency else SQS_SCALING,
        ),
        Limit(
            f"Lambda {'reserved' if settings.reserved_concurrency is not None else 'account'} concurrency",
            settings.lambda_ceiling * per_execution,
            f"{settings.lambda_ceiling} concurrent executions x {per_execution:.0f} orders/s each",
            LAMBDA_QUOTAS,
            "Lambda concurrent executions (Service Quotas: L-B99A9384)",
        ),
        Limit(
            "DynamoDB table write quota",
            settings.table_write_quota / wru,
            f"{settings.table_write_quota:,} write units/s per table / {wru} per order "
            f"({times.item_bytes:.0f}-byte items)",
            DYNAMODB_ON_DEMAND,
            "DynamoDB table-level write throughput (Service Quotas: L-AB614373)",
        ),
        Limit(
            "SNS publish quota",
            float(platform.publish_cap_per_second or sns_publish_quota(settings.region)),
            f"Publish to standard topics in {settings.region}",
            SNS_QUOTAS,
            f"SNS Publish messages per second in {settings.region}",
        ),
        Limit(
            "SQS in-flight messages",
            SQS_IN_FLIGHT_MAX / batch_seconds(settings, times, platform, settings.batch_size),
            f"{SQS_IN_FLIGHT_MAX:,} messages received and not deleted, each held for one batch",
            SQS_QUOTAS,
            "SQS in-flight messages (support request)",
        ),
    ]
    if platform.consumer_cap_per_second is not None:
        found.append(
            Limit(
                f"{platform.name} shared capacity",
                platform.consumer_cap_per_second,
                "measured",
                Source("measured in the sandbox", ""),
            )
        )
    return sorted(found, key=lambda limit: limit.orders_per_second)


def instant_write_limit(settings: StackSettings, times: ServiceTimes) -> Limit:
    """What the table serves the moment a burst starts (not a sustained limit: on-demand follows a rising peak)."""
    wru = write_units(times.item_bytes)
    configured = f"tableWarmWriteUnits {settings.warm_write_units:,}" if settings.warm_write_units else "a new table"
    return Limit(
        "DynamoDB instant throughput",
        settings.instant_write_units / wru,
        f"{settings.instant_write_units:,.0f} write units/s at once ({configured}; double the previous peak after "
        f"{PREVIOUS_PEAK_WINDOW_SECONDS // 60} min) / {wru} per order",
        DYNAMODB_WARM,
    )


def sustainable_rate(settings: StackSettings, times: ServiceTimes, platform: Platform = AWS) -> Limit:
    """The first limit reached as the steady rate rises."""
    return limits(settings, times, platform)[0]


# Prices ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    raw: dict[str, Any]

    @classmethod
    def load(cls, path: Path = PRICES_FILE) -> Prices:
        return cls(json.loads(path.read_text()))

    def price(self, key: str) -> float:
        return float(self.raw["prices"][key]["usd"])

    def entry(self, key: str) -> dict[str, Any]:
        entry: dict[str, Any] = self.raw["prices"][key]
        return entry


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    units_per_million: float
    unit: str
    usd_per_million_orders: float
    price_key: str


def cost_per_million(
    settings: StackSettings,
    times: ServiceTimes,
    prices: Prices,
    rate: float,
    *,
    publish_batch: int = 1,
    fill: float | None = None,
    platform: Platform = AWS,
) -> list[CostLine]:
    """Dollars per million orders at a steady `rate`, split by service, first pricing tier, no free tier.

    `fill` is the mean records per invocation (the simulation's, at that rate); full batches when not given."""
    million = 1_000_000.0
    per_execution = orders_per_execution_second(settings, times, platform)
    busy = max(1.0, min(settings.mapping_ceiling, rate / per_execution))
    fill = float(settings.batch_size) if fill is None else min(float(settings.batch_size), max(1.0, fill))
    invocations = million / fill
    duration_ms = times.batch_ms(settings.memory_mb, fill)
    billed_ms = math.ceil(duration_ms)
    gb_seconds = invocations * settings.memory_mb / 1024 * billed_ms / 1000
    wru = write_units(times.item_bytes)
    # Pollers long-poll whatever the traffic: at least the mapping's five (two when idle and without a maximum),
    # each waiting up to 20 s; an empty receive is a request. Counted as the idle share of polling at this rate.
    pollers = max(float(ESM_INITIAL_CONCURRENCY), busy)
    idle = max(0.0, pollers - busy)
    empty_receives = idle * million / (rate * SQS_LONG_POLL_SECONDS)
    log_gb = (million * times.log_bytes_per_order + invocations * times.log_bytes_per_invocation) / 1024**3
    lines = [
        ("SNS", "publishes (64 KB chunks)", million / publish_batch, "requests", "sns_publish_per_million"),
        ("SNS", "deliveries to SQS", million, "deliveries", "sns_delivery_sqs_per_million"),
        ("SQS", "sends (by SNS)", million, "requests", "sqs_request_per_million"),
        ("SQS", "receives (batches)", invocations, "requests", "sqs_request_per_million"),
        ("SQS", "deletes (batches)", invocations, "requests", "sqs_request_per_million"),
        ("SQS", "empty long-poll receives", empty_receives, "requests", "sqs_request_per_million"),
        ("Lambda", "requests", invocations, "requests", "lambda_request_per_million"),
        ("Lambda", f"duration, arm64, {settings.memory_mb} MB", gb_seconds, "GB-s", "lambda_arm_gb_second"),
        ("DynamoDB", f"on-demand writes ({wru} WRU each)", million * wru, "WRU", "dynamodb_wru_per_million"),
        ("CloudWatch Logs", "ingestion", log_gb, "GB", "logs_ingestion_per_gb"),
    ]
    found = []
    for service, item, units, unit, key in lines:
        price = prices.price(key)
        per_unit = price / million if key.endswith("_per_million") else price
        found.append(CostLine(service, item, units, unit, units * per_unit, key))
    return found
