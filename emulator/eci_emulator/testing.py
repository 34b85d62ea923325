"""Helpers for tests that talk to the emulator: the sample registries' names and wire-parameter builders."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

REGION_ID = "cn-beijing"
TESTABCD_ID = "cri-nwj395hgf6f3abcd"
TESTABCD_IMAGE = "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"
TESTABCD_VPC_IMAGE = "testabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"
DEMOABCD_ID = "cri-j36zhodptmyqabcd"
DEMOABCD_IMAGE = "demoabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"
PRIVATE_IMAGE = "registry.example.com/team/app:1"

Call = Callable[..., dict[str, Any]]
"""call(RequestClass, **wire_parameters) -> the parsed JSON answer."""


def container_params(index: int, name: str, image: str, **env: str) -> dict[str, str]:
    """Container.N wire parameters, with environment variables (e.g. the test knobs)."""
    params = {f"Container.{index}.Name": name, f"Container.{index}.Image": image}
    for position, (key, value) in enumerate(env.items(), start=1):
        params[f"Container.{index}.EnvironmentVar.{position}.Key"] = key
        params[f"Container.{index}.EnvironmentVar.{position}.Value"] = value
    return params


def prepare(request: Any, emulator: Any, params: dict[str, Any]) -> Any:
    """Point an aliyun-python-sdk request at `emulator` (anything with `.endpoint`) over HTTP, add params."""
    request.set_endpoint(emulator.endpoint)
    request.set_protocol_type("http")
    for name, value in params.items():
        request.add_query_param(name, value)
    return request


def oidc_token(
    subject: str = "system:serviceaccount:acr-eci-system:acr-eci-operator",
    audience: str | list[str] = "sts.aliyuncs.com",
    issuer: str = "https://oidc-ack-cn-beijing.oss-cn-beijing-internal.aliyuncs.com/c1234567890",
    expires_at: float | None = None,
    issued_at: float | None = None,
) -> str:
    """A JWT shaped like a projected service-account token (RRSA): header, claims and a random signature
    part (the emulator checks no JWT signature; it accepts the tokens registered for a provider). `exp`
    defaults to an hour from now (wall time)."""
    issued = time.time() if issued_at is None else issued_at
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": int(issued),
        "nbf": int(issued),
        "exp": int(issued + 3600 if expires_at is None else expires_at),
        "jti": secrets.token_hex(8),
    }

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    signature = base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'kid': 'emulator', 'typ': 'JWT'})}.{part(claims)}.{signature}"
