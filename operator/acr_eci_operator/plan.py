"""`acr-eci-operator plan PATH... [--live]`: the ECI parameters each AcrContainerGroup manifest maps to and,
with `--live`, what the operator would do to the resource as it exists in the cluster. It runs the
operator's own code: `mapping.create_parameters` / `update_parameters` for the parameters,
`planner.desired_from` / `known_from` and `planner.plan` for the decision.

What it decides, and why:

- No Secret or ConfigMap value is ever read, offline or live: a value a spec takes from one is shown as
  `<from secret NAME/KEY>` or `<from configmap NAME/KEY>`. A config file's `Content` is shown as that
  text, not as its Base64 (the mapping encodes the placeholder; `shown` decodes it back). The key names
  of an object referred to as a whole (envFrom, a volume without `items`) are taken from a Secret or
  ConfigMap manifest among the inputs (same namespace; its values are not used either); for one that is
  not among them the keys are unknown, and a note says what is therefore left out.
- The operator's region, security group and vSwitches come from its own environment variables
  (ALIBABA_CLOUD_REGION_ID, ECI_DEFAULT_SECURITY_GROUP_ID, ECI_DEFAULT_VSWITCH_IDS, read as the operator
  reads them) or the flags; one that is unknown is shown as `<operator default>`. A namespace's
  credentials Secret may set others: plan does not read it.
- The resource's uid is known only for an existing resource; otherwise the ownership tag and the
  ClientToken show `<resource uid>`.
- Live, ECI is not asked: the observation the planner needs is the one the operator last wrote to
  status (`status.phase` of `status.containerGroupId`); with no phase in status there is no observation
  and the plan is the operator's, `observe` (it waits for ECI to report the group). The credentials in
  use are taken to be those status names (`status.account`).
- Without Secret values, the digest of the mutable parameters (`status.appliedHash`) cannot be
  recomputed when the spec reads a Secret or ConfigMap. So the manifest's parameters are compared with
  those of the live spec, both built the same way: when they are equal and status says the live
  generation was sent (`observedGeneration`), the desired digest is the one status holds (the objects
  are taken as unchanged: a rotated Secret shows only in the operator's own next update); otherwise it is
  the digest of what plan built, which differs, and the changed wire parameters are listed. The same
  goes for the digest of the volumes while one is a disk (`applied.volumes`).
- The manifest's generation is the live one when its spec parses to the same model (CRD defaults
  included), else the next one, as the apiserver would number it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from acr_eci_operator import manifests, mapping, models, planner
from acr_eci_operator.controller import Resource, owner_tags
from acr_eci_operator.errors import OperatorError
from acr_eci_operator.settings import SettingsError, network_defaults

OPERATOR_DEFAULT = "<operator default>"
UID_PLACEHOLDER = "<resource uid>"
DIGEST_PLACEHOLDER = "<digest of the group id and content>"
PLACEHOLDER = re.compile(r"^<from (secret|configmap) [^<>/]+/[^<>]+>$")
DEFAULT_NAMESPACE = "default"
VOLUME_FIELD = re.compile(r"^volumes\[([^\]]+)\]\.")
"""A create-only setting of one volume in status.applied (`volumes[tls].secret.defaultMode`)."""

EXIT_PLANNED, EXIT_FINDINGS, EXIT_UNUSABLE = 0, 1, 2


def placeholder(kind: models.ReferenceKind, name: str, key: str) -> str:
    return f"<from {kind.lower()} {name}/{key}>"


class _Placeholders(Mapping[str, bytes]):
    """One Secret's or ConfigMap's data as plan shows it: each key's value is its placeholder. `keys` are
    those of an input manifest of the object; None when it is not among the inputs: then any key asked
    for exists, and the object lists none."""

    def __init__(self, kind: models.ReferenceKind, name: str, keys: frozenset[str] | None) -> None:
        self.kind, self.name, self.known_keys = kind, name, keys

    def __getitem__(self, key: str) -> bytes:
        if self.known_keys is not None and key not in self.known_keys:
            raise KeyError(key)
        return placeholder(self.kind, self.name, key).encode()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (self.known_keys is None or key in self.known_keys)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.known_keys or ()))

    def __len__(self) -> int:
        return len(self.known_keys or ())


class PlaceholderObjects(Mapping[tuple[models.ReferenceKind, str], Mapping[str, bytes] | None]):
    """`mapping.Objects` for plan: every Secret and ConfigMap exists, its values are placeholders, and its
    key names are those of the inputs' manifest of it, if any (`keys`: (kind, name) -> key names)."""

    def __init__(self, keys: Mapping[tuple[str, str], frozenset[str]]) -> None:
        self.object_keys = keys

    def __getitem__(self, reference: tuple[models.ReferenceKind, str]) -> Mapping[str, bytes] | None:
        kind, name = reference
        return _Placeholders(kind, name, self.object_keys.get(reference))

    def __iter__(self) -> Iterator[tuple[models.ReferenceKind, str]]:
        return iter(())

    def __len__(self) -> int:
        return 0


