"""Alibaba Cloud credentials: where the operator's identity comes from, and the values to sign with now.

A `CredentialSource` says where credentials come from (read and validated without any I/O, from the
environment with `source_from_env` or from a Kubernetes Secret's keys with `source_from_mapping`);
`open_credentials` turns it into a live `Credentials` object:

- `current()` gives the values to sign the next request with. It is cheap: STS credentials are fetched
  again ahead of their expiry (a third of their lifetime ahead, at most 15 minutes), AccessKey files are
  read again when they change (checked at most once a second);
- `refresh(rejected)` is for when the cloud refused `rejected`: it fetches or reads again at once and
  gives what to retry with (the same values when nothing newer can be had: then do not retry);
- `identity` (an AccessKey id or a role ARN) and `description` say who the operator is, for logs and
  status; no secret is ever part of them, of a repr, or of an error message.

STS calls (AssumeRoleWithOIDC for RRSA, AssumeRole for a RAM role) go through `alibabacloud-credentials`.
Its own cache refreshes 15 minutes before expiry, which with short sessions means at every call, so
each fetch here uses a new provider (one STS call, the OIDC token file read afresh) and the schedule is
ours. Everything here is thread-safe: the ECI client signs in worker threads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acr_eci_operator import metrics
from acr_eci_operator.errors import OperatorError
from acr_eci_operator.settings import SettingsError, parse_endpoint

logger = logging.getLogger(__name__)

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
ENV_SECURITY_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"
ENV_CREDENTIALS_DIR = "ACR_ECI_CREDENTIALS_DIR"
ENV_ROLE_ARN = "ALIBABA_CLOUD_ROLE_ARN"
ENV_OIDC_PROVIDER_ARN = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
ENV_OIDC_TOKEN_FILE = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"
ENV_ROLE_SESSION_NAME = "ALIBABA_CLOUD_ROLE_SESSION_NAME"
ENV_STS_ENDPOINT = "ALIBABA_CLOUD_STS_ENDPOINT"

KEY_ACCESS_KEY_ID = "accessKeyId"
KEY_ACCESS_KEY_SECRET = "accessKeySecret"
KEY_SECURITY_TOKEN = "securityToken"
KEY_ROLE_ARN = "roleArn"
KEY_ROLE_SESSION_NAME = "roleSessionName"
MAPPING_KEYS = (
    KEY_ACCESS_KEY_ID,
    KEY_ACCESS_KEY_SECRET,
    KEY_SECURITY_TOKEN,
    KEY_ROLE_ARN,
    KEY_ROLE_SESSION_NAME,
)
"""The keys of a credentials Secret, and the file names in ACR_ECI_CREDENTIALS_DIR (the first three)."""
FILE_KEYS = (KEY_ACCESS_KEY_ID, KEY_ACCESS_KEY_SECRET, KEY_SECURITY_TOKEN)

DEFAULT_STS_HOST = "sts.aliyuncs.com"
DEFAULT_SESSION_NAME = "acr-eci-operator"
SESSION_SECONDS = 3600
"""The session length asked of STS (its minimum is 900); STS may give less, and the schedule follows
what it gives."""
REFRESH_MARGIN_CAP = 900.0
"""STS credentials are fetched again a third of their lifetime before they expire, at most this early."""
RETRY_AFTER_FAILED_REFRESH = 10.0
FILE_CHECK_INTERVAL = 1.0
STS_CONNECT_TIMEOUT_MS = 5000
STS_READ_TIMEOUT_MS = 10000

ROLE_ARN = re.compile(r"^acs:ram::[0-9A-Za-z*]+:role/[\w.@+=,/-]+$")
OIDC_PROVIDER_ARN = re.compile(r"^acs:ram::[0-9A-Za-z*]+:oidc-provider/[\w.@+=,/-]+$")
SESSION_NAME = re.compile(r"^[\w.@-]{2,64}$")
PRINTABLE = re.compile(r"^[\x21-\x7e]+$")
"""AccessKey ids and secrets are printable ASCII without spaces."""


def silence_library_logging() -> None:
    """alibabacloud-credentials logs to its own stderr handler (at WARNING for every short-lived session,
    and whole STS answers at DEBUG); Tea logs requests at DEBUG. Our own log lines say what matters."""
    for name in ("credentials", "alibabacloud-tea"):
        library_logger = logging.getLogger(name)
        library_logger.disabled = True
        library_logger.propagate = False
        library_logger.handlers.clear()


# ---------------------------------------------------------------------------------------------- errors


class CredentialsError(OperatorError):
    """Credentials could not be had (an STS call failed, a file is unreadable or malformed, a Secret's
    key is wrong). Retryable unless the configuration itself must change."""

    def __init__(self, reason: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(reason, message, retryable=retryable)


class _Invalid(ValueError):
    """A configuration value is missing or malformed; `name` is the variable, key or file."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


