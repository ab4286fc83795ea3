"""The write token bucket and the wrong-token lockout (serving/rate_limit.py), on a set clock."""

from __future__ import annotations

from serving.rate_limit import LoginThrottle, RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_then_refills_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(rate=100, burst=500, clock=clock)
    assert limiter.take("web", 500) == 0.0
    wait = limiter.take("web", 50)
    assert abs(wait - 0.5) < 1e-9  # 50 events at 100/s
    clock.now += 0.5
    assert limiter.take("web", 50) == 0.0
    assert limiter.take("app", 500) == 0.0  # every client has its own bucket


def test_a_refused_take_costs_nothing_and_a_batch_over_the_burst_waits_for_a_full_bucket():
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=100, clock=clock)
    assert limiter.take("web", 90) == 0.0
    assert limiter.take("web", 20) > 0  # 10 left: refused, the 10 stay
    assert limiter.take("web", 10) == 0.0
    assert abs(limiter.take("web", 1000) - 10.0) < 1e-9  # never more than a full bucket's wait


def test_rate_zero_is_no_limit():
    limiter = RateLimiter(rate=0, burst=1)
    assert all(limiter.take("web", 10**6) == 0.0 for _ in range(3))


def test_too_many_wrong_tokens_lock_an_address_out_and_a_right_one_clears_the_count():
    clock = Clock()
    throttle = LoginThrottle(limit=3, lockout=60, clock=clock)
    assert throttle.failed("1.2.3.4") == 0.0
    throttle.succeeded("1.2.3.4")  # the count starts over
    assert throttle.failed("1.2.3.4") == 0.0 and throttle.failed("1.2.3.4") == 0.0
    assert throttle.failed("1.2.3.4") == 60.0
    assert throttle.locked("1.2.3.4") == 60.0 and throttle.locked("5.6.7.8") == 0.0
    clock.now += 61
    assert throttle.locked("1.2.3.4") == 0.0


def test_failures_far_apart_are_forgotten():
    clock = Clock()
    throttle = LoginThrottle(limit=2, lockout=10, clock=clock)
    throttle.failed("a")
    clock.now += 11
    assert throttle.failed("a") == 0.0  # the first was forgotten


def test_retry_after_is_whole_seconds_at_least_one():
    assert retry_after(0.01) == {"Retry-After": "1"} and retry_after(2.2) == {"Retry-After": "3"}