def input_object_keys(
    items: Sequence[manifests.Manifest], namespace: str
) -> dict[tuple[str, str], frozenset[str]]:
    """The key names of the Secret and ConfigMap manifests among the inputs in a namespace (never values)."""
    keys: dict[tuple[str, str], frozenset[str]] = {}
    for item in items:
        if item.api_version != "v1" or item.kind not in ("Secret", "ConfigMap"):
            continue
        if (item.namespace or namespace) != namespace or not item.name:
            continue
        parts = ("data", "stringData") if item.kind == "Secret" else ("data", "binaryData")
        names: set[str] = set()
        for part in parts:
            data = item.body.get(part)
            if isinstance(data, Mapping):
                names.update(str(key) for key in data)
        keys[(item.kind, item.name)] = frozenset(names)
    return keys


def unknown_key_notes(
    spec: models.AcrContainerGroupSpec, keys: Mapping[tuple[str, str], frozenset[str]]
) -> list[str]:
    """What the parameters leave out because an object referred to as a whole (envFrom, a volume without
    items) is not among the inputs."""
    notes = []
    for reference in models.references(spec):
        if (reference.kind, reference.name) in keys:
            continue
        volume = re.match(r"^spec\.volumes\[(\d+)\]", reference.field)
        if ".envFrom[" in reference.field:
            made = "the variables made from its keys are"
        elif volume is not None and not _volume_items(spec.volumes[int(volume.group(1))]):
            made = "the files made from its keys are"
        else:
            continue
        notes.append(
            f"{reference.field}: {reference.kind} {reference.name} is not among the inputs; {made} not shown"
        )
    return notes


def _volume_items(volume: models.Volume) -> bool:
    source = volume.secret or volume.config_map
    return source is not None and bool(source.items)


def shown(params: Mapping[str, str]) -> dict[str, str]:
    """Parameters as plan prints them: a config file's Content that encodes a placeholder is shown as the
    placeholder (Base64 of it would be unreadable); everything else as sent, in the order sent."""
    result = {}
    for key, value in params.items():
        if key.endswith(".Content"):
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if PLACEHOLDER.match(decoded):
                value = decoded
        result[key] = value
    return result


@dataclass(frozen=True)
class Network:
    """The operator's defaults as plan knows them (None: unknown)."""

    region_id: str | None = None
    security_group_id: str | None = None
    v_switch_ids: tuple[str, ...] = ()

    def defaults(self, spec: models.AcrContainerGroupSpec) -> mapping.Defaults:
        # An unknown region is taken to be the spec's: the check that another region brings its own
        # network can only be made against a known one.
        return mapping.Defaults(
            region_id=self.region_id or spec.region_id or OPERATOR_DEFAULT,
            security_group_id=self.security_group_id or OPERATOR_DEFAULT,
            v_switch_ids=self.v_switch_ids or (OPERATOR_DEFAULT,),
        )