# ---------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class CredentialValues:
    """One set of values to sign with. Only the id is in the repr."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    expiration: float | None = None
    """STS credentials: when they expire (seconds since the epoch, as STS says)."""


@dataclass(frozen=True)
class StsEndpoint:
    """Where STS is: `host[:port]`, over https (http only for a local emulator)."""

    host: str = DEFAULT_STS_HOST
    protocol: str = "https"

    def for_library(self) -> str:
        # alibabacloud-credentials 1.0 always builds https://<endpoint>; an endpoint that carries its
        # scheme is taken as the URL's start (Tea's compose_url), which is how http reaches an emulator.
        return self.host if self.protocol == "https" else f"{self.protocol}://{self.host}"

    def __str__(self) -> str:
        return f"{self.protocol}://{self.host}"


# ---------------------------------------------------------------------------------------------- sources

KIND_ACCESS_KEY = "AccessKey"
KIND_ACCESS_KEY_FILES = "AccessKey files"
KIND_STS_TOKEN = "STS token"
KIND_OIDC_ROLE = "RRSA (AssumeRoleWithOIDC)"
KIND_RAM_ROLE = "RAM role (AssumeRole)"


@dataclass(frozen=True)
class CredentialSource:
    """Where credentials come from: validated configuration, no I/O. Secrets are not in the repr."""

    kind: str
    access_key_id: str | None = None
    access_key_secret: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    directory: str | None = None
    role_arn: str | None = None
    role_session_name: str = DEFAULT_SESSION_NAME
    oidc_provider_arn: str | None = None
    oidc_token_file: str | None = None
    sts_endpoint: StsEndpoint = StsEndpoint()
    base: CredentialSource | None = None
    """A RAM role's base identity: the AccessKey (or STS token, or files) that assumes the role."""
    origin: str = "environment"

    @property
    def identity(self) -> str:
        """Who the operator is, for logs and status: the role ARN, or the AccessKey id (files: read when
        opened, see `Credentials.identity`)."""
        return (
            self.role_arn
            or self.access_key_id
            or (f"AccessKey in {self.directory}" if self.directory else "")
        )

    def describe(self) -> str:
        """One line for the start-up log; never a secret."""
        if self.kind == KIND_ACCESS_KEY_FILES:
            return f"{self.kind} in {self.directory}"
        if self.kind in (KIND_ACCESS_KEY, KIND_STS_TOKEN):
            return f"{self.kind} {self.access_key_id} from the {self.origin}"
        text = f"{self.kind}: role {self.role_arn}, session {self.role_session_name}, STS {self.sts_endpoint}"
        if self.kind == KIND_OIDC_ROLE:
            text += f", OIDC provider {self.oidc_provider_arn}, token file {self.oidc_token_file}"
        if self.base is not None:
            text += f", as {self.base.describe()}"
        return text


def _value(data: Mapping[str, str], name: str) -> str | None:
    value = (data.get(name) or "").strip()
    return value or None


def _printable(name: str, value: str | None) -> str | None:
    if value is not None and not PRINTABLE.match(value):
        # Never quote the value: it may be a secret.
        raise _Invalid(name, f"{name} holds spaces or characters that are not printable ASCII")
    return value


