"""The answers for one stack and a target: its sustainable rate and first limit, a burst's backlog, age and drain
time, the cost per million orders by service, and the smallest config change (with the AWS quota increases it
needs) that meets the target. Pure: the stack's settings come in, numbers go out (orderctl/capacity.py prints them).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from capacity.model import (
    AWS,
    MAXIMUM_CONCURRENCY_RANGE,
    NEW_TABLE_WRITE_UNITS,
    CostLine,
    Limit,
    Platform,
    Prices,
    ServiceTimes,
    StackSettings,
    cost_per_million,
    instant_write_limit,
    limits,
    orders_per_execution_second,
    sns_publish_quota,
    write_units,
)
from capacity.simulate import Arrivals, Result, simulate

WARM_UP_SECONDS = 60  # the baseline runs this long before a burst
STEADY_SECONDS = 600  # how long a target without a burst is held
DEFAULT_MAX_AGE_SECONDS = 60.0
WARM_STEP = 1000  # warm throughput is set in round thousands of write units


@dataclass(frozen=True)
class Target:
    rate: float  # orders/s
    burst_seconds: int | None = None  # None: the rate is sustained
    baseline: float = 0.0  # orders/s before and after a burst
    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS

    def arrivals(self) -> Arrivals:
        if self.burst_seconds is None:
            return Arrivals.steady(self.rate, STEADY_SECONDS)
        length = WARM_UP_SECONDS + self.burst_seconds + WARM_UP_SECONDS
        return Arrivals.burst(self.baseline, self.rate, WARM_UP_SECONDS, self.burst_seconds, length)

    @property
    def ends(self) -> float:
        """When the target's load ends: the burst's last second, or the steady run's."""
        return float(WARM_UP_SECONDS + self.burst_seconds) if self.burst_seconds is not None else STEADY_SECONDS

    @property
    def sustained(self) -> float:
        """The rate that must be carried indefinitely."""
        return self.rate if self.burst_seconds is None else self.baseline

    def describe(self) -> str:
        if self.burst_seconds is None:
            return f"{self.rate:,.0f} orders/s sustained, oldest order under {self.max_age_seconds:.0f} s"
        return (
            f"{self.rate:,.0f} orders/s for {self.burst_seconds} s over {self.baseline:,.0f} orders/s, "
            f"oldest order under {self.max_age_seconds:.0f} s"
        )


@dataclass(frozen=True)
class Outcome:
    """What the simulation says of one config under the target."""

    peak_backlog: float
    max_age_seconds: float
    drain_seconds: float | None  # after the load ends
    dlq: float
    throttles: dict[str, float]
    p50_ms: float
    p99_ms: float
    peak_concurrency: float
    mean_fill: float
    settled: bool

    @classmethod
    def of(cls, result: Result, target: Target) -> Outcome:
        return cls(
            peak_backlog=result.peak_backlog,
            max_age_seconds=result.max_age,
            drain_seconds=result.drain_seconds(target.ends),
            dlq=result.dlq,
            throttles=dict(result.throttles),
            p50_ms=result.percentile_ms(0.5),
            p99_ms=result.percentile_ms(0.99),
            peak_concurrency=result.peak_concurrency,
            mean_fill=result.mean_fill,
            settled=result.settled,
        )

    def meets(self, target: Target) -> bool:
        return self.settled and self.dlq < 0.5 and self.max_age_seconds < target.max_age_seconds


@dataclass(frozen=True)
class Change:
    key: str
    before: str
    after: str
    why: str


@dataclass(frozen=True)
class Answer:
    settings: StackSettings
    target: Target
    limits: list[Limit]
    instant_writes: Limit
    outcome: Outcome
    meets: bool
    costs: list[CostLine]
    cost_rate: float
    changes: list[Change]
    quota_increases: list[str]
    changed_outcome: Outcome | None
    prices_read: str
    unreachable: str = ""

    @property
    def sustainable(self) -> Limit:
        return self.limits[0]

    @property
    def cost_total(self) -> float:
        return sum(line.usd_per_million_orders for line in self.costs)

    def to_json(self) -> dict[str, Any]:
        def limit(item: Limit) -> dict[str, Any]:
            return {
                "name": item.name,
                "orders_per_second": round(item.orders_per_second, 1),
                "detail": item.detail,
                "source": item.source.url,
                "read": item.source.read,
                "quota_increase": item.quota_increase,
            }

        return {
            "stack": self.settings.stack,
            "settings": asdict(self.settings),
            "target": asdict(self.target) | {"description": self.target.describe()},
            "sustainable_orders_per_second": round(self.sustainable.orders_per_second, 1),
            "first_limit": limit(self.sustainable),
            "limits": [limit(item) for item in self.limits],
            "instant_write_limit": limit(self.instant_writes),
            "outcome": asdict(self.outcome),
            "meets_target": self.meets,
            "cost_per_million_orders": {
                "rate": self.cost_rate,
                "total_usd": round(self.cost_total, 4),
                "prices_read": self.prices_read,
                "lines": [asdict(line) for line in self.costs],
            },
            "smallest_change": [asdict(change) for change in self.changes],
            "quota_increases": self.quota_increases,
            "outcome_after_change": asdict(self.changed_outcome) if self.changed_outcome else None,
            "unreachable": self.unreachable,
        }


