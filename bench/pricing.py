"""Lambda's published price, and the power-tuning arithmetic on it (pure functions).

Prices: AWS Lambda pricing, https://aws.amazon.com/lambda/pricing/ , us-east-1, x86, first pricing
tier: $0.0000166667 per GB-second and $0.20 per million requests; duration is billed per 1 ms,
rounded up; a GB-second is 1,024 MB for one second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PRICING_PAGE = "https://aws.amazon.com/lambda/pricing/"
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.20 / 1_000_000
MEMORY_SIZES_MB = (128, 256, 512, 1024, 1536, 1769)
LAMBDA_MB_PER_VCPU = 1769


def billed_ms(duration_ms: float) -> int:
    """Lambda rounds each invocation's duration up to the next millisecond."""
    return max(1, math.ceil(duration_ms))


def gb_seconds(memory_mb: int, duration_ms: float) -> float:
    return memory_mb / 1024 * billed_ms(duration_ms) / 1000


def cost_per_million_orders(memory_mb: int, batch_duration_ms: float, orders_per_batch: int) -> float:
    """Dollars for a million orders, at one invocation per batch of orders_per_batch."""
    per_invocation = gb_seconds(memory_mb, batch_duration_ms) * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST
    return per_invocation * 1_000_000 / orders_per_batch


@dataclass(frozen=True)
class PowerSetting:
    """One row of the power-tuning table: a memory size and the batch duration measured at its CPU share."""

    memory_mb: int
    batch_ms: float
    orders_per_batch: int

    @property
    def cpu_share(self) -> float:
        return self.memory_mb / LAMBDA_MB_PER_VCPU

    @property
    def gb_seconds(self) -> float:
        return gb_seconds(self.memory_mb, self.batch_ms)

    @property
    def cost_per_million_orders(self) -> float:
        return cost_per_million_orders(self.memory_mb, self.batch_ms, self.orders_per_batch)


def recommend(settings: Sequence[PowerSetting], meets_target: Callable[[PowerSetting], bool]) -> PowerSetting:
    """The cheapest size per million orders among those that meet the latency target (ties: the faster);
    when none does, the cheapest of all."""
    if not settings:
        raise ValueError("no power settings measured")
    candidates = [setting for setting in settings if meets_target(setting)] or list(settings)
    return min(candidates, key=lambda s: (s.cost_per_million_orders, s.batch_ms))
