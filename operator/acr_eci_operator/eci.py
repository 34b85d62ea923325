"""The ECI client: the only module that touches the Alibaba Cloud SDK.

It signs and sends requests with the current values of a `Credentials` object (in a worker thread: the
SDK is synchronous), refreshes them once when ECI refuses them, points requests at ECI_ENDPOINT when
set, applies time-outs, waits for its own adaptive token bucket per ECI action (one client per account
and region: `accounts.py`), slowing down when ECI throttles and speeding up again when it stops,
retries retryable errors with exponential backoff and full jitter, and turns every failure into one
`EciError` that says whether it is retryable. No message it produces contains a credential.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import importlib
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient

from acr_eci_operator import metrics
from acr_eci_operator.credentials import Credentials, CredentialValues
from acr_eci_operator.errors import OperatorError
from acr_eci_operator.settings import RateLimit, Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")


def silence_sdk_logging() -> None:
    """Mute every logger of the SDK: it logs whole requests and answers at DEBUG (Secret-sourced env
    values and registry passwords among them) and, at ERROR, the server's message, which for
    SignatureDoesNotMatch holds the string to sign. Our own log lines say what matters."""
    for name in [*logging.root.manager.loggerDict, "aliyunsdkcore"]:
        if name == "aliyunsdkcore" or name.startswith("aliyunsdkcore."):
            sdk_logger = logging.getLogger(name)
            sdk_logger.disabled = True
            sdk_logger.propagate = False
            sdk_logger.setLevel(logging.CRITICAL + 1)


silence_sdk_logging()

MUTATING_ACTIONS = frozenset(
    {"CreateContainerGroup", "UpdateContainerGroup", "DeleteContainerGroup", "RestartContainerGroup"}
)
DESCRIBE_BATCH = 20
"""DescribeContainerGroups takes at most 20 ids, and answers at most 20 groups, per call."""
STATUS_PAGE = 200
"""DescribeContainerGroupStatus answers at most this many groups per call (its documented default)."""
DESCRIBE_CONCURRENCY = 4
"""DescribeContainerGroups calls of one poll in flight at once."""

RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "Rejected.Throttling",
        "Degrade.Api",
        "ServiceUnavailable",
        "InternalError",
        "UnknownError",
        "OperationDenied.NoStock",
        "containerRepositoryAuthorizationFailed",
        "SDK.HttpError",
        "SDK.ServerUnreachable",
        "SDK.Timeout",
    }
)
LATER_CODES = frozenset({"IncorrectStatus", "OperationConflict"})
"""The group is moving between phases: the call may succeed once it settles. Retried by the reconciler
(after the next observation), not inside the call."""
CREDENTIALS_REFUSALS = ("InvalidSecurityToken.", "InvalidAccessKeyId.")
"""Codes that say the signing credentials were refused (InvalidSecurityToken.Expired, .Malformed,
.MismatchWithAccessKey; InvalidAccessKeyId.NotFound, .Inactive): `call` refreshes them and retries once."""
STS_CALL_ALLOWANCE = 20.0
"""Time an ECI call may spend getting fresh STS credentials first (the STS connect and read time-outs)."""
CALL_THREADS = 32
"""Threads that carry ECI calls (the SDK is synchronous), apart from asyncio's default executor (a few
threads per CPU, which the Kubernetes calls use): a wave at ECI's rate does not queue its calls behind
each other or behind Kubernetes calls, so a call goes out as soon as its token is taken."""
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _run_in_thread(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking function in the ECI threads (with the caller's context variables)."""
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="eci-call")
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(
        _executor, functools.partial(context.run, function, *args)
    )


NOT_FOUND_CODES = frozenset(
    {"InvalidParameter.NotFound", "InvalidContainerGroupId.NotFound", "ContainerGroup.NotFound"}
)


class EciError(OperatorError):
    """An ECI call failed: the reason is ECI's error code; `transient` says whether the same call may be
    sent again at once (with backoff); `retryable` whether the work may succeed later."""

    def __init__(
        self,
        action: str,
        code: str,
        message: str,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            code, f"{action}: {message}", retryable=is_retryable(code, http_status) or code in LATER_CODES
        )
        self.action = action
        self.code = code
        self.detail = message
        self.http_status = http_status
        self.request_id = request_id
        self.credentials: CredentialValues | None = None
        """The credentials the request was signed with (never shown)."""

    @property
    def transient(self) -> bool:
        return is_retryable(self.code, self.http_status)

    @property
    def not_found(self) -> bool:
        # Only the group's own not-found codes: InvalidAccessKeyId.NotFound or InvalidRegionId.NotFound
        # say nothing about the group.
        return self.code in NOT_FOUND_CODES