def create_parameters(
    resource: Resource,
    spec: models.AcrContainerGroupSpec,
    network: Network,
    objects: mapping.Objects,
    token: str,
) -> dict[str, str]:
    """CreateContainerGroup parameters as the controller builds them (placeholders for what plan cannot
    know)."""
    return mapping.create_parameters(
        spec,
        name=resource.name,
        annotations=dict(resource.annotations),
        defaults=network.defaults(spec),
        objects=objects,
        client_token=token,
        owner_tags=owner_tags(resource),
    )


@dataclass
class Finding:
    """One AcrContainerGroup manifest and what plan makes of it."""

    where: str
    namespace: str
    name: str
    parameters: dict[str, str] | None = None
    """CreateContainerGroup parameters, as shown."""
    error: str | None = None
    """Why no parameters could be built (a field and its line)."""
    notes: list[str] = field(default_factory=list)
    action: str | None = None
    """Live: the planner's action, lowercase (create, update, recreate, refuse, nothing, wait, observe,
    forget), or `deleting`."""
    reason: str = ""
    message: str = ""
    fields: tuple[str, ...] = ()
    changes: dict[str, list[str | None]] = field(default_factory=dict)
    """Live: wire parameters whose value changes, [from, to] (None: absent)."""
    sent: dict[str, str] | None = None
    """Live: what the action sends to ECI (CreateContainerGroup or UpdateContainerGroup), as shown."""

    @property
    def failed(self) -> bool:
        return self.error is not None or self.action == "refuse"

    def to_json(self, live: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "where": self.where,
            "namespace": self.namespace,
            "name": self.name,
            "parameters": self.parameters,
            "error": self.error,
            "notes": self.notes,
        }
        if live:
            data |= {
                "action": self.action,
                "reason": self.reason,
                "message": self.message,
                "fields": list(self.fields),
                "changes": self.changes,
                "sent": self.sent,
            }
        return data


def manifest_resource(item: manifests.Manifest, namespace: str, live: Mapping[str, Any] | None) -> Resource:
    """The manifest as the controller would hold it once applied: the live object's identity and status,
    the manifest's spec and annotations."""
    metadata = dict(item.body.get("metadata") or {})
    live_metadata = (live or {}).get("metadata") or {}
    metadata |= {
        "namespace": namespace,
        "uid": live_metadata.get("uid") or UID_PLACEHOLDER,
        "generation": live_metadata.get("generation") or 1,
        "resourceVersion": live_metadata.get("resourceVersion") or "",
    }
    return Resource.from_body(
        {
            "metadata": metadata,
            "spec": item.body.get("spec") or {},
            "status": (live or {}).get("status") or {},
        }
    )


def plan_offline(
    item: manifests.Manifest, namespace: str, network: Network, keys: Mapping[tuple[str, str], frozenset[str]]
) -> tuple[Finding, models.AcrContainerGroupSpec | None]:
    resource = manifest_resource(item, namespace, None)
    finding = Finding(item.where, namespace, resource.name)
    try:
        spec = models.AcrContainerGroupSpec.from_dict(resource.spec)
        models.annotation_registries(resource.annotations)
        params = create_parameters(resource, spec, network, PlaceholderObjects(keys), f"{resource.uid}-0")
    except models.SpecError as error:
        field_path = error.field if error.field.startswith(("spec", "metadata")) else f"spec.{error.field}"
        finding.error = f"{field_path} (line {item.line_of(field_path)}): {error.message}"
        return finding, None
    finding.parameters = shown(params)
    finding.notes = unknown_key_notes(spec, keys)
    return finding, spec


