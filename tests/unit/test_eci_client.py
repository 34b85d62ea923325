"""The ECI client's pure parts: error classification, backoff, scrubbing, the adaptive token bucket."""

from __future__ import annotations

import asyncio
import time

import pytest

from acr_eci_operator.eci import (
    DECREASE,
    FORGET,
    INCREASE,
    NEAR,
    PROBE,
    RESERVE_SECONDS,
    EciError,
    TokenBucket,
    backoff_delay,
    is_retryable,
    is_throttling,
    scrub,
)
from acr_eci_operator.settings import RateLimit


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("Throttling.User", 400),
        ("Rejected.Throttling", 400),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("SomethingNew", 502),
        ("OperationDenied.NoStock", 403),
        ("SDK.HttpError", None),
    ],
)
def test_retryable_errors(code: str, status: int | None) -> None:
    assert is_retryable(code, status)
    assert EciError("CreateContainerGroup", code, "m", status).retryable


@pytest.mark.parametrize(
    "code",
    [
        "InvalidParameter",
        "MissingParameter",
        "InvalidAccessKeyId.NotFound",
        "SignatureDoesNotMatch",
        "InvalidAccessKeySecret",
        "Forbidden.RAM",
        "IdempotentParameterMismatch",
        "Account.Arrearage",
    ],
)
def test_terminal_errors(code: str) -> None:
    assert not is_retryable(code, 400)


def test_backoff_grows_and_is_capped() -> None:
    assert all(0 <= backoff_delay(1, base=1.0) <= 2.0 for _ in range(100))
    assert all(0 <= backoff_delay(30, base=1.0, cap=5.0) <= 5.0 for _ in range(100))
    assert max(backoff_delay(6, base=1.0, cap=100.0) for _ in range(200)) > 2.0


def test_scrub_removes_secrets_and_the_echoed_string_to_sign() -> None:
    message = (
        "Specified signature is not matched with our calculation. "
        "server string to sign is:POST&%2F&AccessKeyId%3DLTAI%26ImageRegistryCredential.1.Password%3Dhunter22"
    )
    assert scrub(message, ["hunter22"]) == "Specified signature is not matched with our calculation."
    assert scrub("bad value hunter22 for X", ["hunter22"]) == "bad value *** for X"


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    async def run() -> float:
        bucket = TokenBucket(RateLimit(rate=20.0, burst=5))
        started = time.monotonic()
        for _ in range(15):
            await bucket.acquire()
        return time.monotonic() - started

    elapsed = asyncio.run(run())
    # 5 at once, then 10 more at 20/s: the bucket makes the caller wait at least 0.5 s (the upper bound
    # only guards against a hang; a loaded machine may be slower).
    assert 0.45 <= elapsed < 10


def test_scrub_removes_an_echoed_piece_of_a_config_file() -> None:
    content = "ZXhhbXBsZS1rZXktbWF0ZXJpYWwtdGhhdC1pcy1sb25nZXItdGhhbi1mb3J0eQ=="
    echoed = f"The parameter Volume.1.ConfigFileVolume.ConfigFileToPath.1.Content ({content[:40]}...) is bad"
    assert content[:12] not in scrub(echoed, [content])
    assert scrub("Volume.1.Name ('config') is bad", [content]) == "Volume.1.Name ('config') is bad"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(bucket: TokenBucket, now: float) -> int:
    taken = 0
    while bucket.take(now) == 0:
        taken += 1
    return taken


def test_the_bucket_starts_at_the_configured_burst_less_the_reserve_and_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=20.0, burst=100), clock)
    assert RESERVE_SECONDS * 20 == 5
    assert drain(bucket, clock.now) == 95
    assert bucket.take(clock.now) == pytest.approx(1 / 20)
    assert drain(bucket, clock.now + 1.0) == 20


def test_throttling_multiplies_the_rate_and_burst_down_and_empties_the_bucket() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=20.0, burst=100), clock)
    sent = clock.now
    assert bucket.take(sent) == 0
    assert bucket.throttled(sent, now=sent)
    assert bucket.rate == pytest.approx(20.0 * DECREASE)
    assert bucket.capacity == pytest.approx(100 * DECREASE - 20.0 * DECREASE * RESERVE_SECONDS)
    # A small burst keeps at least three quarters of itself.
    assert TokenBucket(RateLimit(rate=20.0, burst=5), clock).capacity == pytest.approx(3.75)
    assert bucket.tokens <= 0
    # The next token is due one interval of the new rate later.
    assert bucket.take(sent) == pytest.approx(1 / (20.0 * DECREASE))