def _pattern(name: str, value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
    if value is not None and not pattern.match(value):
        raise _Invalid(name, f"{name}={value!r} is not {what}")
    return value


def sts_endpoint_from(name: str, raw: str | None) -> StsEndpoint:
    if not raw:
        return StsEndpoint()
    try:
        host, protocol = parse_endpoint(name, raw)
    except SettingsError as error:
        raise _Invalid(name, str(error)) from None
    return StsEndpoint(host or DEFAULT_STS_HOST, protocol)


def _source_from_env(env: Mapping[str, str]) -> CredentialSource:
    key_id = _printable(ENV_ACCESS_KEY_ID, _value(env, ENV_ACCESS_KEY_ID))
    key_secret = _printable(ENV_ACCESS_KEY_SECRET, _value(env, ENV_ACCESS_KEY_SECRET))
    token = _printable(ENV_SECURITY_TOKEN, _value(env, ENV_SECURITY_TOKEN))
    directory = _value(env, ENV_CREDENTIALS_DIR)
    role_arn = _pattern(
        ENV_ROLE_ARN, _value(env, ENV_ROLE_ARN), ROLE_ARN, "a RAM role ARN (acs:ram::<uid>:role/<name>)"
    )
    provider_arn = _pattern(
        ENV_OIDC_PROVIDER_ARN,
        _value(env, ENV_OIDC_PROVIDER_ARN),
        OIDC_PROVIDER_ARN,
        "an OIDC provider ARN (acs:ram::<uid>:oidc-provider/<name>)",
    )
    token_file = _value(env, ENV_OIDC_TOKEN_FILE)
    session = _pattern(
        ENV_ROLE_SESSION_NAME,
        _value(env, ENV_ROLE_SESSION_NAME),
        SESSION_NAME,
        "a session name (2-64 letters, digits, '.', '@', '-', '_')",
    )
    sts = sts_endpoint_from(ENV_STS_ENDPOINT, _value(env, ENV_STS_ENDPOINT))

    base: CredentialSource | None = None
    if directory and (key_id or key_secret):
        raise _Invalid(
            ENV_CREDENTIALS_DIR,
            f"set either {ENV_CREDENTIALS_DIR} or {ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET}, not both",
        )
    if key_id or key_secret:
        if not key_id:
            raise _Invalid(ENV_ACCESS_KEY_ID, f"{ENV_ACCESS_KEY_ID} is required with {ENV_ACCESS_KEY_SECRET}")
        if not key_secret:
            raise _Invalid(
                ENV_ACCESS_KEY_SECRET, f"{ENV_ACCESS_KEY_SECRET} is required with {ENV_ACCESS_KEY_ID}"
            )
        base = CredentialSource(
            KIND_STS_TOKEN if token else KIND_ACCESS_KEY,
            access_key_id=key_id,
            access_key_secret=key_secret,
            security_token=token,
        )
    elif token:
        raise _Invalid(
            ENV_SECURITY_TOKEN,
            f"{ENV_SECURITY_TOKEN} needs {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} (with "
            f"{ENV_CREDENTIALS_DIR}, put it in the file {KEY_SECURITY_TOKEN})",
        )
    elif directory:
        base = CredentialSource(KIND_ACCESS_KEY_FILES, directory=directory)

    if base is not None and not role_arn:
        if provider_arn or token_file:
            logger.debug(
                "%s and %s are ignored: an AccessKey is configured",
                ENV_OIDC_PROVIDER_ARN,
                ENV_OIDC_TOKEN_FILE,
            )
        return base
    oidc = {ENV_ROLE_ARN: role_arn, ENV_OIDC_PROVIDER_ARN: provider_arn, ENV_OIDC_TOKEN_FILE: token_file}
    if provider_arn or token_file:
        missing = [name for name, value in oidc.items() if not value]
        if missing:
            raise _Invalid(missing[0], f"RRSA needs {', '.join(oidc)}: {', '.join(missing)} not set")
        return CredentialSource(
            KIND_OIDC_ROLE,
            role_arn=role_arn,
            oidc_provider_arn=provider_arn,
            oidc_token_file=token_file,
            role_session_name=session or DEFAULT_SESSION_NAME,
            sts_endpoint=sts,
        )
    if role_arn and base is not None:
        return CredentialSource(
            KIND_RAM_ROLE,
            role_arn=role_arn,
            role_session_name=session or DEFAULT_SESSION_NAME,
            sts_endpoint=sts,
            base=base,
        )
    if role_arn:
        raise _Invalid(
            ENV_ROLE_ARN,
            f"{ENV_ROLE_ARN} needs {ENV_OIDC_PROVIDER_ARN} and {ENV_OIDC_TOKEN_FILE} (RRSA), or an AccessKey "
            f"({ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} or {ENV_CREDENTIALS_DIR}) to assume the role with",
        )
    raise _Invalid(
        ENV_ACCESS_KEY_ID,
        f"no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or {ENV_CREDENTIALS_DIR}, or "
        f"{ENV_ROLE_ARN} with {ENV_OIDC_PROVIDER_ARN} and {ENV_OIDC_TOKEN_FILE} (RRSA)",
    )


def source_from_env(env: Mapping[str, str]) -> CredentialSource:
    """Where the operator's credentials come from, in this order: an AccessKey (the pair in the
    environment, or files in ACR_ECI_CREDENTIALS_DIR; with ALIBABA_CLOUD_SECURITY_TOKEN or a
    securityToken file an STS token); RRSA (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN,
    ALIBABA_CLOUD_OIDC_TOKEN_FILE); a RAM role assumed with that AccessKey (ALIBABA_CLOUD_ROLE_ARN with an
    AccessKey). Raises SettingsError naming the variable."""
    try:
        return _source_from_env(env)
    except _Invalid as error:
        raise SettingsError(str(error)) from None


def _source_from_mapping(data: Mapping[str, str], sts_endpoint: StsEndpoint, origin: str) -> CredentialSource:
    unknown = sorted(set(data) - set(MAPPING_KEYS))
    if unknown:
        raise _Invalid(unknown[0], f"unknown key {unknown[0]!r} (known: {', '.join(MAPPING_KEYS)})")
    values = {key: _value(data, key) for key in MAPPING_KEYS}
    for key in (KEY_ACCESS_KEY_ID, KEY_ACCESS_KEY_SECRET, KEY_SECURITY_TOKEN):
        _printable(key, values[key])
    for key in (KEY_ACCESS_KEY_ID, KEY_ACCESS_KEY_SECRET):
        if not values[key]:
            raise _Invalid(key, f"key {key!r} is required")
    role_arn = _pattern(
        KEY_ROLE_ARN, values[KEY_ROLE_ARN], ROLE_ARN, "a RAM role ARN (acs:ram::<uid>:role/<name>)"
    )
    session = _pattern(
        KEY_ROLE_SESSION_NAME,
        values[KEY_ROLE_SESSION_NAME],
        SESSION_NAME,
        "a session name (2-64 letters, digits, '.', '@', '-', '_')",
    )
    if session and not role_arn:
        raise _Invalid(KEY_ROLE_SESSION_NAME, f"key {KEY_ROLE_SESSION_NAME!r} needs {KEY_ROLE_ARN!r}")
    token = values[KEY_SECURITY_TOKEN]
    base = CredentialSource(
        KIND_STS_TOKEN if token else KIND_ACCESS_KEY,
        access_key_id=values[KEY_ACCESS_KEY_ID],
        access_key_secret=values[KEY_ACCESS_KEY_SECRET],
        security_token=token,
        origin=origin,
    )
    if not role_arn:
        return base
    return CredentialSource(
        KIND_RAM_ROLE,
        role_arn=role_arn,
        role_session_name=session or DEFAULT_SESSION_NAME,
        sts_endpoint=sts_endpoint,
        base=base,
        origin=origin,
    )


def source_from_mapping(
    data: Mapping[str, str], *, sts_endpoint: StsEndpoint | None = None, origin: str = "Secret"
) -> CredentialSource:
    """Credentials from a Kubernetes Secret's keys (decoded): accessKeyId and accessKeySecret (required),
    securityToken, roleArn (assume that RAM role with the AccessKey) and roleSessionName. Raises
    CredentialsError (reason InvalidCredentials, not retryable) naming the key; never quotes a secret."""
    try:
        return _source_from_mapping(data, sts_endpoint or StsEndpoint(), origin)
    except _Invalid as error:
        raise CredentialsError("InvalidCredentials", f"{origin}: {error}", retryable=False) from None


# ---------------------------------------------------------------------------------------------- live


class Credentials:
    """The live credentials of one identity (see the module's docstring)."""

    def __init__(self, source: CredentialSource) -> None:
        self.source = source
        self.refreshes = 0
        """How many times newer values were taken after the first (STS fetches, files read again)."""
        self._lock = threading.Lock()
        self._values: CredentialValues | None = None
        self._seen_secrets: list[str] = []

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def identity(self) -> str:
        """The role ARN or the AccessKey id in use: for status and logs, never a secret."""
        if self.source.role_arn:
            return self.source.role_arn
        values = self._values
        return values.access_key_id if values is not None else self.source.identity

    @property
    def description(self) -> str:
        return self.source.describe()

    def current(self) -> CredentialValues:
        raise NotImplementedError

    def refresh(self, rejected: CredentialValues | None = None) -> CredentialValues:
        """Get newer values than `rejected` (which the cloud refused) if there are any; the same values
        when nothing newer can be had."""
        return self.current()

    def secrets(self) -> list[str]:
        """Every secret value these credentials held (for scrubbing messages), newest first."""
        return list(self._seen_secrets)

    def _take(self, values: CredentialValues, why: str) -> CredentialValues:
        previous = self._values
        self._values = values
        for secret in (values.security_token, values.access_key_secret):
            if secret and secret not in self._seen_secrets:
                self._seen_secrets.insert(0, secret)
        del self._seen_secrets[8:]
        if previous is not None and previous != values:
            self.refreshes += 1
            metrics.credential_refreshed(self.kind)
            logger.info(
                "credentials refreshed (%s): %s, key %s%s",
                why,
                self.kind,
                values.access_key_id,
                _valid_for(values),
            )
        return values


def _valid_for(values: CredentialValues) -> str:
    if values.expiration is None:
        return ""
    return f", valid for {values.expiration - time.time():.0f}s"


class StaticCredentials(Credentials):
    """An AccessKey or STS token given once (environment or Secret): nothing to refresh."""

    def __init__(self, source: CredentialSource) -> None:
        super().__init__(source)
        assert source.access_key_id and source.access_key_secret
        self._take(
            CredentialValues(source.access_key_id, source.access_key_secret, source.security_token), "given"
        )

    def current(self) -> CredentialValues:
        assert self._values is not None
        return self._values


class FileCredentials(Credentials):
    """An AccessKey (and optional STS token) in files, read again when they change.

    Kubernetes updates a Secret volume by writing a new timestamped directory and swapping the `..data`
    symlink the file names point through: a change shows as another inode (os.stat follows the links),
    and all files change at once. Checked at most once a second, and at once after a refusal."""

    def __init__(self, source: CredentialSource, check_interval: float = FILE_CHECK_INTERVAL) -> None:
        super().__init__(source)
        assert source.directory
        self.directory = Path(source.directory)
        self.check_interval = check_interval
        self._signature: tuple[Any, ...] | None = None
        with self._lock:
            self._reload("read")
        self._checked = time.monotonic()  # just read: the next check is due one interval from now

    def _stat_signature(self) -> tuple[Any, ...]:
        signature: list[Any] = []
        for name in FILE_KEYS:
            try:
                stat = os.stat(self.directory / name)
            except OSError:
                signature.append(None)
            else:
                signature.append((stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def _read(self) -> CredentialValues:
        found: dict[str, str | None] = {}
        for name in FILE_KEYS:
            path = self.directory / name
            try:
                found[name] = path.read_text(encoding="utf-8").strip() or None
            except FileNotFoundError:
                found[name] = None
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
                raise CredentialsError("InvalidCredentials", f"cannot read {path}: {reason}") from None
        try:
            for name in FILE_KEYS:
                _printable(f"{self.directory / name}", found[name])
            for name in (KEY_ACCESS_KEY_ID, KEY_ACCESS_KEY_SECRET):
                if not found[name]:
                    raise _Invalid(name, f"{self.directory / name} is missing or empty")
        except _Invalid as error:
            raise CredentialsError("InvalidCredentials", str(error)) from None
        key_id, key_secret = found[KEY_ACCESS_KEY_ID], found[KEY_ACCESS_KEY_SECRET]
        assert key_id and key_secret
        return CredentialValues(key_id, key_secret, found[KEY_SECURITY_TOKEN])

    def _reload(self, why: str) -> CredentialValues:
        signature = self._stat_signature()
        try:
            values = self._read()
        except CredentialsError as error:
            if self._values is None:
                raise
            if signature != self._signature:
                logger.warning(
                    "credential files changed but cannot be used (the last ones are kept): %s", error.message
                )
                self._signature = signature
            return self._values
        self._signature = signature
        return self._take(values, why)

    def current(self) -> CredentialValues:
        now = time.monotonic()
        with self._lock:
            if now - self._checked >= self.check_interval:
                self._checked = now
                if self._stat_signature() != self._signature:
                    self._reload("files changed")
            assert self._values is not None
            return self._values

    def refresh(self, rejected: CredentialValues | None = None) -> CredentialValues:
        with self._lock:
            self._checked = time.monotonic()
            if self._values is not None and self._values != rejected:
                return self._values
            return self._reload("refused")


class StsCredentials(Credentials):
    """Short-lived credentials from STS, fetched with `fetch` (one STS call each time) and fetched again
    before they expire: a third of their lifetime ahead (at most 15 minutes ahead), so a 60 s session is
    renewed after 40 s. While one thread fetches, the others sign with the values still valid."""

    def __init__(self, source: CredentialSource, fetch: Callable[[], CredentialValues]) -> None:
        super().__init__(source)
        self._fetch = fetch
        self._refresh_at = 0.0
        self._valid_until = 0.0
        """When the values held expire by our clock: their expiration, or, when our clock is already past
        it, a short while (STS judges)."""

    def _due(self, now: float) -> bool:
        return now >= self._refresh_at or not self._valid(now)

    def _valid(self, now: float) -> bool:
        return self._values is not None and now < self._valid_until

    def current(self) -> CredentialValues:
        now = time.time()
        if not self._due(now):
            assert self._values is not None
            return self._values
        if self._lock.acquire(blocking=False):
            try:
                if self._due(time.time()):
                    return self._renew("ahead of expiry", force=False)
            finally:
                self._lock.release()
        elif self._valid(now):
            assert self._values is not None
            return self._values  # another thread is fetching; these still work
        with self._lock:
            if self._due(time.time()):
                return self._renew("ahead of expiry", force=False)
        assert self._values is not None
        return self._values

    def refresh(self, rejected: CredentialValues | None = None) -> CredentialValues:
        with self._lock:
            if self._values is not None and self._values != rejected:
                return self._values
            return self._renew("refused", force=True)

    def _renew(self, why: str, force: bool) -> CredentialValues:
        """Fetch (the lock is held). On failure keep values that are still valid and try again soon."""
        try:
            values = self._fetch()
        except CredentialsError as error:
            now = time.time()
            if not force and self._valid(now):
                assert self._values is not None
                left = self._valid_until - now
                self._refresh_at = now + min(RETRY_AFTER_FAILED_REFRESH, max(1.0, left / 4))
                logger.warning(
                    "could not refresh the credentials (%s; the current ones are valid for %.0fs more): %s",
                    self.kind,
                    left,
                    error,
                )
                return self._values
            raise
        now = time.time()
        left = (values.expiration if values.expiration is not None else now + SESSION_SECONDS) - now
        if left <= 0:
            # Our clock is ahead of STS's: use them (STS judges), and ask again soon.
            self._valid_until = self._refresh_at = now + RETRY_AFTER_FAILED_REFRESH
        else:
            self._valid_until = now + left
            self._refresh_at = now + left - min(REFRESH_MARGIN_CAP, left / 3)
        if self._values is None:
            logger.info(
                "credentials obtained: %s, key %s%s", self.kind, values.access_key_id, _valid_for(values)
            )
        return self._take(values, why)


# ---------------------------------------------------------------------------------------------- STS


STS_FAILURE = re.compile(r"http_code:\s*(\d+),\s*result:\s*(.*)$", re.DOTALL)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _sts_error(
    action: str, source: CredentialSource, error: Exception, secrets: Iterable[str]
) -> CredentialsError:
    """An STS failure as a CredentialsError carrying STS's code (or the kind of transport failure),
    without any credential or OIDC token."""
    where = f"STS {action} at {source.sts_endpoint} for role {source.role_arn}"
    text = str(error)
    match = STS_FAILURE.search(text)
    if match:
        status = match.group(1)
        try:
            body = json.loads(match.group(2))
        except ValueError:
            body = {}
        code = str(body.get("Code") or f"Sts.Http{status}") if isinstance(body, dict) else f"Sts.Http{status}"
        message = str(body.get("Message") or "") if isinstance(body, dict) else ""
        message = _scrub(message, secrets)[:300]
        return CredentialsError(code, f"{where} refused ({status}): {message}".rstrip(": "))
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return CredentialsError(
            "OIDCTokenUnreadable",
            f"cannot read the OIDC token file {source.oidc_token_file}: {error.strerror}",
        )
    name = type(error).__name__
    if name == "RetryError" or isinstance(error, OSError):
        lowered = text.lower()
        kind = "timed out" if "timed out" in lowered or "timeout" in lowered else "connection failed"
        if "refused" in lowered:
            kind = "connection refused"
        return CredentialsError("Sts.Unreachable", f"{where}: {kind}")
    return CredentialsError("Sts.Failed", f"{where}: {name}: {_scrub(text, secrets)[:300]}")


def _from_library(credentials: Any) -> CredentialValues:
    expiration = credentials.get_expiration()
    return CredentialValues(
        str(credentials.get_access_key_id()),
        str(credentials.get_access_key_secret()),
        credentials.get_security_token() or None,
        float(expiration) if expiration else None,
    )


def _session_options(source: CredentialSource) -> dict[str, Any]:
    """What every STS provider of the library is given: the session length, the endpoint, time-outs."""
    from alibabacloud_credentials.http import HttpOptions

    return {
        "duration_seconds": SESSION_SECONDS,
        "sts_endpoint": source.sts_endpoint.for_library(),
        "http_options": HttpOptions(connect_timeout=STS_CONNECT_TIMEOUT_MS, read_timeout=STS_READ_TIMEOUT_MS),
    }


def _oidc_fetch(source: CredentialSource) -> Callable[[], CredentialValues]:
    from alibabacloud_credentials.provider import OIDCRoleArnCredentialsProvider

    silence_library_logging()

    def fetch() -> CredentialValues:
        token = ""
        try:
            token = Path(source.oidc_token_file or "").read_text(errors="replace").strip()
            # A new provider each time: its first call always asks STS and reads the token file afresh.
            provider = OIDCRoleArnCredentialsProvider(
                role_arn=source.role_arn,
                oidc_provider_arn=source.oidc_provider_arn,
                oidc_token_file_path=source.oidc_token_file,
                role_session_name=source.role_session_name,
                **_session_options(source),
            )
            return _from_library(provider.get_credentials())
        except Exception as error:  # the library raises plain Exceptions, ValueErrors and IOErrors
            raise _sts_error("AssumeRoleWithOIDC", source, error, [token]) from None

    return fetch


def _ram_role_fetch(source: CredentialSource, base: Credentials) -> Callable[[], CredentialValues]:
    from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider
    from alibabacloud_credentials.provider.refreshable import Credentials as LibraryCredentials
    from alibabacloud_credentials_api import ICredentialsProvider

    silence_library_logging()

    class BaseIdentity(ICredentialsProvider):  # type: ignore[misc]
        """The base identity's current values, for the library (files are followed when they change)."""

        def get_credentials(self) -> Any:
            values = base.current()
            return LibraryCredentials(
                access_key_id=values.access_key_id,
                access_key_secret=values.access_key_secret,
                security_token=values.security_token,
                provider_name="acr-eci-operator",
            )

        async def get_credentials_async(self) -> Any:
            return self.get_credentials()

        def get_provider_name(self) -> str:
            return "acr-eci-operator"

    def fetch() -> CredentialValues:
        try:
            provider = RamRoleArnCredentialsProvider(
                credentials_provider=BaseIdentity(),
                role_arn=source.role_arn,
                role_session_name=source.role_session_name,
                **_session_options(source),
            )
            return _from_library(provider.get_credentials())
        except CredentialsError:
            raise
        except Exception as error:
            raise _sts_error("AssumeRole", source, error, base.secrets()) from None

    return fetch


def open_credentials(source: CredentialSource) -> Credentials:
    """The live credentials of a source. AccessKey files are read at once (CredentialsError naming the
    file when they cannot be); STS is first called when credentials are first needed."""
    if source.kind in (KIND_ACCESS_KEY, KIND_STS_TOKEN):
        return StaticCredentials(source)
    if source.kind == KIND_ACCESS_KEY_FILES:
        return FileCredentials(source)
    if source.kind == KIND_OIDC_ROLE:
        return StsCredentials(source, _oidc_fetch(source))
    if source.kind == KIND_RAM_ROLE:
        assert source.base is not None
        return StsCredentials(source, _ram_role_fetch(source, open_credentials(source.base)))
    raise ValueError(f"unknown credential source kind {source.kind!r}")


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    """The operator's own credentials (see `source_from_env` for the order)."""
    return open_credentials(source_from_env(env))


def credentials_from_mapping(
    data: Mapping[str, str], *, sts_endpoint: StsEndpoint | None = None, origin: str = "Secret"
) -> Credentials:
    """Credentials from a Secret's keys (see `source_from_mapping`)."""
    return open_credentials(source_from_mapping(data, sts_endpoint=sts_endpoint, origin=origin))


__all__ = [
    "CredentialSource",
    "CredentialValues",
    "Credentials",
    "CredentialsError",
    "StsEndpoint",
    "credentials_from_env",
    "credentials_from_mapping",
    "open_credentials",
    "source_from_env",
    "source_from_mapping",
]