def run(settings: StackSettings, times: ServiceTimes, target: Target, platform: Platform = AWS) -> Outcome:
    return Outcome.of(simulate(settings, times, target.arrivals(), platform=platform), target)


def warm_units_for(settings: StackSettings, times: ServiceTimes, rate: float, platform: Platform = AWS) -> int:
    """Warm write units that let the table take what the consumers can write at once (they drain a backlog at
    their full rate), or the target rate if that is higher; 0 when a new table's 4,000 suffice."""
    per_execution = orders_per_execution_second(settings, times, platform)
    consumers = min(settings.mapping_ceiling, settings.lambda_ceiling) * per_execution
    needed = max(rate, consumers) * write_units(times.item_bytes)
    if needed <= NEW_TABLE_WRITE_UNITS:
        return 0
    return math.ceil(needed / WARM_STEP) * WARM_STEP


def smallest_change(
    settings: StackSettings, times: ServiceTimes, target: Target, platform: Platform = AWS
) -> tuple[StackSettings | None, Outcome | None]:
    """The lowest maximumConcurrency (within AWS's 2..1000) that meets the target, with the table warmed for what
    that concurrency writes; None when even 1000 does not."""
    low, high = MAXIMUM_CONCURRENCY_RANGE

    def candidate(concurrency: int) -> StackSettings:
        trial = replace(settings, maximum_concurrency=concurrency)
        warm = warm_units_for(trial, times, target.rate, platform)
        return replace(trial, warm_write_units=max(warm, settings.warm_write_units))

    found: tuple[StackSettings, Outcome] | None = None
    start = max(low, settings.maximum_concurrency or low)
    top = candidate(high)
    outcome = run(top, times, target, platform)
    if not outcome.meets(target):
        return None, None
    found = (top, outcome)
    lo, hi = start, high
    while lo < hi:
        middle = (lo + hi) // 2
        trial = candidate(middle)
        outcome = run(trial, times, target, platform)
        if outcome.meets(target):
            found, hi = (trial, outcome), middle
        else:
            lo = middle + 1
    if found[0].maximum_concurrency != lo:
        trial = candidate(lo)
        found = (trial, run(trial, times, target, platform))
    return found


def quota_increases(settings: StackSettings, times: ServiceTimes, target: Target) -> list[str]:
    """What the account must ask AWS for before this config can carry the target."""
    needed = []
    concurrency = settings.maximum_concurrency or settings.mapping_ceiling
    if concurrency > settings.account_concurrency:
        needed.append(
            f"Lambda concurrent executions: at least {concurrency} (default {settings.account_concurrency:,}; "
            "shared by every function in the account and Region)"
        )
    rate = max(target.rate, target.baseline)
    quota = sns_publish_quota(settings.region)
    if rate > quota:
        needed.append(f"SNS Publish in {settings.region}: at least {rate:,.0f} messages/s (default {quota:,})")
    if settings.warm_write_units > settings.table_write_quota:
        needed.append(
            f"DynamoDB table-level write throughput: at least {settings.warm_write_units:,} write units/s "
            f"(default {settings.table_write_quota:,})"
        )
    return needed


def _changes(before: StackSettings, after: StackSettings) -> list[Change]:
    found = []
    if before.maximum_concurrency != after.maximum_concurrency:
        found.append(
            Change(
                "maximumConcurrency",
                str(before.maximum_concurrency),
                str(after.maximum_concurrency),
                "the fewest concurrent batches that keep the oldest order within the target",
            )
        )
    if before.warm_write_units != after.warm_write_units:
        found.append(
            Change(
                "tableWarmWriteUnits",
                str(before.warm_write_units),
                str(after.warm_write_units),
                "the table serves what that concurrency writes from the first second (a new table: 4,000)",
            )
        )
    return found


def answer(
    settings: StackSettings,
    times: ServiceTimes,
    prices: Prices,
    target: Target,
    platform: Platform = AWS,
    *,
    search: bool = True,
) -> Answer:
    outcome = run(settings, times, target, platform)
    meets = outcome.meets(target) and limits(settings, times, platform)[0].orders_per_second >= target.sustained
    cost_rate = min(target.rate, limits(settings, times, platform)[0].orders_per_second)
    steady = simulate(settings, times, Arrivals.steady(cost_rate, 120), platform=platform)
    costs = cost_per_million(settings, times, prices, cost_rate, fill=steady.mean_fill or None, platform=platform)
    changes: list[Change] = []
    changed_outcome: Outcome | None = None
    unreachable = ""
    increases = quota_increases(settings, times, target)
    if not meets and search:
        changed, changed_outcome = smallest_change(settings, times, target, platform)
        if changed is None:
            unreachable = (
                f"no maximumConcurrency up to {MAXIMUM_CONCURRENCY_RANGE[1]} meets the target at "
                f"{settings.memory_mb} MB and batches of {settings.batch_size}: larger batches or more memory, or "
                "a second queue and mapping"
            )
        else:
            changes = _changes(settings, changed)
            increases = quota_increases(changed, times, target)
    return Answer(
        settings=settings,
        target=target,
        limits=limits(settings, times, platform),
        instant_writes=instant_write_limit(settings, times),
        outcome=outcome,
        meets=meets,
        costs=costs,
        cost_rate=cost_rate,
        changes=changes,
        quota_increases=increases,
        changed_outcome=changed_outcome,
        prices_read=str(prices.raw.get("read", "")),
        unreachable=unreachable,
    )
