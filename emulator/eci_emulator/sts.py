"""The emulated STS (API version 2015-04-01): AssumeRole and AssumeRoleWithOIDC.

Credentials it issues are STS keys (`STS.` AccessKeyId, AccessKeySecret, SecurityToken) that the ECI side
accepts until they expire on the emulator's clock (`Clock.now()`: wall time plus the offset that
`advance_clock` adds), so a test can make them expire without waiting.

Shapes and codes follow the STS API reference (AssumeRole, AssumeRoleWithOIDC and the STS error-code table
of help.aliyun.com/zh/ram/developer-reference/api-sts-2015-04-01-errorcodes):

- AssumeRole answers `{RequestId, AssumedRoleUser{Arn, AssumedRoleId}, Credentials{AccessKeyId,
  AccessKeySecret, SecurityToken, Expiration}}`; AssumeRoleWithOIDC adds `OIDCTokenInfo{Subject, Issuer,
  ClientIds, ExpirationTime, IssuanceTime, VerificationInfo}`.
- DurationSeconds: 900 s up to the role's MaxSessionDuration (default 3600), default 3600; out of range is
  400 `InvalidParameter.DurationSeconds`. RoleSessionName: `[A-Za-z0-9.@_-]`, 2 to 64 characters, else 400
  `InvalidParameter.RoleSessionName`. Policy: a JSON policy document of at most 2048 characters, else 400
  `InvalidParameter.PolicyGrammar`.
- OIDC tokens (401 each): empty or not three dot-separated parts or an unreadable payload
  `AuthenticationFail.OIDCToken.Invalid`; an unknown OIDC provider `AuthenticationFail.NoPermission` ("No such
  OIDC Provider registered."); an audience the provider does not list
  `AuthenticationFail.OIDCToken.AudienceNotMatch`; `exp` passed `AuthenticationFail.OIDCToken.Expired`; a token
  the provider cannot verify `AuthenticationFail.OIDCToken.InvalidSignature`; a role that does not trust the
  provider (or, for AssumeRole, the calling key) `AuthenticationFail.NoPermission` ("There is no permission").

Where the reference is silent, the emulator's own choices:

- An unknown role (well-formed ARN) is 404 `EntityNotExist.Role`; a malformed RoleArn is 400
  `InvalidParameter.RoleArn`; an OIDCToken outside 4..20000 characters is 400 `InvalidParameter.OIDCToken`.
- The emulator checks no JWT signature: a provider either accepts the exact tokens registered for it or,
  with `accept_any_jwt`, any well-formed JWT. Audience (`aud` must hold one of the provider's client ids,
  default `sts.aliyuncs.com`), issuer (when the provider names one) and `exp` are checked in both cases.
- `sts_lifetime_seconds` (when set) caps the lifetime of every issued credential below what
  DurationSeconds asked (e.g. 60 s in tests); `min_duration_seconds` (default 900, as STS) is the smallest
  DurationSeconds accepted.
- Expiration is rendered on the emulator's clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import string
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eci_emulator import errors
from eci_emulator.clock import Clock, iso8601
from eci_emulator.errors import EciError
from eci_emulator.signature import Credential

STS_API_VERSION = "2015-04-01"
STS_PARAMETERS = {
    "AssumeRole": frozenset(
        {"RoleArn", "RoleSessionName", "DurationSeconds", "Policy", "ExternalId", "SourceIdentity"}
    ),
    "AssumeRoleWithOIDC": frozenset(
        {"RoleArn", "OIDCProviderArn", "OIDCToken", "RoleSessionName", "DurationSeconds", "Policy"}
    ),
}
"""Each action's own request parameters (the STS API reference); the common ones come on top."""
DEFAULT_AUDIENCE = "sts.aliyuncs.com"
DEFAULT_DURATION_SECONDS = 3600
MIN_DURATION_SECONDS = 900
DEFAULT_MAX_SESSION_DURATION = 3600
MAX_POLICY_LENGTH = 2048