def test_answers_to_calls_sent_before_a_decrease_do_not_decrease_again() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=20.0, burst=100), clock)
    first, second = clock.now, clock.now + 0.01
    assert bucket.throttled(second, now=clock.now + 0.1)
    assert not bucket.throttled(first, now=clock.now + 0.11)
    assert bucket.rate == pytest.approx(20.0 * DECREASE)
    assert bucket.throttled_calls == 2
    # A call sent after the decrease and throttled too: another decrease.
    assert bucket.throttled(clock.now + 0.2, now=clock.now + 0.3)
    # (0.2 s of additive increase came in between.)
    assert bucket.rate == pytest.approx((20.0 * DECREASE + 0.2 * INCREASE * 20.0) * DECREASE)


def test_the_rate_never_falls_below_the_floor() -> None:
    bucket = TokenBucket(RateLimit(rate=20.0, burst=100), FakeClock())
    now = 1000.0
    for _ in range(100):
        bucket.throttled(now, now=now)
        now += 0.001
    assert bucket.rate == pytest.approx(bucket.floor, rel=0.01)
    assert bucket.floor == pytest.approx(1.0)
    assert bucket.capacity >= 1.0


def test_without_throttling_the_rate_climbs_back_linearly_to_the_configured_one() -> None:
    bucket = TokenBucket(RateLimit(rate=20.0, burst=100), FakeClock())
    bucket.throttled(1000.0, now=1000.0)
    low = 20.0 * DECREASE
    bucket.take(1002.0)
    assert bucket.rate == pytest.approx(low + 2 * INCREASE * 20.0)
    bucket.take(1003.0)
    assert bucket.rate == pytest.approx(low + 3 * INCREASE * 20.0)
    bucket.take(1100.0)
    assert bucket.rate == 20.0
    assert bucket.capacity == 95.0


def test_near_the_rate_eci_throttled_at_the_rate_grows_slowly_until_it_passes_it() -> None:
    """Another client spends half the budget: ECI throttles at about 10 per second. The rate comes back
    fast to 9, then creeps (ECI's bucket fills a little meanwhile, which absorbs bunched calls), and
    once past 11 unthrottled (the other client slowed down) it is fast again."""
    bucket = TokenBucket(RateLimit(rate=20.0, burst=100), FakeClock())
    bucket.rate = 10.0
    bucket.throttled(1000.0, now=1000.0)
    assert bucket.rate == pytest.approx(10.0 * DECREASE)
    fast, slow = INCREASE * 20.0, PROBE * 20.0
    to_near = (NEAR * 10.0 - 10.0 * DECREASE) / fast
    bucket.take(1000.0 + to_near)
    assert bucket.rate == pytest.approx(NEAR * 10.0)
    bucket.take(1000.0 + to_near + 10.0)
    assert bucket.rate == pytest.approx(NEAR * 10.0 + 10.0 * slow)
    to_far = to_near + (FORGET - NEAR) * 10.0 / slow
    bucket.take(1000.0 + to_far + 2.0)
    assert bucket.rate == pytest.approx(FORGET * 10.0 + 2.0 * fast)
    assert bucket.ceiling is None
    bucket.take(1000.0 + to_far + 100.0)
    assert bucket.rate == 20.0


@pytest.mark.parametrize(
    ("code", "throttling"),
    [
        ("Throttling", True),
        ("Throttling.User", True),
        ("Throttling.Api", True),
        ("Rejected.Throttling", True),
        ("ServiceUnavailable", False),
        ("InvalidParameter", False),
    ],
)
def test_throttling_answers(code: str, throttling: bool) -> None:
    assert is_throttling(code) is throttling


def test_slow_answers_widen_the_reserve_within_a_quarter_of_the_burst() -> None:
    bucket = TokenBucket(RateLimit(rate=20.0, burst=100), FakeClock())
    assert bucket.capacity == 95.0
    for _ in range(50):
        bucket.answered(0.5)  # ECI answers in half a second: our bucket may run 10 tokens ahead of it
    assert bucket.capacity == pytest.approx(90.0, abs=0.1)
    assert bucket.tokens <= bucket.capacity
    for _ in range(50):
        bucket.answered(5.0)
    assert bucket.capacity == pytest.approx(75.0)
    for _ in range(50):
        bucket.answered(0.01)  # fast again: back to the least reserve
    assert bucket.capacity == pytest.approx(95.0)
