"""Request authentication as the ECI gateway does it: signature v1.0 (HMAC-SHA1), timestamps, nonces, STS."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from eci_emulator import errors
from eci_emulator.errors import EciError

API_VERSION = "2018-08-08"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_CLOCK_SKEW_SECONDS = 15 * 60


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


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None
    """When set, the key is an STS key and every request must carry this SecurityToken."""


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

    def __init__(self, credentials: Mapping[str, Credential]) -> None:
        self.credentials: dict[str, Credential] = dict(credentials)
        self.nonces = NonceCache()

    def verify(self, method: str, parameters: Mapping[str, str]) -> Credential:
        for name in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "SignatureMethod"):
            if not parameters.get(name):
                raise errors.missing_parameter(name)
        self._check_common(parameters)
        access_key_id = parameters["AccessKeyId"]
        credential = self.credentials.get(access_key_id)
        if credential is None:
            raise EciError(errors.ACCESS_KEY_NOT_FOUND, "Specified access key is not found.", 404)
        expected_string = string_to_sign(method, parameters)
        expected = sign(credential.access_key_secret, expected_string)
        if not hmac.compare_digest(expected, parameters["Signature"]):
            raise EciError(
                errors.SIGNATURE_DOES_NOT_MATCH,
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{expected_string}",
                400,
            )
        self._check_security_token(credential, parameters.get("SecurityToken"))
        self._check_timestamp(parameters["Timestamp"])
        if not self.nonces.check_and_add(parameters["SignatureNonce"]):
            raise EciError(errors.SIGNATURE_NONCE_USED, "Specified signature nonce was used already.", 400)
        return credential

    @staticmethod
    def _check_common(parameters: Mapping[str, str]) -> None:
        version = parameters.get("Version")
        if version is None:
            raise errors.missing_parameter("Version")
        if version != API_VERSION:
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

    @staticmethod
    def _check_security_token(credential: Credential, token: str | None) -> None:
        if credential.security_token is None:
            return
        if not token:
            raise EciError(
                errors.MISSING_SECURITY_TOKEN, "SecurityToken is mandatory for this STS access key.", 400
            )
        if not hmac.compare_digest(token, credential.security_token):
            raise EciError(
                errors.INVALID_SECURITY_TOKEN, "Specified SecurityToken mismatch with the AccessKey.", 400
            )