def plan_live(
    item: manifests.Manifest,
    namespace: str,
    network: Network,
    keys: Mapping[tuple[str, str], frozenset[str]],
    live: Mapping[str, Any] | None,
) -> Finding:
    """What the operator would do with the manifest applied over `live` (None: no such resource). Pure."""
    finding, spec = plan_offline(item, namespace, network, keys)
    if spec is None:
        return finding
    objects = PlaceholderObjects(keys)
    resource = manifest_resource(item, namespace, live)
    status = resource.status
    incarnation = int(status.get("incarnation") or 0)
    if live is None:
        desired = planner.desired_from(
            spec,
            raw_spec=resource.spec,
            annotations=resource.annotations,
            generation=1,
            create_params=create_parameters(resource, spec, network, objects, "-"),
            account=None,
        )
        result = planner.plan(desired, planner.Known(), None)
        finding.sent = finding.parameters
        _set(
            finding, result, f"no AcrContainerGroup {namespace}/{resource.name}: a container group is created"
        )
        return finding
    current = Resource.from_body(live)
    if current.deleting:
        finding.action, finding.reason = "deleting", "Deleting"
        finding.message = f"{namespace}/{resource.name} is being deleted; apply it again once it is gone"
        return finding
    params = create_parameters(resource, spec, network, objects, f"{resource.uid}-{incarnation}")
    try:
        live_spec: models.AcrContainerGroupSpec | None = models.AcrContainerGroupSpec.from_dict(current.spec)
        assert live_spec is not None
        live_params: dict[str, str] | None = create_parameters(current, live_spec, network, objects, "-")
    except models.SpecError:
        live_spec, live_params = None, None
    known = planner.known_from(status)
    generation = current.generation if spec == live_spec else current.generation + 1
    desired = planner.desired_from(
        spec,
        raw_spec=resource.spec,
        annotations=resource.annotations,
        generation=generation,
        create_params=params,
        account=known.account,
    )
    applied_live = known.observed_generation == current.generation
    if (
        live_params is not None
        and planner.mutable_parameters(params) == planner.mutable_parameters(live_params)
        and applied_live
        and known.applied_hash
    ):
        desired = dataclasses.replace(desired, digest=known.applied_hash)
    if live_spec is not None and known.applied is not None:
        desired = dataclasses.replace(
            desired, immutable=_read_from_status(desired.immutable, known.applied, spec, live_spec)
        )
    observation = (
        planner.Observation(known.container_group_id, known.last_phase)
        if known.container_group_id and known.last_phase
        else None
    )
    result = planner.plan(desired, known, observation)
    if result.action is planner.Action.ACKNOWLEDGE:
        # Only status is written (request values taken as handled, no ECI call); the operator plans on
        # in the same reconcile.
        known = planner.recorded(known, result.records)
        result = planner.plan(desired, known, observation)
    if live_params is not None:
        finding.changes = _changes(
            planner.mutable_parameters(live_params), planner.mutable_parameters(params)
        )
    _set(finding, result, _DEFAULT_MESSAGES.get(result.action, "").format(group=known.container_group_id))
    if result.action is planner.Action.CREATE:
        finding.sent = shown(params)
    elif result.action is planner.Action.RECREATE:
        finding.sent = shown({**params, "ClientToken": f"{resource.uid}-{incarnation + 1}"})
    elif result.action is planner.Action.RESTART:
        finding.sent = {
            "ContainerGroupId": str(known.container_group_id),
            "ClientToken": f"{resource.uid}-r{DIGEST_PLACEHOLDER}",
        }
    elif result.action is planner.Action.UPDATE:
        group_id = str(known.container_group_id)
        count = int(status.get("updateCount") or 0)
        update = mapping.update_parameters(
            spec,
            container_group_id=group_id,
            annotations=dict(resource.annotations),
            objects=objects,
            client_token=f"{resource.uid}-u{count}-{DIGEST_PLACEHOLDER}",
            owner_tags=owner_tags(resource),
            defaults=network.defaults(spec),
        )
        update["RegionId"] = str(status.get("regionId") or update.get("RegionId") or OPERATOR_DEFAULT)
        finding.sent = shown(update)
        if not finding.changes:
            finding.message = (
                f"generation {current.generation} has not been sent to the group yet"
                if not applied_live
                else "status holds no digest of what the group was given (an adopted group): it is updated to the spec"
            )
    return finding


