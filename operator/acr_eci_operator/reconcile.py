"""Create, observe, update and delete ECI container groups for AcrContainerGroup resources.

Crash safety rests on three things: the ClientToken `<uid>-<incarnation>` (ECI returns the first group for
a token it has seen), ownership tags carrying the resource's uid (a group created just before a crash is
found and adopted instead of created again), and the group id written to status right after the create.
The incarnation grows only for deliberate re-creations (Recreate strategy, drift), never on retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import kopf

from acr_eci_operator import mapping, models
from acr_eci_operator.eci import EciClient, EciError
from acr_eci_operator.kube import GROUP, KIND, VERSION, Kube, SecretMissing
from acr_eci_operator.settings import Settings
from acr_eci_operator.status import (
    FINISHED_PHASES,
    TERMINAL_PHASES,
    UPDATABLE_PHASES,
    condition,
    event_key,
    get_condition,
    new_events,
    observed_status,
    set_condition,
)

logger = logging.getLogger(__name__)

TAG_UID = f"{models.OWNER_TAG_PREFIX}uid"
TAG_NAMESPACE = f"{models.OWNER_TAG_PREFIX}namespace"
TAG_NAME = f"{models.OWNER_TAG_PREFIX}name"
TAG_ORPHANED = f"{models.OWNER_TAG_PREFIX}orphaned"

IMMUTABLE_WIRE_FIELDS = (
    "ContainerGroupName",
    "RegionId",
    "ZoneId",
    "SecurityGroupId",
    "VSwitchId",
    "InstanceType",
)
"""CreateContainerGroup parameters that UpdateContainerGroup cannot change (left out of applied_hash)."""

RETRY_CAP_SECONDS = 300.0

PostEvent = Callable[[Mapping[str, Any], str, str, str], Awaitable[None]]
"""post_event(object reference body, type, reason, message)."""


class RetryLater(kopf.TemporaryError):  # type: ignore[misc]
    """The handler failed for a reason that may heal (throttling, a Secret not there yet): retry later."""


class WaitForSpecChange(kopf.PermanentError):  # type: ignore[misc]
    """The spec cannot be applied as it is: nothing is retried until the resource changes."""


def retry_delay(retry: int, base: float = 2.0, cap: float = RETRY_CAP_SECONDS) -> float:
    """Exponential backoff with jitter for handler retries, capped."""
    ceiling = min(cap, base * (2 ** min(retry, 16)))
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class Resource:
    """The parts of an AcrContainerGroup the reconciler reads."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    status: Mapping[str, Any]
    deleting: bool

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Resource:
        metadata = body.get("metadata") or {}
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 0),
            spec=body.get("spec") or {},
            annotations=metadata.get("annotations") or {},
            status=body.get("status") or {},
            deleting=bool(metadata.get("deletionTimestamp")),
        )

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def reference(self) -> dict[str, Any]:
        """Enough of the body for kopf.event to address the object."""
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid},
        }


@dataclass
class Tracked:
    """A group the shared poller watches for one resource."""

    resource: Resource
    region_id: str
    container_group_id: str
    restart_policy: str
    last_observed: dict[str, Any] | None = None
    last_event_time: str = ""
    seen_events: set[str] = field(default_factory=set)


def finished_phases(restart_policy: str) -> frozenset[str]:
    """Phases after which a group that vanishes is not run again: any end for Never, success for
    OnFailure (it restarts only failed containers); none for Always."""
    return {"Never": FINISHED_PHASES, "OnFailure": frozenset({"Succeeded"})}.get(restart_policy, frozenset())


def owner_tags(resource: Resource) -> dict[str, str]:
    return {TAG_UID: resource.uid, TAG_NAMESPACE: resource.namespace, TAG_NAME: resource.name}


def applied_hash(params: Mapping[str, str]) -> str:
    """A digest of everything UpdateContainerGroup can change (secret values included, so rotation shows)."""
    mutable = {k: v for k, v in params.items() if k not in IMMUTABLE_WIRE_FIELDS and k != "ClientToken"}
    return hashlib.sha256(json.dumps(mutable, sort_keys=True).encode()).hexdigest()[:32]


