"""Request authentication as Alibaba Cloud's API gateway does it: signature v1.0 (HMAC-SHA1, parameters in
the query or a form body) and v3 (`ACS3-HMAC-SHA256` in the Authorization header), timestamps, nonces, STS
security tokens and their expiry.

Signature v3, as the V3 request-signature reference ("V3 request body & signature mechanism") and
alibabacloud-tea-openapi compute it:

    CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n
                       SignedHeaders \n HashedRequestPayload
    StringToSign     = "ACS3-HMAC-SHA256" \n hex(sha256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))

CanonicalURI is the path percent-encoded (`/` kept); CanonicalQueryString the query parameters, names and
values RFC 3986 encoded, sorted by name, `name=value` joined by `&`; CanonicalHeaders each signed header as
`lowercase-name:trimmed-value\n` in the order of SignedHeaders (lowercase names sorted, `;`-joined);
HashedRequestPayload hex(sha256(body)), which must equal the `x-acs-content-sha256` header. The emulator
requires `host` and every `x-acs-*` header sent to be signed (the reference: "at least host and the x-acs-*
headers"); a header that is not signed is 400 `IncompleteSignature`, the emulator's choice of code.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from eci_emulator import errors
from eci_emulator.errors import EciError
from eci_emulator.request_log import redact

API_VERSION = "2018-08-08"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_CLOCK_SKEW_SECONDS = 15 * 60
ACS3_HMAC_SHA256 = "ACS3-HMAC-SHA256"
_AUTHORIZATION = re.compile(
    r"(?P<algorithm>\S+) Credential=(?P<key>[^,]*),SignedHeaders=(?P<headers>[^,]*),Signature=(?P<signature>\S*)"
)


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: only A-Za-z0-9-_.~ stay as they are."""
    if _UNRESERVED.fullmatch(value):
        return value
    return quote(value, safe="-_.~", encoding="utf-8")


