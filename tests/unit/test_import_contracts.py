"""The import-linter contracts of pyproject.toml (`make lint` runs `lint-imports`) catch what they are for.

Each case copies the operator's package to a temporary folder, adds one import that breaks the design,
and runs `lint-imports` with the repository's own contracts against the copy (first on PYTHONPATH, so it
shadows the installed package): exactly the contracts named must break.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
RESULT = re.compile(r"^(?P<name>.+) (?P<verdict>KEPT|BROKEN)(?: \(.*\))?$")


def contract_names() -> dict[str, str]:
    contracts = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    return {contract["id"]: contract["name"] for contract in contracts}


def broken_contracts(tmp_path: Path, edits: Mapping[str, str]) -> set[str]:
    """The ids of the contracts that break when each line of `edits` is appended to its module of
    acr_eci_operator (a new module if there is none)."""
    source = tmp_path / "source"
    package = source / "acr_eci_operator"
    shutil.copytree(
        REPO / "operator" / "acr_eci_operator", package, ignore=shutil.ignore_patterns("__pycache__")
    )
    for module, line in edits.items():
        with (package / f"{module}.py").open("a") as file:
            file.write(f"\n{line}\n")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(source), "COLUMNS": "1000"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    verdicts = {
        match["name"]: match["verdict"]
        for match in map(RESULT.match, result.stdout.splitlines())
        if match is not None
    }
    names = contract_names()
    assert set(verdicts) == set(names.values()), result.stdout + result.stderr
    broken = {contract_id for contract_id, name in names.items() if verdicts[name] == "BROKEN"}
    assert result.returncode == (1 if broken else 0), result.stdout + result.stderr
    return broken


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    assert broken_contracts(tmp_path, {}) == set()


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("models", "import kopf", {"pure", "kopf"}),
        ("status", "import urllib3", {"pure"}),
        ("mapping", "from acr_eci_operator import kube", {"pure", "layers", "planner"}),
        ("planner", "from acr_eci_operator import controller", {"planner", "layers", "pure"}),
        ("metrics", "from acr_eci_operator import errors", {"metrics", "layers"}),
        ("eci", "from acr_eci_operator import kube", {"layers"}),
        ("credentials", "from acr_eci_operator import eci", {"layers"}),
        ("kube", "import aliyunsdkcore.client", {"sdk"}),
        ("accounts", "import aliyunsdkeci", {"sdk"}),
        ("controller", "import kopf", {"kopf"}),
        ("lint", "import celpy", {"celpy"}),
        ("errors", "import eci_emulator.server", {"independent"}),
        ("cli", "import local_control_plane", {"independent"}),
    ],
)
def test_a_contract_breaks_on_its_import(tmp_path: Path, module: str, line: str, expected: set[str]) -> None:
    assert broken_contracts(tmp_path, {module: line}) == expected


def test_a_module_left_out_of_the_layers_may_use_the_pure_ones(tmp_path: Path) -> None:
    """crd, manifests and the offline commands' modules may import the models, mapping and planner."""
    line = "from acr_eci_operator import crd, mapping, models, planner, status"
    assert broken_contracts(tmp_path, {"offline_check": line, "cli": line}) == set()