class Reconciler:
    """The operator's logic; handlers and the poller call into it. One lock per resource serialises work."""

    def __init__(self, settings: Settings, eci: EciClient, kube: Kube, post_event: PostEvent) -> None:
        self.settings = settings
        self.eci = eci
        self.kube = kube
        self.post_event = post_event
        self.defaults = mapping.Defaults(
            region_id=settings.region_id,
            security_group_id=settings.default_security_group_id,
            v_switch_ids=settings.default_v_switch_ids,
        )
        self.tracked: dict[str, Tracked] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    # ------------------------------------------------------------------------------------ helpers

    async def _fresh(self, resource: Resource) -> Resource | None:
        body = await self.kube.get(resource.namespace, resource.name)
        if body is None or (body.get("metadata") or {}).get("uid") != resource.uid:
            return None
        return Resource.from_body(body)

    async def _patch_status(self, resource: Resource, patch: dict[str, Any]) -> None:
        await self.kube.patch_status(resource.namespace, resource.name, patch)
        resource.status = {**resource.status, **patch}

    async def _set_synced(
        self,
        resource: Resource,
        ok: bool,
        reason: str,
        message: str,
        event_type: str | None = "Warning",
        **extra: Any,
    ) -> None:
        """Set the Synced condition (and other status fields); a new False one is also posted as an
        event of `event_type` (None: the caller posts its own)."""
        new = condition("Synced", ok, reason, message, resource.generation)
        current = get_condition(resource.status.get("conditions"), "Synced")
        unchanged = current is not None and all(
            current.get(k) == new[k] for k in ("status", "reason", "message")
        )
        patch = {**extra, "conditions": set_condition(resource.status.get("conditions") or [], new)}
        if not ok and not unchanged:
            if event_type is not None:
                await self.post_event(resource.reference, event_type, reason, message)
            logger.log(
                logging.WARNING if event_type == "Warning" else logging.INFO,
                "%s: %s: %s",
                resource.key,
                reason,
                message,
            )
        if (
            not unchanged
            or extra
            or current is None
            or current.get("observedGeneration") != resource.generation
        ):
            await self._patch_status(resource, patch)

    async def _fail_eci(self, resource: Resource, error: EciError, retry: int) -> NoReturn:
        """Record an ECI error on the resource and raise what kopf should do about it."""
        await self._set_synced(resource, False, error.code, f"{error.action}: {error.message}")
        if error.retryable:
            raise RetryLater(f"{error.code}: {error.message}", delay=retry_delay(retry))
        raise WaitForSpecChange(f"{error.code}: {error.message}")

    # ------------------------------------------------------------------------------------- ensure

    async def ensure(self, body: Mapping[str, Any], retry: int = 0) -> None:
        """Make ECI match the resource: create, adopt, update or (Recreate) replace its group."""
        resource = Resource.from_body(body)
        async with self.lock(resource.uid):
            fresh = await self._fresh(resource)
            if fresh is None or fresh.deleting:
                return
            await self._ensure(fresh, retry)

    async def _ensure(self, resource: Resource, retry: int, adopt: bool = True) -> None:
        try:
            spec = models.AcrContainerGroupSpec.from_dict(resource.spec)
            annotations = dict(resource.annotations)
            models.annotation_registries(annotations)
        except models.SpecError as error:
            await self._set_synced(resource, False, "InvalidSpec", str(error))
            raise WaitForSpecChange(str(error)) from None

        secrets: dict[tuple[str, str], str] = {}
        for ref in models.secret_refs(spec):
            try:
                secrets[(ref.name, ref.key)] = await self.kube.secret_value(
                    resource.namespace, ref.name, ref.key
                )
            except SecretMissing as error:
                await self._set_synced(resource, False, "SecretNotFound", f"{ref.field}: {error}")
                raise RetryLater(f"{ref.field}: {error}", delay=retry_delay(retry, base=5.0)) from None

        status = resource.status
        incarnation = int(status.get("incarnation") or 0)
        region_id = str(status.get("regionId") or spec.region_id or self.settings.region_id)
        try:
            params = mapping.create_parameters(
                spec,
                name=resource.name,
                annotations=annotations,
                defaults=self.defaults,
                secrets=secrets,
                client_token=f"{resource.uid}-{incarnation}",
                owner_tags=owner_tags(resource),
            )
        except models.SpecError as error:
            await self._set_synced(resource, False, "InvalidSpec", str(error))
            raise WaitForSpecChange(str(error)) from None

        await self._warn_uncovered_images(resource, spec, annotations)
        registries = [registry.to_dict() for registry in mapping.effective_registries(spec, annotations)]
        immutable = mapping.immutable_fields(resource.spec)
        digest = applied_hash(params)

        group_id = status.get("containerGroupId")
        if not group_id and adopt:
            group_id = await self._adopt(resource, region_id)
        if not group_id:
            await self._create(resource, region_id, incarnation, params, immutable, digest, registries, retry)
            return

        phase = str(status.get("phase") or "")
        applied = status.get("applied")
        changed = mapping.changed_immutable_fields(applied or {}, immutable)
        if phase in TERMINAL_PHASES and (
            status.get("appliedHash") != digest or (applied is not None and changed)
        ):
            # The group has ended: any change of spec runs a new one (UpdateContainerGroup can't reach it).
            await self._recreate(
                resource, str(group_id), region_id, f"spec changed after the group ended ({phase})", retry
            )
            return
        if applied is not None and changed:
            if spec.update_strategy == "Recreate":
                await self._recreate(
                    resource, str(group_id), region_id, f"{', '.join(changed)} changed", retry
                )
                return
            message = (
                f"{', '.join(changed)} cannot change on an existing container group ({group_id}); "
                "set spec.updateStrategy: Recreate to replace the group, or revert the change"
            )
            await self._set_synced(resource, False, "ImmutableFieldChanged", message)
            raise WaitForSpecChange(message)

        if status.get("appliedHash") != digest:
            if phase not in UPDATABLE_PHASES:
                await self._set_synced(
                    resource,
                    False,
                    "Waiting",
                    f"the group is {phase or 'not yet observed'}; the update waits for Pending or Running",
                    event_type="Normal",
                )
                raise RetryLater(f"group {group_id} is {phase}", delay=min(30.0, 2.0 + retry * 2))
            await self._update(
                resource, str(group_id), region_id, spec, annotations, secrets, digest, registries, retry
            )
            return

        self._track(resource, region_id, str(group_id), spec.restart_policy)
        # Nothing to do: write status only if it says otherwise (so a restart over many resources costs
        # no writes for those already in sync).
        stale: dict[str, Any] = {}
        if status.get("observedGeneration") != resource.generation:
            stale["observedGeneration"] = resource.generation
        await self._set_synced(
            resource,
            True,
            "UpToDate",
            f"container group {group_id} matches generation {resource.generation}",
            **stale,
        )

    async def _warn_uncovered_images(
        self, resource: Resource, spec: models.AcrContainerGroupSpec, annotations: Mapping[str, str]
    ) -> None:
        uncovered = mapping.uncovered_acr_images(spec, annotations)
        if uncovered:
            message = (
                "; ".join(
                    f"{image.field} {image.image}: no AcrRegistryInfo entry or imageRegistryCredentials covers {image.domain}"
                    for image in uncovered
                )
                + " (the pull fails unless the instance belongs to the same account)"
            )
            new = condition("RegistryAccess", False, "AcrRegistryInfoMissing", message, resource.generation)
        else:
            new = condition(
                "RegistryAccess",
                True,
                "Covered",
                "every ACR EE image is covered by an AcrRegistryInfo entry or a credential",
                resource.generation,
            )
        current = get_condition(resource.status.get("conditions"), "RegistryAccess")
        if (
            current is not None
            and current.get("status") == new["status"]
            and current.get("message") == new["message"]
        ):
            return
        if uncovered:
            await self.post_event(resource.reference, "Warning", "AcrRegistryInfoMissing", message)
            logger.warning("%s: %s", resource.key, message)
        await self._patch_status(
            resource, {"conditions": set_condition(resource.status.get("conditions") or [], new)}
        )

    async def _adopt(self, resource: Resource, region_id: str) -> str | None:
        """Find a group made for this resource before a crash (by the uid tag); keep the newest only."""
        try:
            groups = await self.eci.find_container_groups_by_tag(region_id, TAG_UID, resource.uid)
        except EciError as error:
            await self._fail_eci(resource, error, 0)
        live = [g for g in groups if g.get("Status") not in ("Terminating", "Expired")]
        if not live:
            return None
        live.sort(key=lambda g: str(g.get("CreationTime") or ""), reverse=True)
        keep, extras = live[0], live[1:]
        for extra in extras:
            logger.warning(
                "%s: deleting surplus group %s (keeping %s)",
                resource.key,
                extra["ContainerGroupId"],
                keep["ContainerGroupId"],
            )
            await self.eci.delete_container_group(region_id, str(extra["ContainerGroupId"]))
        group_id = str(keep["ContainerGroupId"])
        logger.info("%s: adopted group %s found by its uid tag", resource.key, group_id)
        await self._patch_status(
            resource, {"containerGroupId": group_id, "regionId": region_id, "phase": keep.get("Status")}
        )
        return group_id

    async def _create(
        self,
        resource: Resource,
        region_id: str,
        incarnation: int,
        params: Mapping[str, str],
        immutable: Mapping[str, str],
        digest: str,
        registries: list[dict[str, Any]],
        retry: int,
    ) -> None:
        logger.info(
            "%s: creating container group (incarnation %d) in %s", resource.key, incarnation, region_id
        )
        try:
            group_id = await self.eci.create_container_group(region_id, params)
        except EciError as error:
            if error.code == "IdempotentParameterMismatch":
                # An earlier attempt with this token created a group from an older spec: adopt it.
                adopted = await self._adopt(resource, region_id)
                if adopted:
                    await self._patch_status(
                        resource,
                        {"applied": dict(immutable), "appliedHash": None, "incarnation": incarnation},
                    )
                    raise RetryLater(
                        f"adopted {adopted}; updating it to the current spec", delay=1.0
                    ) from None
            await self._fail_eci(resource, error, retry)
        await self._set_synced(
            resource,
            True,
            "Created",
            f"created container group {group_id}",
            containerGroupId=group_id,
            regionId=region_id,
            incarnation=incarnation,
            applied=dict(immutable),
            appliedHash=digest,
            registries=registries,
            phase="Scheduling",
            observedGeneration=resource.generation,
        )
        await self.post_event(
            resource.reference, "Normal", "Created", f"created ECI container group {group_id}"
        )
        logger.info("%s: created group %s", resource.key, group_id)
        self._track(resource, region_id, group_id, str(resource.spec.get("restartPolicy") or "Always"))

    async def _update(
        self,
        resource: Resource,
        group_id: str,
        region_id: str,
        spec: models.AcrContainerGroupSpec,
        annotations: Mapping[str, str],
        secrets: Mapping[tuple[str, str], str],
        digest: str,
        registries: list[dict[str, Any]],
        retry: int,
    ) -> None:
        params = mapping.update_parameters(
            spec,
            container_group_id=group_id,
            annotations=annotations,
            defaults=self.defaults,
            secrets=secrets,
            client_token=f"{resource.uid}-u{digest[:16]}",
            owner_tags=owner_tags(resource),
        )
        params["RegionId"] = region_id
        logger.info("%s: updating group %s to generation %d", resource.key, group_id, resource.generation)
        try:
            await self.eci.update_container_group(region_id, params)
        except EciError as error:
            await self._fail_eci(resource, error, retry)
        await self._set_synced(
            resource,
            True,
            "Updated",
            f"updated container group {group_id} to generation {resource.generation}",
            appliedHash=digest,
            registries=registries,
            phase="Updating",
            observedGeneration=resource.generation,
        )
        await self.post_event(
            resource.reference, "Normal", "Updated", f"updated ECI container group {group_id}"
        )
        self._track(resource, region_id, group_id, spec.restart_policy)
        tracked = self.tracked.get(resource.uid)
        if tracked is not None:
            tracked.last_observed = None

    async def _recreate(
        self, resource: Resource, group_id: str, region_id: str, why: str, retry: int
    ) -> None:
        """Delete the group and create a new one under a new ClientToken (incarnation + 1)."""
        incarnation = int(resource.status.get("incarnation") or 0) + 1
        logger.info("%s: recreating group %s: %s", resource.key, group_id, why)
        await self.post_event(
            resource.reference, "Normal", "Recreating", f"replacing ECI container group {group_id}: {why}"
        )
        await self._set_synced(
            resource,
            False,
            "Recreating",
            f"replacing container group {group_id}: {why}",
            event_type=None,
            incarnation=incarnation,
        )
        self.tracked.pop(resource.uid, None)
        try:
            await self.eci.delete_container_group(region_id, group_id)
        except EciError as error:
            await self._fail_eci(resource, error, retry)
        await self._patch_status(
            resource,
            {
                "containerGroupId": None,
                "applied": None,
                "appliedHash": None,
                "phase": None,
                "intranetIp": None,
                "internetIp": None,
                "containers": None,
                "regionId": None,
            },
        )
        await self._ensure(resource, retry, adopt=False)

    def _track(self, resource: Resource, region_id: str, group_id: str, restart_policy: str) -> None:
        current = self.tracked.get(resource.uid)
        if current is not None and current.container_group_id == group_id:
            current.resource = resource
            current.restart_policy = restart_policy
            return
        self.tracked[resource.uid] = Tracked(
            resource,
            region_id,
            group_id,
            restart_policy,
            last_event_time=str(resource.status.get("lastEventTime") or ""),
        )

    # -------------------------------------------------------------------------------- observation

    async def observe(self, tracked: Tracked, group: Mapping[str, Any]) -> None:
        """Fold what ECI reports about a group into status and Events (only when something changed)."""
        observed = observed_status(group, tracked.resource.generation)
        events = [
            event
            for event in new_events(group, tracked.last_event_time)
            if event_key(event) not in tracked.seen_events
        ]
        if observed == tracked.last_observed and not events:
            return
        resource = tracked.resource
        async with self.lock(resource.uid):
            fresh = await self._fresh(resource)
            if fresh is None or fresh.status.get("containerGroupId") != tracked.container_group_id:
                return
            tracked.resource = fresh
            patch: dict[str, Any] = {
                "phase": observed["phase"],
                "intranetIp": observed["intranetIp"],
                "internetIp": observed["internetIp"],
                "containers": observed["containers"],
                "conditions": set_condition(fresh.status.get("conditions") or [], observed["ready"]),
            }
            for event in events:
                tracked.seen_events.add(event_key(event))
                tracked.last_event_time = max(tracked.last_event_time, str(event.get("LastTimestamp") or ""))
                await self.post_event(
                    fresh.reference,
                    str(event.get("Type") or "Normal"),
                    str(event.get("Reason") or "Event"),
                    f"{tracked.container_group_id}: {event.get('Message') or ''}",
                )
            if tracked.last_event_time:
                patch["lastEventTime"] = tracked.last_event_time
            if fresh.status.get("phase") != observed["phase"]:
                logger.info("%s: group %s is %s", fresh.key, tracked.container_group_id, observed["phase"])
            # After a restart the first observation is often what status already says: no write then.
            if any(fresh.status.get(key) != value for key, value in patch.items()):
                await self._patch_status(fresh, patch)
            tracked.last_observed = observed

    async def group_missing(self, tracked: Tracked) -> None:
        """ECI no longer knows the group: re-create it, unless a Never group already finished."""
        resource = tracked.resource
        last_phase = str((tracked.last_observed or {}).get("phase") or resource.status.get("phase") or "")
        self.tracked.pop(resource.uid, None)
        if last_phase in finished_phases(tracked.restart_policy):
            logger.info(
                "%s: finished group %s is gone at ECI; keeping its final status",
                resource.key,
                tracked.container_group_id,
            )
            return
        async with self.lock(resource.uid):
            fresh = await self._fresh(resource)
            if (
                fresh is None
                or fresh.deleting
                or fresh.status.get("containerGroupId") != tracked.container_group_id
            ):
                return
            message = f"container group {tracked.container_group_id} ({last_phase or 'unknown'}) no longer exists at ECI; re-creating it"
            logger.warning("%s: %s", fresh.key, message)
            await self.post_event(fresh.reference, "Warning", "ContainerGroupLost", message)
            await self._patch_status(
                fresh,
                {
                    "containerGroupId": None,
                    "incarnation": int(fresh.status.get("incarnation") or 0) + 1,
                    "applied": None,
                    "appliedHash": None,
                    "phase": None,
                    "containers": None,
                },
            )
            try:
                await self._ensure(fresh, 0, adopt=False)
            except (kopf.TemporaryError, kopf.PermanentError) as error:
                logger.warning("%s: re-creation did not complete: %s", fresh.key, error)

    # ------------------------------------------------------------------------------------- delete

    async def delete(self, body: Mapping[str, Any], retry: int = 0) -> None:
        """Delete the group (or, with deletionPolicy Orphan, leave it, tagged as orphaned)."""
        resource = Resource.from_body(body)
        async with self.lock(resource.uid):
            fresh = await self._fresh(resource) or resource
            self.tracked.pop(resource.uid, None)
            region_id = str(
                fresh.status.get("regionId") or fresh.spec.get("regionId") or self.settings.region_id
            )
            group_ids = (
                [str(fresh.status["containerGroupId"])] if fresh.status.get("containerGroupId") else []
            )
            try:
                if not group_ids:
                    found = await self.eci.find_container_groups_by_tag(region_id, TAG_UID, resource.uid)
                    group_ids = [str(group["ContainerGroupId"]) for group in found]
                if fresh.spec.get("deletionPolicy") == "Orphan":
                    for group_id in group_ids:
                        await self._orphan(fresh, region_id, group_id)
                    return
                for group_id in group_ids:
                    existed = await self.eci.delete_container_group(region_id, group_id)
                    logger.info(
                        "%s: deleted group %s%s", fresh.key, group_id, "" if existed else " (already gone)"
                    )
            except EciError as error:
                message = f"{error.action}: {error.code}: {error.message}"
                if not error.retryable:
                    message += (
                        "; the group is kept and the finalizer stays until this is fixed. To let the resource go "
                        "and leave the group running, set spec.deletionPolicy: Orphan on it"
                    )
                await self._set_synced(fresh, False, error.code, message)
                raise RetryLater(message, delay=retry_delay(retry)) from None

    async def _orphan(self, resource: Resource, region_id: str, group_id: str) -> None:
        tags = {**owner_tags(resource), TAG_ORPHANED: "true"}
        params = {"ContainerGroupId": group_id, "UpdateType": "IncrementalUpdate"}
        for index, (key, value) in enumerate(tags.items(), start=1):
            params[f"Tag.{index}.Key"] = key
            params[f"Tag.{index}.Value"] = value
        try:
            await self.eci.update_container_group(region_id, params)
        except EciError as error:
            logger.warning("%s: could not tag orphaned group %s: %s", resource.key, group_id, error.code)
        logger.info("%s: orphaned group %s (deletionPolicy Orphan)", resource.key, group_id)
        await self.post_event(
            resource.reference, "Normal", "Orphaned", f"left ECI container group {group_id} running"
        )
