"""The ECI client's pure parts: error classification, backoff, scrubbing, the token bucket."""

from __future__ import annotations

import asyncio
import time

import pytest

from acr_eci_operator.eci import EciError, TokenBucket, backoff_delay, is_retryable, scrub
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
