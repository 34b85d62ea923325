"""The Argo CD resource actions (actions/discovery.lua, actions/NAME/action.lua), run under Lua 5.1 as Argo
CD runs them (the resource as global `obj`, a safe `os` with `date` and `time`), over their own test file
(actions/action_test.yaml, in Argo CD's format)."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
import yaml
from lupa import lua51

from acr_eci_operator.models import ANNOTATION_RECREATED_AT, ANNOTATION_RESTARTED_AT
from tests.argocd.test_argocd_health import CHECK_DIR, REPO_ROOT, to_lua

ACTIONS_DIR = CHECK_DIR / "actions"
DISCOVERY_LUA = (ACTIONS_DIR / "discovery.lua").read_text()
ACTION_NAMES = ("restart", "recreate")
ACTION_LUA = {name: (ACTIONS_DIR / name / "action.lua").read_text() for name in ACTION_NAMES}
TESTS: dict[str, Any] = yaml.safe_load((ACTIONS_DIR / "action_test.yaml").read_text())
DISCOVERY_TESTS: list[dict[str, Any]] = TESTS["discoveryTests"]
ACTION_TESTS: list[dict[str, Any]] = TESTS["actionTests"]
ANNOTATIONS = {"restart": ANNOTATION_RESTARTED_AT, "recreate": ANNOTATION_RECREATED_AT}
PLACEHOLDER = "0001-01-01T00:00:00Z"
"""The expected outputs' stand-in for the time the action ran (as in Argo CD's own action tests)."""
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def runtime_with(obj: dict[str, Any]) -> Any:
    """A Lua 5.1 state as Argo CD gives a script: base, table, string and math, and an `os` holding only
    date and time (also what `require("os")` returns); no io, no loading of files."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert runtime.eval("_VERSION") == "Lua 5.1"
    runtime.execute(
        "local safe = {date = os.date, time = os.time}\n"
        "os = safe\npackage.loaded.os = safe\n"
        "io, debug, dofile, loadfile = nil, nil, nil, nil\npackage.loaded.io = nil\n"
    )
    runtime.globals().obj = to_lua(runtime, obj)
    return runtime


def from_lua(value: Any) -> Any:
    """Lua to Python: a table with keys 1..n is a list, any other a map."""
    if lua51.lua_type(value) != "table":
        return value
    items = dict(value.items())
    if items and set(items) == set(range(1, len(items) + 1)):
        return [from_lua(items[index]) for index in range(1, len(items) + 1)]
    return {key: from_lua(item) for key, item in items.items()}


def load(path: str) -> dict[str, Any]:
    return yaml.safe_load((ACTIONS_DIR / path).read_text())  # type: ignore[no-any-return]


def discover(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found = from_lua(runtime_with(obj).execute(DISCOVERY_LUA))
    return sorted(
        ({"name": name, "disabled": bool(options.get("disabled", False))} for name, options in found.items()),
        key=lambda action: action["name"],
    )


def run_action(name: str, obj: dict[str, Any]) -> dict[str, Any]:
    return from_lua(runtime_with(obj).execute(ACTION_LUA[name]))  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", DISCOVERY_TESTS, ids=[case["inputPath"] for case in DISCOVERY_TESTS])
def test_discovery(case: dict[str, Any]) -> None:
    expected = sorted(
        ({"name": a["name"], "disabled": bool(a.get("disabled", False))} for a in case["result"]),
        key=lambda action: action["name"],
    )
    assert discover(load(case["inputPath"])) == expected


@pytest.mark.parametrize(
    "case", ACTION_TESTS, ids=[f"{case['action']}-{case['inputPath']}" for case in ACTION_TESTS]
)
def test_action(case: dict[str, Any]) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    output = run_action(case["action"], load(case["inputPath"]))
    after = datetime.datetime.now(datetime.UTC)
    annotation = ANNOTATIONS[case["action"]]
    stamped = output["metadata"]["annotations"][annotation]
    assert RFC3339.match(stamped), stamped
    moment = datetime.datetime.strptime(stamped, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert before <= moment <= after
    output["metadata"]["annotations"][annotation] = PLACEHOLDER
    assert output == load(case["expectedOutputPath"])


def test_recreate_refuses_a_resource_that_is_not_under_recreate() -> None:
    with pytest.raises(lua51.LuaError, match="updateStrategy: Recreate"):
        run_action("recreate", load("testdata/running.yaml"))


def test_every_action_and_testdata_file_is_tested() -> None:
    assert {case["action"] for case in ACTION_TESTS} == set(ACTION_NAMES)
    assert {action["name"] for case in DISCOVERY_TESTS for action in case["result"]} == set(ACTION_NAMES)
    assert {path.parent.name for path in ACTIONS_DIR.glob("*/action.lua")} == set(ACTION_NAMES)
    used = {case["inputPath"] for case in DISCOVERY_TESTS} | {
        path for case in ACTION_TESTS for path in (case["inputPath"], case["expectedOutputPath"])
    }
    on_disk = {f"testdata/{path.name}" for path in (ACTIONS_DIR / "testdata").glob("*.yaml")}
    assert used == on_disk


def test_the_scripts_set_the_operators_annotations() -> None:
    for name, annotation in ANNOTATIONS.items():
        assert f'obj.metadata.annotations["{annotation}"]' in ACTION_LUA[name]


def test_readme_snippet_is_the_scripts() -> None:
    readme = (REPO_ROOT / "argocd" / "README.md").read_text()
    key = "resource.customizations.actions.eci.acr-operator.dev_AcrContainerGroup: |"
    assert key in readme
    section = readme[readme.index(key) :]

    def indented(script: str, depth: int) -> str:
        return "\n".join(f"{' ' * depth}{line}" if line else "" for line in script.rstrip("\n").splitlines())

    assert indented(DISCOVERY_LUA, 6) in section, "argocd/README.md does not carry the current discovery.lua"
    for name, script in ACTION_LUA.items():
        assert f"- name: {name}" in section
        assert indented(script, 8) in section, (
            f"argocd/README.md does not carry the current {name} action.lua"
        )
