"""Where a group lands and what it is created with beyond its containers: instance types, zones and stock,
EIPs, spot settings, DNS and hosts, image caches, the active deadline.

Sources (CreateContainerGroup and DescribeContainerGroups in the ECI API reference, 2018-08-08, as the
generated SDK models carry them; the "ECI custom events" table; the compute-category user guide):
- AutoCreateEip binds a new EIP; EipBandwidth (default 5 Mbps) "can be set when AutoCreateEip is true";
  EipISP BGP (default) or BGP_PRO; EipCommonBandwidthPackage a shared bandwidth package (cbwp-...);
  EipInstanceId an existing EIP (eip-...). Describe shows the address as InternetIp only.
- DnsPolicy None (use DnsConfig) or Default; HostAliase.N.Ip / HostAliase.N.Hostname.N, shown by Describe as
  HostAliases [{Ip, Hostnames}]; NtpServer.N; HostName.
- InstanceType: one or several specifications (ecs.<family>.<size>, or vCPU-memory such as 2-4Gi).
- ComputeCategory.N: economy or general (Describe's ComputeCategory); with spot or ARM64 the request is
  refused with FeatureBasedConstraintConflict. CpuArchitecture AMD64 (default) or ARM64.
- ScheduleStrategy VSwitchOrdered (the vSwitches in the order given) or VSwitchRandom (at random).
- SpotPriceLimit must be set when SpotStrategy is SpotWithPriceLimit; SpotDuration is the spot protection
  period in hours, default 1, 0 for none.
- GpuDriverVersion tesla=470.82.01 (default) or tesla=525.85.12.
- Events: NoStock (Warning) "Create ECI failed because of the specified instance is out of stock.";
  SpotToBeReleased (Warning) "Spot ECI will be released in %s minutes"; SuccessfulHitImageCache (Normal)
  "Successfully hit image cache %s."; ImageCacheMissed (Warning) "Missed image cache.";
  ImageCacheNotFound (Warning) "The specified image cache %s does not exist.".

Where the reference is silent, the emulator's choices (each repeated where it is made):
- at most 5 instance types in InstanceType;
- EipBandwidth 1-200 Mbps;
- HostName a Kubernetes host name (RFC 1123 label, 1-63 characters);
- a vSwitch's zone comes from the admin table (set_vswitch_zone); one not in it is in ZoneId when given,
  else in <region>-a; the default ScheduleStrategy is VSwitchOrdered;
- with no stock anywhere, CreateContainerGroup answers 400 OperationDenied.NoStock with the NoStock event's
  message, and no group is created;
- an ImageSnapshotId that names no registered cache is refused with 400 ImageCacheNotFound and the
  ImageCacheNotFound event's message;
- Container.N.Gpu above 0 needs GPU instance types (ecs.gn*, ecs.vgn*, ecs.sgn*, ecs.gi*, ecs.ebmgn*) when
  InstanceType is given: InvalidParameter naming both otherwise; without InstanceType, ECI chooses;
- ActiveDeadlineSeconds counts from creation; past it the group is Failed with a Warning DeadlineExceeded
  event (Kubernetes's reason and message for a pod past activeDeadlineSeconds).
"""

from __future__ import annotations

import ipaddress
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from eci_emulator import errors
from eci_emulator.errors import EciError
from eci_emulator.validation import DNS_LABEL, Reader, check_count

MAX_INSTANCE_TYPES = 5
MIN_EIP_BANDWIDTH, MAX_EIP_BANDWIDTH = 1, 200
DEFAULT_EIP_BANDWIDTH = 5
DEFAULT_SPOT_DURATION_HOURS = 1
SPOT_WARNING_SECONDS = 180.0
"""How long before a reclaim the SpotToBeReleased warning comes (the event's documented example: 3 minutes)."""

NO_STOCK = "OperationDenied.NoStock"
NO_STOCK_MESSAGE = "Create ECI failed because of the specified instance is out of stock."
IMAGE_CACHE_NOT_FOUND = "ImageCacheNotFound"
FEATURE_CONFLICT = "FeatureBasedConstraintConflict"
DEADLINE_EXCEEDED = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"

