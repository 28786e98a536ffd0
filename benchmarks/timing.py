"""How long something takes, measured until the answer stops moving.

:func:`measure` calls a function after a warm-up, in rounds, until the median of all samples so
far moves less than ``rel_tol`` between rounds (and at least ``min_runs`` samples and
``min_time_s`` seconds are in), or a time/run budget runs out. It does that in a few independent
blocks and reports the block with the lowest median: the median and 90th percentile of single
calls. Medians, because the machine is shared and a few slow outliers (another process on the
core, a page fault) should not move the answer; the best block, because a burst of someone
else's work can slow every call for a second or two.

:func:`throughput` is the same measurement for a call that handles ``items`` at once, reported as
items per second at the median. :func:`fixed_runs` is the policy for calls too slow to repeat
until stable, and :func:`cycling` turns a list of inputs into the one call that is timed.

The clock is injectable so the logic is testable without wall-clock thresholds.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

Clock = Callable[[], float]


@dataclass(frozen=True)
class TimingPolicy:
    """How hard to try for a stable number.

    Attributes:
        warmup: calls made and thrown away first (caches, lazy allocation, JIT-ish paths).
        min_runs: samples per round, and the least taken in total.
        max_runs: stop after this many samples even if not stable.
        min_time_s: keep sampling at least this long.
        max_time_s: stop after this long even if not stable (``stable`` is then False).
        rel_tol: stable when the running median moves less than this fraction between rounds.
        blocks: independent measurements (each with the budgets above); the one with the
            lowest median is reported. A burst of load from another process that lasts one
            block then does not decide the number.
    """

    warmup: int = 20
    min_runs: int = 50
    max_runs: int = 20_000
    min_time_s: float = 0.3
    max_time_s: float = 1.5
    rel_tol: float = 0.02
    blocks: int = 3

    def __post_init__(self) -> None:
        if self.min_runs < 1 or self.max_runs < self.min_runs:
            raise ValueError("need 1 <= min_runs <= max_runs")
        if self.blocks < 1:
            raise ValueError("need blocks >= 1")
        if self.warmup < 0 or self.min_time_s < 0 or self.max_time_s < self.min_time_s:
            raise ValueError("need warmup >= 0 and 0 <= min_time_s <= max_time_s")


#: A few calls only: for slow paths (Keras batch predict) and for tests.
QUICK = TimingPolicy(warmup=2, min_runs=3, max_runs=50, min_time_s=0.0, max_time_s=2.0, blocks=1)


def fixed_runs(runs: int, *, warmup: int = 0) -> TimingPolicy:
    """Exactly ``runs`` timed calls after ``warmup``, in one block, however long they take.

    For calls too slow to repeat until stable (a 12-megapixel photo) or a set of inputs to go
    through a known number of times.
    """
    return TimingPolicy(
        warmup=warmup, min_runs=runs, max_runs=runs, min_time_s=0.0, max_time_s=math.inf, blocks=1
    )


def cycling(fn: Callable[[Any], object], items: Sequence[Any]) -> Callable[[], object]:
    """A no-argument call for :func:`measure` that applies ``fn`` to each item in turn."""
    if not items:
        raise ValueError("cycling through no items")
    position = itertools.cycle(items)
    return lambda: fn(next(position))


@dataclass(frozen=True)
class Timing:
    """The result of :func:`measure`, in milliseconds per call."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    runs: int
    warmup: int
    stable: bool
    total_s: float
    block_medians_ms: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["block_medians_ms"] = [round(v, 6) for v in self.block_medians_ms]
        return out


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0..100) of an already sorted, non-empty list."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi:
        return sorted_values[lo]
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_s: list[float], *, warmup: int, stable: bool, total_s: float) -> Timing:
    """Turn per-call durations in seconds into a :class:`Timing`."""
    ordered = sorted(samples_s)
    ms = 1000.0
    return Timing(
        median_ms=percentile(ordered, 50) * ms,
        p90_ms=percentile(ordered, 90) * ms,
        mean_ms=sum(ordered) / len(ordered) * ms,
        min_ms=ordered[0] * ms,
        max_ms=ordered[-1] * ms,
        runs=len(ordered),
        warmup=warmup,
        stable=stable,
        total_s=total_s,
    )


def _block(fn: Callable[[], object], policy: TimingPolicy, clock: Clock) -> Timing:
    """One measurement: rounds of ``min_runs`` calls until the running median is stable."""
    samples: list[float] = []
    start = clock()
    previous_median: float | None = None
    stable = False
    while True:
        for _ in range(policy.min_runs):
            t0 = clock()
            fn()
            samples.append(clock() - t0)
            if len(samples) >= policy.max_runs:
                break
        elapsed = clock() - start
        median = percentile(sorted(samples), 50)
        if previous_median is not None and elapsed >= policy.min_time_s:
            moved = abs(median - previous_median) / previous_median if previous_median else 0.0
            if moved <= policy.rel_tol:
                stable = True
                break
        if len(samples) >= policy.max_runs or elapsed >= policy.max_time_s:
            break
        previous_median = median
    return summarize(samples, warmup=policy.warmup, stable=stable, total_s=clock() - start)


def measure(
    fn: Callable[[], object],
    policy: TimingPolicy = TimingPolicy(),
    *,
    clock: Clock = time.perf_counter,
) -> Timing:
    """Time single calls of ``fn``: warm up, then ``policy.blocks`` stable measurements.

    Args:
        fn: the call to time (no arguments; close over its inputs).
        policy: warm-up, run and time budgets, stability tolerance, blocks.
        clock: seconds as a float (``time.perf_counter``; tests pass a fake).

    Returns:
        :class:`Timing` of the block with the lowest median (its median, p90, runs...), with
        every block's median in ``block_medians_ms`` and ``total_s`` over all blocks.
    """
    for _ in range(policy.warmup):
        fn()
    start = clock()
    blocks = [_block(fn, policy, clock) for _ in range(policy.blocks)]
    best = min(blocks, key=lambda t: t.median_ms)
    return replace(
        best,
        total_s=clock() - start,
        block_medians_ms=tuple(t.median_ms for t in blocks),
    )


@dataclass(frozen=True)
class Throughput:
    """Items per second for calls that each handle ``batch`` items."""

    batch: int
    items_per_s: float
    mode: str  # how the batch is run: "loop" (one call per item) or "batch" (one call)
    timing: Timing

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "items_per_s": round(self.items_per_s, 3),
            "mode": self.mode,
            "timing": self.timing.to_dict(),
        }


def throughput(
    fn: Callable[[], object],
    batch: int,
    *,
    mode: str,
    policy: TimingPolicy = QUICK,
    clock: Clock = time.perf_counter,
) -> Throughput:
    """Measure ``fn`` (which processes ``batch`` items per call) and report items per second."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    timing = measure(fn, policy, clock=clock)
    per_call_s = timing.median_ms / 1000.0
    rate = batch / per_call_s if per_call_s > 0 else float("inf")
    return Throughput(batch=batch, items_per_s=rate, mode=mode, timing=timing)
