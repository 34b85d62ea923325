"""Which Alibaba Cloud account serves a resource: one account per team.

A resource is served by the Secret its annotation `eci.acr-operator.dev/credentials-from` names, else by
the Secret `acr-eci-credentials` in its namespace when there is one, else by the operator's own
credentials (unless the operator runs with `--require-namespace-credentials`). A credentials Secret
holds the same kinds as the operator's own (`credentials.source_from_mapping`: an AccessKey, an STS
token, a RAM role to assume with it) and may set the namespace's defaults: `regionId`,
`securityGroupId`, `vSwitchIds` (comma-separated).

Each account keeps one `EciClient` per region, so each account and region has its own rate limiter
(ECI's limits are per account). Accounts made from the same Secret data are shared (by a digest of the
data), so every resource of a namespace shares its limiter and its STS session, and a changed Secret
(rotation) makes a new account at the next reconcile.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from acr_eci_operator import mapping
from acr_eci_operator.credentials import (
    Credentials,
    CredentialsError,
    StsEndpoint,
    open_credentials,
    source_from_mapping,
)
from acr_eci_operator.eci import EciClient
from acr_eci_operator.errors import OperatorError
from acr_eci_operator.settings import REGION_PATTERN, Settings

CREDENTIALS_SECRET = "acr-eci-credentials"
"""The Secret in a resource's namespace whose credentials serve it (when the annotation names none)."""
CREDENTIALS_ANNOTATION = "eci.acr-operator.dev/credentials-from"
"""Names the Secret (in the resource's namespace) whose credentials serve the resource."""
KEY_REGION_ID = "regionId"
KEY_SECURITY_GROUP_ID = "securityGroupId"
KEY_V_SWITCH_IDS = "vSwitchIds"
DEFAULT_KEYS = (KEY_REGION_ID, KEY_SECURITY_GROUP_ID, KEY_V_SWITCH_IDS)
OWN = "operator"
"""Account.origin of the operator's own credentials."""


@dataclass(eq=False)
class Account:
    """One Alibaba Cloud identity with its defaults, and its ECI clients (one per region)."""

    credentials: Credentials
    defaults: mapping.Defaults
    origin: str
    """`operator`, or `Secret <namespace>/<name>`."""
    settings: Settings
    clients: dict[str, EciClient] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """The AccessKey id or role ARN (for status and logs; never a secret)."""
        return self.credentials.identity

    def client(self, region_id: str) -> EciClient:
        """The ECI client (and rate limiter) of this account in a region."""
        client = self.clients.get(region_id)
        if client is None:
            client = self.clients[region_id] = EciClient(self.settings, self.credentials)
        return client


def credentials_secret(namespace: str, annotations: Mapping[str, str]) -> tuple[str, bool]:
    """The name of the credentials Secret for a resource, and whether the annotation named it."""
    named = str(annotations.get(CREDENTIALS_ANNOTATION) or "").strip()
    return (named, True) if named else (CREDENTIALS_SECRET, False)


class Accounts:
    """The operator's own account and every account made from a credentials Secret."""

    def __init__(
        self,
        settings: Settings,
        own: Credentials,
        *,
        require_namespace_credentials: bool = False,
        sts_endpoint: StsEndpoint | None = None,
    ) -> None:
        self.settings = settings
        self.require_namespace_credentials = require_namespace_credentials
        self.sts_endpoint = sts_endpoint or StsEndpoint()
        self.own = Account(
            own,
            mapping.Defaults(
                region_id=settings.region_id,
                security_group_id=settings.default_security_group_id,
                v_switch_ids=settings.default_v_switch_ids,
            ),
            OWN,
            settings,
        )
        self._by_data: dict[str, Account] = {}

    def all(self) -> list[Account]:
        return [self.own, *self._by_data.values()]

    def retain(self, in_use: list[Account]) -> None:
        """Forget the accounts no resource uses any more (their namespace or Secret went)."""
        kept = {id(account) for account in in_use}
        self._by_data = {d: a for d, a in self._by_data.items() if id(a) in kept}

    def resolve(self, namespace: str, name: str, explicit: bool, data: Mapping[str, bytes] | None) -> Account:
        """The account of a resource whose credentials Secret `namespace/name` holds `data` (None: no
        such Secret). Raises OperatorError naming the Secret (and the key) when it cannot serve."""
        where = f"Secret {namespace}/{name}"
        if data is None:
            if explicit:
                raise OperatorError(
                    "CredentialsSecretNotFound",
                    f"{where}, named by the annotation {CREDENTIALS_ANNOTATION}, does not exist",
                    retryable=True,
                )
            if self.require_namespace_credentials:
                raise OperatorError(
                    "CredentialsRequired",
                    f"{where} does not exist and the operator runs with --require-namespace-credentials: "
                    f"create it (or name another Secret with the annotation {CREDENTIALS_ANNOTATION})",
                    retryable=True,
                )
            return self.own
        digest = hashlib.sha256(
            json.dumps([where, sorted((k, v.hex()) for k, v in data.items())]).encode()
        ).hexdigest()
        account = self._by_data.get(digest)
        if account is not None:
            return account
        text: dict[str, str] = {}
        for key, value in data.items():
            try:
                text[key] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise OperatorError(
                    "InvalidCredentials", f"{where}: key {key!r} is not UTF-8 text", retryable=False
                ) from None
        defaults = self._defaults(where, {k: v.strip() for k, v in text.items() if k in DEFAULT_KEYS})
        credentials_data = {k: v for k, v in text.items() if k not in DEFAULT_KEYS}
        try:
            source = source_from_mapping(credentials_data, sts_endpoint=self.sts_endpoint, origin=where)
            credentials = open_credentials(source)
        except CredentialsError as error:
            raise OperatorError(error.reason, error.message, retryable=False) from None
        # A changed Secret replaces its account (the older one goes with the last resource that used it).
        self._by_data = {d: a for d, a in self._by_data.items() if a.origin != where}
        account = self._by_data[digest] = Account(credentials, defaults, where, self.settings)
        return account

    def _defaults(self, where: str, values: Mapping[str, str]) -> mapping.Defaults:
        own = self.own.defaults
        region_id = values.get(KEY_REGION_ID) or own.region_id
        if not REGION_PATTERN.match(region_id):
            raise OperatorError(
                "InvalidCredentials",
                f"{where}: key {KEY_REGION_ID!r} is not a region id (such as cn-hangzhou)",
                retryable=False,
            )
        v_switch_ids = tuple(v.strip() for v in values.get(KEY_V_SWITCH_IDS, "").split(",") if v.strip())
        if any(not v.startswith("vsw-") for v in v_switch_ids):
            raise OperatorError(
                "InvalidCredentials",
                f"{where}: key {KEY_V_SWITCH_IDS!r} must be vSwitch ids (vsw-...), comma-separated",
                retryable=False,
            )
        security_group_id = values.get(KEY_SECURITY_GROUP_ID) or None
        if security_group_id is not None and not security_group_id.startswith("sg-"):
            raise OperatorError(
                "InvalidCredentials",
                f"{where}: key {KEY_SECURITY_GROUP_ID!r} must be a security group id (sg-...)",
                retryable=False,
            )
        if KEY_REGION_ID in values and region_id != own.region_id:
            # Another region: the operator's own security group and vSwitches do not exist there.
            return mapping.Defaults(region_id, security_group_id, v_switch_ids)
        return mapping.Defaults(
            region_id, security_group_id or own.security_group_id, v_switch_ids or own.v_switch_ids
        )