def _read_from_status(
    immutable: Mapping[str, str],
    applied: Mapping[str, str],
    spec: models.AcrContainerGroupSpec,
    live_spec: models.AcrContainerGroupSpec,
) -> dict[str, str]:
    """The immutable fields, those that depend on what Secrets and ConfigMaps hold (file modes of a volume
    whose keys plan does not know; the digest of the volumes while one is a disk) taken from status when
    the spec leaves that volume as the live spec has it: status recorded them from the objects' content."""
    live_volumes = {volume.name: volume for volume in live_spec.volumes}
    unchanged = {volume.name for volume in spec.volumes if live_volumes.get(volume.name) == volume}

    def from_status(key: str) -> bool:
        if key == "volumes":
            return spec.volumes == live_spec.volumes
        match = VOLUME_FIELD.match(key)
        return match is not None and match.group(1) in unchanged

    kept = {key: value for key, value in immutable.items() if not from_status(key)}
    return kept | {key: value for key, value in applied.items() if from_status(key)}


_DEFAULT_MESSAGES = {
    planner.Action.CREATE: "status names no group: one is created (CreateContainerGroup)",
    planner.Action.UPDATE: "container group {group} is updated in place (UpdateContainerGroup)",
}
"""What plan says of an action the planner gives no message for."""


def _set(finding: Finding, result: planner.Plan, message: str) -> None:
    finding.action = result.action.value.lower()
    finding.reason = result.reason
    finding.message = result.message or message
    finding.fields = result.changed


def _changes(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, list[str | None]]:
    changes: dict[str, list[str | None]] = {}
    for key in [*old, *(k for k in new if k not in old)]:
        if old.get(key) != new.get(key):
            changes[key] = [
                shown({key: old[key]})[key] if key in old else None,
                shown({key: new[key]})[key] if key in new else None,
            ]
    return changes


