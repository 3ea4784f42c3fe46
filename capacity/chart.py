"""The chart of docs/capacity.png: the backlog and the oldest order's age over a burst, one line per stack.

Drawn from simulation results (capacity/simulate.py); `python -m orderctl.capacity_doc` runs the stacks and
calls `draw`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: a file only

import matplotlib.pyplot as plt

from capacity.simulate import Result

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def draw(results: Mapping[str, Result], title: str, path: Path, *, until: float | None = None) -> None:
    """Backlog (orders not yet stored) and the oldest order's age, per second, for each labelled result."""
    figure, (backlog, age) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for colour, (label, result) in zip(COLOURS, results.items(), strict=False):
        series = result.series
        end = len(series.t) if until is None else sum(1 for t in series.t if t <= until)
        minutes = [t / 60 for t in series.t[:end]]
        backlog.plot(minutes, [max(b, 0.1) for b in series.backlog[:end]], color=colour, label=label)
        age.plot(minutes, [a / 60 for a in series.oldest_age[:end]], color=colour, label=label)
    arrivals = next(iter(results.values())).arrivals
    start = next((s for s, r in enumerate(arrivals.rates) if r > arrivals.rates[0]), None)
    if start is not None:
        stop = next((s for s in range(start, len(arrivals.rates)) if arrivals.rates[s] < arrivals.rates[start]), start)
        for axis in (backlog, age):
            axis.axvspan(start / 60, stop / 60, color="#cccccc", alpha=0.4, label="burst")
    backlog.set_yscale("log")
    backlog.set_ylabel("backlog (orders not yet stored)")
    age.set_ylabel("oldest order's age (minutes)")
    age.set_xlabel("minutes")
    age.axhline(1.0, color="#555555", linestyle=":", linewidth=1, label="60 s")
    backlog.legend(loc="upper right")
    age.legend(loc="upper right")
    backlog.set_title(title, fontsize=10)
    for axis in (backlog, age):
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)