def is_credentials_refusal(code: str) -> bool:
    """ECI refused the credentials themselves (expired or unknown STS token, unknown or disabled key):
    newer ones may work."""
    return code.startswith(CREDENTIALS_REFUSALS)


def is_retryable(code: str, http_status: int | None) -> bool:
    """Sort an ECI error code into retryable (throttling, 5xx, time-outs, no stock) or terminal."""
    if code in RETRYABLE_CODES or code.startswith("Throttling"):
        return True
    return http_status is not None and http_status >= 500


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2**attempt)))


DECREASE = 0.7
"""On a Throttling answer the bucket's refill rate (and burst) is multiplied by this."""
INCREASE = 0.05
"""Without throttling, the rate grows back by this share of the configured rate per second (from 0.7 of
it to all of it in 6 s), up to `NEAR` of the rate at which ECI last throttled."""
NEAR = 0.9
"""Above this share of the rate at which ECI last throttled (the share of the budget left to us when it
did), the rate grows by `PROBE` only: another client that keeps spending its part throttles us again
only after a long stretch just below our share (when ECI's own bucket fills a little, which absorbs the
bunching of calls)."""
PROBE = 0.002
"""The slow growth near the last throttled rate, as a share of the configured rate per second (at 20
per second: from 0.9 to 1.0 of a 10-per-second share in 25 s)."""
FORGET = 1.1
"""Once the rate exceeds the last throttled one by this factor without being throttled, that rate is
forgotten (the other client slowed down) and the fast growth goes on up to the configured rate."""
FLOOR = 0.05
"""The rate never falls below this share of the configured rate."""
RESERVE_SECONDS = 0.25
"""The bucket holds fewer tokens than ECI's: the refill of one call's round trip (a moving average of
the answers' times), and at least of this many seconds. ECI's bucket starts draining when a burst's first
call arrives, ours when it is sent, so ours runs ahead of ECI's by that call's way there; the reserve
absorbs it (at 20 per second and fast answers: 5 of the 100 tokens)."""
RESERVE_SHARE = 0.25
"""The reserve never takes more than this share of the burst."""


def is_throttling(code: str) -> bool:
    """ECI's answers that say the account's flow control refused the call."""
    return code.startswith("Throttling") or code == "Rejected.Throttling"