_INSTANCE_TYPE = re.compile(r"ecs\.[a-z0-9-]+\.[a-z0-9-]+|\d+(\.\d+)?-\d+(\.\d+)?Gi")
_GPU_FAMILY = re.compile(r"ecs\.(gn|vgn|sgn|gi|ebmgn)[a-z0-9-]*\.")
_PREFIXED = {"EipInstanceId": "eip-", "EipCommonBandwidthPackage": "cbwp-", "ImageSnapshotId": "imc-"}


@dataclass(frozen=True)
class CreateSettings:
    """What only CreateContainerGroup sets beyond containers and volumes (none can be updated)."""

    instance_types: tuple[str, ...] = ()
    """InstanceType as sent, in preference order."""
    vswitch_ids: tuple[str, ...] = ()
    schedule_strategy: str = "VSwitchOrdered"
    auto_create_eip: bool = False
    eip_instance_id: str = ""
    eip_bandwidth: int = DEFAULT_EIP_BANDWIDTH
    eip_isp: str = "BGP"
    eip_common_bandwidth_package: str = ""
    dns_policy: str = ""
    host_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ntp_servers: tuple[str, ...] = ()
    host_name: str = ""
    compute_categories: tuple[str, ...] = ()
    cpu_architecture: str = "AMD64"
    spot_price_limit: float | None = None
    spot_duration_hours: int = DEFAULT_SPOT_DURATION_HOURS
    gpu_driver_version: str = ""
    auto_match_image_cache: bool = False
    image_snapshot_id: str = ""
    ram_role_name: str = ""
    active_deadline_seconds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the admin API shows it (JSON: lists, not tuples)."""
        view = {
            key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
        }
        view["host_aliases"] = [{"Ip": ip, "Hostnames": list(names)} for ip, names in self.host_aliases]
        return view


def _prefixed(params: Reader, key: str) -> str:
    value = params.text(key) or ""
    prefix = _PREFIXED[key]
    if value and not (value.startswith(prefix) and len(value) > len(prefix)):
        raise errors.invalid_parameter(
            f"The parameter {key} ({value!r}) must be an id starting with {prefix}."
        )
    return value


def _ip(name: str, value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise errors.invalid_parameter(f"The parameter {name} ({value!r}) must be an IP address.") from None
    return value


def parse_instance_types(raw: str) -> tuple[str, ...]:
    types = tuple(item.strip() for item in raw.split(",") if item.strip())
    # The emulator's choice: the API reference consulted says "several specifications" without a number.
    check_count("InstanceType", len(types), MAX_INSTANCE_TYPES, "instance types")
    for item in types:
        if not _INSTANCE_TYPE.fullmatch(item):
            raise errors.invalid_parameter(
                f"The parameter InstanceType lists {item!r}: each type is ecs.<family>.<size> (e.g. "
                "ecs.c6.large) or vCPU-memory (e.g. 2-4Gi)."
            )
    if len(set(types)) != len(types):
        raise errors.invalid_parameter("The parameter InstanceType lists a type twice.")
    return types


def parse_create_settings(params: Reader, spot_strategy: str) -> CreateSettings:
    """Check and read the create-only settings of a CreateContainerGroup (types and enums: validation.py)."""
    auto_eip = params.boolean("AutoCreateEip") is True
    eip_id = _prefixed(params, "EipInstanceId")
    if auto_eip and eip_id:
        raise errors.invalid_parameter(
            "The parameters AutoCreateEip and EipInstanceId cannot be used together: create an EIP or bind one."
        )
    bandwidth = params.integer("EipBandwidth", MIN_EIP_BANDWIDTH, MAX_EIP_BANDWIDTH)
    isp = params.text("EipISP") or "BGP"
    package = params.text("EipCommonBandwidthPackage") or ""
    if package:
        package = _prefixed(params, "EipCommonBandwidthPackage")
    for key in ("EipBandwidth", "EipISP", "EipCommonBandwidthPackage"):
        if params.has(key) and not auto_eip:
            raise errors.invalid_parameter(f"The parameter {key} applies only when AutoCreateEip is true.")
    spot = spot_strategy != "NoSpot"
    price = params.number("SpotPriceLimit")
    if spot_strategy == "SpotWithPriceLimit" and price is None:
        raise errors.missing_parameter("SpotPriceLimit")
    if price is not None and spot_strategy != "SpotWithPriceLimit":
        raise errors.invalid_parameter(
            "The parameter SpotPriceLimit applies only when SpotStrategy is SpotWithPriceLimit."
        )
    duration = params.integer("SpotDuration", 0, 1)
    if duration is not None and not spot:
        raise errors.invalid_parameter(
            "The parameter SpotDuration applies only to spot instances (SpotStrategy)."
        )
    categories = tuple(params.strings("ComputeCategory"))
    architecture = params.text("CpuArchitecture") or "AMD64"
    if categories and (spot or architecture == "ARM64"):
        raise EciError(
            FEATURE_CONFLICT,
            "ComputeCategory cannot be combined with "
            + ("spot instances (SpotStrategy)." if spot else "CpuArchitecture ARM64."),
            400,
        )
    host_name = params.text("HostName") or ""
    # The emulator's choice (the reference gives no format): a Kubernetes host name, an RFC 1123 label.
    if host_name and not DNS_LABEL.fullmatch(host_name):
        raise errors.invalid_parameter(
            f"The parameter HostName ({host_name!r}) must be 1-63 lower-case letters, digits or hyphens."
        )
    aliases = []
    for alias in params.items("HostAliase"):
        ip = _ip(alias.name("Ip"), alias.required("Ip"))
        names = tuple(alias.strings("Hostname"))
        if not names:
            raise errors.missing_parameter(f"{alias.name('Hostname')}.1")
        aliases.append((ip, names))
    dns = params.sub("DnsConfig")
    for index, server in enumerate(dns.strings("NameServer"), start=1):
        _ip(f"DnsConfig.NameServer.{index}", server)
    for option in dns.items("Option"):
        option.required("Name")
    if params.text("DnsPolicy") == "None" and not dns.strings("NameServer"):
        raise errors.invalid_parameter("The parameter DnsPolicy None needs DnsConfig.NameServer.N.")
    deadline = params.integer("ActiveDeadlineSeconds", 1)
    return CreateSettings(
        instance_types=parse_instance_types(params.text("InstanceType") or ""),
        vswitch_ids=tuple(item for item in (params.text("VSwitchId") or "").split(",") if item),
        schedule_strategy=params.text("ScheduleStrategy") or "VSwitchOrdered",
        auto_create_eip=auto_eip,
        eip_instance_id=eip_id,
        eip_bandwidth=DEFAULT_EIP_BANDWIDTH if bandwidth is None else bandwidth,
        eip_isp=isp,
        eip_common_bandwidth_package=package,
        dns_policy=params.text("DnsPolicy") or "",
        host_aliases=tuple(aliases),
        ntp_servers=tuple(params.strings("NtpServer")),
        host_name=host_name,
        compute_categories=categories,
        cpu_architecture=architecture,
        spot_price_limit=price,
        spot_duration_hours=DEFAULT_SPOT_DURATION_HOURS if duration is None else duration,
        gpu_driver_version=params.text("GpuDriverVersion") or "",
        auto_match_image_cache=params.boolean("AutoMatchImageCache") is True,
        image_snapshot_id=_prefixed(params, "ImageSnapshotId"),
        ram_role_name=params.text("RamRoleName") or "",
        active_deadline_seconds=deadline,
    )


def check_gpu(gpus: Sequence[tuple[str, int]], instance_types: Sequence[str]) -> None:
    """Refuse GPUs (container name, count) on instance types none of which has GPUs; no type: ECI chooses."""
    wanted = [(name, count) for name, count in gpus if count > 0]
    if not wanted or not instance_types:
        return
    plain = [item for item in instance_types if not _GPU_FAMILY.match(item)]
    if plain:
        name, count = wanted[0]
        raise errors.invalid_parameter(
            f"The parameter Container.N.Gpu ({count} for container {name}) needs a GPU instance type, but "
            f"InstanceType lists {', '.join(plain)} (GPU families: ecs.gn*, ecs.vgn*, ecs.sgn*, ecs.gi*, "
            "ecs.ebmgn*)."
        )


@dataclass(frozen=True)
class StockRule:
    """No stock (available False) or stock (True) for instance_type in zone_id, spot or not; None: any."""

    instance_type: str | None = None
    zone_id: str | None = None
    spot: bool | None = None
    available: bool = False

    def matches(self, instance_type: str, zone_id: str, spot: bool) -> bool:
        return (
            (self.instance_type is None or self.instance_type == instance_type)
            and (self.zone_id is None or self.zone_id == zone_id)
            and (self.spot is None or self.spot == spot)
        )


@dataclass(frozen=True)
class Placement:
    instance_type: str
    zone_id: str
    vswitch_id: str


@dataclass(frozen=True)
class ImageCache:
    snapshot_id: str
    images: tuple[str, ...]


class Capacity:
    """Stock rules, the vSwitch -> zone table and the image caches the admin registered; thread-safe."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[StockRule] = []
        self._zones: dict[str, str] = {}
        self._caches: dict[str, ImageCache] = {}
        self._random = random.Random(seed)

    def set_stock(self, rule: StockRule) -> None:
        """The latest rule that matches a (type, zone, spot) decides; with none, there is stock."""
        for key, value in (("instance_type", rule.instance_type), ("zone_id", rule.zone_id)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{key} must be a non-empty string or None, not {value!r}")
        if rule.spot not in (None, True, False) or not isinstance(rule.available, bool):
            raise TypeError("spot must be true, false or null and available true or false")
        with self._lock:
            self._rules.append(rule)

    def stock(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def set_vswitch_zone(self, vswitch_id: str, zone_id: str) -> None:
        if not vswitch_id or not zone_id:
            raise ValueError("vswitch_id and zone_id must not be empty")
        with self._lock:
            self._zones[vswitch_id] = zone_id

    def vswitch_zones(self) -> dict[str, str]:
        with self._lock:
            return dict(self._zones)

    def add_image_cache(self, snapshot_id: str, images: Sequence[str]) -> None:
        if not snapshot_id.startswith("imc-") or isinstance(images, str) or not images:
            raise ValueError("snapshot_id must start with imc- and images be a non-empty list of image names")
        with self._lock:
            self._caches[snapshot_id] = ImageCache(snapshot_id, tuple(str(image) for image in images))

    def image_caches(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"snapshot_id": cache.snapshot_id, "images": list(cache.images)}
                for cache in self._caches.values()
            ]

    def reset_stock(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self._zones.clear()
            self._caches.clear()

    def _available(self, instance_type: str, zone_id: str, spot: bool) -> bool:
        for rule in reversed(self._rules):
            if rule.matches(instance_type, zone_id, spot):
                return rule.available
        return True

    def place(self, settings: CreateSettings, zone_id: str, region_id: str, spot: bool) -> Placement:
        """The first (vSwitch, instance type) with stock, vSwitches in the schedule strategy's order and types
        in the order given; OperationDenied.NoStock when none has.

        A vSwitch's zone: the admin table, else ZoneId when sent, else <region>-a (the emulator's choice).
        An instance type left out ("") is the type the request's vCPU and memory make; only rules for any
        type (instance_type None) apply to it.
        """
        vswitches = list(settings.vswitch_ids) or [""]
        types = list(settings.instance_types) or [""]
        with self._lock:
            if settings.schedule_strategy == "VSwitchRandom":
                self._random.shuffle(vswitches)
            for vswitch in vswitches:
                zone = self._zones.get(vswitch) or zone_id or f"{region_id}-a"
                for instance_type in types:
                    if self._available(instance_type, zone, spot):
                        return Placement(instance_type, zone, vswitch)
        raise EciError(NO_STOCK, NO_STOCK_MESSAGE, 400)

    def image_cache(self, settings: CreateSettings, images: Sequence[str]) -> str | None:
        """The cache the group uses: ImageSnapshotId (it must exist), else with AutoMatchImageCache the latest
        registered cache holding every image of the group; None: no cache."""
        with self._lock:
            if settings.image_snapshot_id:
                if settings.image_snapshot_id not in self._caches:
                    raise EciError(
                        IMAGE_CACHE_NOT_FOUND,
                        f"The specified image cache {settings.image_snapshot_id} does not exist.",
                        400,
                    )
                return settings.image_snapshot_id
            if settings.auto_match_image_cache:
                for cache in reversed(list(self._caches.values())):
                    if set(images) <= set(cache.images):
                        return cache.snapshot_id
        return None