ROLE_ARN = re.compile(r"acs:ram::(\d+):role/([A-Za-z0-9.@_-]{1,64})")
OIDC_PROVIDER_ARN = re.compile(r"acs:ram::(\d+):oidc-provider/([A-Za-z0-9.@_-]{1,128})")
SESSION_NAME = re.compile(r"[A-Za-z0-9.@_-]{2,64}")

_ALPHANUMERIC = string.ascii_letters + string.digits


def _random(length: int, alphabet: str = _ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class Role:
    """A RAM role STS can issue credentials for.

    oidc_provider_arns: the OIDC providers whose tokens may assume it (AssumeRoleWithOIDC).
    access_key_ids: the AccessKeyIds that may assume it (AssumeRole); None: any key the emulator knows.
    """

    arn: str
    oidc_provider_arns: tuple[str, ...] = ()
    access_key_ids: tuple[str, ...] | None = None
    max_session_duration: int = DEFAULT_MAX_SESSION_DURATION

    def __post_init__(self) -> None:
        if not ROLE_ARN.fullmatch(self.arn):
            raise ValueError(f"{self.arn!r} is not a role ARN like acs:ram::1234567890123456:role/name")
        if not 3600 <= self.max_session_duration <= 43200:
            raise ValueError("max_session_duration must be within 3600..43200 seconds (as RAM's)")

    @property
    def account_id(self) -> str:
        match = ROLE_ARN.fullmatch(self.arn)
        assert match is not None
        return match.group(1)

    @property
    def name(self) -> str:
        match = ROLE_ARN.fullmatch(self.arn)
        assert match is not None
        return match.group(2)

    @property
    def role_id(self) -> str:
        """A stable 17-digit role id, derived from the ARN."""
        return str(int(hashlib.sha256(self.arn.encode()).hexdigest(), 16))[:17]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "oidc_provider_arns": list(self.oidc_provider_arns),
            "access_key_ids": None if self.access_key_ids is None else list(self.access_key_ids),
            "max_session_duration": self.max_session_duration,
        }


@dataclass
class OidcProvider:
    """An OIDC identity provider: accepts the tokens registered for it, or any JWT (`accept_any_jwt`)."""

    arn: str
    tokens: set[str] = field(default_factory=set)
    accept_any_jwt: bool = False
    client_ids: tuple[str, ...] = (DEFAULT_AUDIENCE,)
    issuer: str | None = None

    def __post_init__(self) -> None:
        if not OIDC_PROVIDER_ARN.fullmatch(self.arn):
            raise ValueError(
                f"{self.arn!r} is not an OIDC provider ARN like acs:ram::1234567890123456:oidc-provider/name"
            )

    def to_dict(self) -> dict[str, Any]:
        """The provider's settings; the tokens only as a count (they are secrets)."""
        return {
            "arn": self.arn,
            "accept_any_jwt": self.accept_any_jwt,
            "client_ids": list(self.client_ids),
            "issuer": self.issuer,
            "token_count": len(self.tokens),
        }


