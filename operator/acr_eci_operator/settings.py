"""The operator's configuration: read from the environment once at start-up and validated there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

REGION_PATTERN = re.compile(r"^[a-z]{2,}-[a-z0-9-]+$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `rate` requests per second on average, up to `burst` at once."""

    rate: float
    burst: int


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
    mutate_limit: RateLimit = RateLimit(rate=16.0, burst=100)
    """ECI_MUTATE_RATE_PER_SECOND / ECI_MUTATE_BURST: Create, Update, Delete and Restart calls."""
    describe_limit: RateLimit = RateLimit(rate=33.0, burst=100)
    """ECI_DESCRIBE_RATE_PER_SECOND / ECI_DESCRIBE_BURST: Describe* calls."""
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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every setting; raise SettingsError naming the first bad variable."""
        reader = _Reader(env)
        endpoint, protocol = reader.endpoint("ECI_ENDPOINT")
        return cls(
            region_id=reader.pattern("ALIBABA_CLOUD_REGION_ID", REGION_PATTERN, required=True) or "",
            endpoint=endpoint,
            endpoint_protocol=protocol,
            default_security_group_id=reader.pattern(
                "ECI_DEFAULT_SECURITY_GROUP_ID", re.compile(r"^sg-[\w-]+$")
            ),
            default_v_switch_ids=reader.v_switch_ids("ECI_DEFAULT_VSWITCH_IDS"),
            poll_interval=reader.number("ECI_POLL_INTERVAL_SECONDS", 60.0, minimum=0.1),
            status_poll_interval=reader.number("ECI_STATUS_POLL_INTERVAL_SECONDS", 2.5, minimum=0.1),
            mutate_limit=RateLimit(
                rate=reader.number("ECI_MUTATE_RATE_PER_SECOND", 16.0, minimum=0.01),
                burst=int(reader.number("ECI_MUTATE_BURST", 100, minimum=1)),
            ),
            describe_limit=RateLimit(
                rate=reader.number("ECI_DESCRIBE_RATE_PER_SECOND", 33.0, minimum=0.01),
                burst=int(reader.number("ECI_DESCRIBE_BURST", 100, minimum=1)),
            ),
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
