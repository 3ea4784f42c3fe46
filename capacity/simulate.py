"""A discrete-time simulation of one stack under an arrival pattern, driven by capacity/model.py.

Each step (1 s for the answers, 10 ms for the calibration) the simulation:

1. publishes the step's arrivals, at most the SNS publish quota a second; the rest wait at the publisher (a
   throttled Publish is retried by the client) and count as publish throttles;
2. finishes the batches whose function time has elapsed: their writes meet DynamoDB's write capacity this
   second (capacity/model.py: a new table's 4,000 units or the warm throughput, double the peak served at
   least 30 minutes before, at most the table quota). A throttled write is retried by the SDK (3 attempts in
   boto3's standard mode); the share still throttled after three (f^3 for a throttled share f) fails its record,
   which SQS makes visible again after the visibility timeout, or moves to the DLQ once it has been received
   `maxReceiveCount` times;
3. scales the mapping: while messages remain after a step it adds concurrency at 300 a minute (AWS) up to
   `maximumConcurrency` (or the mapping's 1,250); with none left it falls back to what is in use, at least five;
4. invokes: concurrency beyond what Lambda allows the function (reserved or account concurrency) is throttled:
   each excess poller takes a batch once a second and its messages come back after the visibility timeout with
   one more receive; the rest start batches, fluidly: the visible messages are shared among the pollers
   (full batches when there are enough), each poller completing one batch per batch time (the function's
   measured duration for that many records plus the receive and delete around it).

Messages are taken oldest first (a standard queue only roughly does that). The backlog is every order published
and not yet stored (in the queue or in a batch); its age is the oldest such order's, from its first publish attempt;
latency is publish to stored.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from capacity.model import (
    AWS,
    PREVIOUS_PEAK_FACTOR,
    PREVIOUS_PEAK_WINDOW_SECONDS,
    SDK_ATTEMPTS,
    Platform,
    ServiceTimes,
    StackSettings,
    sns_publish_quota,
    write_units,
)

THROTTLED_POLLER_RETRY_SECONDS = 1.0  # an assumption: how often a throttled poller takes another batch


@dataclass(frozen=True)
class Arrivals:
    """Orders per second, one value per `resolution` seconds (a second unless asked: the calibration replays the
    sandbox's publishes at 10 ms)."""

    name: str
    rates: tuple[float, ...]
    resolution: float = 1.0

    def rate(self, t: float) -> float:
        slot = int(t / self.resolution + 1e-9)
        return self.rates[slot] if slot < len(self.rates) else 0.0

    @property
    def seconds(self) -> float:
        return len(self.rates) * self.resolution

    @property
    def total(self) -> float:
        return sum(self.rates) * self.resolution

    @classmethod
    def replay(cls, name: str, published: list[tuple[float, int]], resolution: float = 0.01) -> Arrivals:
        """Publishes as they happened: (seconds from the start, orders) each, at `resolution`."""
        end = max((t for t, _ in published), default=0.0)
        rates = [0.0] * (int(end / resolution) + 1)
        for t, count in published:
            rates[int(t / resolution)] += count / resolution
        return cls(name, tuple(rates), resolution)

    @classmethod
    def steady(cls, rate: float, seconds: int) -> Arrivals:
        return cls(f"steady {rate:g}/s for {seconds} s", (float(rate),) * seconds)

    @classmethod
    def step(cls, before: float, after: float, at: int, seconds: int) -> Arrivals:
        rates = tuple(float(before if s < at else after) for s in range(seconds))
        return cls(f"step {before:g}/s -> {after:g}/s at {at} s, {seconds} s", rates)

    @classmethod
    def ramp(cls, start: float, end: float, seconds: int) -> Arrivals:
        rates = tuple(start + (end - start) * s / max(1, seconds - 1) for s in range(seconds))
        return cls(f"ramp {start:g}/s -> {end:g}/s over {seconds} s", rates)

    @classmethod
    def burst(cls, baseline: float, rate: float, start: int, length: int, seconds: int) -> Arrivals:
        rates = tuple(float(rate if start <= s < start + length else baseline) for s in range(seconds))
        return cls(f"{rate:g}/s for {length} s over a baseline of {baseline:g}/s", rates)

    @classmethod
    def recorded(cls, path: Path) -> Arrivals:
        """A CSV of `second,rate` rows (a header line is allowed): each rate holds until the next row's second."""
        points: list[tuple[int, float]] = []
        with path.open(newline="") as handle:
            for row in csv.reader(handle):
                if not row or row[0].strip().startswith("#"):
                    continue
                try:
                    points.append((int(float(row[0])), float(row[1])))
                except ValueError:
                    if points:
                        raise
                    continue  # the header
        if not points:
            raise ValueError(f"{path}: no `second,rate` rows")
        points.sort()
        end = points[-1][0] + 1
        rates = []
        for second in range(end):
            index = bisect.bisect_right([p[0] for p in points], second) - 1
            rates.append(points[index][1] if index >= 0 else 0.0)
        return cls(f"recorded {path.name}", tuple(rates))


@dataclass
class _Cohort:
    arrived: float  # first publish attempt
    count: float
    receives: int = 0
    visible_at: float = 0.0
    stored_at: float = 0.0  # while in a batch: when its orders are written


@dataclass
class Series:
    """One row per second."""

    t: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    stored: list[float] = field(default_factory=list)
    backlog: list[float] = field(default_factory=list)
    oldest_age: list[float] = field(default_factory=list)
    concurrency: list[float] = field(default_factory=list)
    lambda_throttles: list[float] = field(default_factory=list)
    dynamodb_throttles: list[float] = field(default_factory=list)
    publish_throttles: list[float] = field(default_factory=list)
    dlq: list[float] = field(default_factory=list)
    write_units: list[float] = field(default_factory=list)
    write_capacity: list[float] = field(default_factory=list)


@dataclass
class Result:
    arrivals: Arrivals
    series: Series
    latency_ms: dict[int, float]  # histogram: ms -> orders
    invocations: float
    step_peak_backlog: float  # the largest backlog at any step (the series keeps each second's last)
    published: float
    stored: float
    dlq: float
    throttles: dict[str, float]
    first_arrival: float | None
    last_store: float | None
    end: float

    def percentile_ms(self, fraction: float) -> float:
        total = sum(self.latency_ms.values())
        if total <= 0:
            return math.nan
        seen = 0.0
        for ms in sorted(self.latency_ms):
            seen += self.latency_ms[ms]
            if seen >= fraction * total:
                return float(ms)
        return float(max(self.latency_ms))

    @property
    def throughput(self) -> float:
        """Orders stored per second, from the first arrival to the last store."""
        if self.first_arrival is None or self.last_store is None or self.last_store <= self.first_arrival:
            return 0.0
        return self.stored / (self.last_store - self.first_arrival)

    @property
    def mean_fill(self) -> float:
        """Records per invocation, on average."""
        return self.stored / self.invocations if self.invocations else 0.0

    @property
    def peak_backlog(self) -> float:
        return max(self.step_peak_backlog, max(self.series.backlog, default=0.0))

    @property
    def max_age(self) -> float:
        return max(self.series.oldest_age, default=0.0)

    @property
    def peak_concurrency(self) -> float:
        return max(self.series.concurrency, default=0.0)

    def drain_seconds(self, after: float) -> float | None:
        """Seconds from `after` until nothing is left unstored (None: not within the simulated time)."""
        for t, backlog in zip(self.series.t, self.series.backlog, strict=True):
            if t >= after and backlog < 1:
                return t - after
        return None

    @property
    def settled(self) -> bool:
        return bool(self.series.backlog) and self.series.backlog[-1] < 1


def simulate(  # noqa: PLR0912, PLR0915 (one step of the model, read top to bottom as the docstring lists it)
    settings: StackSettings,
    times: ServiceTimes,
    arrivals: Arrivals,
    *,
    platform: Platform = AWS,
    dt: float = 1.0,
    seconds: float | None = None,
    drain_limit: float = 3600.0,
) -> Result:
    """Runs until `seconds` (default: the arrivals' length, then up to `drain_limit` more while orders remain)."""
    wru = write_units(times.item_bytes)
    publish_cap = platform.publish_cap_per_second or sns_publish_quota(settings.region)
    ceiling = min(settings.mapping_ceiling, platform.esm_max)
    initial = min(platform.esm_initial, ceiling)
    lambda_ceiling = settings.lambda_ceiling
    delivery = platform.delivery_ms / 1000
    overhead = platform.poll_overhead_ms / 1000

    publisher: deque[_Cohort] = deque()
    visible: list[_Cohort] = []  # sorted by arrival
    pending: list[_Cohort] = []  # not yet visible (delivery, or a retry's visibility timeout)
    in_service: list[tuple[float, _Cohort, float, float]] = []  # (finish, cohort, execution-seconds, batch duration)
    latency: dict[int, float] = {}
    consumed_by_second: list[float] = []
    series = Series()
    target = float(initial)
    environments = 0.0
    totals = {"published": 0.0, "stored": 0.0, "dlq": 0.0, "invocations": 0.0}
    throttles = {"publish": 0.0, "lambda": 0.0, "dynamodb": 0.0}
    first_arrival: float | None = None
    last_store: float | None = None
    leftover = 0.0
    peak_backlog = 0.0
    slot_free: list[float] = []  # when each poller is next free (steps shorter than a batch)
    receiver_free = 0.0  # when a single receiving thread (the sandbox's poller) may receive again
    cap_tokens = 0.0  # a shared bottleneck (consumer_cap_per_second): orders it may still take, refilled each step
    pollers_busy = 0.0  # pollers the last step's batches kept busy (receive, function, delete)
    second_acc = {"arrivals": 0.0, "stored": 0.0, "concurrency": 0.0, "lambda": 0.0, "dynamodb": 0.0,
                  "publish": 0.0, "wru": 0.0, "age": 0.0}  # fmt: skip
    end = float(seconds if seconds is not None else arrivals.seconds)
    hard_end = end + (drain_limit if seconds is None else 0.0)
    steps_per_second = max(1, round(1 / dt))
    step = 0

    def table_capacity(now: float) -> float:
        cutoff = int(now - PREVIOUS_PEAK_WINDOW_SECONDS)
        peak = max(consumed_by_second[: max(0, cutoff)], default=0.0)
        return min(settings.table_write_quota, max(settings.instant_write_units, PREVIOUS_PEAK_FACTOR * peak))

    def unstored(now: float) -> float:
        """Orders not yet written by `now` (every batch still running counts when `now` is -inf)."""
        return (
            sum(c.count for c in publisher)
            + sum(c.count for c in visible)
            + sum(c.count for c in pending)
            + sum(c.count for _, c, _, _ in in_service if c.stored_at > now)
        )

    while True:
        t = step * dt
        if t >= hard_end or (t >= end and unstored(-math.inf) < 1e-6 and step % steps_per_second == 0):
            break
        mid = t + dt / 2
        # 1. Arrivals and the publish quota.
        arriving = arrivals.rate(t) * dt
        if arriving > 0:
            publisher.append(_Cohort(mid, arriving))
            first_arrival = mid if first_arrival is None else first_arrival
            second_acc["arrivals"] += arriving
        allowance = publish_cap * dt
        while publisher and allowance > 1e-12:
            cohort = publisher[0]
            moved = min(cohort.count, allowance)
            allowance -= moved
            pending.append(_Cohort(cohort.arrived, moved, 0, mid + delivery))
            totals["published"] += moved
            cohort.count -= moved
            if cohort.count <= 1e-12:
                publisher.popleft()
        waiting = sum(c.count for c in publisher)
        throttles["publish"] += waiting
        second_acc["publish"] += waiting
        # Pending messages become visible.
        still: list[_Cohort] = []
        for cohort in pending:
            if cohort.visible_at <= t + dt:
                bisect.insort(visible, cohort, key=lambda c: c.arrived)
            else:
                still.append(cohort)
        pending = still
        # 2. Finished batches meet DynamoDB.
        done = [item for item in in_service if item[0] <= t + dt]
        in_service = [item for item in in_service if item[0] > t + dt]
        writing = sum(cohort.count for _, cohort, _, _ in done)
        capacity = table_capacity(t) * dt
        share_throttled = max(0.0, 1 - capacity / (writing * wru)) if writing > 0 else 0.0
        failed_share = share_throttled**SDK_ATTEMPTS
        attempts_throttled = sum(share_throttled**k for k in range(1, SDK_ATTEMPTS + 1))
        consumed = 0.0
        for finish, cohort, _, _ in done:
            failed = cohort.count * failed_share
            ok = cohort.count - failed
            consumed += min(cohort.count * wru * (1 + share_throttled + share_throttled**2), capacity)
            if ok > 0:
                totals["stored"] += ok
                second_acc["stored"] += ok
                stored_at = cohort.stored_at or finish
                key = max(0, round((stored_at - cohort.arrived) * 1000))
                latency[key] = latency.get(key, 0.0) + ok
                last_store = stored_at if last_store is None else max(last_store, stored_at)
            if failed > 1e-12:
                throttles["dynamodb"] += cohort.count * attempts_throttled
                second_acc["dynamodb"] += cohort.count * attempts_throttled
                if cohort.receives >= settings.max_receive_count:
                    totals["dlq"] += failed
                else:
                    visible_again = finish + settings.visibility_timeout_seconds
                    pending.append(_Cohort(cohort.arrived, failed, cohort.receives, visible_again))
            elif share_throttled > 0:
                throttles["dynamodb"] += cohort.count * attempts_throttled
                second_acc["dynamodb"] += cohort.count * attempts_throttled
        second_acc["wru"] += min(consumed, capacity)
        # 3. The mapping scales.
        backlog_visible = sum(c.count for c in visible)
        if leftover > 1e-9:
            target = min(ceiling, target + platform.esm_scale_up_per_second * dt)
        else:
            # no message left: back towards the pollers in use (and at least the initial five), as fast as it
            # scales up, so a steady load below capacity does not make it saw up and down
            floor = max(float(initial), math.ceil(pollers_busy * 1.1) + 1.0)
            target = max(floor, target - platform.esm_scale_up_per_second * dt) if target > floor else target
        environments = min(lambda_ceiling, environments + platform.function_scale_up_per_second * dt, target)
        environments = max(environments, min(float(initial), float(lambda_ceiling)))
        # 4. Throttled pollers, then batches.
        excess = max(0.0, target - lambda_ceiling)
        if excess > 0 and backlog_visible > 0:
            taken = min(backlog_visible, excess * settings.batch_size * dt / THROTTLED_POLLER_RETRY_SECONDS)
            throttles["lambda"] += taken / settings.batch_size
            second_acc["lambda"] += taken / settings.batch_size
            for cohort in _take(visible, taken):
                cohort.receives += 1
                if cohort.receives >= settings.max_receive_count:
                    totals["dlq"] += cohort.count
                else:
                    pending.append(_Cohort(cohort.arrived, cohort.count, cohort.receives,
                                           mid + settings.visibility_timeout_seconds))  # fmt: skip
            backlog_visible = sum(c.count for c in visible)
        slots = min(target, environments)
        pre = overhead / 2 if platform.pre_invoke_ms is None else platform.pre_invoke_ms / 1000

        def duration_of(records: float) -> float:
            return times.batch_ms(settings.memory_mb, records) * platform.service_time_factor / 1000

        def store_of(records: float) -> float:
            if platform.store_base_ms is None:
                return duration_of(records)
            return (platform.store_base_ms + platform.store_per_record_ms * records) / 1000

        discrete = dt < duration_of(1) + overhead and not settings.batching_window_seconds
        if backlog_visible > 0 and slots >= 1 and discrete:
            # Steps shorter than a batch: each poller takes what is visible (up to a batch) when it is free.
            count = int(slots)
            if platform.consumer_cap_per_second is not None:
                burst = float(settings.batch_size * count)
                cap_tokens = min(burst, cap_tokens + platform.consumer_cap_per_second * dt)
            slot_free.extend([t] * (count - len(slot_free)))
            del slot_free[count:]
            for index in sorted(range(count), key=lambda i: slot_free[i]):
                if not visible:
                    break
                start = max(slot_free[index], t, receiver_free, visible[0].visible_at)
                if start >= t + dt:
                    continue
                records = min(float(settings.batch_size), sum(c.count for c in visible))
                if platform.consumer_cap_per_second is not None:
                    if cap_tokens < 1:
                        break
                    records = min(records, cap_tokens)
                    cap_tokens -= records
                factor = 1.0
                if platform.duration_factors:
                    factor = platform.duration_factors[int(totals["invocations"]) % len(platform.duration_factors)]
                duration = duration_of(records) * factor
                if platform.poll_starts_per_second is not None:
                    receiver_free = start + 1 / platform.poll_starts_per_second
                finish = start + duration + overhead
                for cohort in _take(visible, records):
                    cohort.receives += 1
                    cohort.stored_at = start + pre + store_of(records) * factor
                    in_service.append((finish, cohort, duration * cohort.count / records, duration))
                slot_free[index] = finish
                totals["invocations"] += 1
            leftover = sum(c.count for c in visible)
            pollers_busy = float(sum(1 for free in slot_free if free > t))
        elif backlog_visible > 0 and slots > 0:
            fill = min(float(settings.batch_size), max(1.0, backlog_visible / slots))
            if settings.batching_window_seconds and fill < settings.batch_size:
                fill = min(float(settings.batch_size), max(fill, arrivals.rate(t) * settings.batching_window_seconds))
            duration = times.batch_ms(settings.memory_mb, fill) * platform.service_time_factor / 1000
            per_batch = duration + overhead
            batches = slots * dt / per_batch
            if platform.poll_starts_per_second is not None:
                batches = min(batches, platform.poll_starts_per_second * dt)
            can = batches * fill
            if platform.consumer_cap_per_second is not None:
                can = min(can, platform.consumer_cap_per_second * dt)
            take = min(backlog_visible, can)
            totals["invocations"] += take / fill
            pollers_busy = take / fill * per_batch / dt
            gathering = settings.batching_window_seconds and fill < settings.batch_size
            wait = settings.batching_window_seconds if gathering else 0
            store = store_of(fill)
            for cohort in _take(visible, take):
                cohort.receives += 1
                cohort.stored_at = mid + wait + pre + store
                in_service.append((mid + wait + per_batch, cohort, duration * cohort.count / fill, duration))
            leftover = sum(c.count for c in visible)
        else:
            leftover = backlog_visible
            pollers_busy = 0.0
        second_acc["concurrency"] = max(second_acc["concurrency"], _executions(in_service, dt))
        unstored_now = unstored(t + dt)
        peak_backlog = max(peak_backlog, unstored_now)
        oldest = min(
            [c.arrived for c in publisher]
            + [c.arrived for c in visible]
            + [c.arrived for c in pending]
            + [c.arrived for _, c, _, _ in in_service],
            default=None,
        )
        second_acc["age"] = max(second_acc["age"], (t + dt - oldest) if oldest is not None else 0.0)
        step += 1
        if step % steps_per_second == 0:
            second = round(step * dt)
            while len(consumed_by_second) < second:
                consumed_by_second.append(second_acc["wru"])
            series.t.append(float(second))
            series.arrivals.append(second_acc["arrivals"])
            series.stored.append(second_acc["stored"])
            series.backlog.append(unstored_now)
            series.oldest_age.append(second_acc["age"])
            series.concurrency.append(second_acc["concurrency"])
            series.lambda_throttles.append(second_acc["lambda"])
            series.dynamodb_throttles.append(second_acc["dynamodb"])
            series.publish_throttles.append(second_acc["publish"])
            series.dlq.append(totals["dlq"])
            series.write_units.append(second_acc["wru"])
            series.write_capacity.append(table_capacity(t))
            second_acc = dict.fromkeys(second_acc, 0.0)
    return Result(
        arrivals=arrivals,
        series=series,
        latency_ms=latency,
        invocations=totals["invocations"],
        step_peak_backlog=peak_backlog,
        published=totals["published"],
        stored=totals["stored"],
        dlq=totals["dlq"],
        throttles=throttles,
        first_arrival=first_arrival,
        last_store=last_store,
        end=step * dt,
    )


def _executions(in_service: list[tuple[float, _Cohort, float, float]], dt: float) -> float:
    """Concurrent executions: each batch in service counts while it runs; batches shorter than the step count
    for the share of the step they run (Little's law)."""
    return sum(seconds / max(dt, duration) for _, _, seconds, duration in in_service)


def _take(visible: list[_Cohort], amount: float) -> list[_Cohort]:
    """Removes `amount` orders from the oldest visible cohorts; returns them as cohorts of their own."""
    taken: list[_Cohort] = []
    while visible and amount > 1e-12:
        cohort = visible[0]
        moved = min(cohort.count, amount)
        amount -= moved
        taken.append(_Cohort(cohort.arrived, moved, cohort.receives, cohort.visible_at))
        cohort.count -= moved
        if cohort.count <= 1e-12:
            visible.pop(0)
    return taken
