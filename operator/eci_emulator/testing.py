"""Helpers for tests that talk to the emulator: the sample registries' names and wire-parameter builders."""

from __future__ import annotations

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