# ---------------------------------------------------------------------------------------------- command


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`plan`, beside `run`: cli.main dispatches to `main` on `args.command == "plan"`."""
    parser = commands.add_parser(
        "plan",
        help="the ECI parameters each AcrContainerGroup manifest maps to, and with --live what the operator "
        "would do to the resource in the cluster",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a file, a folder (searched for .yaml, .yml, .json) or - (standard input)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="read each resource from the cluster and name the operator's next action (no Secret is read)",
    )
    parser.add_argument(
        "--kubeconfig",
        help="kubeconfig for --live (default: KUBECONFIG, ~/.kube/config or in-cluster, as the operator)",
    )
    parser.add_argument(
        "--namespace",
        "-n",
        help="namespace of manifests that name none (default: with --live the kubeconfig context's, as "
        f"kubectl; else {DEFAULT_NAMESPACE})",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--region-id", help="the operator's region (default: ALIBABA_CLOUD_REGION_ID)")
    parser.add_argument(
        "--security-group-id",
        help="the operator's default security group (default: ECI_DEFAULT_SECURITY_GROUP_ID)",
    )
    parser.add_argument(
        "--vswitch-ids",
        help="the operator's default vSwitches, comma-separated (default: ECI_DEFAULT_VSWITCH_IDS)",
    )


def network_from(args: argparse.Namespace, env: Mapping[str, str]) -> Network:
    """The flags over the environment, both checked as the operator checks its settings."""
    flags = {
        "ALIBABA_CLOUD_REGION_ID": args.region_id,
        "ECI_DEFAULT_SECURITY_GROUP_ID": args.security_group_id,
        "ECI_DEFAULT_VSWITCH_IDS": args.vswitch_ids,
    }
    region_id, security_group_id, v_switch_ids = network_defaults(
        {**env, **{name: value for name, value in flags.items() if value is not None}}
    )
    return Network(region_id, security_group_id, v_switch_ids)


def main(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    try:
        network = network_from(args, os.environ)
        items = list(manifests.read(args.paths, stdin if stdin is not None else sys.stdin))
    except SettingsError as error:
        print(f"acr-eci-operator plan: invalid setting: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except manifests.InputError as error:
        print(f"acr-eci-operator plan: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    groups = [item for item in items if item.is_acr_container_group]
    if not groups:
        print("acr-eci-operator plan: no AcrContainerGroup among the inputs", file=sys.stderr)
        return EXIT_UNUSABLE
    default_namespace = args.namespace or (live_namespace(args.kubeconfig) if args.live else None)
    default_namespace = default_namespace or DEFAULT_NAMESPACE
    live_bodies: list[Mapping[str, Any] | None] = []
    if args.live:
        try:
            live_bodies = asyncio.run(
                read_live(args.kubeconfig, [(i.namespace or default_namespace, i.name) for i in groups])
            )
        except (OperatorError, OSError, ValueError) as error:
            # The kubeconfig is missing or malformed, or the apiserver did not answer.
            print(f"acr-eci-operator plan: cannot read the cluster: {error}", file=sys.stderr)
            return EXIT_UNUSABLE
    findings = []
    for index, item in enumerate(groups):
        namespace = item.namespace or default_namespace
        keys = input_object_keys(items, namespace)
        if args.live:
            findings.append(plan_live(item, namespace, network, keys, live_bodies[index]))
        else:
            findings.append(plan_offline(item, namespace, network, keys)[0])
    if args.format == "json":
        json.dump([finding.to_json(args.live) for finding in findings], out, indent=2)
        out.write("\n")
    else:
        out.write(render(findings, args.live))
    return EXIT_FINDINGS if any(finding.failed for finding in findings) else EXIT_PLANNED


def live_namespace(kubeconfig: str | None) -> str | None:
    """Where `kubectl apply` would put a manifest that names no namespace: the kubeconfig's current
    context's namespace (in a pod, the pod's)."""
    from acr_eci_operator.kube import current_namespace

    return current_namespace(kubeconfig)


async def read_live(
    kubeconfig: str | None, names: Sequence[tuple[str, str]]
) -> list[Mapping[str, Any] | None]:
    """Each resource as the apiserver has it (None: absent); only AcrContainerGroups are read."""
    from kubernetes.config import ConfigException

    from acr_eci_operator.kube import Kube, load_api_client

    try:
        api_client = load_api_client(kubeconfig)
    except ConfigException as error:
        raise ValueError(str(error)) from None
    kube = Kube(api_client)
    try:
        return [await kube.get(namespace, name) for namespace, name in names]
    finally:
        api_client.close()  # type: ignore[no-untyped-call]


def render(findings: Sequence[Finding], live: bool) -> str:
    """Per resource a header (`file#doc namespace/name`), then offline the create parameters as `Key =
    value` lines, live the action, its reason, the changed parameters and what the action sends."""
    lines: list[str] = []
    for finding in findings:
        if lines:
            lines.append("")
        lines.append(f"{finding.where} {finding.namespace}/{finding.name}")
        if finding.error is not None:
            lines.append(f"  invalid: {finding.error}")
            continue
        if live:
            reason = f" ({finding.reason})" if finding.reason else ""
            lines.append(
                f"  action: {finding.action}{reason}" + (f": {finding.message}" if finding.message else "")
            )
            if finding.fields:
                lines.append(f"  fields: {', '.join(finding.fields)}")
            if finding.action == "update" and finding.changes:
                lines.append("  changes:")
                for key, (old, new) in finding.changes.items():
                    lines.append(f"    {key}: {_value(old)} -> {_value(new)}")
        for note in finding.notes:
            lines.append(f"  note: {note}")
        parameters = finding.sent if live else finding.parameters
        if parameters:
            indent = "  "
            if live:
                lines.append("  sends:")
                indent = "    "
            lines.extend(f"{indent}{key} = {value}" for key, value in parameters.items())
    return "\n".join(lines) + "\n"


def _value(value: str | None) -> str:
    return "(absent)" if value is None else value
