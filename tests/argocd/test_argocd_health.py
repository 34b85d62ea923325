"""The Argo CD health check (health.lua), run under Lua 5.1 as Argo CD runs it, over its own test file."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECK_DIR = REPO_ROOT / "argocd" / "resource_customizations" / "eci.acr-operator.dev" / "AcrContainerGroup"
HEALTH_LUA = (CHECK_DIR / "health.lua").read_text()
HEALTH_TESTS: list[dict[str, Any]] = yaml.safe_load((CHECK_DIR / "health_test.yaml").read_text())["tests"]


def to_lua(runtime: Any, value: Any) -> Any:
    """Python (from YAML) to Lua: maps and lists become tables (lists 1-based), like Argo CD's JSON."""
    if isinstance(value, dict):
        return runtime.table_from({key: to_lua(runtime, item) for key, item in value.items()})
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, item) for item in value])
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def health_of(obj: dict[str, Any]) -> dict[str, Any]:
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert runtime.eval("_VERSION") == "Lua 5.1"
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute(HEALTH_LUA)
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize("case", HEALTH_TESTS, ids=[case["inputPath"] for case in HEALTH_TESTS])
def test_health(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((CHECK_DIR / case["inputPath"]).read_text())
    assert health_of(obj) == case["healthStatus"]


def test_every_testdata_file_is_tested() -> None:
    referenced = [case["inputPath"] for case in HEALTH_TESTS]
    assert len(referenced) == len(set(referenced)), "a testdata file is listed twice"
    on_disk = {f"testdata/{path.name}" for path in (CHECK_DIR / "testdata").glob("*.yaml")}
    assert set(referenced) == on_disk


def test_tests_cover_every_status_the_check_returns() -> None:
    statuses = {case["healthStatus"]["status"] for case in HEALTH_TESTS}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Unknown"}
    assert all(case["healthStatus"]["message"] for case in HEALTH_TESTS)


def test_readme_snippet_is_the_script() -> None:
    readme = (REPO_ROOT / "argocd" / "README.md").read_text()
    key = "resource.customizations.health.eci.acr-operator.dev_AcrContainerGroup: |"
    assert key in readme
    indented = "\n".join(f"    {line}" if line else "" for line in HEALTH_LUA.rstrip("\n").splitlines())
    assert indented in readme, "argocd/README.md does not carry the current health.lua"
