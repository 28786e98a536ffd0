"""Timing logic with a fake clock: no wall-clock thresholds anywhere."""

from __future__ import annotations

import pytest

from benchmarks.timing import (
    QUICK,
    TimingPolicy,
    cycling,
    fixed_runs,
    measure,
    percentile,
    summarize,
    throughput,
)


class FakeClock:
    """A clock that advances by the next duration each time the timed function runs."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = iter(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += next(self.durations)


def constant(seconds: float):
    while True:
        yield seconds


def test_percentile_interpolates():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 90) == pytest.approx(4.6)
    assert percentile([7.0], 90) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summarize_reports_milliseconds():
    t = summarize([0.001, 0.002, 0.003], warmup=1, stable=True, total_s=0.006)
    assert t.median_ms == pytest.approx(2.0)
    assert t.min_ms == pytest.approx(1.0) and t.max_ms == pytest.approx(3.0)
    assert t.runs == 3 and t.stable
    assert set(t.to_dict()) >= {"median_ms", "p90_ms", "runs", "stable", "warmup"}


def test_measure_warms_up_then_stops_once_the_median_is_stable():
    clock = FakeClock(constant(0.001))
    policy = TimingPolicy(
        warmup=5, min_runs=10, max_runs=1000, min_time_s=0.0, max_time_s=100, blocks=1
    )
    t = measure(clock.work, policy, clock=clock)
    assert t.stable
    assert t.runs == 20  # two rounds: the second confirms the first median
    assert clock.calls == 25  # warm-up calls are made but not sampled
    assert t.median_ms == pytest.approx(1.0)
    assert t.p90_ms == pytest.approx(1.0)


def test_measure_keeps_sampling_until_min_time():
    clock = FakeClock(constant(0.01))
    policy = TimingPolicy(warmup=0, min_runs=10, max_runs=10_000, min_time_s=1.0, max_time_s=100)
    t = measure(clock.work, policy, clock=clock)
    assert t.stable
    assert t.runs * 0.01 >= 1.0


def test_measure_gives_up_unstable_at_the_run_budget():
    def growing():
        d = 0.001
        while True:
            d *= 1.5  # every call slower than the last: the median never settles
            yield d

    clock = FakeClock(growing())
    policy = TimingPolicy(warmup=0, min_runs=5, max_runs=40, min_time_s=0.0, max_time_s=1e12)
    t = measure(clock.work, policy, clock=clock)
    assert not t.stable
    assert t.runs == 40


def test_measure_gives_up_unstable_at_the_time_budget():
    def growing():
        d = 0.01
        while True:
            d *= 1.2
            yield d

    clock = FakeClock(growing())
    policy = TimingPolicy(warmup=0, min_runs=5, max_runs=10_000, min_time_s=0.0, max_time_s=2.0)
    t = measure(clock.work, policy, clock=clock)
    assert not t.stable
    assert t.runs < 10_000


def test_the_median_ignores_rare_outliers():
    def noisy():
        i = 0
        while True:
            i += 1
            yield 0.5 if i % 25 == 0 else 0.002  # another process steals the core now and then

    clock = FakeClock(noisy())
    t = measure(clock.work, TimingPolicy(warmup=0, min_runs=50, min_time_s=0.0), clock=clock)
    assert t.median_ms == pytest.approx(2.0)
    assert t.max_ms == pytest.approx(500.0)


def test_the_block_with_the_lowest_median_is_reported():
    # someone else's burst in the first and the last block
    clock = FakeClock(iter([0.010] * 20 + [0.001] * 20 + [0.010] * 20))
    policy = TimingPolicy(warmup=0, min_runs=10, max_runs=20, min_time_s=0.0, blocks=3)
    t = measure(clock.work, policy, clock=clock)
    assert t.median_ms == pytest.approx(1.0)
    assert t.block_medians_ms == pytest.approx((10.0, 1.0, 10.0))
    assert t.to_dict()["block_medians_ms"] == pytest.approx([10.0, 1.0, 10.0])
    assert t.total_s == pytest.approx(0.42)


def test_throughput_is_batch_over_median_call():
    clock = FakeClock(constant(0.5))
    tp = throughput(clock.work, 1000, mode="loop", policy=QUICK, clock=clock)
    assert tp.items_per_s == pytest.approx(2000.0)
    assert tp.to_dict()["mode"] == "loop" and tp.batch == 1000
    with pytest.raises(ValueError):
        throughput(clock.work, 0, mode="loop", clock=clock)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_runs": 0},
        {"min_runs": 10, "max_runs": 5},
        {"warmup": -1},
        {"min_time_s": 5, "max_time_s": 1},
    ],
)
def test_policy_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        TimingPolicy(**kwargs)


def test_fixed_runs_times_exactly_that_many_calls_through_each_input():
    clock = FakeClock(constant(5.0))  # far beyond any time budget: the count alone decides
    seen = []

    def work(item):
        seen.append(item)
        clock.work()

    timing = measure(cycling(work, "abc"), fixed_runs(6, warmup=2), clock=clock)
    assert timing.runs == 6 and clock.calls == 8 and timing.median_ms == 5000.0
    assert "".join(seen) == "abcabcab"
    with pytest.raises(ValueError):
        cycling(work, [])
