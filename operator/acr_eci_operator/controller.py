"""The controller: one worker per resource that plans and acts, and the one status writer.

How a resource flows:

- kopf's watch calls `seen(body)` for every version of every resource; the controller keeps the newest
  body per uid and kicks the resource's worker when something that matters changed (generation,
  annotations, deletion, a missing finalizer, or first sight). A known group id is polled from then on,
  whatever state the spec is in.
- The poller calls `observed(...)` with what ECI reported; an observation that began before the last
  mutating call for the group is discarded; one that changes what status shows kicks the worker.
- A worker runs one reconcile at a time for its resource: fold the latest observation into status,
  ask the planner (pure) for the next action, carry it out, and ask again until the plan ends the work.
  Any failure is an `OperatorError`: `_fail` writes it to the Synced condition (and an event), and the
  worker tries again after a capped exponential backoff with jitter, until it succeeds or the resource
  goes. Nothing else acts on ECI, so work started by a poll and work started by an edit share one path.

Crash safety rests on the ClientToken `<uid>-<incarnation>` for creates (ECI returns the first group for
a token it has seen), on ownership tags (a group created just before a crash is found by its uid tag and
adopted), and on the group id written to status right after the create. The incarnation grows only for
deliberate re-creations. Update tokens name one intended change: `<uid>-u<updates>-<digest of group id
and content>`, so a rollback and roll-forward is applied, and a retry of the same change is not applied
twice. A restart asked by annotation is recorded (`status.restart`, result Sending) before
RestartContainerGroup is sent, with the token `<uid>-r<digest of group, value and the record's time>`:
after a crash (or on another replica) the record says it may have been sent, and it is sent again with
the same token, which ECI answers without restarting twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import hashlib
import json
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from acr_eci_operator import mapping, metrics, models, planner
from acr_eci_operator.accounts import Account, Accounts, credentials_secret
from acr_eci_operator.eci import EciClient, EciError, call_timeout
from acr_eci_operator.errors import Conflict, InvalidSpec, OperatorError
from acr_eci_operator.kube import GROUP, KIND, VERSION, Kube
from acr_eci_operator.planner import Action, Desired, Known, Observation, Plan
from acr_eci_operator.settings import Settings
from acr_eci_operator.status import (
    condition,
    event_key,
    get_condition,
    new_events,
    observation_failed,
    observed_status,
    set_condition,
)

logger = logging.getLogger(__name__)

FINALIZER = "eci.acr-operator.dev/finalizer"
TAG_UID = f"{models.OWNER_TAG_PREFIX}uid"
TAG_NAMESPACE = f"{models.OWNER_TAG_PREFIX}namespace"
TAG_NAME = f"{models.OWNER_TAG_PREFIX}name"
ORPHANED_PREFIX = "orphaned-"
"""An orphaned group's uid tag value becomes `orphaned-<uid>`: it stays traceable, no resource owns it
any more, and no tag is added (a group may already carry ECI's limit of 20)."""

NO_STOCK = "OperationDenied.NoStock"

NO_GROUP: Mapping[str, None] = {
    key: None
    for key in (
        "containerGroupId",
        "regionId",
        "applied",
        "appliedHash",
        "appliedLists",
        "updateCount",
        "phase",
        "intranetIp",
        "internetIp",
        "containers",
        "imageCache",
        "capacity",
        "account",
    )
}
"""The status fields that describe the current group, cleared (merge-patch null) when there is none."""

OBSERVATION_FAILED_INTERVALS = 3
"""Ready turns Unknown (ObservationFailed) when a group could not be observed for this many intervals."""
MAX_STEPS = 4
"""Plan-and-act rounds in one reconcile (Recreate then Create is the longest chain)."""
RECONCILE_CONCURRENCY = 32
"""Reconciles running at once (as many as threads carry the Kubernetes calls); the others wait their
turn, first asked first served. A wave of new resources then goes through in order, each one's calls
and create one after the other, instead of every resource's first call, then every second one (which
held back the first create until nearly every resource had made its calls before it)."""
OUTCOME_WRITE_ATTEMPTS = 5
"""Reads and conditional writes of a request's outcome before giving up to the backoff (each Conflict
means another writer wrote in between)."""

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name) of a Secret or ConfigMap."""

PostEvent = Callable[[Mapping[str, Any], str, str, str], Awaitable[None]]
"""post_event(object reference body, type, reason, message)."""


def update_token(
    uid: str, update_count: int, container_group_id: str, digest: str, incarnation: int = 0
) -> str:
    """One ClientToken per intended change: the n-th update of this group to this content under this
    incarnation (at most 64 ASCII characters, as ECI allows). The count starts again at 0 when a group
    judged lost is found again and adopted back, under the next incarnation: without it in the digest,
    the updates that followed would repeat the tokens of earlier ones, which ECI answers without
    applying them. Incarnation 0 digests as before it was part of the token (a release's update in
    flight across an upgrade keeps its token)."""
    content = f"{container_group_id}|{digest}" + (f"|{incarnation}" if incarnation else "")
    change = hashlib.sha256(content.encode()).hexdigest()[:12]
    return f"{uid}-u{update_count}-{change}"


def restart_token(uid: str, container_group_id: str, requested: str | None, at: str) -> str:
    """The ClientToken of one restart: the group, the annotation value and when it was first sent (so the
    same value asked again later is a new restart); at most 64 ASCII characters."""
    request = hashlib.sha256(f"{container_group_id}|{requested}|{at}".encode()).hexdigest()[:16]
    return f"{uid}-r{request}"


SENT_TO_ECI = frozenset({Action.CREATE, Action.RECREATE, Action.UPDATE, Action.RESTART})
"""Plans carried out by a call that changes the group (`Entry.refused` holds them back)."""


def backoff(attempt: int, cap: float, base: float = 1.0) -> float:
    """Capped exponential backoff with jitter: uniform in [d/2, d], d = min(cap, base * 2**attempt)."""
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return random.uniform(ceiling / 2, ceiling)


def resource_version(body: Mapping[str, Any]) -> int | None:
    """metadata.resourceVersion as a number. The apiserver's are etcd revisions, which grow; a watch
    event older than what we already hold (our own status write answered first) is then ignored."""
    raw = str((body.get("metadata") or {}).get("resourceVersion") or "")
    return int(raw) if raw.isdigit() else None


@dataclass
class Resource:
    """The parts of an AcrContainerGroup the controller reads."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    status: Mapping[str, Any]
    deleting: bool
    finalizers: tuple[str, ...]
    resource_version: str
    deletion_timestamp: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Resource:
        metadata = body.get("metadata") or {}
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 0),
            spec=compact(body.get("spec") or {}),
            annotations=compact(metadata.get("annotations") or {}),
            status=compact(body.get("status") or {}),
            deleting=bool(metadata.get("deletionTimestamp")),
            finalizers=tuple(metadata.get("finalizers") or ()),
            resource_version=str(metadata.get("resourceVersion") or ""),
            deletion_timestamp=metadata.get("deletionTimestamp"),
        )

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def reference(self) -> dict[str, Any]:
        """Enough of the body for an Event to address the object."""
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid},
        }

    @property
    def trigger(self) -> tuple[Any, ...]:
        """What, when it changes, needs a reconcile (status changes do not)."""
        ours = tuple(
            sorted(
                (k, v)
                for k, v in self.annotations.items()
                if k.startswith("k8s.aliyun.com/") or k in models.REQUEST_ANNOTATIONS
            )
        )
        return (self.generation, ours, self.deleting, FINALIZER in self.finalizers)

    def known(self) -> Known:
        return planner.known_from(self.status)


def handled_fields(records: Mapping[str, planner.Handled], at: str) -> dict[str, Any]:
    """Request records as status fields. Every key is written (None removes it: a merge patch merges
    nested objects, and a value left from an earlier record must not survive)."""
    return {
        kind: {
            "requested": record.requested,
            "containerGroupId": record.container_group_id,
            "at": at,
            "result": record.result,
        }
        for kind, record in records.items()
    }


SHARED_LENGTH = 18
"""Strings up to this long held from a body are shared (`sys.intern`) with every other copy: field
names, phases, reasons; not the longer values that are mostly one resource's own (times, ids, digests),
which interning would only add to the interpreter's table of shared strings."""


