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
An image reference that does not parse (see `parse_image`) is never pulled: InvalidImageName.
"""

from __future__ import annotations

import re
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
    """The tag ("latest" when neither a tag nor a digest is given; "" with a digest and no tag)."""
    digest: str = ""

    @property
    def version(self) -> str:
        """`@digest` when there is one (runtimes pull by digest and ignore the tag), else `:tag`."""
        return f"@{self.digest}" if self.digest else f":{self.tag}"


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


INVALID_IMAGE_NAME = "InvalidImageName"
ERR_IMAGE_PULL = "ErrImagePull"


@dataclass(frozen=True)
class PullResult:
    ok: bool
    message: str = ""
    reason: str = ""
    """Why it failed: ErrImagePull (retried, then ImagePullBackOff) or InvalidImageName (never pulled)."""


# Image references: the grammar of the docker distribution reference package (distribution/reference,
# regexp.go and reference.go, which containerd and the kubelet use), with its normalisation (normalize.go):
#   reference  := name [ ":" tag ] [ "@" digest ]
#   name       := [ domain "/" ] path-component [ "/" path-component ]*    (at most 255 characters)
#   domain     := host [ ":" port ]; host := domain-component [ "." domain-component ]* | "[" ipv6 "]"
#   path-component := [a-z0-9]+ ( ( [._] | "__" | "-"* ) [a-z0-9]+ )*
#   tag        := [\w][\w.-]{0,127}
#   digest     := algorithm ":" hex; sha256 takes exactly 64 lower-case hex digits (go-digest), sha384 96
#                 and sha512 128; another algorithm matches the grammar
#                 [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,} but is not one
#                 go-digest can verify, so the kubelet refuses it too ("unsupported digest algorithm").
# distribution writes the separator `[-]*`; `-+` matches the same names (an empty separator only splits a
# run of [a-z0-9]) without the exponential backtracking `[a-z0-9]+(?:[-]*[a-z0-9]+)*` has in Python's re.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_DOMAIN = "docker.io"


class InvalidReference(ValueError):
    """An image reference the kubelet cannot parse; str() is the parser's error text."""


def _check_digest(digest: str) -> None:
    algorithm, _, encoded = digest.partition(":")
    length = _DIGEST_LENGTHS.get(algorithm)
    if length is None:
        raise InvalidReference("unsupported digest algorithm")
    if len(encoded) != length:
        raise InvalidReference("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidReference("invalid checksum digest format")


def _split_domain(name: str) -> tuple[str, str]:
    """normalize.go splitDockerDomain: the first component is a registry host when it has a dot, a colon
    or an upper-case letter or is `localhost`; docker.io otherwise, with `library/` for one component."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def parse_image(image: str) -> ImageReference:
    """Parse an image reference as the kubelet does (distribution's ParseNormalizedNamed).

    Raises InvalidReference, with the parser's message, for a reference it refuses.
    """
    if _HEX_IDENTIFIER.fullmatch(image):
        raise InvalidReference(
            f"invalid repository name ({image}), cannot specify 64-byte hexadecimal strings"
        )
    match = _REFERENCE.fullmatch(image)
    if match is None:
        if not image:
            raise InvalidReference("repository name must have at least one component")
        if _REFERENCE.fullmatch(image.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    if len(match.group("name")) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    digest = match.group("digest") or ""
    if digest:
        _check_digest(digest)
    registry, repository = _split_domain(match.group("name"))
    tag = match.group("tag") or ("" if digest else "latest")
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


def invalid_image_name(image: str, error: InvalidReference) -> PullResult:
    """What the kubelet reports for a reference it cannot parse: it never pulls, and never retries into
    ImagePullBackOff; the container stays Waiting with reason InvalidImageName.

    Source: Kubernetes kubelet (pkg/kubelet/images/image_manager.go, applyDefaultImageTag) answers
    ErrInvalidImageName for a reference that fails to parse, with this message. ECI runs kubelet-style
    container states (its Describe answers use the same reasons), and accepts the CreateContainerGroup.
    Where the ECI reference is silent this is the emulator's choice.
    """
    return PullResult(
        ok=False,
        message=(
            f'Failed to apply default image tag "{image}": couldn\'t parse image reference "{image}": {error}'
        ),
        reason=INVALID_IMAGE_NAME,
    )


def _holds(repositories: Mapping[str, tuple[str, ...]], reference: ImageReference) -> bool:
    tags = repositories.get(reference.repository)
    if tags is None:
        return False
    return not tags or bool(reference.digest) or reference.tag in tags


def _pull_failure(image: str, reason: str, hint: str) -> PullResult:
    message = (
        f'Failed to pull image "{image}": rpc error: code = Unknown desc = failed to pull and unpack image '
        f'"{image}": failed to resolve reference "{image}": {reason}'
    )
    if hint:
        message = f"{message}. {hint}"
    return PullResult(ok=False, message=message, reason=ERR_IMAGE_PULL)


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
        try:
            reference = parse_image(image)
        except InvalidReference as error:
            return invalid_image_name(image, error)
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
                f'"{reference.registry}/{reference.repository}{reference.version}": not found',
                f"Instance {instance.instance_id} holds no {reference.repository}{reference.version}",
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