class TokenBucket:
    """An adaptive asyncio token bucket for one ECI action of one account and region.

    It starts at the configured limit (ECI's documented one: `rate` per second, `burst` at once). ECI's
    limits are per account: when another client spends part of the budget, ECI answers Throttling. Each
    such answer to a call sent after the last decrease multiplies the rate and the burst by `DECREASE`
    (answers to calls sent before it say nothing about the new rate), down to `FLOOR` of the configured
    rate, and empties the bucket (ECI's own is empty). While no call is throttled the rate grows back by
    `INCREASE` of the configured rate per second (additive increase) up to `NEAR` of the rate it was
    throttled at, then by `PROBE` only until it passes that rate by `FORGET`, never above the configured
    rate; the burst follows the rate, less a reserve of one round trip's refill (`RESERVE_SECONDS` at
    least). `clock` is for tests."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.rate = limit.rate
        self.latency = RESERVE_SECONDS
        """A moving average of the time ECI took to answer (`answered`)."""
        self.capacity = self._capacity()
        self.tokens = self.capacity
        self.updated = clock()
        self.decreased_at = -math.inf
        """When the rate was last decreased."""
        self.ceiling: float | None = None
        """The rate at which ECI last throttled, until it is passed by `FORGET` (see the class)."""
        self.throttled_calls = 0
        """Throttling answers seen (every one, whether it decreased the rate or not)."""
        self._lock = asyncio.Lock()

    @property
    def floor(self) -> float:
        return self.limit.rate * FLOOR

    def _capacity(self) -> float:
        """The burst, in proportion to the rate, less the reserve (at least one token is left)."""
        burst = self.limit.burst * self.rate / self.limit.rate
        reserve = self.rate * max(RESERVE_SECONDS, self.latency)
        return max(1.0, burst - min(reserve, burst * RESERVE_SHARE))

    def answered(self, seconds: float) -> None:
        """ECI answered a call (whatever it said) `seconds` after it was sent."""
        self.latency = 0.8 * self.latency + 0.2 * seconds
        self.capacity = self._capacity()
        self.tokens = min(self.tokens, self.capacity)

    def _advance(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        if self.rate < self.limit.rate:
            self.rate = min(self.limit.rate, self._grown(elapsed))
            self.capacity = self._capacity()
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)

    def _grown(self, elapsed: float) -> float:
        """The rate after `elapsed` seconds without throttling: fast up to `NEAR` of the ceiling, slowly
        from there until `FORGET` times it, then fast again."""
        rate, fast, slow = self.rate, INCREASE * self.limit.rate, PROBE * self.limit.rate
        ceiling = self.ceiling
        if ceiling is None:
            return rate + fast * elapsed
        near, far = NEAR * ceiling, FORGET * ceiling
        if rate < near:
            spent = min(elapsed, (near - rate) / fast)
            rate, elapsed = rate + fast * spent, elapsed - spent
        if rate < far:
            spent = min(elapsed, (far - rate) / slow)
            rate, elapsed = rate + slow * spent, elapsed - spent
        if elapsed > 0:
            self.ceiling = None
            rate += fast * elapsed
        return rate

    def take(self, now: float) -> float:
        """Take a token at `now`: 0 when one was taken, else the seconds until one is due."""
        self._advance(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def throttled(self, sent_at: float, now: float | None = None) -> bool:
        """ECI throttled a call sent at `sent_at` (the time `acquire` returned): slow down, unless the
        call was sent before the last decrease. True when the rate was decreased."""
        now = self.clock() if now is None else now
        self.throttled_calls += 1
        if sent_at < self.decreased_at:
            return False
        self._advance(now)
        self.ceiling = self.rate
        self.rate = max(self.floor, self.rate * DECREASE)
        self.capacity = self._capacity()
        self.tokens = min(self.tokens, 0.0)
        self.decreased_at = now
        return True

    async def acquire(self) -> float:
        """Wait for a token; the time it was taken (for `throttled`)."""
        async with self._lock:
            while True:
                now = self.clock()
                wait = self.take(now)
                if wait <= 0:
                    return now
                await asyncio.sleep(wait)


TRANSPORT_CODES = frozenset({"SDK.HttpError", "SDK.ServerUnreachable"})
TRANSPORT_FAILURES = (
    ("refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("name or service not known", "name not resolved"),
    ("nodename nor servname", "name not resolved"),
    ("temporary failure in name resolution", "name not resolved"),
    ("reset by peer", "connection reset"),
    ("remote end closed", "connection closed without an answer"),
    ("connection aborted", "connection closed without an answer"),
    ("ssl", "TLS handshake failed"),
    ("certificate", "TLS handshake failed"),
)


def call_timeout(settings: Settings) -> float:
    """The longest one ECI call lives: the SDK's connect and read time-outs bound its HTTP exchange (the
    SDK retries nothing itself), plus fresh STS credentials first, plus a margin. A request whose caller
    stopped waiting (a cancelled task) has reached ECI or failed by then."""
    return settings.connect_timeout + settings.read_timeout + 5.0 + STS_CALL_ALLOWANCE


def transport_failure(text: str) -> str:
    """The kind of a transport failure, from the SDK's message, without any of its text."""
    lowered = text.lower()
    for needle, kind in TRANSPORT_FAILURES:
        if needle in lowered:
            return kind
    return "connection failed"


