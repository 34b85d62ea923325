"""The admin HTTP API under /_emulator/ (unsigned; for tests and demos, never part of ECI).

Routes (JSON in and out):
  GET    /_emulator/health
  GET    /_emulator/groups                      all visible groups, as DescribeContainerGroups renders them
  GET    /_emulator/groups/{id}                 one group (404 when unknown or gone)
  GET    /_emulator/groups/{id}/spec            what the group holds (model.GroupSpec.to_dict): volumes with
                                                config files decoded, mounts, files by path, probes, hooks,
                                                security context, grace period, ephemeral storage, sysctls
  DELETE /_emulator/groups/{id}                 delete it behind the client's back (drift)
  POST   /_emulator/groups/{id}/expire          reclaim it now (spot): status Expired
  POST   /_emulator/groups/{id}/hide            {times: N >= 1, default 1}: the next N DescribeContainerGroups /
                                                DescribeContainerGroupStatus answers that would list it omit it
  POST   /_emulator/groups/{id}/reclaim        {after_seconds: default 180}: spot reclaim, SpotToBeReleased
                                                then Expired, not within the SpotDuration protection;
                                                answers {reclaimAt}; 400 for a group not spot or ended
  GET    /_emulator/stock                       {rules: [...]}; PUT adds {instance_type, zone_id, spot,
                                                available} (null: any); DELETE clears
  GET    /_emulator/vswitches                   {vswitch id: zone id}; PUT {vswitch_id, zone_id} sets one
  GET    /_emulator/image-caches                {imageCaches: [...]}; POST {snapshot_id, images} adds one
  GET    /_emulator/eips                        {eips: [...]}: each EIP a group got, InUse / Released /
                                                Available
  GET    /_emulator/requests[?action=Action]    the request log; DELETE clears it
  GET    /_emulator/deletions                   {deletions: [...]}: each DeleteContainerGroup's graceful stop
                                                (grace period, preStop handler per container), oldest first
  GET    /_emulator/acr-instances               the registry catalog; POST adds {acrInstances, privateRegistries}
  GET    /_emulator/faults                      PUT /_emulator/faults/{action} sets one (body: Fault's fields,
                                                e.g. latency_seconds, response_delay_seconds); DELETE [/{action}]
                                                clears
  GET    /_emulator/rate-limits                 PUT /_emulator/rate-limits/{action} {rate, burst};
                                                DELETE /_emulator/rate-limits/{action} removes the limit;
                                                PUT /_emulator/rate-limits {enabled: bool}
  GET    /_emulator/timings                     PUT with some fields changes them
  GET    /_emulator/clock                       POST /_emulator/clock/advance {seconds}
  POST   /_emulator/access-keys                 {accessKeyId, accessKeySecret, securityToken?}
  GET    /_emulator/sts                         {settings, roles, oidc_providers (tokens counted, not shown),
                                                credentials (issued, no secrets)}; PUT {sts_lifetime_seconds,
                                                sts_min_duration_seconds?} sets the lifetime knob
  POST   /_emulator/sts/roles                   {role_arn, oidc_provider_arns?, access_key_ids?,
                                                max_session_duration?}
  POST   /_emulator/sts/oidc-providers          {provider_arn, tokens?, accept_any_jwt?, client_ids?, issuer?}
  POST   /_emulator/sts/oidc-tokens             {provider_arn, token}: one more accepted token
  GET    /_emulator/sts/credentials             {credentials: [...]}: AccessKeyId, RoleArn, RoleSessionName,
                                                Expiration, Expired
  POST   /_emulator/reset                       forget groups, tokens, deletions, EIPs, the log, faults, stock,
                                                vSwitch zones, image caches and the clock offset
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from eci_emulator.faults import Fault
from eci_emulator.sts import DEFAULT_AUDIENCE, DEFAULT_MAX_SESSION_DURATION

if TYPE_CHECKING:
    from eci_emulator.server import Emulator

Answer = tuple[int, Any]


def _json(body: bytes) -> Any:
    return json.loads(body.decode("utf-8")) if body.strip() else {}


def handle_admin(emulator: Emulator, method: str, path: str, query: str, body: bytes) -> Answer:
    parts = [unquote(part) for part in path.split("/") if part][1:]
    try:
        return _route(emulator, method, parts, parse_qs(query), _json(body))
    except (ValueError, TypeError, KeyError) as error:
        return 400, {"error": f"{type(error).__name__}: {error}"}


def _route(
    emulator: Emulator, method: str, parts: list[str], query: dict[str, list[str]], body: Any
) -> Answer:
    head = parts[0] if parts else ""
    rest = parts[1:]
    if head == "health" and method == "GET":
        return 200, {"ok": True, "url": emulator.url}
    if head == "groups":
        return _groups(emulator, method, rest, body)
    if head == "deletions" and method == "GET" and not rest:
        return 200, {"deletions": emulator.backend.deletions()}
    if head == "requests":
        if method == "GET":
            action = query.get("action", [None])[0]
            return 200, {"requests": emulator.request_log.entries(action)}
        if method == "DELETE":
            emulator.request_log.clear()
            return 200, {"cleared": True}
    if head == "acr-instances":
        if method == "GET":
            return 200, {
                "acrInstances": [instance.to_dict() for instance in emulator.catalog.acr_instances()],
                "privateRegistries": [
                    registry.to_dict() for registry in emulator.catalog.private_registries()
                ],
            }
        if method == "POST":
            emulator.add_acr_instances(body)
            return 200, {"added": True}
    if head == "faults":
        return _faults(emulator, method, rest, body)
    if head in ("stock", "vswitches", "image-caches", "eips"):
        return _capacity(emulator, method, head, rest, body)
    if head == "rate-limits":
        return _rate_limits(emulator, method, rest, body)
    if head == "timings":
        if method == "PUT":
            emulator.timings.update(body)
        if method in ("GET", "PUT"):
            return 200, emulator.timings.to_dict()
    if head == "clock":
        if method == "GET" and not rest:
            return 200, {"offset": emulator.clock.offset, "now": emulator.clock.now()}
        if method == "POST" and rest == ["advance"]:
            offset = emulator.advance_clock(float(body["seconds"]))
            return 200, {"offset": offset, "now": emulator.clock.now()}
    if head == "access-keys" and method == "POST":
        emulator.add_access_key(
            str(body["accessKeyId"]), str(body["accessKeySecret"]), body.get("securityToken")
        )
        return 200, {"added": True}
    if head == "sts":
        return _sts(emulator, method, rest, body)
    if head == "reset" and method == "POST":
        emulator.reset()
        return 200, {"reset": True}
    return 404, {"error": f"no admin route {method} /{'/'.join(parts)}"}


def _sts(emulator: Emulator, method: str, rest: list[str], body: Any) -> Answer:
    if not rest and method == "GET":
        return 200, {
            "settings": emulator.sts.settings.to_dict(),
            "roles": emulator.sts.roles(),
            "oidc_providers": emulator.sts.oidc_providers(),
            "credentials": emulator.sts_credentials(),
        }
    if not rest and method == "PUT":
        settings = _object(body)
        lifetime = settings.get("sts_lifetime_seconds")
        minimum = settings.get("sts_min_duration_seconds")
        return 200, emulator.set_sts_lifetime(
            None if lifetime is None else float(lifetime), None if minimum is None else int(minimum)
        )
    if rest == ["credentials"] and method == "GET":
        return 200, {"credentials": emulator.sts_credentials()}
    if rest == ["roles"] and method == "POST":
        role = _object(body)
        access_key_ids = role.get("access_key_ids")
        emulator.add_role(
            str(role["role_arn"]),
            [str(arn) for arn in role.get("oidc_provider_arns") or []],
            None if access_key_ids is None else [str(key) for key in access_key_ids],
            int(role.get("max_session_duration", DEFAULT_MAX_SESSION_DURATION)),
        )
        return 200, {"roles": emulator.sts.roles()}
    if rest == ["oidc-providers"] and method == "POST":
        provider = _object(body)
        emulator.add_oidc_provider(
            str(provider["provider_arn"]),
            [str(token) for token in provider.get("tokens") or []],
            bool(provider.get("accept_any_jwt", False)),
            [str(client) for client in provider.get("client_ids") or [DEFAULT_AUDIENCE]],
            provider.get("issuer"),
        )
        return 200, {"oidc_providers": emulator.sts.oidc_providers()}
    if rest == ["oidc-tokens"] and method == "POST":
        token = _object(body)
        try:
            emulator.add_oidc_token(str(token["provider_arn"]), str(token["token"]))
        except KeyError as error:
            if error.args and str(error.args[0]).startswith("no OIDC provider"):
                return 404, {"error": str(error.args[0])}
            raise
        return 200, {"oidc_providers": emulator.sts.oidc_providers()}
    return 404, {"error": "no such sts route"}


def _groups(emulator: Emulator, method: str, rest: list[str], body: Any) -> Answer:
    backend = emulator.backend
    if not rest and method == "GET":
        return 200, {"ContainerGroups": backend.list_groups()}
    if len(rest) == 1 and method == "GET":
        group = backend.get_group(rest[0])
        return (200, group) if group is not None else (404, {"error": f"no group {rest[0]}"})
    if len(rest) == 2 and rest[1] == "spec" and method == "GET":
        spec = backend.group_spec(rest[0])
        if spec is None:
            return 404, {"error": f"no group {rest[0]}"}
        return 200, {"ContainerGroupId": rest[0], **spec.to_dict()}
    if len(rest) == 1 and method == "DELETE":
        return (200, {"deleted": rest[0]}) if backend.remove_group(rest[0]) else (404, {"error": "no group"})
    if len(rest) == 2 and rest[1] == "expire" and method == "POST":
        return (200, {"expired": rest[0]}) if backend.expire_group(rest[0]) else (404, {"error": "no group"})
    if len(rest) == 2 and rest[1] == "reclaim" and method == "POST":
        at = backend.reclaim_spot(rest[0], _object(body).get("after_seconds", 180.0))
        return (200, {"reclaimAt": at}) if at is not None else (404, {"error": "no group"})
    if len(rest) == 2 and rest[1] == "hide" and method == "POST":
        # The ECI reference is silent on list consistency; this models a Describe that misses a group that
        # exists (an eventually consistent index), the emulator's own choice.
        if not isinstance(body, dict):
            raise TypeError('the body must be a JSON object like {"times": 1}')
        times = body.get("times", 1)
        if backend.hide_group(rest[0], times):
            return 200, {"hidden": rest[0], "times": times}
        return 404, {"error": "no group"}
    return 404, {"error": "no such groups route"}


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise TypeError("the body must be a JSON object")
    return body


def _capacity(emulator: Emulator, method: str, head: str, rest: list[str], body: Any) -> Answer:
    if rest:
        return 404, {"error": f"no such {head} route"}
    if head == "stock":
        if method == "PUT":
            emulator.set_stock(**_object(body))
        elif method == "DELETE":
            emulator.capacity.reset_stock()
        elif method != "GET":
            return 404, {"error": "no such stock route"}
        return 200, {"rules": emulator.stock()}
    if head == "vswitches":
        if method == "PUT":
            emulator.set_vswitch_zone(str(body["vswitch_id"]), str(body["zone_id"]))
        elif method != "GET":
            return 404, {"error": "no such vswitches route"}
        return 200, emulator.capacity.vswitch_zones()
    if head == "image-caches":
        if method == "POST":
            emulator.add_image_cache(str(body["snapshot_id"]), list(body["images"]))
        elif method != "GET":
            return 404, {"error": "no such image-caches route"}
        return 200, {"imageCaches": emulator.image_caches()}
    if method == "GET":
        return 200, {"eips": emulator.eips()}
    return 404, {"error": "no such eips route"}


def _faults(emulator: Emulator, method: str, rest: list[str], body: Any) -> Answer:
    if method == "GET" and not rest:
        return 200, emulator.faults.to_dict()
    if method == "PUT" and len(rest) == 1:
        emulator.set_fault(rest[0], Fault(**body))
        return 200, emulator.faults.to_dict()
    if method == "DELETE":
        emulator.faults.clear(rest[0] if rest else None)
        return 200, emulator.faults.to_dict()
    return 404, {"error": "no such faults route"}


def _rate_limits(emulator: Emulator, method: str, rest: list[str], body: Any) -> Answer:
    limiter = emulator.rate_limiter
    if method == "PUT" and not rest:
        limiter.enabled = bool(body["enabled"])
    elif method == "PUT" and len(rest) == 1:
        limiter.set(rest[0], float(body["rate"]), float(body["burst"]))
    elif method == "DELETE" and len(rest) == 1:
        limiter.remove(rest[0])
    elif method != "GET":
        return 404, {"error": "no such rate-limits route"}
    return 200, limiter.to_dict()