@dataclass
class StsSettings:
    lifetime_seconds: float | None = None
    """When set, caps every issued credential's lifetime (below what DurationSeconds asked)."""
    min_duration_seconds: int = MIN_DURATION_SECONDS
    """The smallest DurationSeconds accepted."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        if self.lifetime_seconds is not None and self.lifetime_seconds <= 0:
            raise ValueError("sts_lifetime_seconds must be positive")
        if self.min_duration_seconds < 1:
            raise ValueError("sts_min_duration_seconds must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "sts_lifetime_seconds": self.lifetime_seconds,
            "sts_min_duration_seconds": self.min_duration_seconds,
        }


def _error(code: str, message: str, status: int) -> EciError:
    return EciError(code, message, status)


def _no_permission(message: str = "There is no permission") -> EciError:
    return _error("AuthenticationFail.NoPermission", message, 401)


def _invalid_token(message: str) -> EciError:
    return _error("AuthenticationFail.OIDCToken.Invalid", message, 401)


def _b64url_json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified; AuthenticationFail.OIDCToken.Invalid when it is not one."""
    if not token:
        raise _invalid_token("The OIDCToken can not empty.")
    parts = token.split(".")
    if len(parts) != 3:
        raise _invalid_token("The number of Jwt field should be divided into 3 parts with '.' .")
    try:
        header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    except (binascii.Error, ValueError, UnicodeError):
        raise _invalid_token("Cannot decode base64 encoded response(format invalided).") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _invalid_token("The Jwt content is invalid that cannot be recognized.")
    return claims


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    audience = claims.get("aud")
    if isinstance(audience, str):
        return [audience]
    if isinstance(audience, list):
        return [str(item) for item in audience]
    return []


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Sts:
    """Roles, OIDC providers and the credentials issued; every public method is thread-safe."""

    def __init__(self, clock: Clock, settings: StsSettings | None = None) -> None:
        self.clock = clock
        self.settings = settings or StsSettings()
        self._roles: dict[str, Role] = {}
        self._providers: dict[str, OidcProvider] = {}
        self._lock = threading.Lock()

    # ---- configuration ------------------------------------------------------------------------------

    def add_role(self, role: Role) -> None:
        with self._lock:
            self._roles[role.arn] = role

    def roles(self) -> list[dict[str, Any]]:
        with self._lock:
            return [role.to_dict() for role in self._roles.values()]

    def add_oidc_provider(self, provider: OidcProvider) -> None:
        with self._lock:
            known = self._providers.get(provider.arn)
            if known is not None:
                provider.tokens |= known.tokens
            self._providers[provider.arn] = provider

    def add_oidc_tokens(self, provider_arn: str, tokens: Iterable[str]) -> None:
        with self._lock:
            provider = self._providers.get(provider_arn)
            if provider is None:
                raise KeyError(f"no OIDC provider {provider_arn}")
            provider.tokens.update(tokens)

    def oidc_providers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [provider.to_dict() for provider in self._providers.values()]

    # ---- the actions --------------------------------------------------------------------------------

    def assume_role(
        self, parameters: Mapping[str, str], caller: Credential
    ) -> tuple[dict[str, Any], Credential]:
        role_arn = _required(parameters, "RoleArn")
        session_name = _required(parameters, "RoleSessionName")
        _check_common(parameters, session_name)
        role = self._role(role_arn)
        if role.access_key_ids is not None and caller.access_key_id not in role.access_key_ids:
            raise _no_permission(
                f"No permission perform sts:AssumeRole on this Role. Maybe you should check the role's trust "
                f"policy: {role_arn}"
            )
        duration = self._duration(parameters, role)
        return self._issue(role, session_name, duration, {})

    def assume_role_with_oidc(self, parameters: Mapping[str, str]) -> tuple[dict[str, Any], Credential]:
        role_arn = _required(parameters, "RoleArn")
        provider_arn = _required(parameters, "OIDCProviderArn")
        session_name = _required(parameters, "RoleSessionName")
        if "OIDCToken" not in parameters:
            raise errors.missing_parameter("OIDCToken")
        token = parameters["OIDCToken"]
        if token and not 4 <= len(token) <= 20000:
            raise errors.EciError(
                "InvalidParameter.OIDCToken", "The OIDCToken must be 4 to 20000 characters long.", 400
            )
        _check_common(parameters, session_name)
        if not OIDC_PROVIDER_ARN.fullmatch(provider_arn):
            raise _error(
                "InvalidParameter.OIDCProviderArn", "The parameter OIDCProviderArn is wrongly formed.", 400
            )
        claims = jwt_claims(token)
        with self._lock:
            provider = self._providers.get(provider_arn)
            accepted = provider is not None and (provider.accept_any_jwt or token in provider.tokens)
        if provider is None:
            raise _no_permission("No such OIDC Provider registered.")
        if provider.issuer is not None and claims.get("iss") != provider.issuer:
            raise _error("AuthenticationFail.OIDCToken.IssuerNotMatch", "Invalid issuer.", 401)
        if not set(_audiences(claims)) & set(provider.client_ids):
            raise _error("AuthenticationFail.OIDCToken.AudienceNotMatch", "Invalid audience.", 401)
        expires = _number(claims, "exp")
        if expires is not None and expires <= self.clock.now():
            raise _error("AuthenticationFail.OIDCToken.Expired", "This JsonWebToken is expired.", 401)
        if not accepted:
            raise _error(
                "AuthenticationFail.OIDCToken.InvalidSignature",
                "OIDC token validate failed: invalid signature.",
                401,
            )
        role = self._role(role_arn)
        if provider_arn not in role.oidc_provider_arns:
            raise _no_permission()
        duration = self._duration(parameters, role)
        issued = _number(claims, "iat")
        info = {
            "OIDCTokenInfo": {
                "Subject": str(claims.get("sub", "")),
                "Issuer": str(claims.get("iss", "")),
                "ClientIds": ",".join(_audiences(claims)),
                "ExpirationTime": iso8601(expires) if expires is not None else "",
                "IssuanceTime": iso8601(issued) if issued is not None else "",
                "VerificationInfo": "Success",
            }
        }
        return self._issue(role, session_name, duration, info)

    # ---- helpers ------------------------------------------------------------------------------------

    def _role(self, role_arn: str) -> Role:
        if not ROLE_ARN.fullmatch(role_arn):
            raise _error("InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.", 400)
        with self._lock:
            role = self._roles.get(role_arn)
        if role is None:
            raise _error("EntityNotExist.Role", f"The role not exists: {role_arn}.", 404)
        return role

    def _duration(self, parameters: Mapping[str, str], role: Role) -> int:
        raw = parameters.get("DurationSeconds") or str(DEFAULT_DURATION_SECONDS)
        minimum, maximum = self.settings.min_duration_seconds, role.max_session_duration
        if not raw.isdigit() or not minimum <= int(raw) <= maximum:
            raise _error(
                "InvalidParameter.DurationSeconds",
                f"The Min/Max value of DurationSeconds is {minimum}s/{maximum}s.",
                400,
            )
        return int(raw)

    def _issue(
        self, role: Role, session_name: str, duration: int, extra: dict[str, Any]
    ) -> tuple[dict[str, Any], Credential]:
        lifetime = float(duration)
        if self.settings.lifetime_seconds is not None:
            lifetime = min(lifetime, self.settings.lifetime_seconds)
        expires_at = self.clock.now() + lifetime
        credential = Credential(
            access_key_id="STS." + _random(25),
            access_key_secret=_random(44),
            security_token="CAIS" + _random(400, _ALPHANUMERIC + "+/"),
            expires_at=expires_at,
            role_arn=role.arn,
            role_session_name=session_name,
        )
        body: dict[str, Any] = {
            "AssumedRoleUser": {
                "Arn": f"{role.arn}/{session_name}",
                "AssumedRoleId": f"{role.role_id}:{session_name}",
            },
            "Credentials": {
                "AccessKeyId": credential.access_key_id,
                "AccessKeySecret": credential.access_key_secret,
                "SecurityToken": credential.security_token,
                "Expiration": iso8601(expires_at),
            },
            **extra,
        }
        return body, credential


def _required(parameters: Mapping[str, str], name: str) -> str:
    value = parameters.get(name)
    if not value:
        raise errors.missing_parameter(name)
    return value


def _check_common(parameters: Mapping[str, str], session_name: str) -> None:
    if not SESSION_NAME.fullmatch(session_name):
        raise _error(
            "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed.", 400
        )
    policy = parameters.get("Policy")
    if policy is not None:
        try:
            document = json.loads(policy)
        except ValueError:
            document = None
        if (
            not 1 <= len(policy) <= MAX_POLICY_LENGTH
            or not isinstance(document, dict)
            or not isinstance(document.get("Statement"), list)
        ):
            raise _error(
                "InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check.", 400
            )