SECRET_RUN = re.compile(r"[A-Za-z0-9+/=_-]{12,}")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret value (and the server's echo of the signed string) from an error message."""
    text = text.split("server string to sign is", 1)[0].rstrip(" :")
    secrets = [secret for secret in secrets if secret and len(secret) >= 4]
    for secret in secrets:
        text = text.replace(secret, "***")
    # A message may quote part of a value (ECI shortens long ones): any run of 12 or more characters of
    # a secret value goes too.
    for run in set(SECRET_RUN.findall(text)):
        if any(run in secret for secret in secrets):
            text = text.replace(run, "***")
    return text


class EciClient:
    """Async facade over the SDK: `call` plus one method per action the operator uses."""

    def __init__(
        self, settings: Settings, credentials: Credentials, max_attempts: int = 6, backoff_cap: float = 30.0
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.max_attempts = max_attempts
        # In-call retries never wait longer than work retries do (ACR_ECI_RETRY_CAP_SECONDS).
        self.backoff_cap = min(backoff_cap, settings.retry_cap)
        # The SDK's own time-outs bound each HTTP exchange; this bounds the whole call, whatever hangs
        # (an STS call for fresh credentials included).
        self.call_timeout = call_timeout(settings)
        self.buckets: dict[str, TokenBucket] = {}
        """One adaptive token bucket per ECI action (ECI limits each action on its own)."""
        self._clients: dict[str, tuple[tuple[str, str], AcsClient]] = {}
        self._clients_lock = threading.Lock()

    def bucket(self, action: str) -> TokenBucket:
        """The token bucket of an action (made at its first call, from the configured limit)."""
        bucket = self.buckets.get(action)
        if bucket is None:
            bucket = self.buckets[action] = TokenBucket(self.settings.limit(action))
        return bucket

    def _client(self, region_id: str, values: CredentialValues) -> AcsClient:
        """The SDK client of a region, signing with these values' AccessKey pair.

        The SDK fixes its signer when a client is built, so a client is kept per region and key pair and
        built again when the pair changes (new STS credentials, rotated files). The pair is given as
        `ak`/`secret`, which the SDK ranks above any ALIYUN_ACCESS_KEY_* variable in the environment; an STS
        token goes on each request (`_send`), exactly as the SDK's own STS signer would put it."""
        pair = (values.access_key_id, values.access_key_secret)
        with self._clients_lock:
            held = self._clients.get(region_id)
            if held is not None and held[0] == pair:
                return held[1]
            client = AcsClient(
                ak=values.access_key_id,
                secret=values.access_key_secret,
                region_id=region_id,
                auto_retry=False,
                connect_timeout=self.settings.connect_timeout,
                timeout=self.settings.read_timeout,
                pool_size=CALL_THREADS,  # a connection per thread, kept (the default of 10 is not)
            )
            self._clients[region_id] = (pair, client)
            return client

    def _secrets(self, params: Mapping[str, str]) -> list[str]:
        # Passwords, config file contents and every environment value (some come from Secrets; an error
        # message that echoes a parameter must not carry one).
        values = [
            value
            for name, value in params.items()
            if name.endswith(("Password", ".Content"))  # config files may come from Secrets
            or (".EnvironmentVar." in name and name.endswith(".Value"))
        ]
        values.extend(self.credentials.secrets())
        return values

    def _send(self, action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One request, signed with the credentials' current values (an STS fetch first, when due). An
        error carries the values it was sent with (`EciError.credentials`), for `call` to refresh them."""
        values = self.credentials.current()
        try:
            return self._send_with(action, region_id, params, values)
        except EciError as error:
            error.credentials = values
            raise

    def _send_with(
        self, action: str, region_id: str, params: Mapping[str, str], values: CredentialValues
    ) -> dict[str, Any]:
        module = importlib.import_module(f"aliyunsdkeci.request.v20180808.{action}Request")
        request = getattr(module, f"{action}Request")()
        request.set_accept_format("json")
        request.set_method("POST")
        if self.settings.endpoint:
            request.set_endpoint(self.settings.endpoint)
            request.set_protocol_type(self.settings.endpoint_protocol)
        # Parameters go in the signed form body, so no password ever appears in a URL.
        request.add_query_param("RegionId", region_id)
        if values.security_token:
            request.add_query_param("SecurityToken", values.security_token)
        for name, value in params.items():
            if name != "RegionId":
                request.add_body_params(name, value)
        try:
            body = self._client(region_id, values).do_action_with_exception(request)
        except ServerException as error:
            raise EciError(
                action,
                error.get_error_code(),
                scrub(error.get_error_msg() or "", self._secrets(params)),
                error.get_http_status(),
                error.get_request_id(),
            ) from None
        except ClientException as error:
            # The SDK's transport errors quote the whole signed URL (AccessKeyId, nonce, signature): a
            # request anyone could replay. Say only what kind of failure it was, and where.
            code = error.get_error_code()
            if code in TRANSPORT_CODES:
                host = self.settings.endpoint or f"eci.{region_id}.aliyuncs.com"
                message = f"ECI endpoint {host} unreachable: {transport_failure(error.get_error_msg() or '')}"
            else:
                message = scrub(error.get_error_msg() or "", self._secrets(params))
            raise EciError(action, code, message) from None
        result: dict[str, Any] = json.loads(body)
        return result

    async def call(
        self,
        action: str,
        region_id: str,
        params: Mapping[str, str],
        retry: bool = True,
        give_up_on: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """Send one action, waiting for the shared rate limiter and retrying retryable errors (but those
        in `give_up_on`, which the caller answers itself)."""
        bucket = self.bucket(action)
        attempt = 0
        refreshed = False
        while True:
            with metrics.rate_limit_wait("mutate" if action in MUTATING_ACTIONS else "describe"):
                sent_at = await bucket.acquire()
            try:
                with metrics.eci_call(action):
                    answer = await asyncio.wait_for(
                        _run_in_thread(self._send, action, region_id, params), timeout=self.call_timeout
                    )
                bucket.answered(time.monotonic() - sent_at)
                return answer
            except TimeoutError:
                error = EciError(action, "SDK.Timeout", f"no answer within {self.call_timeout:g}s")
            except EciError as raised:
                error = raised
                if error.http_status is not None:
                    bucket.answered(time.monotonic() - sent_at)
            if is_throttling(error.code) and bucket.throttled(sent_at):
                logger.info(
                    "ECI throttled %s (another client shares the account?): now %.2f calls per second "
                    "(configured %g)",
                    action,
                    bucket.rate,
                    bucket.limit.rate,
                )
            if is_credentials_refusal(error.code) and not refreshed and error.credentials is not None:
                # Expired or rotated credentials: one refresh, and one retry if it gave newer ones.
                refreshed = True
                fresh = await asyncio.to_thread(self.credentials.refresh, error.credentials)
                if fresh != error.credentials:
                    logger.info(
                        "%s refused the credentials (%s, key %s); retrying once with refreshed ones (key %s)",
                        action,
                        error.code,
                        error.credentials.access_key_id,
                        fresh.access_key_id,
                    )
                    continue
            attempt += 1
            if not (retry and error.transient and attempt < self.max_attempts) or error.code in give_up_on:
                raise error
            delay = backoff_delay(attempt, cap=self.backoff_cap)
            logger.info("%s failed with %s; retry %d in %.1fs", action, error.code, attempt, delay)
            await asyncio.sleep(delay)

    async def create_container_group(
        self, region_id: str, params: Mapping[str, str], give_up_on: frozenset[str] = frozenset()
    ) -> str:
        answer = await self.call("CreateContainerGroup", region_id, params, give_up_on=give_up_on)
        return str(answer["ContainerGroupId"])

    async def update_container_group(self, region_id: str, params: Mapping[str, str]) -> None:
        await self.call("UpdateContainerGroup", region_id, params)

    async def restart_container_group(
        self, region_id: str, container_group_id: str, client_token: str
    ) -> None:
        await self.call(
            "RestartContainerGroup",
            region_id,
            {"ContainerGroupId": container_group_id, "ClientToken": client_token},
        )

    async def delete_container_group(self, region_id: str, container_group_id: str) -> bool:
        """Delete a group; False when it was already gone (which is success too)."""
        try:
            await self.call("DeleteContainerGroup", region_id, {"ContainerGroupId": container_group_id})
        except EciError as error:
            if error.not_found:
                return False
            raise
        return True

    async def describe_container_groups(
        self, region_id: str, container_group_ids: Sequence[str], retry: bool = True
    ) -> list[dict[str, Any]]:
        """Describe at most 20 groups by id in one call; groups ECI does not report are simply absent
        (which alone does not prove they are gone: the caller confirms)."""
        if len(container_group_ids) > DESCRIBE_BATCH:
            raise ValueError(f"at most {DESCRIBE_BATCH} ids per DescribeContainerGroups call")
        answer = await self.call(
            "DescribeContainerGroups",
            region_id,
            {"ContainerGroupIds": json.dumps(list(container_group_ids)), "Limit": str(DESCRIBE_BATCH)},
            retry=retry,
        )
        return list(answer.get("ContainerGroups") or [])

    async def describe_container_group_status(
        self, region_id: str, since_second: int | None = None
    ) -> list[dict[str, Any]]:
        """Every group of the account in the region (or only those updated within `since_second`), as
        DescribeContainerGroupStatus reports them (status and pod status, no events), following
        NextToken. No retries inside the call: the poller asks again next time."""
        items: list[dict[str, Any]] = []
        next_token = ""
        while True:
            params = {"Limit": str(STATUS_PAGE)}
            if since_second is not None:
                params["SinceSecond"] = str(since_second)
            if next_token:
                params["NextToken"] = next_token
            answer = await self.call("DescribeContainerGroupStatus", region_id, params, retry=False)
            items.extend(answer.get("Data") or [])
            next_token = answer.get("NextToken") or ""
            if not next_token:
                return items

    async def find_container_groups_by_tag(
        self, region_id: str, key: str, value: str
    ) -> list[dict[str, Any]]:
        """Every group carrying the tag key=value, following NextToken."""
        groups: list[dict[str, Any]] = []
        next_token = ""
        while True:
            params = {"Tag.1.Key": key, "Tag.1.Value": value, "Limit": str(DESCRIBE_BATCH)}
            if next_token:
                params["NextToken"] = next_token
            answer = await self.call("DescribeContainerGroups", region_id, params)
            groups.extend(answer.get("ContainerGroups") or [])
            next_token = answer.get("NextToken") or ""
            if not next_token:
                return groups