def string_to_sign(method: str, parameters: Mapping[str, str]) -> str:
    canonical = "&".join(
        f"{percent_encode(key)}={percent_encode(parameters[key])}"
        for key in sorted(parameters)
        if key != "Signature"
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(secret: str, text: str) -> str:
    digest = hmac.new(f"{secret}&".encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def redacted_string_to_sign(method: str, parameters: Mapping[str, str]) -> str:
    """The v1.0 string to sign with the secrets (SecurityToken, passwords) replaced, for error messages."""
    return string_to_sign(method, redact(parameters))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    encoded = sorted((percent_encode(name), percent_encode(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_request_v3(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    signed_headers: Sequence[str],
    hashed_payload: str,
) -> str:
    """The v3 canonical request; `headers` maps lowercase names to every value received."""
    canonical_headers = "".join(
        f"{name}:{','.join(sorted(value.strip() for value in headers.get(name, ())))}\n"
        for name in signed_headers
    )
    return "\n".join(
        (
            method,
            quote(path or "/", safe="/~", encoding="utf-8"),
            canonical_query(query),
            canonical_headers,
            ";".join(signed_headers),
            hashed_payload,
        )
    )


def string_to_sign_v3(canonical_request: str) -> str:
    return f"{ACS3_HMAC_SHA256}\n{sha256_hex(canonical_request.encode())}"


def sign_v3(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None
    """When set, the key is an STS key and every request must carry this SecurityToken."""
    expires_at: float | None = None
    """An STS key's expiry on the emulator's clock; past it the key is refused (InvalidSecurityToken.Expired)."""
    role_arn: str | None = None
    """The role an STS key was issued for (AssumeRole, AssumeRoleWithOIDC)."""
    role_session_name: str | None = None

    def __repr__(self) -> str:
        return (
            f"Credential({self.access_key_id!r}, role_arn={self.role_arn!r}, expires_at={self.expires_at!r})"
        )


@dataclass(frozen=True)
class SignedRequest:
    """A v3 request as received: what `Authenticator.verify_v3` needs."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, Sequence[str]]
    """Lowercase header name -> every value received."""
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


class NonceCache:
    """Remembers SignatureNonce values for the accepted timestamp window."""

    def __init__(self, ttl_seconds: float = 2 * MAX_CLOCK_SKEW_SECONDS) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._ttl = ttl_seconds
        self._lock = threading.Lock()

    def check_and_add(self, nonce: str) -> bool:
        now = time.time()
        with self._lock:
            while self._seen:
                oldest_nonce, seen_at = next(iter(self._seen.items()))
                if now - seen_at <= self._ttl:
                    break
                del self._seen[oldest_nonce]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


class Authenticator:
    """Checks the common parameters and the signature of one request."""

    def __init__(self, credentials: Mapping[str, Credential], now: Callable[[], float] | None = None) -> None:
        self.credentials: dict[str, Credential] = dict(credentials)
        self.nonces = NonceCache()
        self._now = now or time.time
        """The emulator's clock, for STS expiry (signature timestamps use wall time)."""

    def verify(self, method: str, parameters: Mapping[str, str], version: str = API_VERSION) -> Credential:
        """Check a v1.0 request (its parameters, query and form body together) for API `version`."""
        for name in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "SignatureMethod"):
            if not parameters.get(name):
                raise errors.missing_parameter(name)
        self._check_common(parameters, version)
        credential = self._credential(parameters["AccessKeyId"])
        expected_string = string_to_sign(method, parameters)
        expected = sign(credential.access_key_secret, expected_string)
        if not hmac.compare_digest(expected, parameters["Signature"]):
            shown = expected_string
            if parameters.get("SecurityToken") or any(name.endswith("Password") for name in parameters):
                shown = redacted_string_to_sign(method, parameters)
            raise EciError(
                errors.SIGNATURE_DOES_NOT_MATCH,
                f"Specified signature is not matched with our calculation. server string to sign is:{shown}",
                400,
            )
        self._check_security_token(credential, parameters.get("SecurityToken"))
        self._check_timestamp(parameters["Timestamp"])
        if not self.nonces.check_and_add(parameters["SignatureNonce"]):
            raise EciError(errors.SIGNATURE_NONCE_USED, "Specified signature nonce was used already.", 400)
        return credential

    def verify_v3(self, request: SignedRequest, version: str = API_VERSION) -> Credential:
        """Check an `ACS3-HMAC-SHA256` request for API `version` (x-acs-version)."""
        authorization = request.header("authorization") or ""
        match = _AUTHORIZATION.fullmatch(authorization.strip())
        if match is None:
            raise EciError(
                errors.INCOMPLETE_SIGNATURE,
                "The Authorization header must be like 'ACS3-HMAC-SHA256 Credential=<AccessKeyId>,"
                "SignedHeaders=<names>,Signature=<hex>'.",
                400,
            )
        if match["algorithm"] != ACS3_HMAC_SHA256:
            raise EciError(
                errors.UNSUPPORTED_SIGNATURE_METHOD,
                f"Specified signature method {match['algorithm']!r} is not supported.",
                400,
            )
        for name in ("x-acs-signature-nonce", "x-acs-date", "x-acs-content-sha256"):
            if not request.header(name):
                raise errors.missing_parameter(name)
        sent_version = request.header("x-acs-version")
        if not sent_version:
            raise errors.missing_parameter("x-acs-version")
        if sent_version != version:
            raise EciError(
                errors.INVALID_VERSION, f"Specified parameter Version is not valid: {sent_version}.", 400
            )
        signed_headers = match["headers"].split(";") if match["headers"] else []
        if signed_headers != sorted({name.lower() for name in signed_headers}):
            raise EciError(
                errors.INCOMPLETE_SIGNATURE,
                "SignedHeaders must be the lowercase header names, sorted, each once, joined by ';'.",
                400,
            )
        unsigned = [
            name
            for name in request.headers
            if (name == "host" or name.startswith("x-acs-")) and name not in signed_headers
        ]
        if unsigned:
            raise EciError(
                errors.INCOMPLETE_SIGNATURE,
                f"The header(s) {', '.join(sorted(unsigned))} must be signed (listed in SignedHeaders).",
                400,
            )
        missing = [name for name in signed_headers if name not in request.headers]
        if missing:
            raise EciError(
                errors.INCOMPLETE_SIGNATURE,
                f"The signed header(s) {', '.join(missing)} are not in the request.",
                400,
            )
        credential = self._credential(match["key"])
        canonical = canonical_request_v3(
            request.method,
            request.path,
            request.query,
            request.headers,
            signed_headers,
            sha256_hex(request.body),
        )
        expected_string = string_to_sign_v3(canonical)
        expected = sign_v3(credential.access_key_secret, expected_string)
        if not hmac.compare_digest(expected, match["signature"]):
            raise EciError(
                errors.SIGNATURE_DOES_NOT_MATCH,
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{expected_string}",
                400,
            )
        self._check_security_token(credential, request.header("x-acs-security-token"))
        self._check_timestamp(request.header("x-acs-date") or "")
        if not self.nonces.check_and_add(request.header("x-acs-signature-nonce") or ""):
            raise EciError(errors.SIGNATURE_NONCE_USED, "Specified signature nonce was used already.", 400)
        return credential

    def _credential(self, access_key_id: str) -> Credential:
        credential = self.credentials.get(access_key_id)
        if credential is None:
            raise EciError(errors.ACCESS_KEY_NOT_FOUND, "Specified access key is not found.", 404)
        return credential

    @staticmethod
    def _check_common(parameters: Mapping[str, str], expected_version: str) -> None:
        version = parameters.get("Version")
        if version is None:
            raise errors.missing_parameter("Version")
        if version != expected_version:
            raise EciError(
                errors.INVALID_VERSION, f"Specified parameter Version is not valid: {version}.", 400
            )
        accept_format = parameters.get("Format", "JSON")
        if accept_format.upper() != "JSON":
            raise errors.invalid_parameter(
                f"The emulator answers only Format=JSON; the request asked for {accept_format!r}."
            )
        if parameters["SignatureMethod"] != "HMAC-SHA1":
            raise EciError(
                errors.UNSUPPORTED_SIGNATURE_METHOD,
                f"Specified signature method {parameters['SignatureMethod']!r} is not supported.",
                400,
            )
        signature_version = parameters.get("SignatureVersion")
        if signature_version != "1.0":
            raise EciError(
                errors.UNSUPPORTED_SIGNATURE_VERSION,
                f"Specified signature version {signature_version!r} is not supported.",
                400,
            )

    @staticmethod
    def _check_timestamp(timestamp: str) -> None:
        try:
            sent_at = calendar.timegm(time.strptime(timestamp, TIMESTAMP_FORMAT))
        except ValueError:
            raise EciError(
                errors.TIMESTAMP_FORMAT,
                f"Specified time stamp {timestamp!r} is not in the format yyyy-MM-ddTHH:mm:ssZ.",
                400,
            ) from None
        if abs(time.time() - sent_at) > MAX_CLOCK_SKEW_SECONDS:
            raise EciError(errors.TIMESTAMP_EXPIRED, "Specified time stamp or date value is expired.", 400)

    def _check_security_token(self, credential: Credential, token: str | None) -> None:
        if credential.security_token is None:
            return
        if not token:
            raise EciError(
                errors.MISSING_SECURITY_TOKEN, "SecurityToken is mandatory for this STS access key.", 400
            )
        if not hmac.compare_digest(token.encode(), credential.security_token.encode()):
            raise EciError(
                errors.INVALID_SECURITY_TOKEN, "Specified SecurityToken mismatch with the AccessKey.", 400
            )
        if credential.expires_at is not None and self._now() >= credential.expires_at:
            raise EciError(errors.SECURITY_TOKEN_EXPIRED, "Specified SecurityToken is expired.", 400)
