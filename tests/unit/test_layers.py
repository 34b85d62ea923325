"""The module layers: each module imports only what its job allows (imports point down)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "operator"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    "module", ["models", "mapping", "status", "settings", "planner", "errors", "schema_check", "cel_offline"]
)
def test_pure_layers_do_no_io(module: str) -> None:
    imported = top(imports_of(SOURCE / "acr_eci_operator" / f"{module}.py"))
    assert not imported & {"kopf", "kubernetes", "aliyunsdkcore", "aliyunsdkeci", "requests", "urllib3"}


def test_only_the_eci_client_touches_the_sdk() -> None:
    users = {
        path.name
        for path in (SOURCE / "acr_eci_operator").glob("*.py")
        if top(imports_of(path)) & {"aliyunsdkcore", "aliyunsdkeci"}
    }
    assert users == {"eci.py"}


def test_only_handlers_and_cli_know_kopf() -> None:
    users = {
        path.name for path in (SOURCE / "acr_eci_operator").glob("*.py") if "kopf" in top(imports_of(path))
    }
    # The controller retries with its own backoff; kopf only watches, peers and serves /healthz.
    assert users == {"handlers.py", "cli.py"}


def test_the_planner_imports_only_pure_modules() -> None:
    imported = imports_of(SOURCE / "acr_eci_operator" / "planner.py")
    ours = {name for name in imported if name.startswith("acr_eci_operator")}
    assert ours <= {"acr_eci_operator", "acr_eci_operator.mapping", "acr_eci_operator.models"}


def test_the_emulator_and_the_operator_share_no_code() -> None:
    for path in (REPO / "emulator" / "eci_emulator").glob("*.py"):
        assert "acr_eci_operator" not in top(imports_of(path)), path.name
    for path in (SOURCE / "acr_eci_operator").glob("*.py"):
        assert not top(imports_of(path)) & {"eci_emulator", "local_control_plane"}, path.name


def test_only_the_linter_needs_cel_python() -> None:
    """cel-python is the optional extra `lint`: the operator's image leaves it out, so the operator runs
    without it and only `lint` (lazily) imports cel_offline, the one module that uses it."""
    users = {
        path.name for path in (SOURCE / "acr_eci_operator").glob("*.py") if "celpy" in top(imports_of(path))
    }
    assert users == {"cel_offline.py"}
    code = (
        "import sys; sys.modules['celpy'] = None\n"
        "import acr_eci_operator.cli, acr_eci_operator.handlers, acr_eci_operator.lint\n"
        "assert 'acr_eci_operator.cel_offline' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
