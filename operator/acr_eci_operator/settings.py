"""The operator's configuration: read from the environment once at start-up and validated there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REGION_PATTERN = re.compile(r"^[a-z]{2,}-[a-z0-9-]+$")
SECURITY_GROUP_PATTERN = re.compile(r"^sg-[\w-]+$")
ENV_REGION_ID = "ALIBABA_CLOUD_REGION_ID"
ENV_DEFAULT_SECURITY_GROUP_ID = "ECI_DEFAULT_SECURITY_GROUP_ID"
ENV_DEFAULT_VSWITCH_IDS = "ECI_DEFAULT_VSWITCH_IDS"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `rate` requests per second on average, up to `burst` at once."""

    rate: float
    burst: int


MUTATING_ACTIONS = (
    "CreateContainerGroup",
    "UpdateContainerGroup",
    "DeleteContainerGroup",
    "RestartContainerGroup",
)
DOCUMENTED_LIMITS: Mapping[str, RateLimit] = {
    # The limits page: Create and Delete are token buckets of burst 100 refilled 20 per second.
    "CreateContainerGroup": RateLimit(20.0, 100),
    "DeleteContainerGroup": RateLimit(20.0, 100),
    # The flow-control page counts per 60 s; as a bucket: that rate, and a burst of 100 (200 for the
    # status calls), so that no 60 s window goes far beyond the count.
    "UpdateContainerGroup": RateLimit(1000 / 60, 100),
    "RestartContainerGroup": RateLimit(1000 / 60, 100),
    "DescribeContainerGroups": RateLimit(2000 / 60, 100),
    "DescribeContainerGroupStatus": RateLimit(10000 / 60, 200),
    "DescribeContainerGroupEvents": RateLimit(10000 / 60, 200),
}
"""ECI's documented limit of each action (per account and region), the operator's starting rates."""
OTHER_ACTION_LIMIT = RateLimit(1000 / 60, 100)
"""The limit of an action not listed above (the flow-control page's smallest)."""
ACTION_NAME = re.compile(r"^[A-Z][A-Za-z]+$")


def _documented_limits() -> dict[str, RateLimit]:
    return dict(DOCUMENTED_LIMITS)


