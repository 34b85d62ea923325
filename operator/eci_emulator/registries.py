"""Container registries the emulator knows, and the rule that decides whether an image pull succeeds.

The rule (issue 3, section 5, after the ECI guide "Configure password-free access to pull images from a
Container Registry Enterprise Edition instance"):

- an image in an ACR EE instance pulls when the group has an AcrRegistryInfo entry whose InstanceId is that
  instance, whose Domains (when given) include the image's domain, whose RegionId (when given) is the
  instance's region and whose InstanceName (when given) is the instance's name; or an
  ImageRegistryCredential for the image's server with a user and password the instance accepts;
- an image in another private registry pulls only with a matching ImageRegistryCredential;
- any other image is public and pulls.
An authorised pull of a repository (or tag) the registry does not hold fails as "not found".
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RegistryUser:
    username: str
    password: str


@dataclass(frozen=True)
class AcrInstance:
    """An ACR Enterprise Edition instance: its public and `-vpc` domains serve the same repositories."""

    instance_id: str
    instance_name: str
    region_id: str
    domains: tuple[str, ...]
    repositories: Mapping[str, tuple[str, ...]]
    """Repository path -> tags it holds (empty: any tag)."""
    users: tuple[RegistryUser, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "instanceName": self.instance_name,
            "regionId": self.region_id,
            "domains": list(self.domains),
            "repositories": {name: list(tags) for name, tags in self.repositories.items()},
            "users": [{"username": user.username, "password": user.password} for user in self.users],
        }


@dataclass(frozen=True)
class PrivateRegistry:
    """A registry outside ACR that needs credentials (ImageRegistryCredential)."""

    server: str
    users: tuple[RegistryUser, ...]
    repositories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "users": [{"username": user.username, "password": user.password} for user in self.users],
            "repositories": {name: list(tags) for name, tags in self.repositories.items()},
        }


@dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str


@dataclass(frozen=True)
class AcrRegistryInfo:
    """One AcrRegistryInfo.N entry of a request."""

    instance_id: str
    instance_name: str | None = None
    region_id: str | None = None
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistryCredential:
    """One ImageRegistryCredential.N entry of a request."""

    server: str
    username: str
    password: str


@dataclass(frozen=True)
class PullResult:
    ok: bool
    message: str = ""


def parse_image(image: str) -> ImageReference:
    """Split an image reference the way container runtimes do (docker.io when no registry host)."""
    name, tag = image, "latest"
    if "@" in name:
        name, tag = name.split("@", 1)
    else:
        last_slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > last_slash:
            name, tag = name[:colon], name[colon + 1 :]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", name
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageReference(registry=registry, repository=repository, tag=tag)


def _holds(repositories: Mapping[str, tuple[str, ...]], reference: ImageReference) -> bool:
    tags = repositories.get(reference.repository)
    if tags is None:
        return False
    return not tags or reference.tag in tags or reference.tag.startswith("sha256:")


def _pull_failure(image: str, reason: str, hint: str) -> PullResult:
    message = (
        f'Failed to pull image "{image}": rpc error: code = Unknown desc = failed to pull and unpack image '
        f'"{image}": failed to resolve reference "{image}": {reason}'
    )
    if hint:
        message = f"{message}. {hint}"
    return PullResult(ok=False, message=message)


_DENIED = (
    "pull access denied, repository does not exist or may require authorization: "
    "authorization failed: no basic auth credentials"
)
_BAD_CREDENTIALS = "pull access denied: unauthorized: authentication required (invalid username or password)"


class RegistryCatalog:
    """The ACR EE instances and private registries the emulator serves images from (thread-safe)."""

    def __init__(
        self,
        acr_instances: Iterable[AcrInstance] = (),
        private_registries: Iterable[PrivateRegistry] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._instances: dict[str, AcrInstance] = {}
        self._by_domain: dict[str, AcrInstance] = {}
        self._private: dict[str, PrivateRegistry] = {}
        self.add(acr_instances, private_registries)

    def add(
        self, acr_instances: Iterable[AcrInstance] = (), private_registries: Iterable[PrivateRegistry] = ()
    ) -> None:
        with self._lock:
            for instance in acr_instances:
                old = self._instances.get(instance.instance_id)
                if old is not None:
                    for domain in old.domains:
                        self._by_domain.pop(domain, None)
                self._instances[instance.instance_id] = instance
                for domain in instance.domains:
                    self._by_domain[domain] = instance
            for registry in private_registries:
                self._private[registry.server] = registry

    def acr_instances(self) -> list[AcrInstance]:
        with self._lock:
            return list(self._instances.values())

    def private_registries(self) -> list[PrivateRegistry]:
        with self._lock:
            return list(self._private.values())

    def check_pull(
        self,
        image: str,
        acr_registry_infos: Sequence[AcrRegistryInfo],
        credentials: Sequence[RegistryCredential],
    ) -> PullResult:
        reference = parse_image(image)
        with self._lock:
            instance = self._by_domain.get(reference.registry)
            private = self._private.get(reference.registry)
        if instance is not None:
            return self._check_acr(image, reference, instance, acr_registry_infos, credentials)
        if private is not None:
            return self._check_private(image, reference, private, credentials)
        return PullResult(ok=True)

    @staticmethod
    def _credential_for(
        server: str, users: Sequence[RegistryUser], credentials: Sequence[RegistryCredential]
    ) -> bool | None:
        """True: a matching credential; False: credentials for the server but none valid; None: none."""
        given = [credential for credential in credentials if credential.server == server]
        if not given:
            return None
        return any(RegistryUser(credential.username, credential.password) in users for credential in given)

    def _check_acr(
        self,
        image: str,
        reference: ImageReference,
        instance: AcrInstance,
        infos: Sequence[AcrRegistryInfo],
        credentials: Sequence[RegistryCredential],
    ) -> PullResult:
        authorised = False
        rejections: list[str] = []
        for index, info in enumerate(infos, start=1):
            if info.instance_id != instance.instance_id:
                continue
            why = _entry_mismatch(index, info, instance, reference.registry)
            if why:
                rejections.append(why)
            else:
                authorised = True
                break
        if not authorised:
            by_credential = self._credential_for(reference.registry, instance.users, credentials)
            if by_credential is False:
                return _pull_failure(
                    image,
                    _BAD_CREDENTIALS,
                    f"The ImageRegistryCredential for {reference.registry} has a wrong user or password.",
                )
            authorised = bool(by_credential)
        if not authorised:
            hint = (
                f"The image is in ACR EE instance {instance.instance_id} ({instance.instance_name}, "
                f"{instance.region_id}) and the container group has no AcrRegistryInfo entry for it"
            )
            if rejections:
                hint = f"{hint} that applies: " + "; ".join(rejections)
            hint += (
                f". Add AcrRegistryInfo.N.InstanceId={instance.instance_id} or an ImageRegistryCredential for "
                f"{reference.registry}"
            )
            return _pull_failure(image, _DENIED, hint)
        if not _holds(instance.repositories, reference):
            return _pull_failure(
                image,
                f'"{reference.registry}/{reference.repository}:{reference.tag}": not found',
                f"Instance {instance.instance_id} holds no {reference.repository}:{reference.tag}",
            )
        return PullResult(ok=True)

    def _check_private(
        self,
        image: str,
        reference: ImageReference,
        registry: PrivateRegistry,
        credentials: Sequence[RegistryCredential],
    ) -> PullResult:
        by_credential = self._credential_for(registry.server, registry.users, credentials)
        if by_credential is None:
            return _pull_failure(
                image,
                _DENIED,
                f"{registry.server} is a private registry; give an ImageRegistryCredential for it",
            )
        if not by_credential:
            return _pull_failure(
                image,
                _BAD_CREDENTIALS,
                f"The ImageRegistryCredential for {registry.server} has a wrong user or password",
            )
        if registry.repositories and not _holds(registry.repositories, reference):
            return _pull_failure(
                image, f'"{image}": not found', f"{registry.server} holds no {reference.repository}"
            )
        return PullResult(ok=True)


def _entry_mismatch(index: int, info: AcrRegistryInfo, instance: AcrInstance, domain: str) -> str:
    prefix = f"AcrRegistryInfo.{index} (InstanceId {info.instance_id})"
    if info.region_id and info.region_id != instance.region_id:
        return f"{prefix} has RegionId {info.region_id}, the instance is in {instance.region_id}"
    if info.instance_name and info.instance_name != instance.instance_name:
        return (
            f"{prefix} has InstanceName {info.instance_name}, the instance is named {instance.instance_name}"
        )
    if info.domains and domain not in info.domains:
        return f"{prefix} lists Domain {', '.join(info.domains)} but not {domain}"
    return ""


def _users(raw: Any) -> tuple[RegistryUser, ...]:
    return tuple(RegistryUser(str(user["username"]), str(user["password"])) for user in raw or ())


def _repositories(raw: Any) -> dict[str, tuple[str, ...]]:
    if isinstance(raw, list):
        return {str(name): () for name in raw}
    return {str(name): tuple(str(tag) for tag in (tags or ())) for name, tags in (raw or {}).items()}


def parse_catalog(document: Mapping[str, Any]) -> tuple[list[AcrInstance], list[PrivateRegistry]]:
    """Read the `acrInstances` / `privateRegistries` document (examples/emulator/acr-instances.yaml)."""
    instances = [
        AcrInstance(
            instance_id=str(raw["instanceId"]),
            instance_name=str(raw["instanceName"]),
            region_id=str(raw["regionId"]),
            domains=tuple(str(domain) for domain in raw["domains"]),
            repositories=_repositories(raw.get("repositories")),
            users=_users(raw.get("users")),
        )
        for raw in document.get("acrInstances") or ()
    ]
    registries = [
        PrivateRegistry(
            server=str(raw["server"]),
            users=_users(raw.get("users")),
            repositories=_repositories(raw.get("repositories")),
        )
        for raw in document.get("privateRegistries") or ()
    ]
    return instances, registries