def compact(value: Any) -> Any:
    """A copy of a JSON value whose keys and short strings are shared: every body parsed brings its own
    copies of the same field names, reasons and phases, which held for every resource add up."""
    if isinstance(value, dict):
        return {
            sys.intern(key) if isinstance(key, str) else key: compact(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [compact(item) for item in value]
    if isinstance(value, str) and len(value) <= SHARED_LENGTH:
        return sys.intern(value)
    return value


MAX_TAG_VALUE = 128
"""ECI refuses tag values longer than 128 characters; metadata.name may have 253."""


def tag_value(value: str) -> str:
    """A tag value within ECI's limit: a long one keeps its start and ends in a digest of the whole."""
    if len(value) <= MAX_TAG_VALUE:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    return f"{value[: MAX_TAG_VALUE - 13]}-{digest}"


def needs_work(before: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
    """Whether a change of the resource's trigger asks for a reconcile: anything but our finalizer
    appearing (only the operator adds it; its watch event may arrive before our own write's answer)."""
    return before[:3] != after[:3] or (before[3] and not after[3])


def owner_tags(resource: Resource) -> dict[str, str]:
    """The ownership tags: the uid tag identifies; namespace and name are for people (shortened to fit)."""
    return {TAG_UID: resource.uid, TAG_NAMESPACE: resource.namespace, TAG_NAME: tag_value(resource.name)}


@dataclass
class DesiredState:
    """The spec turned into wire parameters (Secrets and ConfigMaps read), cached per generation and
    annotations until one of the objects it read changes."""

    trigger: tuple[Any, ...]
    spec: models.AcrContainerGroupSpec
    annotations: Mapping[str, str]
    objects: mapping.Objects
    create_params: Mapping[str, str]
    registries: list[dict[str, Any]]
    desired: Desired
    registry_access: dict[str, Any]
    account: Account
    """The account (credentials, defaults, ECI clients) that serves the resource."""


class Wake:
    """asyncio.Event for one waiter (the resource's worker), holding no waiter queue while nobody waits
    (held for every resource, an Event's queue was about 0.8 KB each)."""

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: asyncio.Event | None = None

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()

    def clear(self) -> None:
        self._set = False
        if self._event is not None:
            self._event.clear()

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        event = self._event = asyncio.Event()
        try:
            await event.wait()
        finally:
            if self._event is event:
                self._event = None


@dataclass
class Entry:
    """What the controller knows of one resource, in memory only."""

    resource: Resource
    epoch: int = 0
    """Grows before and after every mutating call for the group; odd while one is in flight."""
    events: tuple[Mapping[str, Any], ...] = ()
    """The events of the latest valid Describe answer for the group (the fields we read of each); the
    rest of the answer is not kept: what status shows of it is `view`."""
    observation: Observation | None = None
    view: Mapping[str, Any] | None = None
    """What the last answer the poller handed over shows (status.observed_status): what status is
    folded from, and what tells news."""
    observation_failed_since: float | None = None
    desired: DesiredState | None = None
    attempts: int = 0
    seen_events: set[int] = field(default_factory=set)
    """The events posted (`_seen`: a hash of each one's `event_key`, which alone is a long string)."""
    events_seeded: bool = False
    wake: Wake = field(default_factory=lambda: Wake())
    references: frozenset[ObjectKey] = frozenset()
    """The Secrets and ConfigMaps the resource reads (its spec's, and its credentials Secret), as indexed
    in Controller.referrers."""
    spec_references: frozenset[ObjectKey] = frozenset()
    credentials_key: ObjectKey | None = None
    """The credentials Secret the resource's account comes from (whether it exists or not)."""
    account: Account | None = None
    """The account resolved from that Secret, until it changes."""
    account_stale: bool = False
    """The Secret changed since `account` was resolved: it is resolved again at the next reconcile, and
    until then (or while the new content cannot be used) the groups are observed with the old one."""
    reference_changes: int = 0
    """Grows with every change of one of those objects: a desired state read across one is not kept."""
    acting: Action | None = None
    """The action under way in the current reconcile."""
    refused: tuple[planner.Desired, Action] | None = None
    """What was asked for and the action that failed for good (a non-retryable error): that action is not
    taken again while the resource asks for the same (by value: an edit or a referenced object's new
    values differ; the resync forgets it). Another action (a lost group re-created, say) goes on."""
    awaited_update: tuple[Any, float] | None = None
    """The unrecorded update another call may still deliver (`update_hold`) and when (this process's
    clock) it was first waited for: the wait never exceeds one call's life from then, whatever the clock
    of the replica that wrote its time."""
    unstored_records: dict[str, planner.Handled] = field(default_factory=dict)
    """Request records of no value that an outdated CRD pruned from status (`Controller._stored`)."""
    task: asyncio.Task[None] | None = None
    busy: bool = False
    first_sight: bool = True
    """Nothing was done for the resource yet: what is held is what the watch showed."""

    @property
    def container_group_id(self) -> str | None:
        return str(self.resource.status.get("containerGroupId") or "") or None

    def known(self) -> Known:
        """What status says was done, with the request records an outdated CRD did not store."""
        known = self.resource.known()
        held = {
            kind: record for kind, record in self.unstored_records.items() if getattr(known, kind) is None
        }
        return planner.recorded(known, held) if held else known

    def region_id(self, default: str) -> str:
        return str(self.resource.status.get("regionId") or self.resource.spec.get("regionId") or default)


@dataclass(frozen=True)
class Target:
    """One group for the poller to ask about, with the epoch its answer must still match."""

    uid: str
    region_id: str
    container_group_id: str
    epoch: int
    eci: EciClient | None = field(default=None, compare=False)
    """The client of the resource's account in that region."""
    account: Account | None = field(default=None, compare=False)
    """That account: an answer is kept only while the resource is still served by it."""


def create_hash(params: Mapping[str, str]) -> str:
    """A digest of a create's parameters but its ClientToken (what ECI compares for a token it knows)."""
    sent = {k: v for k, v in params.items() if k != "ClientToken"}
    return hashlib.sha256(json.dumps(sent, sort_keys=True).encode()).hexdigest()[:32]


def update_hold(status: Mapping[str, Any], group_id: str, digest: str, now: float, in_flight: float) -> float:
    """Seconds to wait before sending an update of content `digest` to `group_id`: while status records
    an update of other content (`updateSent`) whose outcome is not recorded (appliedHash is not its
    hash) and which may still reach ECI (sent less than `in_flight` seconds ago: one call's longest
    life), sending now could let the older content land last, with status naming the newer. That
    update was sent by a replica that stopped acting during the call (a hand-over: its task is
    cancelled, the SDK's request is not) or by this operator before it restarted. 0: send now."""
    sent = status.get("updateSent")
    if not isinstance(sent, Mapping) or sent.get("containerGroupId") != group_id:
        return 0.0
    if sent.get("hash") in (digest, status.get("appliedHash")):
        return 0.0  # the same content (its token again), or its outcome is recorded
    at = _parse_rfc3339(str(sent.get("at") or ""))
    if at is None:
        return 0.0
    return max(0.0, at + in_flight - now)


def before_create(
    status: Mapping[str, Any], incarnation: int, parameters_hash: str, now: float, trust: float
) -> tuple[bool, dict[str, Any]]:
    """Before incarnation `incarnation` is created: whether groups must first be looked up by the uid tag
    (a create may have made one that status does not name, and its ClientToken alone may not find it),
    and the `createSent` record to write before the call.

    - No create of this incarnation was recorded: none was sent (the record is written before every
      create). A first incarnation then needs no look-up, unless status is not empty: a release that
      did not record its creates wrote it, and may have sent one (the upgrade path). A later incarnation
      (a re-creation) looks up: the group it replaces may still exist (one judged lost because ECI left
      it out of its answers is adopted back, not duplicated).
    - One was, `trust` seconds ago or less, with the same parameters: ECI still knows its ClientToken and
      answers a create with the same token and parameters with the group it made: no look-up. The first
      sending time is kept.
    - One was with other parameters (the spec, or a Secret it reads, changed since): ECI would answer
      IdempotentParameterMismatch; look up instead.
    - One was, longer ago (ECI keeps a token's result for a limited time, which its documentation does
      not state; ACR_ECI_CLIENT_TOKEN_TRUST_SECONDS, 5 minutes by default, stays well inside what
      comparable services keep), or the on-demand fallback (a token of its own) was sent too: look up.
    """
    record = {"incarnation": incarnation, "at": _rfc3339(now), "parametersHash": parameters_hash}
    sent = status.get("createSent")
    if not isinstance(sent, Mapping) or sent.get("incarnation") != incarnation:
        if incarnation > 0:
            return True, record
        legacy = not isinstance(sent, Mapping) and (
            bool(status.get("conditions")) or status.get("incarnation") is not None
        )
        return legacy, record
    first = _parse_rfc3339(str(sent.get("at") or ""))
    changed = sent.get("parametersHash") != parameters_hash
    if first is None or changed or sent.get("onDemand") or now - first > trust:
        return True, record
    return False, dict(sent)


def _rfc3339(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(text: str) -> float | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()
    except ValueError:
        return None


class ResourceGone(Exception):
    """The resource was deleted under a reconcile (its finalizer removed by hand): stop at once."""


class Superseded(Exception):
    """The record of a call about to be sent, written only over the version read, found a newer one:
    another writer (a second replica briefly active, an edit) came first. Nothing was sent; the reconcile
    starts over from a fresh read."""


class Controller:
    """Owns every resource's state and worker; the poller and kopf's watch feed it."""

    def __init__(
        self,
        settings: Settings,
        accounts: Accounts,
        kube: Kube,
        post_event: PostEvent,
        clock: Callable[[], float] = time.monotonic,
        active: bool = True,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.kube = kube
        self.post_event = post_event
        self.clock = clock
        self.entries: dict[str, Entry] = {}
        self.referrers: dict[ObjectKey, set[str]] = {}
        """Who reads each Secret and ConfigMap: (kind, namespace, name) -> uids (see `_index`)."""
        self.object_versions: dict[ObjectKey, str] = {}
        """The resourceVersion of each referenced object last seen by the watch (a relist is not news)."""
        self.active = active
        """Whether this replica acts (peering); a paused one holds nothing and starts no work."""
        self._announced = False
        self.poll_now = asyncio.Event()
        """Set when a worker waits for an observation: the poller asks ECI without waiting its interval."""
        self._reconciling = asyncio.Semaphore(RECONCILE_CONCURRENCY)

    # ------------------------------------------------------------------------------ inputs

    def seen(self, body: Mapping[str, Any]) -> None:
        """A version of a resource from the watch."""
        resource = Resource.from_body(body)
        if not resource.uid:
            return
        entry = self.entries.get(resource.uid)
        if entry is None:
            if resource.deleting and FINALIZER not in resource.finalizers:
                return
            entry = self.entries[resource.uid] = Entry(resource)
            self.kick(entry, "first seen")
            return
        held, given = resource_version(body), entry.resource.resource_version
        if held is not None and given.isdigit() and held < int(given):
            return  # older than what our own write already answered
        before = entry.resource.trigger
        entry.resource = resource
        if needs_work(before, resource.trigger):
            entry.desired = None
            entry.attempts = 0
            self.kick(entry, f"changed: {before} -> {resource.trigger}")

    def referenced_object_changed(self, kind: str, namespace: str, name: str, version: str | None) -> None:
        """A Secret or ConfigMap changed (or appeared, or went): every resource that reads it reads it
        again and, when what it sends to ECI changed, updates its group."""
        key = (kind, namespace, name)
        uids = self.referrers.get(key)
        if not uids or (version is not None and self.object_versions.get(key) == version):
            return
        if version is not None:
            self.object_versions[key] = version
        for uid in list(uids):
            entry = self.entries.get(uid)
            if entry is not None:
                entry.desired = None
                if key == entry.credentials_key:
                    entry.account_stale = True
                entry.reference_changes += 1
                entry.attempts = 0
                self.kick(entry, f"{kind} {namespace}/{name} changed")

    def _index(self, entry: Entry, references: list[models.Reference]) -> None:
        """Record which objects the resource reads (before reading them: a change after the read is
        then always noticed)."""
        namespace = entry.resource.namespace
        entry.spec_references = frozenset((ref.kind, namespace, ref.name) for ref in references)
        self._reindex(entry)

    def _reindex(self, entry: Entry) -> None:
        uid = entry.resource.uid
        keys = set(entry.spec_references)
        if entry.credentials_key is not None:
            keys.add(entry.credentials_key)
        for key in entry.references - keys:
            self._unindex(key, uid)
        for key in keys:
            self.referrers.setdefault(key, set()).add(uid)
        entry.references = frozenset(keys)

    def _unindex(self, key: ObjectKey, uid: str) -> None:
        uids = self.referrers.get(key)
        if uids is not None:
            uids.discard(uid)
            if not uids:
                del self.referrers[key]
                self.object_versions.pop(key, None)

    def forget(self, uid: str) -> None:
        """The resource is gone from the apiserver: drop everything held for it."""
        entry = self.entries.pop(uid, None)
        for key in entry.references if entry is not None else ():
            self._unindex(key, uid)
        if entry is not None and entry.task is not None and not entry.busy:
            entry.task.cancel()

    def targets(self, pending_only: bool = False) -> list[Target]:
        """Every group with a known id (or only those not observed since their last change), for the
        poller; not those with a mutating call in flight."""
        targets = []
        for uid, entry in self.entries.items():
            group_id = entry.container_group_id
            if pending_only and self._observation(entry) is not None:
                continue
            account = entry.account
            if group_id and entry.epoch % 2 == 0 and account is not None:
                region_id = entry.region_id(account.defaults.region_id)
                targets.append(
                    Target(uid, region_id, group_id, entry.epoch, account.client(region_id), account)
                )
        return targets

    def observed(self, target: Target, group: Mapping[str, Any] | None) -> bool:
        """What ECI reported for a target (None: absent, confirmed by a second Describe by id); whether
        the answer was kept."""
        entry = self.entries.get(target.uid)
        if (
            entry is None
            or entry.epoch != target.epoch
            or entry.container_group_id != target.container_group_id
        ):
            return False  # a mutating call was sent since the request began: the answer may predate it
        if target.account is not None and target.account is not entry.account:
            return False  # asked with credentials that no longer serve the resource
        entry.observation_failed_since = None
        phase = None if group is None else str(group.get("Status") or "Unknown")
        owned = group is None or _tags(group).get(TAG_UID) == entry.resource.uid
        no_stock = phase == "ScheduleFailed" and group is not None and _out_of_stock(group)
        observation = Observation(target.container_group_id, phase, owned, no_stock)
        view = (
            None
            if group is None
            else compact(observed_status(group, entry.resource.status.get("observedGeneration")))
        )
        changed = observation != entry.observation or view != entry.view
        events = () if group is None else _events(group)
        fresh_events = group is not None and bool(self._unposted_events(entry, events))
        stale_unknown = _ready_reason(entry.resource.status) == "ObservationFailed"
        entry.observation, entry.events, entry.view = observation, events, view
        if changed or fresh_events or stale_unknown:
            self.kick(entry, "observation")
        return True

    def _unposted_events(self, entry: Entry, events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """ECI events of the group not yet re-posted. ECI stamps events to the second: those at or after
        status.lastEventTime are candidates, less the ones this process posted. After a restart, those
        stamped exactly lastEventTime were posted by the earlier life (they are marked seen once)."""
        since = str(entry.resource.status.get("lastEventTime") or "")
        candidates = new_events({"Events": events}, since)
        if not entry.events_seeded:
            entry.events_seeded = True
            for event in candidates:
                if str(event.get("LastTimestamp") or "") <= since:
                    entry.seen_events.add(_seen(event))
        # Forget keys of events ECI no longer reports at or after lastEventTime (memory stays bounded).
        entry.seen_events &= {_seen(event) for event in candidates}
        return [event for event in candidates if _seen(event) not in entry.seen_events]

    def wants_details(self, target: Target) -> bool:
        """Whether the group must be described even though a listing shows no change: the worker holds
        no observation of it, or Ready says it could not be observed."""
        entry = self.entries.get(target.uid)
        if entry is None or entry.container_group_id != target.container_group_id:
            return False
        return (
            entry.observation is None
            or entry.observation.container_group_id != target.container_group_id
            or _ready_reason(entry.resource.status) == "ObservationFailed"
        )

    def confirmed(self, target: Target) -> None:
        """A listing reported the group unchanged: it is observed, as before."""
        entry = self.entries.get(target.uid)
        if entry is not None and entry.epoch == target.epoch:
            entry.observation_failed_since = None

    def observation_failed(self, target: Target) -> None:
        """The poller could not ask ECI about the group this time."""
        entry = self.entries.get(target.uid)
        if entry is None:
            return
        now = self.clock()
        if entry.observation_failed_since is None:
            entry.observation_failed_since = now
        elif (
            now - entry.observation_failed_since > self._observation_deadline()
            and _ready_reason(entry.resource.status) != "ObservationFailed"
        ):
            self.kick(entry, "observation failing")

    def set_active(self, active: bool) -> None:
        """Peering decided whether this replica acts. A paused replica stops every worker and forgets
        its observations (they go stale); on resuming, every resource is reconciled again."""
        if active == self.active and self._announced:
            return
        self.active, self._announced = active, True
        if active:
            logger.info("this replica is active: polling and reconciling")
            for entry in list(self.entries.values()):
                self.kick(entry, "this replica became active")
            return
        logger.info("this replica is paused (another replica is active): stopping all work")
        for entry in list(self.entries.values()):
            entry.desired = None  # the watch stops too: Secrets and ConfigMaps are read again on resuming
            if entry.task is not None:
                entry.task.cancel()
            entry.task = None
            entry.observation, entry.events, entry.view = None, (), None
            entry.epoch += 2
            # Another replica posts events and observes meanwhile: start afresh on resuming.
            entry.seen_events.clear()
            entry.events_seeded = False
            entry.observation_failed_since = None

    def resync(self) -> None:
        """Reconcile every resource held (a periodic safety net: one missed wake-up, or a resource that
        vanished while the watch was down, is caught within a resync period)."""
        self.accounts.retain([entry.account for entry in self.entries.values() if entry.account is not None])
        for entry in list(self.entries.values()):
            entry.refused = None  # asked once more: a quota raised or a policy granted since
            if not self.settings.watch_secrets and any(key[0] == "Secret" for key in entry.references):
                entry.desired = None  # Secrets are not watched: read them again
                entry.account_stale = True
            self.kick(entry, "resync")

    def summary(self) -> dict[str, Any]:
        """What this replica holds, for the liveness endpoint (memory follows the live set)."""
        return {
            "active": self.active,
            "resources": len(self.entries),
            "workers": sum(1 for e in self.entries.values() if e.task is not None and not e.task.done()),
            "seenEvents": sum(len(e.seen_events) for e in self.entries.values()),
        }

    async def stop(self) -> None:
        tasks = [entry.task for entry in self.entries.values() if entry.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------ workers

    def kick(self, entry: Entry, why: str = "") -> None:
        """Ask the resource's worker to reconcile now (starting it if it is not running)."""
        logger.debug("%s: reconcile asked for: %s", entry.resource.key, why)
        entry.wake.set()
        if self.active and (entry.task is None or entry.task.done()):
            # In a context of its own: not kopf's of the watch event that kicked it (its cause holds the
            # event's body, patches and logger for as long as the worker lives).
            entry.task = asyncio.create_task(
                self._worker(entry), name=f"reconcile {entry.resource.key}", context=contextvars.Context()
            )

    async def _worker(self, entry: Entry) -> None:
        while self.active and self.entries.get(entry.resource.uid) is entry:
            async with self._reconciling:
                if not self.active or self.entries.get(entry.resource.uid) is not entry:
                    return
                entry.wake.clear()
                entry.busy = True
                try:
                    delay = await self._reconcile(entry)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a defect: keep the worker alive and try again later
                    logger.exception("%s: reconcile failed unexpectedly", entry.resource.key)
                    metrics.reconcile_failed("UnexpectedError")
                    delay = self._backoff(entry)
                finally:
                    entry.busy = False
            metrics.reconcile_done()
            if delay is None:
                if not entry.wake.is_set():
                    if not entry.spec_references:
                        # Nothing to read to build it again (pure and quick): not held while idle.
                        entry.desired = None
                    if entry.task is asyncio.current_task():
                        entry.task = None  # a finished task holds its coroutine and context
                    return
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.wake.wait(), timeout=delay)

    def _backoff(self, entry: Entry) -> float:
        delay = backoff(entry.attempts, self.settings.retry_cap)
        entry.attempts += 1
        return delay

    def _observation_deadline(self) -> float:
        return OBSERVATION_FAILED_INTERVALS * self.settings.poll_interval

    # ------------------------------------------------------------------------------ reconcile

    async def _reconcile(self, entry: Entry) -> float | None:
        """One round of work: None when done, else the delay before the next round."""
        entry.acting = None
        try:
            # A resource the watch shows for the first time, without the finalizer, is not read again:
            # the finalizer's write that comes first is conditional on the resourceVersion held, so a
            # newer version makes it fail (Conflict) and the next round reads afresh.
            first_sight, entry.first_sight = entry.first_sight, False
            unread = first_sight and FINALIZER not in entry.resource.finalizers
            if not unread and not await self._refresh(entry):
                return None
            resource = entry.resource
            if resource.deleting:
                metrics.planned("Finalize")
                return await self._finalize(entry)
            if FINALIZER not in resource.finalizers:
                try:
                    added = await self._add_finalizer(entry)
                except Conflict:
                    if not unread:
                        raise
                    return 0.0  # the watch's version is not the latest: the next round reads it
                if not added:
                    self.forget(resource.uid)
                    return None
            await self._account(entry)
            desired = await self._desired(entry)
            for _ in range(MAX_STEPS):
                if entry.resource.deleting or entry.desired is not desired:
                    return 0.0  # the resource changed under this reconcile: start over from it
                result = planner.plan(desired.desired, entry.known(), self._observation(entry))
                logger.debug("%s: plan %s %s", entry.resource.key, result.action.value, result.reason)
                if (
                    entry.refused is not None
                    and entry.refused[0] == desired.desired
                    and entry.refused[1] is result.action
                    and result.action in SENT_TO_ECI
                ):
                    # A wake-up with nothing new (an observation, a late watch event of the change
                    # itself): the refusal shown stands; the same call would be refused again.
                    logger.debug(
                        "%s: %s was refused for good; not sent again", entry.resource.key, result.action.value
                    )
                    return None
                metrics.planned(result.action.value)
                entry.acting = result.action
                if result.action is Action.CREATE:
                    await self._create(entry, desired)
                elif result.action is Action.RECREATE:
                    await self._recreate(entry, desired, result)
                elif result.action is Action.FORGET:
                    await self._forget_group(entry, result)
                elif result.action is Action.UPDATE:
                    delay = await self._update(entry, desired)
                    entry.attempts = 0
                    return delay
                elif result.action is Action.RESTART:
                    await self._restart(entry, desired, result)
                elif result.action is Action.ACKNOWLEDGE:
                    await self._acknowledge(entry, result)
                elif result.action is Action.OBSERVE:
                    self.poll_now.set()
                    await self._commit(
                        entry, conditions=[desired.registry_access], announce={"RegistryAccess": "Warning"}
                    )
                    return 2 * self.settings.poll_interval
                elif result.action is Action.WAIT:
                    await self._synced(entry, desired, False, result, event_type="Normal")
                    return 2 * self.settings.poll_interval
                elif result.action is Action.REFUSE:
                    await self._synced(entry, desired, False, result)
                    return None
                else:
                    await self._in_sync(entry, desired, result)
                    entry.attempts = 0
                    return None
            # The plan did not settle within MAX_STEPS rounds: try again after a backoff, never at once.
            logger.warning("%s: no stable plan after %d steps", entry.resource.key, MAX_STEPS)
            return self._backoff(entry)
        except Superseded:
            return 0.0  # another writer came first: read afresh and plan again
        except ResourceGone:
            logger.info("%s: the resource is gone; nothing more is done for it", entry.resource.key)
            self.forget(entry.resource.uid)
            return None
        except OperatorError as error:
            return await self._fail(entry, error)

    async def _refresh(self, entry: Entry) -> bool:
        """Read the resource afresh before acting (the watch may lag); False when it is gone."""
        body = await self.kube.get(entry.resource.namespace, entry.resource.name)
        if body is None or (body.get("metadata") or {}).get("uid") != entry.resource.uid:
            self.forget(entry.resource.uid)
            return False
        held = resource_version(body)
        current = entry.resource.resource_version
        if held is None or not current.isdigit() or held >= int(current):
            if Resource.from_body(body).trigger != entry.resource.trigger:
                entry.desired = None
            entry.resource = Resource.from_body(body)
        return True

    def _observation(self, entry: Entry) -> Observation | None:
        observation = entry.observation
        if observation is None or observation.container_group_id != entry.container_group_id:
            return None
        return observation

    async def _fail(self, entry: Entry, error: OperatorError) -> float | None:
        """The one place a failure becomes a condition, an event and a retry decision."""
        resource = entry.resource
        metrics.reconcile_failed(error.reason)
        message = error.message
        if resource.deleting and not error.retryable:
            message += (
                "; the group is kept and the finalizer stays until this is fixed. To let the resource go "
                "and leave the group running, set spec.deletionPolicy: Orphan on it"
            )
        failed = condition("Synced", False, error.reason, message, resource.generation)
        try:
            await self._commit(entry, conditions=[failed], announce={"Synced": "Warning"})
        except ResourceGone:
            self.forget(resource.uid)
            return None
        except OperatorError as write_error:
            logger.warning(
                "%s: %s (and the status could not be written: %s)", resource.key, error, write_error
            )
        if error.retryable or resource.deleting:
            return self._backoff(entry)
        entry.attempts = 0
        if entry.desired is not None and entry.acting is not None:
            entry.refused = (entry.desired.desired, entry.acting)
        return None

    async def _account(self, entry: Entry) -> Account:
        """The account that serves the resource (see `accounts`), read from its credentials Secret and
        kept until that Secret changes or the annotation names another one."""
        resource = entry.resource
        name, explicit = credentials_secret(resource.namespace, resource.annotations)
        key: ObjectKey = ("Secret", resource.namespace, name)
        if entry.account is not None and entry.credentials_key == key and not entry.account_stale:
            return entry.account
        changes = entry.reference_changes
        if entry.credentials_key != key:
            entry.credentials_key = key
            self._reindex(entry)  # before the read: a change after it is then always noticed
        data = await self.kube.object_data("Secret", resource.namespace, name)
        account = self.accounts.resolve(resource.namespace, name, explicit, data)
        previous = entry.account
        if previous is not None and previous is not account and previous.identity != account.identity:
            # Another identity (a rotated key, or another account): what the old one saw proves nothing
            # about what this one sees.
            self._forget_observation(entry)
        entry.account = account
        # A change that landed during the read is read again (its wake-up is pending).
        entry.account_stale = entry.reference_changes != changes
        return account

    async def _desired(self, entry: Entry) -> DesiredState:
        resource = entry.resource
        if entry.desired is not None and entry.desired.trigger == resource.trigger:
            return entry.desired
        try:
            spec = models.AcrContainerGroupSpec.from_dict(resource.spec)
            annotations = dict(resource.annotations)
            models.annotation_registries(annotations)
        except models.SpecError as error:
            raise InvalidSpec(str(error)) from None
        account = await self._account(entry)
        references = models.references(spec)
        changes = entry.reference_changes
        self._index(entry, references)
        objects: dict[tuple[models.ReferenceKind, str], dict[str, bytes] | None] = {}
        for ref in references:
            if (ref.kind, ref.name) not in objects:
                try:
                    objects[(ref.kind, ref.name)] = await self.kube.object_data(
                        ref.kind, resource.namespace, ref.name
                    )
                except OperatorError as error:
                    raise OperatorError(
                        error.reason, f"{ref.field}: {error.message}", retryable=error.retryable
                    ) from None
        try:
            params = mapping.create_parameters(
                spec,
                name=resource.name,
                annotations=annotations,
                defaults=account.defaults,
                objects=objects,
                client_token="-",
                owner_tags=owner_tags(resource),
            )
        except (models.ReferenceMissing, models.ReferenceNotText) as error:
            # The object may appear or change (GitOps applies in any order): retried, and woken at once
            # by the watch on what the resource refers to.
            reason = "NotFound" if isinstance(error, models.ReferenceMissing) else "NotText"
            raise OperatorError(f"{error.kind}{reason}", str(error), retryable=True) from None
        except models.SpecError as error:
            raise InvalidSpec(str(error)) from None
        state = DesiredState(
            trigger=resource.trigger,
            spec=spec,
            annotations=annotations,
            objects=objects,
            create_params=params,
            registries=[r.to_dict() for r in mapping.effective_registries(spec, annotations)],
            desired=planner.desired_from(
                spec,
                raw_spec=resource.spec,
                annotations=annotations,
                generation=resource.generation,
                create_params=params,
                account=account.identity,
            ),
            registry_access=_registry_access(spec, annotations, resource.generation),
            account=account,
        )
        # An object that changed while it was being read is read again by the next reconcile (this one
        # goes on with what it read: the change's wake-up is pending).
        if entry.reference_changes == changes:
            entry.desired = state
        return state

    # ------------------------------------------------------------------------------ actions

    async def _mutate(self, entry: Entry, call: Awaitable[Any]) -> Any:
        """Run a mutating ECI call; observations that began before it ends are discarded. When ECI
        refused the call (it changed nothing), the observation from before it still holds: keeping it
        means the next poll does not count as news and re-send a refused call at every interval."""
        before = (entry.observation, entry.events)
        entry.epoch += 1
        entry.observation, entry.events = None, ()
        refused = False
        try:
            return await call
        except EciError as error:
            refused = error.http_status is not None and 400 <= error.http_status < 500
            raise
        finally:
            entry.epoch += 1
            entry.observation, entry.events = before if refused else (None, ())

    def _forget_observation(self, entry: Entry) -> None:
        """What status now names is another group (or none): answers already in flight are void."""
        entry.observation, entry.events = None, ()
        entry.epoch += 2

    async def _add_finalizer(self, entry: Entry) -> bool:
        """Put our finalizer on before anything is created; False when the resource is gone."""
        resource = entry.resource
        body = await self.kube.set_finalizers(
            resource.namespace, resource.name, [*resource.finalizers, FINALIZER], resource.resource_version
        )
        if body is None:
            return False
        expected = (*entry.resource.trigger[:3], True)  # our own change: the finalizer is there
        self._take(entry, body, expected)
        return True

    def _take(self, entry: Entry, body: Mapping[str, Any], expected: tuple[Any, ...] | None = None) -> None:
        """Hold the object as our own write answered it. If that answer carries someone else's change
        (the write landed after an edit or a deletion), its watch event will be ignored as older, so
        the worker is woken here instead. `expected`: the trigger our own write leads to."""
        before = expected if expected is not None else entry.resource.trigger
        entry.resource = Resource.from_body(body)
        if needs_work(before, entry.resource.trigger):
            entry.desired = None
            entry.attempts = 0
            logger.debug(
                "%s: our write answered with a change: %s", entry.resource.key, entry.resource.trigger
            )
            entry.wake.set()

    async def _create(self, entry: Entry, desired: DesiredState) -> None:
        resource = entry.resource
        creating = condition(
            "Synced", False, "Creating", "creating the container group at ECI", resource.generation
        )
        creating["status"] = "Unknown"
        # A failure already shown for this generation stays until the create succeeds (a retry that
        # flipped it back to Creating would post the same Warning again at every attempt).
        current = get_condition(resource.status.get("conditions"), "Synced")
        failing = (
            current is not None
            and current.get("status") == "False"
            and current.get("observedGeneration") == resource.generation
        )
        # No group: its region is the spec's (a region left in status by a dropped group does not count).
        region_id = str(desired.spec.region_id or desired.account.defaults.region_id)
        eci = desired.account.client(region_id)
        incarnation = int(resource.status.get("incarnation") or 0)
        params = {**desired.create_params, "ClientToken": f"{resource.uid}-{incarnation}"}
        look_up, sent = before_create(
            resource.status, incarnation, create_hash(params), time.time(), self.settings.client_token_trust
        )
        if look_up and await self._adopt(entry, region_id, desired):
            return
        # Recorded before the call: a restart after it knows a group may exist that status does not name.
        # Only over the version read: another replica briefly active that created meanwhile (with another
        # token: on demand after no spot stock) makes it fail, and the next round sees its group.
        await self._record_before_call(
            entry,
            "the create",
            fields={"createSent": sent},
            conditions=[desired.registry_access] if failing else [desired.registry_access, creating],
            announce={"RegistryAccess": "Warning"},
        )
        if entry.resource.deleting:
            return  # deleted since it was read (the write answered so): nothing to create; finalize next
        logger.info(
            "%s: creating container group (incarnation %d) in %s", resource.key, incarnation, region_id
        )
        spot = desired.spec.spot
        capacity = _capacity(desired.spec, params.get("SpotStrategy"))
        fallback = capacity == "Spot" and spot is not None and bool(spot.fallback_to_on_demand)
        # The group this one replaces was accepted on spot but never placed (no stock): on demand at once.
        on_demand = fallback and resource.status.get("nextCapacity") == "OnDemand"
        group_id: str | None = None
        if not on_demand:
            try:
                # With a fallback, no spot stock is answered at once by an on-demand group, not waited out.
                give_up = frozenset({NO_STOCK}) if fallback else frozenset()
                group_id = await self._mutate(
                    entry, eci.create_container_group(region_id, params, give_up_on=give_up)
                )
            except EciError as error:
                if fallback and error.code == NO_STOCK:
                    on_demand = True
                elif error.code != "IdempotentParameterMismatch":
                    raise
                else:
                    await self._token_used_up(entry, region_id, desired, incarnation, error)
                    return
        if group_id is None:
            if not sent.get("onDemand"):
                # Its token is another one: a restart after it looks groups up by tag first.
                await self._commit(entry, fields={"createSent": {**sent, "onDemand": True}})
            try:
                group_id = await self._create_on_demand(entry, eci, region_id, params, incarnation)
            except EciError as on_demand_error:
                if on_demand_error.code != "IdempotentParameterMismatch":
                    raise
                await self._token_used_up(entry, region_id, desired, incarnation, on_demand_error)
                return
            capacity = "OnDemand"
        if entry.resource.deleting:
            logger.info("%s: created group %s while the resource is being deleted", resource.key, group_id)
        generation = desired.desired.generation  # what was sent, even if edited since
        created = condition("Synced", True, "Created", f"created container group {group_id}", generation)
        scheduling = condition("Ready", False, "Scheduling", "the container group is Scheduling", generation)
        try:
            await self._commit(
                entry,
                fields={
                    "containerGroupId": group_id,
                    "regionId": region_id,
                    "incarnation": incarnation,
                    "applied": dict(desired.desired.immutable),
                    "appliedHash": desired.desired.digest,
                    "appliedLists": sorted(desired.desired.removables),
                    "updateCount": 0,
                    "registries": desired.registries,
                    "phase": "Scheduling",
                    "observedGeneration": generation,
                    "capacity": capacity,
                    "nextCapacity": None,
                    "account": desired.account.identity,
                    # The values as the watch shows them now: one set before ECI answered asks for nothing.
                    **handled_fields(
                        planner.handled_at_create(
                            planner.with_requests(desired.desired, entry.resource.annotations),
                            entry.known(),
                            group_id,
                        ),
                        _rfc3339(time.time()),
                    ),
                },
                conditions=[created, scheduling],
            )
        except ResourceGone:
            await self._created_for_nothing(entry, eci, region_id, group_id)
            raise
        await self.post_event(
            resource.reference, "Normal", "Created", f"created ECI container group {group_id}"
        )
        logger.info("%s: created group %s", resource.key, group_id)
        self.poll_now.set()

    async def _created_for_nothing(self, entry: Entry, eci: EciClient, region_id: str, group_id: str) -> None:
        """The resource was gone when its new group was to be recorded: another replica briefly active
        finalized it while this one's create was on its way, and found no group yet. Nothing would ever
        manage the group: it is deleted (left running under deletionPolicy: Orphan)."""
        resource = entry.resource
        if resource.spec.get("deletionPolicy") == "Orphan":
            logger.warning(
                "%s: gone while group %s was created; left running (Orphan)", resource.key, group_id
            )
            return
        logger.warning("%s: gone while group %s was created; deleting it", resource.key, group_id)
        try:
            await eci.delete_container_group(region_id, group_id)
        except EciError as error:
            logger.error(
                "%s: group %s could not be deleted (%s) and is left running without a resource (its tag %s "
                "names uid %s)",
                resource.key,
                group_id,
                error.code,
                TAG_UID,
                resource.uid,
            )

    async def _create_on_demand(
        self, entry: Entry, eci: EciClient, region_id: str, params: Mapping[str, str], incarnation: int
    ) -> str:
        """ECI has no spot stock and the spec allows on-demand: the same group, on demand (its own token)."""
        resource = entry.resource
        logger.info("%s: no spot stock; creating an on-demand group instead", resource.key)
        await self.post_event(
            resource.reference,
            "Normal",
            "SpotFallback",
            "ECI has no spot stock: creating an on-demand group (spec.spot.fallbackToOnDemand)",
        )
        on_demand = {**mapping.on_demand(params), "ClientToken": f"{resource.uid}-{incarnation}-od"}
        return str(await self._mutate(entry, eci.create_container_group(region_id, on_demand)))

    async def _token_used_up(
        self, entry: Entry, region_id: str, desired: DesiredState, incarnation: int, error: EciError
    ) -> None:
        """IdempotentParameterMismatch: an earlier attempt with this token created a group from an older
        spec (adopted), or that group is gone already and the token is used up (the next attempt takes
        the next incarnation: raised)."""
        if await self._adopt(entry, region_id, desired):
            return
        await self._commit(entry, fields={"incarnation": incarnation + 1})
        raise OperatorError(
            error.code, f"{error.message}; retrying under incarnation {incarnation + 1}", retryable=True
        ) from None

    async def _adopt(self, entry: Entry, region_id: str, desired: DesiredState) -> bool:
        """Find a group made for this resource before a crash (by the uid tag); keep the newest only."""
        resource = entry.resource
        eci = desired.account.client(region_id)
        groups = await eci.find_container_groups_by_tag(region_id, TAG_UID, resource.uid)
        live = [g for g in groups if g.get("Status") not in ("Terminating", "Expired")]
        if not live:
            return False
        live.sort(key=lambda g: str(g.get("CreationTime") or ""), reverse=True)
        keep, extras = live[0], live[1:]
        for extra in extras:
            logger.warning(
                "%s: deleting surplus group %s (keeping %s)",
                resource.key,
                extra["ContainerGroupId"],
                keep["ContainerGroupId"],
            )
            await eci.delete_container_group(region_id, str(extra["ContainerGroupId"]))
        group_id = str(keep["ContainerGroupId"])
        logger.info("%s: adopted group %s found by its uid tag", resource.key, group_id)
        self._forget_observation(entry)
        # Its immutable fields are read from the answer (a difference from the spec shows as a change);
        # the mutable ones are unknown: no digest, so it is updated to the current spec once it can be.
        await self._commit(
            entry,
            fields={
                "containerGroupId": group_id,
                "regionId": region_id,
                "applied": mapping.applied_from_group(
                    desired.desired.immutable, {**keep, "RegionId": region_id}, desired.spec
                ),
                "appliedHash": None,
                "appliedLists": None,
                "updateCount": 0,
                "phase": keep.get("Status"),
                "capacity": _capacity(desired.spec, keep.get("SpotStrategy")),
                "nextCapacity": None,
                "account": desired.account.identity,
                **handled_fields(
                    planner.handled_at_create(desired.desired, entry.known(), group_id),
                    _rfc3339(time.time()),
                ),
            },
        )
        return True

    async def _update(self, entry: Entry, desired: DesiredState) -> float | None:
        """UpdateContainerGroup to the desired content, recorded (`updateSent`) before the call, only over
        the version read: a replica whose read is older (two briefly both active) is `Superseded` instead
        of sending older content. None: sent; else the delay before trying again."""
        resource = entry.resource
        group_id = str(entry.container_group_id)
        region_id = entry.region_id(desired.account.defaults.region_id)
        eci = desired.account.client(region_id)
        digest = desired.desired.digest
        in_flight = call_timeout(self.settings)
        hold = update_hold(resource.status, group_id, digest, time.time(), in_flight)
        sent = resource.status.get("updateSent") or {}
        if hold > 0:
            key = (sent.get("hash"), sent.get("at"))
            if entry.awaited_update is None or entry.awaited_update[0] != key:
                entry.awaited_update = (key, self.clock())
            hold = min(hold, entry.awaited_update[1] + in_flight - self.clock())
        if hold > 0:
            message = (
                f"an update sent at {sent.get('at')} may still reach ECI (its answer was not recorded); "
                f"this one follows in {hold:.0f}s so that the newer content lands last"
            )
            logger.info("%s: %s", resource.key, message)
            await self._commit(
                entry,
                conditions=[condition("Synced", False, "UpdateInFlight", message, resource.generation)],
            )
            return hold
        await self._record_before_call(
            entry,
            "the update",
            fields={
                "updateSent": {"containerGroupId": group_id, "hash": digest, "at": _rfc3339(time.time())}
            },
        )
        count = int(resource.status.get("updateCount") or 0)
        params = mapping.update_parameters(
            desired.spec,
            container_group_id=group_id,
            annotations=desired.annotations,
            defaults=desired.account.defaults,
            objects=desired.objects,
            client_token=update_token(
                resource.uid,
                count,
                group_id,
                desired.desired.digest,
                int(resource.status.get("incarnation") or 0),
            ),
            owner_tags=owner_tags(resource),
        )
        params["RegionId"] = region_id
        logger.info(
            "%s: updating group %s to generation %d", resource.key, group_id, desired.desired.generation
        )
        try:
            await self._mutate(entry, eci.update_container_group(region_id, params))
        except EciError as error:
            if error.http_status is not None and 400 <= error.http_status < 500:
                # Refused: nothing of it is on its way to ECI; the next update need not wait for it.
                with contextlib.suppress(OperatorError):
                    await self._commit(entry, fields={"updateSent": None})
            raise
        generation = desired.desired.generation
        await self._commit(
            entry,
            fields={
                "appliedHash": desired.desired.digest,
                "appliedLists": sorted(desired.desired.removables),
                "updateCount": count + 1,
                "registries": desired.registries,
                "phase": "Updating",
                "observedGeneration": generation,
            },
            conditions=[
                condition(
                    "Synced",
                    True,
                    "Updated",
                    f"updated container group {group_id} to generation {generation}",
                    generation,
                ),
                # Ready for this generation needs an observation taken after ECI accepted the change.
                condition("Ready", False, "Updating", f"ECI is applying generation {generation}", generation),
                desired.registry_access,
            ],
        )
        await self.post_event(
            resource.reference, "Normal", "Updated", f"updated ECI container group {group_id}"
        )
        self.poll_now.set()
        return None

    async def _recreate(self, entry: Entry, desired: DesiredState, result: Plan) -> None:
        """Delete the group (if it still exists) and clear status for a new incarnation."""
        resource = entry.resource
        group_id = str(entry.container_group_id)
        region_id = entry.region_id(desired.account.defaults.region_id)
        # Decided now, from the observation the plan was made from (later awaits may replace it).
        gone = entry.observation is not None and entry.observation.phase is None
        lost = result.reason == "ContainerGroupLost"
        message = (
            f"{result.message}; re-creating it"
            if lost
            else f"replacing container group {group_id}: {result.message}"
        )
        incarnation = int(resource.status.get("incarnation") or 0) + 1
        # Written with the new incarnation, before the delete: a restart in between still creates on demand.
        fallback = {"nextCapacity": "OnDemand"} if result.reason == "SpotFallback" else {}
        # A requested replacement is recorded (Sending, naming this group) in the same write: after a crash
        # the planner carries it on until status names another group. Only over the version read: another
        # replica briefly active that already replaced the group makes it fail, and the next round reads
        # the new group instead of deleting the old one again and clearing the new one from status.
        requested = handled_fields(result.records, _rfc3339(time.time()))
        await self._record_before_call(
            entry,
            "the replacement",
            fields={"incarnation": incarnation, **fallback, **requested},
            conditions=[condition("Synced", False, result.reason, message, resource.generation)],
        )
        self._stored(entry, result.records)
        logger.log(logging.WARNING if lost else logging.INFO, "%s: %s", resource.key, message)
        await self.post_event(resource.reference, "Warning" if lost else "Normal", result.reason, message)
        if not gone:
            await self._mutate(
                entry, desired.account.client(region_id).delete_container_group(region_id, group_id)
            )
        entry.seen_events.clear()
        self._forget_observation(entry)
        await self._commit(
            entry,
            conditions=[
                condition(
                    "Ready",
                    False,
                    "Recreating",
                    f"container group {group_id} is being replaced",
                    resource.generation,
                )
            ],
            fields=NO_GROUP,
        )

    async def _restart(self, entry: Entry, desired: DesiredState, result: Plan) -> None:
        """RestartContainerGroup for the value the plan names, recorded (Sending) before the call. A record
        already Sending for this value and group keeps its time, hence its ClientToken: a call that reached
        ECI before a crash is answered again without a second restart. The record is written only over
        the version read: two replicas briefly both active (a hand-over) would otherwise each write a time
        of their own and send two tokens; the second is `Superseded`, reads the first's record and sends
        its token again."""
        resource = entry.resource
        group_id = str(entry.container_group_id)
        region_id = entry.region_id(desired.account.defaults.region_id)
        wanted = result.records[planner.RESTART]
        held = resource.status.get(planner.RESTART)
        resumed = (
            isinstance(held, Mapping)
            and held.get("result") == planner.SENDING
            and held.get("requested") == wanted.requested
            and held.get("containerGroupId") == group_id
            and bool(held.get("at"))
        )
        at = str(held["at"]) if resumed and isinstance(held, Mapping) else _rfc3339(time.time())
        before = _parse_rfc3339(str(held.get("at") or "")) if isinstance(held, Mapping) else None
        if not resumed and before is not None and (_parse_rfc3339(at) or 0.0) <= before:
            # Later than the record it follows, so each restart of a group has a token of its own (A, B,
            # then A again within one second would otherwise repeat the first A's token).
            at = _rfc3339(before + 1)
        sending = handled_fields({planner.RESTART: wanted}, at)
        await self._record_before_call(entry, "the restart", fields=sending)
        self._stored(entry, {planner.RESTART: wanted})
        sent = entry.resource.status.get(planner.RESTART)
        value = f"{models.ANNOTATION_RESTARTED_AT}={wanted.requested}"
        logger.info(
            "%s: restarting container group %s (%s%s)",
            resource.key,
            group_id,
            value,
            ", sent again with the same token" if resumed else "",
        )
        token = restart_token(resource.uid, group_id, wanted.requested, at)
        eci = desired.account.client(region_id)
        try:
            await self._mutate(entry, eci.restart_container_group(region_id, group_id, token))
        except EciError as error:
            if error.retryable or not (error.http_status is not None and 400 <= error.http_status < 500):
                raise
            # Refused for good (a 4xx: ECI changed nothing): the value is handled, never sent again (left
            # Sending, every reconcile would send it, and removing the annotation could not withdraw it).
            refused = {planner.RESTART: planner.Handled(wanted.requested, group_id, planner.NOT_APPLICABLE)}
            await self._record_outcome(entry, planner.RESTART, sent, handled_fields(refused, at))
            raise
        generation = desired.desired.generation
        done = {planner.RESTART: planner.Handled(wanted.requested, group_id, planner.RESTARTED)}
        message = f"restarted container group {group_id} ({value})"
        recorded = await self._record_outcome(
            entry,
            planner.RESTART,
            sent,
            {**handled_fields(done, at), "phase": "Restarting"},
            [
                condition("Synced", True, "Restarted", message, generation),
                condition("Ready", False, "Restarting", f"ECI is restarting group {group_id}", generation),
            ],
        )
        if recorded:
            await self.post_event(resource.reference, "Normal", "Restarted", message)
        else:
            logger.info("%s: %s answered; a newer record stands (another replica's)", resource.key, value)
        self.poll_now.set()

    async def _record_outcome(
        self,
        entry: Entry,
        kind: str,
        sent: Any,
        fields: Mapping[str, Any],
        conditions: Sequence[Mapping[str, Any]] = (),
    ) -> bool:
        """Write what became of a request's call, only while status still holds the record `sent` (as
        stored `Sending` before the call): a replica whose call took longer than another's (two briefly
        active) must not write an old value's outcome over a newer record, which would make the newer
        value be sent again with another token. False: another writer's record stands, nothing written."""
        for _ in range(OUTCOME_WRITE_ATTEMPTS):
            if entry.resource.status.get(kind) != sent:
                return False
            try:
                await self._commit(entry, fields=fields, conditions=conditions, conditional=True)
                return True
            except Conflict:
                if not await self._refresh(entry):
                    raise ResourceGone(entry.resource.key) from None
        raise Conflict(f"recording the {kind} of {entry.resource.key}: the object kept changing")

    async def _acknowledge(self, entry: Entry, result: Plan) -> None:
        """Record request values as handled without acting on them; say so when a value was set."""
        resource = entry.resource
        records = handled_fields(result.records, _rfc3339(time.time()))
        await self._commit(entry, fields=records)
        self._stored(entry, result.records)
        if result.message:
            not_applicable = any(r.result == planner.NOT_APPLICABLE for r in result.records.values())
            event_type = "Warning" if not_applicable else "Normal"
            logger.log(
                logging.WARNING if not_applicable else logging.INFO, "%s: %s", resource.key, result.message
            )
            await self.post_event(resource.reference, event_type, result.reason, result.message)

    def _stored(self, entry: Entry, records: Mapping[str, planner.Handled]) -> None:
        """The request records just written are in the object the write returned. An apiserver whose CRD
        predates them prunes them. A record of no value (the resource asks for nothing) is then kept in
        memory, so such a resource is served as before under the old CRD. A record of a value cannot be
        kept that way: every round would adopt the value again, and a call would go out with no record
        of it, so the work stops here until the CRD is applied."""
        for kind, record in records.items():
            if isinstance(entry.resource.status.get(kind), Mapping):
                entry.unstored_records.pop(kind, None)
            elif record.requested is None:
                entry.unstored_records[kind] = record
            else:
                raise OperatorError(
                    "CrdOutdated",
                    f"status.{kind} was not stored: the installed CRD is older than this operator. Apply "
                    "crds/acrcontainergroups.eci.acr-operator.dev.yaml (Helm installs CRDs on the first "
                    "install only)",
                    retryable=False,
                )

    async def _forget_group(self, entry: Entry, result: Plan) -> None:
        """Drop a group id that is not ours from status (someone wrote it there); ECI is not called."""
        resource = entry.resource
        logger.warning("%s: %s", resource.key, result.message)
        await self.post_event(resource.reference, "Warning", result.reason, result.message)
        self._forget_observation(entry)
        await self._commit(
            entry,
            fields=NO_GROUP,
        )

    async def _in_sync(self, entry: Entry, desired: DesiredState, result: Plan) -> None:
        resource = entry.resource
        if result.reason == "Finished" and entry.observation is not None and entry.observation.phase is None:
            logger.info(
                "%s: finished group %s is gone at ECI; keeping its final status",
                resource.key,
                entry.container_group_id,
            )
        current = get_condition(resource.status.get("conditions"), "Synced")
        fields: dict[str, Any] = {}
        conditions = [desired.registry_access]
        keep = (
            current is not None
            and current.get("status") == "True"
            and current.get("observedGeneration") == desired.desired.generation
        )
        if result.reason == "UpToDate":
            fields["observedGeneration"] = desired.desired.generation
        observed = entry.observation is not None and entry.observation.phase is not None
        if observed and resource.status.get("account") != desired.account.identity:
            # The group is seen with these credentials (a rotated key of the same account, or a status
            # of an older release): they are the group's account now.
            fields["account"] = desired.account.identity
        if not keep or result.reason == "Finished":
            conditions.append(
                condition("Synced", True, result.reason, result.message, desired.desired.generation)
            )
        await self._commit(
            entry, fields=fields, conditions=conditions, announce={"RegistryAccess": "Warning"}
        )

    async def _synced(
        self, entry: Entry, desired: DesiredState, ok: bool, result: Plan, event_type: str = "Warning"
    ) -> None:
        new = condition("Synced", ok, result.reason, result.message, entry.resource.generation)
        await self._commit(
            entry,
            conditions=[desired.registry_access, new],
            announce={"Synced": event_type, "RegistryAccess": "Warning"},
        )

    # ------------------------------------------------------------------------------ delete

    async def _finalize(self, entry: Entry) -> float | None:
        """Delete every group that carries the resource's uid tag (or orphan them), then let it go."""
        resource = entry.resource
        if FINALIZER not in resource.finalizers:
            self.forget(resource.uid)
            return None
        orphan = resource.spec.get("deletionPolicy") == "Orphan"
        try:
            account, held = await self._finalizing_accounts(entry)
            region_id = entry.region_id(account.defaults.region_id)
            eci = account.client(region_id)
            found = await eci.find_container_groups_by_tag(region_id, TAG_UID, resource.uid)
            if not found and held is not None:
                logger.info(
                    "%s: the credentials in use find no group; deleting with those still held for %s",
                    resource.key,
                    held.identity,
                )
                account = held
                region_id = entry.region_id(account.defaults.region_id)
                eci = account.client(region_id)
                found = await eci.find_container_groups_by_tag(region_id, TAG_UID, resource.uid)
            made_by = resource.status.get("account")
            if not found and made_by and made_by != account.identity and entry.container_group_id:
                # Made with other credentials (the Secret went, or names another account): not finding
                # the group with these proves nothing, and dropping the finalizer could leave it running.
                raise OperatorError(
                    "AccountChanged",
                    f"container group {entry.container_group_id} was created with {made_by}, and the "
                    f"credentials now in use ({account.identity}) may not see it: put the credentials of "
                    f"{made_by} back to delete it, or set spec.deletionPolicy: Orphan to let the resource "
                    "go and leave the group as it is",
                    retryable=True,
                )
        except OperatorError as error:
            if not orphan:
                raise
            # Orphan is the way out of a delete ECI refuses (bad credentials, say): let the resource go.
            logger.warning(
                "%s: groups not looked up (%s); orphaning without tagging", resource.key, error.reason
            )
            found = []
            await self.post_event(
                resource.reference,
                "Warning",
                "Orphaned",
                f"left the resource's groups at ECI untagged: {error.reason}",
            )
        group_ids = [str(g["ContainerGroupId"]) for g in found if g.get("Status") != "Terminating"]
        recorded = entry.container_group_id
        if found and recorded and not any(str(g["ContainerGroupId"]) == recorded for g in found):
            # Status names a group the tag search did not return: touch it only if it is ours.
            described = await eci.describe_container_groups(region_id, [recorded])
            for group in described:
                tags = {t.get("Key"): t.get("Value") for t in group.get("Tags") or []}
                if tags.get(TAG_UID) == resource.uid:
                    group_ids.append(recorded)
                else:
                    logger.warning(
                        "%s: status names group %s, which does not carry this resource's uid tag; "
                        "leaving it alone",
                        resource.key,
                        recorded,
                    )
        if orphan:
            for group_id in group_ids:
                await self._orphan(entry, eci, region_id, group_id)
        else:
            for group_id in group_ids:
                existed = await self._mutate(entry, eci.delete_container_group(region_id, group_id))
                logger.info(
                    "%s: deleted group %s%s", resource.key, group_id, "" if existed else " (already gone)"
                )
        remaining = [f for f in resource.finalizers if f != FINALIZER]
        await self.kube.set_finalizers(
            resource.namespace, resource.name, remaining, resource.resource_version
        )
        self.forget(resource.uid)
        return None

    async def _finalizing_accounts(self, entry: Entry) -> tuple[Account, Account | None]:
        """The account to delete the resource's groups with, and one to ask when it finds none. Deleting
        a namespace deletes its credentials Secret too, often before the resource is finalized, and no
        Secret can be created in a terminating namespace: the account still held from that Secret, the
        one status names as the group's maker, is then asked too (refusing would keep the resource, and
        the namespace, Terminating). After an operator restart nothing is held: `AccountChanged` says
        what to do."""
        held = entry.account
        made_by = entry.resource.status.get("account")
        if held is None or not made_by or held.identity != made_by:
            return await self._account(entry), None
        try:
            account = await self._account(entry)
        except OperatorError as error:
            logger.info(
                "%s: %s; deleting with the credentials held for %s", entry.resource.key, error, made_by
            )
            return held, None
        return account, (held if account.identity != made_by else None)

    async def _orphan(self, entry: Entry, eci: EciClient, region_id: str, group_id: str) -> None:
        resource = entry.resource
        params = {
            "ContainerGroupId": group_id,
            "UpdateType": "IncrementalUpdate",
            "Tag.1.Key": TAG_UID,
            "Tag.1.Value": f"{ORPHANED_PREFIX}{resource.uid}",
        }
        try:
            await self._mutate(entry, eci.update_container_group(region_id, params))
        except EciError as error:
            logger.warning("%s: could not tag orphaned group %s: %s", resource.key, group_id, error.code)
        logger.info("%s: orphaned group %s (deletionPolicy Orphan)", resource.key, group_id)
        await self.post_event(
            resource.reference, "Normal", "Orphaned", f"left ECI container group {group_id} running"
        )

    # ------------------------------------------------------------------------------ status

    def _fold(self, entry: Entry, present: bool) -> dict[str, Any]:
        """The status fields an observation sets (phase, addresses, containers, Ready); `present`: the
        observation found the group."""
        status = entry.resource.status
        generation = status.get("observedGeneration")
        if not present or entry.view is None:
            restart_policy = str(entry.resource.spec.get("restartPolicy") or "Always")
            if entry.observation is None:
                return {}
            last_phase = status.get("phase")
            deadline = entry.resource.spec.get("activeDeadlineSeconds") is not None
            if last_phase in planner.finished_phases(restart_policy, deadline):
                # A finished group that ECI no longer keeps: its final status stays, Ready as it ended.
                final = observed_status({"Status": last_phase}, generation)
                return {"ready": final["ready"]}
            return {
                "ready": {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ContainerGroupLost",
                    "message": f"container group {entry.observation.container_group_id} no longer exists at ECI",
                    "observedGeneration": generation,
                }
            }
        view = entry.view
        return {**view, "ready": {**view["ready"], "observedGeneration": generation}}

    async def _record_before_call(self, entry: Entry, what: str, **commit: Any) -> None:
        """Write the record of a call about to be sent (`_commit`'s arguments), only over the version
        read: two replicas briefly both active never both act on one read. `Superseded` when another
        writer came first."""
        try:
            await self._commit(entry, conditional=True, **commit)
        except Conflict:
            logger.debug("%s: the object changed before %s was recorded", entry.resource.key, what)
            raise Superseded from None

    async def _commit(
        self,
        entry: Entry,
        fields: Mapping[str, Any] | None = None,
        conditions: Sequence[Mapping[str, Any]] = (),
        announce: Mapping[str, str] | None = None,
        conditional: bool = False,
    ) -> None:
        """The one status writer: the latest observation, the given fields and conditions, written as one
        merge patch, and only when something differs from what is stored. A condition type named in
        `announce` that turns not-True or changes its reason or message is also posted as an event.
        `conditional`: only over the version held (else `Conflict`)."""
        resource = entry.resource
        stored = resource.status
        patch: dict[str, Any] = dict(fields or {})
        merged_status = {**stored, **patch}
        conds: list[dict[str, Any]] = [dict(c) for c in stored.get("conditions") or []]

        observation = self._observation(entry)
        present = observation is not None and observation.phase is not None
        own_ready = any(c.get("type") == "Ready" for c in conditions)
        if not merged_status.get("containerGroupId"):
            present = False
        elif (
            entry.observation_failed_since is not None
            and self.clock() - entry.observation_failed_since > self._observation_deadline()
        ):
            if not own_ready:
                conds = set_condition(
                    conds,
                    observation_failed(self._observation_deadline(), merged_status.get("observedGeneration")),
                )
        elif observation is not None:
            folded = self._fold(entry, present)
            for key in ("phase", "intranetIp", "internetIp", "containers", "imageCache"):
                if key in folded and key not in patch:
                    patch[key] = folded[key]
            if patch.get("imageCache", "") is None and "containerGroupId" not in patch:
                # The cache-hit event ages out of ECI's last 50 events: what the group started from stays.
                del patch["imageCache"]
            if "ready" in folded and not own_ready:
                folded["ready"]["observedGeneration"] = merged_status.get("observedGeneration")
                conds = set_condition(conds, folded["ready"])
        announcements: list[tuple[str, str, str]] = []
        for new in conditions:
            current = get_condition(conds, str(new["type"]))
            changed = current is None or any(
                current.get(k) != new.get(k) for k in ("status", "reason", "message")
            )
            event_type = (announce or {}).get(str(new["type"]))
            if changed and event_type and new.get("status") != "True":
                announcements.append((event_type, str(new["reason"]), str(new["message"])))
            conds = set_condition(conds, new)
        if conds != list(stored.get("conditions") or []):
            patch["conditions"] = conds

        events: list[Mapping[str, Any]] = []
        if present:
            last_event_time = str(stored.get("lastEventTime") or "")
            events = self._unposted_events(entry, entry.events)
            if events:
                newest = max(str(e.get("LastTimestamp") or "") for e in events)
                patch["lastEventTime"] = max(last_event_time, newest)

        diff = {key: value for key, value in patch.items() if stored.get(key) != value}
        if diff:
            if conditional:
                body = await self.kube.patch_status(
                    resource.namespace, resource.name, diff, resource_version=resource.resource_version
                )
            else:
                body = await self.kube.patch_status(resource.namespace, resource.name, diff)
            if body is not None:
                self._take(entry, body)
            else:
                raise ResourceGone(resource.key)
            if "phase" in diff and diff["phase"] and stored.get("phase") != diff["phase"]:
                logger.info(
                    "%s: group %s is %s", resource.key, merged_status.get("containerGroupId"), diff["phase"]
                )
        for event_type, reason, message in announcements:
            log_level = logging.WARNING if event_type == "Warning" else logging.INFO
            logger.log(log_level, "%s: %s: %s", resource.key, reason, message)
            await self.post_event(resource.reference, event_type, reason, message)
        for event in events:
            entry.seen_events.add(_seen(event))
            await self.post_event(
                resource.reference,
                str(event.get("Type") or "Normal"),
                str(event.get("Reason") or "Event"),
                f"{merged_status.get('containerGroupId')}: {event.get('Message') or ''}",
            )


def _capacity(spec: models.AcrContainerGroupSpec, spot_strategy: object) -> str | None:
    """status.capacity: what a group made with this SpotStrategy runs on (None without spec.spot)."""
    if spec.spot is None:
        return None
    return "OnDemand" if spot_strategy in (None, "", "NoSpot") else "Spot"


STOCK_REASONS = frozenset({"NoStock", "StockExhaust"})


def _out_of_stock(group: Mapping[str, Any]) -> bool:
    """Whether ECI says it could not place the group for want of stock: a NoStock or StockExhaust event
    or condition, or a FailedScheduling event that says the instance is out of stock."""
    for event in group.get("Events") or []:
        reason = str(event.get("Reason") or "")
        if reason in STOCK_REASONS:
            return True
        if reason == "FailedScheduling" and "stock" in str(event.get("Message") or "").lower():
            return True
    return any(str(c.get("Reason") or "") in STOCK_REASONS for c in group.get("Conditions") or [])


EVENT_FIELDS = ("Type", "Reason", "Message", "FirstTimestamp", "LastTimestamp")
"""What is read of an ECI event (`status.event_key`, `status.new_events`, the posted Event)."""


def _events(group: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """The group's events, each with only the fields we read."""
    return tuple(
        {key: event[key] for key in EVENT_FIELDS if key in event} for event in group.get("Events") or []
    )


def _seen(event: Mapping[str, Any]) -> int:
    """What `seen_events` holds of an event: a hash of its key (this process's: the set is not kept)."""
    return hash(event_key(event))


def _tags(group: Mapping[str, Any]) -> dict[str, str]:
    return {str(tag.get("Key")): str(tag.get("Value")) for tag in group.get("Tags") or []}


def _ready_reason(status: Mapping[str, Any]) -> str | None:
    ready = get_condition(status.get("conditions"), "Ready")
    return None if ready is None else str(ready.get("reason") or "")


def _registry_access(
    spec: models.AcrContainerGroupSpec, annotations: Mapping[str, str], generation: int
) -> dict[str, Any]:
    """RegistryAccess: every image on an ACR EE domain is covered by an AcrRegistryInfo entry or a
    credential (False names each one that is not)."""
    uncovered = mapping.uncovered_acr_images(spec, annotations)
    if not uncovered:
        return condition(
            "RegistryAccess",
            True,
            "Covered",
            "every ACR EE image is covered by an AcrRegistryInfo entry or a credential",
            generation,
        )
    message = (
        "; ".join(f"{image.field} {image.problem}" for image in uncovered)
        + f" ({mapping.UNCOVERED_CONSEQUENCE})"
    )
    return condition("RegistryAccess", False, "AcrRegistryInfoMissing", message, generation)
