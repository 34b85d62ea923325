"""The emulator's HTTP server: ECI and STS RPC on `/` (told apart by the API version: `Version` or the
`x-acs-version` header, 2018-08-08 for ECI, 2015-04-01 for STS; signature v1.0 or v3), the admin API under
`/_emulator/`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from eci_emulator import errors
from eci_emulator.backend import ACTIONS, Backend, new_request_id
from eci_emulator.clock import Clock, iso8601
from eci_emulator.errors import EciError
from eci_emulator.faults import Fault, FaultInjector
from eci_emulator.lifecycle import Timings
from eci_emulator.model import GroupSpec
from eci_emulator.placement import Capacity, StockRule
from eci_emulator.ratelimit import RateLimiter
from eci_emulator.registries import AcrInstance, PrivateRegistry, RegistryCatalog, parse_catalog
from eci_emulator.request_log import RequestLog, redact
from eci_emulator.signature import API_VERSION, Authenticator, Credential, SignedRequest
from eci_emulator.sts import (
    DEFAULT_AUDIENCE,
    DEFAULT_MAX_SESSION_DURATION,
    MIN_DURATION_SECONDS,
    STS_API_VERSION,
    STS_PARAMETERS,
    OidcProvider,
    Role,
    Sts,
    StsSettings,
)
from eci_emulator.validation import COMMON_PARAMETERS

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator/"
SAMPLE_CATALOG = "sample_acr_instances.yaml"
SAMPLE = "sample"
"""Pass as `acr_instances` to load the bundled sample registries."""

CatalogSource = str | os.PathLike[str] | Mapping[str, Any] | Iterable[AcrInstance] | None


def load_catalog_document(source: str | os.PathLike[str]) -> Mapping[str, Any]:
    document = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    if not isinstance(document, Mapping):
        raise ValueError(f"{source}: expected a mapping with acrInstances / privateRegistries")
    return document


def sample_catalog_document() -> Mapping[str, Any]:
    """The bundled copy of examples/emulator/acr-instances.yaml."""
    text = resources.files("eci_emulator").joinpath(SAMPLE_CATALOG).read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    assert isinstance(document, Mapping)
    return document


def _catalog_from(source: CatalogSource) -> tuple[list[AcrInstance], list[PrivateRegistry]]:
    if source is None:
        return [], []
    if source == SAMPLE:
        return parse_catalog(sample_catalog_document())
    if isinstance(source, str | os.PathLike):
        return parse_catalog(load_catalog_document(source))
    if isinstance(source, Mapping):
        return parse_catalog(source)
    return list(source), []


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (reset, broken pipe) gets one log line; anything else its traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.info("client %s hung up: %s", _address(client_address), error)
            return
        super().handle_error(request, client_address)


@dataclass(frozen=True)
class ApiRequest:
    """One RPC request as received: for signature v1.0 and v3 alike."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, Sequence[str]]
    """Lowercase header name -> every value received."""
    body: bytes
    parameters: dict[str, str]
    """The query and form-body parameters together."""

    @property
    def host(self) -> str:
        values = self.headers.get("host")
        return values[0] if values else ""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def v3(self) -> bool:
        """Signed with signature v3 (ACS3-*), the action and version in x-acs-* headers. aliyun-python-sdk-core
        sends x-acs-action and x-acs-version with its v1.0 requests too: those carry a Signature parameter."""
        if (self.header("authorization") or "").startswith("ACS3-"):
            return True
        return bool(self.header("x-acs-action")) and "Signature" not in self.parameters

    @property
    def action(self) -> str:
        return (self.header("x-acs-action") if self.v3 else self.parameters.get("Action")) or ""

    @property
    def version(self) -> str:
        return (self.header("x-acs-version") if self.v3 else self.parameters.get("Version")) or ""

    @property
    def access_key_id(self) -> str:
        if not self.v3:
            return self.parameters.get("AccessKeyId", "")
        authorization = self.header("authorization") or ""
        _, found, rest = authorization.partition("Credential=")
        return rest.split(",", 1)[0] if found else ""

    def signed(self) -> SignedRequest:
        return SignedRequest(self.method, self.path, self.query, self.headers, self.body)


def _address(client_address: Any) -> str:
    if isinstance(client_address, tuple) and len(client_address) >= 2:
        return f"{client_address[0]}:{client_address[1]}"
    return str(client_address)