@dataclass(frozen=True)
class Settings:
    """Everything the operator reads from its environment but its credentials (`credentials.py`)."""

    region_id: str = "cn-hangzhou"
    """ALIBABA_CLOUD_REGION_ID: the region of resources that don't name one."""
    endpoint: str | None = None
    """ECI_ENDPOINT: `host:port` (or a URL) that replaces ECI's public endpoint, e.g. an emulator."""
    endpoint_protocol: str = "https"
    """The scheme of ECI_ENDPOINT (`http` for a local emulator)."""
    default_security_group_id: str | None = None
    """ECI_DEFAULT_SECURITY_GROUP_ID."""
    default_v_switch_ids: tuple[str, ...] = ()
    """ECI_DEFAULT_VSWITCH_IDS, comma-separated."""
    poll_interval: float = 60.0
    """ECI_POLL_INTERVAL_SECONDS: how often the poller lists every group (DescribeContainerGroupStatus):
    a group deleted behind the operator's back is noticed within it."""
    status_poll_interval: float = 2.5
    """ECI_STATUS_POLL_INTERVAL_SECONDS: how often the poller asks for the groups that changed
    (DescribeContainerGroupStatus with SinceSecond): a change shows on the resource within about it."""
    rate_limits: Mapping[str, RateLimit] = field(default_factory=_documented_limits)
    """The token bucket of each ECI action (one per action, as ECI limits each action on its own), per
    account and region: ECI's documented limits (`DOCUMENTED_LIMITS`), over which
    ECI_MUTATE_RATE_PER_SECOND / ECI_MUTATE_BURST set Create, Update, Delete and Restart,
    ECI_DESCRIBE_RATE_PER_SECOND / ECI_DESCRIBE_BURST every Describe* action, and ECI_RATE_LIMITS
    (`Action=rate/burst,...`) any one action. The limiter starts at these rates, slows down when ECI
    answers Throttling (another client shares the account) and comes back to them (`eci.TokenBucket`)."""
    client_token_trust: float = 300.0
    """ACR_ECI_CLIENT_TOKEN_TRUST_SECONDS: how long after a create was first sent its ClientToken is
    trusted to return the group it made; later, groups are looked up by tag before it is sent again."""
    log_format: str = "text"
    """ACR_ECI_LOG_FORMAT: `text` or `json`."""
    log_level: str = "INFO"
    """ACR_ECI_LOG_LEVEL."""
    connect_timeout: float = 5.0
    """ECI_CONNECT_TIMEOUT_SECONDS."""
    read_timeout: float = 10.0
    """ECI_READ_TIMEOUT_SECONDS."""
    retry_cap: float = 300.0
    """ACR_ECI_RETRY_CAP_SECONDS: the longest wait between two attempts of failed work (backoff cap)."""
    kube_timeout: float = 30.0
    """ACR_ECI_KUBE_TIMEOUT_SECONDS: the longest any one Kubernetes API call may take."""
    peering_lifetime: int = 15
    watch_secrets: bool = True
    """Watch Secrets (RBAC list+watch) so a changed Secret reaches ECI at once; without it, the Secrets a
    resource reads are read again at each resync (every 20 poll intervals)."""
    """ACR_ECI_PEERING_LIFETIME_SECONDS: how long a replica that stopped answering keeps the active role
    (kopf's peering lifetime); a killed active replica is replaced within this time."""
    metrics_address: tuple[str, int] | None = None
    """ACR_ECI_METRICS_ADDRESS (`run --metrics-address` overrides it): `host:port` on which to serve
    Prometheus metrics at /metrics; unset: no metrics endpoint."""

    def limit(self, action: str) -> RateLimit:
        """The configured limit of an ECI action."""
        return self.rate_limits.get(action) or OTHER_ACTION_LIMIT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every setting; raise SettingsError naming the first bad variable."""
        reader = _Reader(env)
        endpoint, protocol = reader.endpoint("ECI_ENDPOINT")
        return cls(
            region_id=reader.pattern(ENV_REGION_ID, REGION_PATTERN, required=True) or "",
            endpoint=endpoint,
            endpoint_protocol=protocol,
            default_security_group_id=reader.pattern(ENV_DEFAULT_SECURITY_GROUP_ID, SECURITY_GROUP_PATTERN),
            default_v_switch_ids=reader.v_switch_ids(ENV_DEFAULT_VSWITCH_IDS),
            poll_interval=reader.number("ECI_POLL_INTERVAL_SECONDS", 60.0, minimum=0.1),
            status_poll_interval=reader.number("ECI_STATUS_POLL_INTERVAL_SECONDS", 2.5, minimum=0.1),
            rate_limits=reader.rate_limits(),
            client_token_trust=reader.number("ACR_ECI_CLIENT_TOKEN_TRUST_SECONDS", 300.0, minimum=0.0),
            log_format=reader.choice("ACR_ECI_LOG_FORMAT", ("text", "json"), "text"),
            log_level=reader.choice("ACR_ECI_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
            connect_timeout=reader.number("ECI_CONNECT_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            read_timeout=reader.number("ECI_READ_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            retry_cap=reader.number("ACR_ECI_RETRY_CAP_SECONDS", 300.0, minimum=0.1),
            kube_timeout=reader.number("ACR_ECI_KUBE_TIMEOUT_SECONDS", 30.0, minimum=0.1),
            peering_lifetime=int(reader.number("ACR_ECI_PEERING_LIFETIME_SECONDS", 15, minimum=2)),
            watch_secrets=reader.choice("ACR_ECI_WATCH_SECRETS", ("true", "false"), "true") == "true",
            metrics_address=reader.address("ACR_ECI_METRICS_ADDRESS"),
        )


def network_defaults(env: Mapping[str, str]) -> tuple[str | None, str | None, tuple[str, ...]]:
    """The operator's region, default security group and vSwitches as `Settings.from_env` reads and checks
    them, none of them required (for the offline commands, which may run without the operator's settings)."""
    reader = _Reader(env)
    return (
        reader.pattern(ENV_REGION_ID, REGION_PATTERN),
        reader.pattern(ENV_DEFAULT_SECURITY_GROUP_ID, SECURITY_GROUP_PATTERN),
        reader.v_switch_ids(ENV_DEFAULT_VSWITCH_IDS),
    )


def parse_address(text: str) -> tuple[str, int]:
    """`host:port` (`[v6]:port` for IPv6; an empty host means every interface) as (host, port)."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not re.match(r"^[\w.:-]*$", host):
        raise SettingsError(f"{text!r} is not host:port")
    return host or "0.0.0.0", int(port)


@dataclass(frozen=True)
class _Reader:
    env: Mapping[str, str]

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise SettingsError(f"{name} is required but not set")
        return value

    def pattern(self, name: str, pattern: re.Pattern[str], required: bool = False) -> str | None:
        value = self.required(name) if required else self.optional(name)
        if value is not None and not pattern.match(value):
            raise SettingsError(f"{name}={value!r} does not match {pattern.pattern}")
        return value

    def number(self, name: str, default: float, minimum: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return float(default)
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number") from None
        if value < minimum:
            raise SettingsError(f"{name}={raw!r} is below the minimum {minimum:g}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self.optional(name)
        if raw is None:
            return default
        for choice in choices:
            if raw.lower() == choice.lower():
                return choice
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(choices)}")

    def rate_limits(self) -> dict[str, RateLimit]:
        """The documented limits, then the group settings (mutating actions, Describe* actions), then
        ECI_RATE_LIMITS, each over the one before."""
        limits = _documented_limits()
        for prefix, actions in (
            ("ECI_MUTATE", MUTATING_ACTIONS),
            ("ECI_DESCRIBE", tuple(a for a in DOCUMENTED_LIMITS if a.startswith("Describe"))),
        ):
            for action in actions:
                limits[action] = RateLimit(
                    self.number(f"{prefix}_RATE_PER_SECOND", limits[action].rate, minimum=0.01),
                    int(self.number(f"{prefix}_BURST", limits[action].burst, minimum=1)),
                )
        name = "ECI_RATE_LIMITS"
        raw = self.optional(name)
        for item in (raw or "").split(","):
            if not item.strip():
                continue
            action, _, value = (part.strip() for part in item.partition("="))
            rate_text, _, burst_text = (part.strip() for part in value.partition("/"))
            try:
                rate = float(rate_text)
                burst = int(burst_text) if burst_text else (limits.get(action) or OTHER_ACTION_LIMIT).burst
            except ValueError:
                rate = burst = 0
            if not ACTION_NAME.match(action) or rate < 0.01 or burst < 1:
                raise SettingsError(
                    f"{name}={raw!r}: {item.strip()!r} is not Action=rate[/burst] "
                    "(an ECI action name, a rate of at least 0.01 per second, a burst of at least 1)"
                )
            limits[action] = RateLimit(rate, burst)
        return limits

    def v_switch_ids(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name)
        if raw is None:
            return ()
        ids = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not 1 <= len(ids) <= 10 or not all(re.match(r"^vsw-[\w-]+$", vsw) for vsw in ids):
            raise SettingsError(f"{name}={raw!r} must be 1 to 10 comma-separated vsw-... ids")
        return ids

    def address(self, name: str) -> tuple[str, int] | None:
        raw = self.optional(name)
        if raw is None:
            return None
        try:
            return parse_address(raw)
        except SettingsError as error:
            raise SettingsError(f"{name}={raw!r} must be host:port") from error

    def endpoint(self, name: str) -> tuple[str | None, str]:
        raw = self.optional(name)
        if raw is None:
            return None, "https"
        return parse_endpoint(name, raw)


def parse_endpoint(name: str, raw: str) -> tuple[str, str]:
    """`host[:port]` or `http(s)://host[:port]` as (host[:port], scheme); https when no scheme is given."""
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise SettingsError(f"{name}={raw!r} must be host[:port] or http(s)://host[:port]")
    return parts.netloc, parts.scheme
