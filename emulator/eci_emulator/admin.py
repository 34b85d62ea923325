"""A small client for the emulator's admin HTTP API (works against an emulator in another process)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote


class AdminError(RuntimeError):
    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(f"admin API answered {status}: {payload}")
        self.status = status
        self.payload = payload


class AdminClient:
    """Inspect and steer an emulator: `AdminClient("http://127.0.0.1:8085")`."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            payload = error.read()
            raise AdminError(error.code, json.loads(payload) if payload else None) from None

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "health"))

    def groups(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "groups")["ContainerGroups"])

    def _found(self, path: str) -> dict[str, Any] | None:
        """GET `path`: the object, or None on 404."""
        try:
            return dict(self._call("GET", path))
        except AdminError as error:
            if error.status == 404:
                return None
            raise

    def group(self, container_group_id: str) -> dict[str, Any] | None:
        """The group as DescribeContainerGroups renders it, plus `created_by_access_key_id` (the key that
        created it) and `created_by_role_arn` (its role when an STS key, else None); None when unknown."""
        return self._found(f"groups/{quote(container_group_id)}")

    def group_spec(self, container_group_id: str) -> dict[str, Any] | None:
        """What the group holds (None when unknown): `eci_emulator.model.GroupSpec.to_dict` plus its id.

        E.g. `spec["Containers"][0]["Files"]["/etc/app/config.yaml"]["Content"]` (decoded text),
        `spec["Volumes"][0]["ConfigFileVolume"]["Files"][0]["Mode"]` ("0644"),
        `spec["Containers"][0]["LivenessProbe"]["PeriodSeconds"]`, `spec["TerminationGracePeriodSeconds"]`.
        """
        return self._found(f"groups/{quote(container_group_id)}/spec")

    def deletions(self) -> list[dict[str, Any]]:
        """Each DeleteContainerGroup so far, oldest first, as a graceful stop: ContainerGroupId,
        ContainerGroupName, Time, Timestamp, Status, GracePeriodSeconds and Containers [{Name, State, PreStop}]."""
        return list(self._call("GET", "deletions")["deletions"])

    def delete_group(self, container_group_id: str) -> None:
        """Delete a group behind the operator's back (drift)."""
        self._call("DELETE", f"groups/{quote(container_group_id)}")

    def expire_group(self, container_group_id: str) -> None:
        """Reclaim a group as spot instances are: it turns Expired."""
        self._call("POST", f"groups/{quote(container_group_id)}/expire")

    def hide_group(self, container_group_id: str, times: int = 1) -> None:
        """Answer Describe calls as if the group were gone, `times` times: an eventually consistent list.

        The next `times` DescribeContainerGroups / DescribeContainerGroupStatus answers that would list the
        group leave it out, while it goes on existing (404 AdminError when there is no such group).
        """
        self._call("POST", f"groups/{quote(container_group_id)}/hide", {"times": times})

    def reclaim_spot(self, container_group_id: str, after_seconds: float = 180.0) -> float:
        """Reclaim a spot group `after_seconds` from now, not within its protection period (SpotDuration
        hours after creation, default 1, 0 for none): a Warning SpotToBeReleased event ("Spot ECI will be
        released in N minutes.") 180 s before (or at once if sooner), then status Expired, ExpiredTime set.
        Returns the reclaim time on the emulator's clock (`clock()["now"]` scale). AdminError 404 for an
        unknown group, 400 for a group that is not spot or has ended."""
        answer = self._call(
            "POST", f"groups/{quote(container_group_id)}/reclaim", {"after_seconds": after_seconds}
        )
        return float(answer["reclaimAt"])

    def set_stock(
        self,
        instance_type: str | None = None,
        zone_id: str | None = None,
        spot: bool | None = None,
        available: bool = False,
    ) -> None:
        """No stock (available=False) or stock (True) of `instance_type` in `zone_id`, for spot requests
        (spot=True), pay-as-you-go ones (False) or both (None); None for a type or zone means any. The latest
        rule that matches decides; with none there is stock. A request without InstanceType only meets rules
        for any type. CreateContainerGroup takes the first vSwitch (VSwitchOrdered, the default, in the
        order given; VSwitchRandom shuffled) and, in it, the first InstanceType with stock; with none it
        answers 400 OperationDenied.NoStock and creates nothing."""
        body = {"instance_type": instance_type, "zone_id": zone_id, "spot": spot, "available": available}
        self._call("PUT", "stock", body)

    def stock(self) -> list[dict[str, Any]]:
        """The stock rules, oldest first: [{instance_type, zone_id, spot, available}]."""
        return list(self._call("GET", "stock")["rules"])

    def clear_stock(self) -> None:
        """Forget every stock rule: stock everywhere again."""
        self._call("DELETE", "stock")

    def set_vswitch_zone(self, vswitch_id: str, zone_id: str) -> None:
        """Put a vSwitch in a zone. A vSwitch not set is in the request's ZoneId when sent, else <region>-a."""
        self._call("PUT", "vswitches", {"vswitch_id": vswitch_id, "zone_id": zone_id})

    def vswitch_zones(self) -> dict[str, str]:
        return dict(self._call("GET", "vswitches"))

    def add_image_cache(self, snapshot_id: str, images: list[str]) -> None:
        """Register an image cache (snapshot_id imc-...) holding `images`. ImageSnapshotId must name one
        (else 400 ImageCacheNotFound); AutoMatchImageCache=true takes the latest holding every image of the
        group. Either shows as a Normal SuccessfulHitImageCache event "Successfully hit image cache imc-...."
        (a Warning ImageCacheMissed "Missed image cache." when auto-matching finds none)."""
        self._call("POST", "image-caches", {"snapshot_id": snapshot_id, "images": images})

    def image_caches(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "image-caches")["imageCaches"])

    def eips(self) -> list[dict[str, Any]]:
        """Each EIP a group got, oldest first: AllocationId, IpAddress (the group's InternetIp),
        ContainerGroupId, AutoCreated, Bandwidth, ISP, CommonBandwidthPackage and Status: InUse while the
        group lives; after it ended or was deleted Released (auto-created) or Available (bound by
        EipInstanceId)."""
        return list(self._call("GET", "eips")["eips"])

    def requests(self, action: str | None = None) -> list[dict[str, Any]]:
        suffix = f"?action={quote(action)}" if action else ""
        return list(self._call("GET", f"requests{suffix}")["requests"])

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def acr_instances(self) -> dict[str, Any]:
        return dict(self._call("GET", "acr-instances"))

    def add_acr_instances(
        self, acr_instances: list[dict[str, Any]], private_registries: list[dict[str, Any]] | None = None
    ) -> None:
        """Entries as in examples/emulator/acr-instances.yaml (instanceId, instanceName, regionId, ...)."""
        self._call(
            "POST",
            "acr-instances",
            {"acrInstances": acr_instances, "privateRegistries": private_registries or []},
        )

    def faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "faults"))

    def set_fault(
        self,
        action: str,
        error_code: str | None = None,
        http_status: int = 503,
        rate: float = 1.0,
        latency_seconds: float = 0.0,
        drop_rate: float = 0.0,
        schedule_failure_rate: float = 0.0,
        times: int | None = None,
        message: str | None = None,
        response_delay_seconds: float = 0.0,
    ) -> None:
        """Inject a fault into `action` ("*" for every action).

        `latency_seconds` waits before the request is handled, so the answer reflects the state after the
        wait; `response_delay_seconds` waits after the answer was computed, so it shows the state when the
        request arrived, delivered late (a stale observation). See `eci_emulator.faults.Fault`.
        """
        body: dict[str, Any] = {
            "error_code": error_code,
            "http_status": http_status,
            "rate": rate,
            "latency_seconds": latency_seconds,
            "response_delay_seconds": response_delay_seconds,
            "drop_rate": drop_rate,
            "schedule_failure_rate": schedule_failure_rate,
            "times": times,
        }
        if message is not None:
            body["message"] = message
        self._call("PUT", f"faults/{quote(action)}", body)

    def clear_faults(self, action: str | None = None) -> None:
        self._call("DELETE", f"faults/{quote(action)}" if action else "faults")

    def rate_limits(self) -> dict[str, Any]:
        return dict(self._call("GET", "rate-limits"))

    def set_rate_limit(self, action: str, rate: float, burst: float) -> None:
        self._call("PUT", f"rate-limits/{quote(action)}", {"rate": rate, "burst": burst})

    def remove_rate_limit(self, action: str) -> None:
        self._call("DELETE", f"rate-limits/{quote(action)}")

    def set_rate_limiting(self, enabled: bool) -> None:
        self._call("PUT", "rate-limits", {"enabled": enabled})

    def timings(self) -> dict[str, float]:
        return dict(self._call("GET", "timings"))

    def set_timings(self, **timings: float) -> dict[str, float]:
        return dict(self._call("PUT", "timings", timings))

    def clock(self) -> dict[str, float]:
        return dict(self._call("GET", "clock"))

    def advance_clock(self, seconds: float) -> float:
        return float(self._call("POST", "clock/advance", {"seconds": seconds})["offset"])

    def add_access_key(self, access_key_id: str, secret: str, security_token: str | None = None) -> None:
        self._call(
            "POST",
            "access-keys",
            {"accessKeyId": access_key_id, "accessKeySecret": secret, "securityToken": security_token},
        )

    # ---- STS --------------------------------------------------------------------------------------

    def sts(self) -> dict[str, Any]:
        """{settings, roles, oidc_providers (token counts only), credentials (issued, no secrets)}."""
        return dict(self._call("GET", "sts"))

    def add_role(
        self,
        role_arn: str,
        oidc_provider_arns: list[str] | None = None,
        access_key_ids: list[str] | None = None,
        max_session_duration: int = 3600,
    ) -> None:
        """Let STS issue credentials for `role_arn` (acs:ram::<account>:role/<name>): by AssumeRoleWithOIDC
        with a token of one of `oidc_provider_arns`; by AssumeRole signed with one of `access_key_ids` (None:
        any key the emulator knows)."""
        body = {
            "role_arn": role_arn,
            "oidc_provider_arns": oidc_provider_arns or [],
            "access_key_ids": access_key_ids,
            "max_session_duration": max_session_duration,
        }
        self._call("POST", "sts/roles", body)

    def add_oidc_provider(
        self,
        provider_arn: str,
        tokens: list[str] | None = None,
        accept_any_jwt: bool = False,
        client_ids: list[str] | None = None,
        issuer: str | None = None,
    ) -> None:
        """Register an OIDC provider (acs:ram::<account>:oidc-provider/<name>) accepting exactly `tokens`
        (JWTs) or, with accept_any_jwt, any well-formed JWT; `aud` must hold one of `client_ids` (default
        sts.aliyuncs.com), `exp` must not have passed, `iss` must be `issuer` when given."""
        body = {
            "provider_arn": provider_arn,
            "tokens": tokens or [],
            "accept_any_jwt": accept_any_jwt,
            "client_ids": client_ids or ["sts.aliyuncs.com"],
            "issuer": issuer,
        }
        self._call("POST", "sts/oidc-providers", body)

    def add_oidc_token(self, provider_arn: str, token: str) -> None:
        """Make the provider accept one more token (AdminError 404 for an unknown provider)."""
        self._call("POST", "sts/oidc-tokens", {"provider_arn": provider_arn, "token": token})

    def set_sts_lifetime(
        self, lifetime_seconds: float | None, min_duration_seconds: int | None = None
    ) -> dict[str, Any]:
        """Cap the lifetime of credentials issued from now on (None: as DurationSeconds asks); optionally
        set the smallest DurationSeconds accepted (default 900, as STS)."""
        body = {"sts_lifetime_seconds": lifetime_seconds, "sts_min_duration_seconds": min_duration_seconds}
        return dict(self._call("PUT", "sts", body))

    def sts_credentials(self) -> list[dict[str, Any]]:
        """Each credential STS issued, oldest first: AccessKeyId, RoleArn, RoleSessionName, Expiration,
        Expired (no secrets)."""
        return list(self._call("GET", "sts/credentials")["credentials"])

    def reset(self) -> None:
        self._call("POST", "reset")