class Emulator:
    """A strict, signature-checking ECI emulator serving HTTP from a background thread.

    access_keys: AccessKeyId -> AccessKeySecret accepted (default: none; every request is refused).
    security_tokens: AccessKeyId -> the STS SecurityToken that key must present.
    acr_instances: "sample" (the bundled copy of examples/emulator/acr-instances.yaml), a YAML file path, a
      parsed document (`acrInstances`, `privateRegistries`) or AcrInstance objects; None: no registries, so
      every image is public. strict=False accepts unknown parameter names (they are ignored).
    timings: phase lengths (Timings); the clock can be advanced with advance_clock() instead of waiting.
    rate_limits: action -> (rate per second, burst), over the documented defaults; rate_limiting=False
      turns flow control off.
    sts_roles / oidc_providers: what the emulated STS (AssumeRole, AssumeRoleWithOIDC) knows (see sts.py);
      sts_lifetime_seconds caps the lifetime of the credentials it issues (e.g. 60 in tests; None: as
      DurationSeconds asks), sts_min_duration_seconds is the smallest DurationSeconds accepted (900, as STS).
    """

    def __init__(
        self,
        access_keys: Mapping[str, str] | None = None,
        acr_instances: CatalogSource = None,
        timings: Timings | None = None,
        strict: bool = True,
        security_tokens: Mapping[str, str] | None = None,
        rate_limits: Mapping[str, tuple[float, float]] | None = None,
        rate_limiting: bool = True,
        fault_seed: int | None = None,
        sts_roles: Iterable[Role] | None = None,
        oidc_providers: Iterable[OidcProvider] | None = None,
        sts_lifetime_seconds: float | None = None,
        sts_min_duration_seconds: int = MIN_DURATION_SECONDS,
    ) -> None:
        tokens = dict(security_tokens or {})
        self.credentials = {
            key_id: Credential(key_id, secret, tokens.get(key_id))
            for key_id, secret in (access_keys or {}).items()
        }
        instances, registries = _catalog_from(acr_instances)
        self.catalog = RegistryCatalog(instances, registries)
        self.timings = timings or Timings()
        self.clock = Clock()
        self.capacity = Capacity(fault_seed)
        self.backend = Backend(self.catalog, self.timings, self.clock, strict, self.capacity)
        self.authenticator = Authenticator(self.credentials, self.clock.now)
        self.sts = Sts(self.clock, StsSettings(sts_lifetime_seconds, sts_min_duration_seconds))
        for role in sts_roles or ():
            self.sts.add_role(role)
        for provider in oidc_providers or ():
            self.sts.add_oidc_provider(provider)
        self._issued: dict[str, Credential] = {}
        self._issued_lock = threading.Lock()
        self.rate_limiter = RateLimiter(dict(rate_limits or {}), enabled=rate_limiting)
        self.faults = FaultInjector(fault_seed)
        self.request_log = RequestLog()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- life of the server ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        handler = _make_handler(self)
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="eci-emulator", daemon=True
        )
        self._thread.start()
        logger.info("ECI emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self if self._server is not None else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        assert self._server is not None, "the emulator is not started"
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        assert self._server is not None, "the emulator is not started"
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """host:port, for `request.set_endpoint(...)` with protocol http."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    # ---- in-process control (the admin HTTP API calls the same methods) ----------------------------

    def add_access_key(self, access_key_id: str, secret: str, security_token: str | None = None) -> None:
        credential = Credential(access_key_id, secret, security_token)
        self.credentials[access_key_id] = credential
        self.authenticator.credentials[access_key_id] = credential

    # ---- STS ------------------------------------------------------------------------------------------

    def add_role(
        self,
        role_arn: str,
        oidc_provider_arns: Iterable[str] = (),
        access_key_ids: Iterable[str] | None = None,
        max_session_duration: int = DEFAULT_MAX_SESSION_DURATION,
    ) -> None:
        """Let STS issue credentials for `role_arn` (acs:ram::<account>:role/<name>): by AssumeRoleWithOIDC
        with a token of one of `oidc_provider_arns`, by AssumeRole signed with one of `access_key_ids` (None:
        any key the emulator knows)."""
        self.sts.add_role(
            Role(
                role_arn,
                tuple(oidc_provider_arns),
                None if access_key_ids is None else tuple(access_key_ids),
                max_session_duration,
            )
        )

    def add_oidc_provider(
        self,
        provider_arn: str,
        tokens: Iterable[str] = (),
        accept_any_jwt: bool = False,
        client_ids: Iterable[str] = (DEFAULT_AUDIENCE,),
        issuer: str | None = None,
    ) -> None:
        """Register an OIDC provider (acs:ram::<account>:oidc-provider/<name>) that accepts exactly `tokens`
        (JWTs; more with add_oidc_token) or, with accept_any_jwt, any well-formed JWT; either way the token's
        `aud` must hold one of `client_ids`, its `exp` must not have passed and, when `issuer` is set, its
        `iss` must be that."""
        self.sts.add_oidc_provider(
            OidcProvider(provider_arn, set(tokens), accept_any_jwt, tuple(client_ids), issuer)
        )

    def add_oidc_token(self, provider_arn: str, token: str) -> None:
        """Make the provider accept `token` (KeyError for an unknown provider)."""
        self.sts.add_oidc_tokens(provider_arn, [token])

    def set_sts_lifetime(
        self, lifetime_seconds: float | None, min_duration_seconds: int | None = None
    ) -> dict[str, Any]:
        """Cap the lifetime of the credentials issued from now on (None: as DurationSeconds asks) and,
        optionally, set the smallest DurationSeconds accepted. Returns the STS settings."""
        settings = StsSettings(
            lifetime_seconds,
            self.sts.settings.min_duration_seconds if min_duration_seconds is None else min_duration_seconds,
        )
        self.sts.settings = settings
        return settings.to_dict()

    def sts_credentials(self) -> list[dict[str, Any]]:
        """Every credential STS issued (no secrets): AccessKeyId, RoleArn, RoleSessionName, Expiration (on
        the emulator's clock) and whether it has expired."""
        now = self.clock.now()
        with self._issued_lock:
            issued = list(self._issued.values())
        return [
            {
                "AccessKeyId": credential.access_key_id,
                "RoleArn": credential.role_arn,
                "RoleSessionName": credential.role_session_name,
                "Expiration": iso8601(credential.expires_at or 0.0),
                "Expired": credential.expires_at is not None and now >= credential.expires_at,
            }
            for credential in issued
        ]

    def add_acr_instances(self, source: CatalogSource) -> None:
        instances, registries = _catalog_from(source)
        self.catalog.add(instances, registries)

    def set_fault(self, action: str, fault: Fault) -> None:
        if action != "*" and action not in ACTIONS and action not in STS_PARAMETERS:
            raise ValueError(f"unknown action {action!r}")
        self.faults.set(action, fault)

    def advance_clock(self, seconds: float) -> float:
        """Move the lifecycle clock forward; returns the total offset."""
        return self.clock.advance(seconds)

    def groups(self) -> list[dict[str, Any]]:
        """Every visible group, rendered as DescribeContainerGroups does."""
        return self.backend.list_groups()

    def group(self, container_group_id: str) -> dict[str, Any] | None:
        """The group as DescribeContainerGroups renders it, plus who created it: `created_by_access_key_id`
        and, for an STS key, `created_by_role_arn` (else None)."""
        return self.backend.get_group(container_group_id)

    def group_spec(self, container_group_id: str) -> GroupSpec | None:
        """What the group was created or last updated with (credentials included), for in-process tests
        that check what ECI holds rather than what Describe shows; `.to_dict()` is the admin API's view."""
        return self.backend.group_spec(container_group_id)

    def deletions(self) -> list[dict[str, Any]]:
        """Each DeleteContainerGroup so far as a graceful stop (see AdminClient.deletions)."""
        return self.backend.deletions()

    def requests(self, action: str | None = None) -> list[dict[str, Any]]:
        """The request log (secrets redacted), optionally for one action."""
        return self.request_log.entries(action)

    def delete_group(self, container_group_id: str) -> bool:
        """Delete a group behind the client's back (drift)."""
        return self.backend.remove_group(container_group_id)

    def expire_group(self, container_group_id: str) -> bool:
        """Reclaim a group as a spot instance is: it turns Expired."""
        return self.backend.expire_group(container_group_id)

    def hide_group(self, container_group_id: str, times: int = 1) -> bool:
        """Answer Describe calls as if the group were gone, `times` times: an eventually consistent list."""
        return self.backend.hide_group(container_group_id, times)

    def reclaim_spot(self, container_group_id: str, after_seconds: float = 180.0) -> float | None:
        """Reclaim a spot group after `after_seconds` (not within its SpotDuration protection): a Warning
        SpotToBeReleased event first, then Expired. The reclaim time, or None without such a group."""
        return self.backend.reclaim_spot(container_group_id, after_seconds)

    def set_stock(
        self,
        instance_type: str | None = None,
        zone_id: str | None = None,
        spot: bool | None = None,
        available: bool = False,
    ) -> None:
        """Say whether there is stock of `instance_type` in `zone_id` (spot or not); None matches any. The
        latest matching rule decides; with none there is stock. CreateContainerGroup then takes the first
        (vSwitch, instance type) with stock, or answers OperationDenied.NoStock."""
        self.capacity.set_stock(StockRule(instance_type, zone_id, spot, available))

    def stock(self) -> list[dict[str, Any]]:
        """The stock rules, oldest first."""
        return self.capacity.stock()

    def set_vswitch_zone(self, vswitch_id: str, zone_id: str) -> None:
        """Put a vSwitch in a zone (one not set is in ZoneId when sent, else in <region>-a)."""
        self.capacity.set_vswitch_zone(vswitch_id, zone_id)

    def add_image_cache(self, snapshot_id: str, images: list[str]) -> None:
        """Register an image cache (imc-...) holding `images`, for ImageSnapshotId and AutoMatchImageCache."""
        self.capacity.add_image_cache(snapshot_id, images)

    def image_caches(self) -> list[dict[str, Any]]:
        return self.capacity.image_caches()

    def eips(self) -> list[dict[str, Any]]:
        """The EIPs groups got and their status (see Backend.eips)."""
        return self.backend.eips()

    def set_rate_limit(self, action: str, rate: float, burst: float) -> None:
        self.rate_limiter.set(action, rate, burst)

    def reset(self) -> None:
        """Forget groups, client tokens, deletions, EIPs, the request log, faults, stock rules, vSwitch zones,
        image caches, the credentials STS issued and the clock offset (roles and OIDC providers stay)."""
        with self._issued_lock:
            for access_key_id in self._issued:
                self.authenticator.credentials.pop(access_key_id, None)
            self._issued.clear()
        self.backend.reset()
        self.capacity.reset()
        self.request_log.clear()
        self.faults.clear()
        self.clock.reset()

    # ---- one RPC request (ECI or STS) -----------------------------------------------------------------

    def serve_eci(
        self, method: str, parameters: dict[str, str], host: str
    ) -> tuple[int, dict[str, Any] | None]:
        """Answer one signature-v1.0 request given as its parameters (see `serve`)."""
        return self.serve(ApiRequest(method, "/", [], {"host": [host]}, b"", parameters))

    def serve(self, request: ApiRequest) -> tuple[int, dict[str, Any] | None]:
        """Answer one RPC request: (HTTP status, body); body None means drop the connection.

        ECI or STS by the API version. Injected faults: `latency_seconds` is slept before the request is
        handled (the answer reflects the state after the wait); `response_delay_seconds` is slept after the
        answer was computed and logged, before it is returned to be sent (the answer shows the state when
        the request arrived, delivered late).
        """
        action = request.action
        parameters = request.parameters
        sts = request.version == STS_API_VERSION
        response_delay = 0.0
        request_id = new_request_id()
        entry: dict[str, Any] = {
            "time": iso8601(time.time()),
            "method": request.method,
            "action": action,
            "access_key_id": request.access_key_id,
            "parameters": redact(parameters),
        }
        if request.v3:
            entry["signature_version"] = "3"
        if sts:
            entry["product"] = "Sts"
        try:
            if not action:
                raise errors.missing_parameter("Action")
            caller = self._authenticate(request, action, sts)
            if not self.rate_limiter.allow(action):
                raise errors.throttled()
            decision = self.faults.decide(action)
            if decision.latency_seconds:
                time.sleep(decision.latency_seconds)
            if decision.drop:
                entry.update(http_status=0, error_code="ConnectionDropped", request_id="")
                self.request_log.record(entry)
                return 0, None
            response_delay = decision.response_delay_seconds
            if decision.error is not None:
                code, status, message = decision.error
                raise EciError(code, message, status)
            if sts:
                body = self._serve_sts(action, parameters, caller)
                body["RequestId"] = request_id
            else:
                body = self.backend.handle(action, parameters, decision.schedule_failure, caller)
            entry.update(http_status=200, error_code="", request_id=body.get("RequestId", request_id))
            self.request_log.record(entry)
            return 200, body
        except EciError as error:
            entry.update(
                http_status=error.http_status,
                error_code=error.code,
                request_id=request_id,
                error_message=error.message,
            )
            self.request_log.record(entry)
            product = "Sts" if sts else "Eci"
            return error.http_status, {
                "RequestId": request_id,
                "HostId": request.host,
                "Code": error.code,
                "Message": error.message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product={product}",
            }
        except Exception:
            logger.exception("internal error answering %s", action)
            entry.update(http_status=500, error_code=errors.INTERNAL_ERROR, request_id=request_id)
            self.request_log.record(entry)
            return 500, {
                "RequestId": request_id,
                "HostId": request.host,
                "Code": errors.INTERNAL_ERROR,
                "Message": "The request processing has failed due to some unknown error.",
                "Recommend": "",
            }
        finally:
            if response_delay:
                time.sleep(response_delay)  # the answer is computed (a snapshot of now), sent late

    def _authenticate(self, request: ApiRequest, action: str, sts: bool) -> Credential | None:
        """The caller's credential; None for AssumeRoleWithOIDC, which is not signed (the OIDC token is the
        proof)."""
        if sts and action == "AssumeRoleWithOIDC":
            return None
        if sts and action not in STS_PARAMETERS:
            raise EciError(errors.INVALID_ACTION, f"Specified api {action!r} is not found.", 404)
        version = STS_API_VERSION if sts else API_VERSION
        if request.v3:
            return self.authenticator.verify_v3(request.signed(), version)
        return self.authenticator.verify(request.method, request.parameters, version)

    def _serve_sts(
        self, action: str, parameters: Mapping[str, str], caller: Credential | None
    ) -> dict[str, Any]:
        if self.backend.strict:
            known = COMMON_PARAMETERS | STS_PARAMETERS[action]
            unknown = sorted(name for name in parameters if name not in known)
            if unknown:
                raise errors.invalid_parameter(f"The parameter {unknown[0]} is not a parameter of {action}.")
        if action == "AssumeRole":
            assert caller is not None
            body, credential = self.sts.assume_role(parameters, caller)
        else:
            body, credential = self.sts.assume_role_with_oidc(parameters)
        with self._issued_lock:
            self._issued[credential.access_key_id] = credential
            self.authenticator.credentials[credential.access_key_id] = credential
        logger.info(
            "STS %s issued %s for %s (session %s)",
            action,
            credential.access_key_id,
            credential.role_arn,
            credential.role_session_name,
        )
        return body


def _make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    from eci_emulator.admin_api import handle_admin

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "eci-emulator"

        def log_message(self, format: str, *args: Any) -> None:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s - %s", self.address_string(), format % args)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send_json(self, status: int, payload: Any, what: str) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except ConnectionError as error:  # reset, broken pipe: the client is gone, nothing to report
                self.close_connection = True
                logger.info(
                    "client %s hung up before the answer to %s (HTTP %d) was written: %s",
                    _address(self.client_address),
                    what,
                    status,
                    error,
                )

        def _dispatch(self) -> None:
            split = urlsplit(self.path)
            body = self._body()
            if split.path.startswith(ADMIN_PREFIX) or split.path == ADMIN_PREFIX.rstrip("/"):
                status, payload = handle_admin(emulator, self.command, split.path, split.query, body)
                self._send_json(status, payload, f"{self.command} {split.path}")
                return
            if split.path != "/":
                self._send_json(
                    404,
                    {"Code": "InvalidAction.NotFound", "Message": f"No route {split.path}"},
                    f"{self.command} {split.path}",
                )
                return
            query = parse_qsl(split.query, keep_blank_values=True)
            pairs = list(query)
            content_type = self.headers.get("Content-Type", "")
            if body and "application/x-www-form-urlencoded" in content_type:
                pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            parameters: dict[str, str] = {}
            duplicated = ""
            for name, value in pairs:
                if name in parameters:
                    duplicated = name
                parameters[name] = value
            host = self.headers.get("Host", "")
            if duplicated:
                status, payload = (
                    400,
                    {
                        "RequestId": new_request_id(),
                        "HostId": host,
                        "Code": errors.INVALID_PARAMETER,
                        "Message": f"The parameter {duplicated} is given more than once.",
                        "Recommend": "",
                    },
                )
                self._send_json(status, payload, parameters.get("Action") or "an ECI request")
                return
            headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            request = ApiRequest(self.command, split.path, query, headers, body, parameters)
            status, result = emulator.serve(request)
            if result is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send_json(status, result, request.action or "an RPC request")

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def do_PUT(self) -> None:
            self._dispatch()

        def do_DELETE(self) -> None:
            self._dispatch()

    return Handler
