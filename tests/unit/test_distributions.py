"""The three distributions of the repository, built offline as wheels: the operator's holds the operator
only (its image installs it), the emulator's and the local control plane's hold theirs only.

Each is built from a copy of its folder (so no stale build/ of the work tree leaks in) with the
setuptools of the venv, the three at once.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = "from setuptools import build_meta; print(build_meta.build_wheel('dist'))"
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9._-]+")
IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")


@dataclass(frozen=True)
class Wheel:
    files: frozenset[str]
    entry_points: configparser.ConfigParser
    requires: frozenset[str]
    """The names of the distributions it needs (its extras aside)."""

    @property
    def top_level(self) -> set[str]:
        """The importable names the wheel installs (its .dist-info aside)."""
        return {name.split("/")[0] for name in self.files if ".dist-info/" not in name}


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as wheel:
        files = frozenset(wheel.namelist())
        info = next(name.split("/")[0] for name in files if name.endswith(".dist-info/METADATA"))
        entry_points = configparser.ConfigParser(delimiters=("=",))
        entry_points.optionxform = str  # type: ignore[assignment,method-assign]
        if f"{info}/entry_points.txt" in files:
            entry_points.read_string(wheel.read(f"{info}/entry_points.txt").decode())
        metadata = wheel.read(f"{info}/METADATA").decode().splitlines()
    requires = frozenset(
        REQUIREMENT_NAME.match(line.removeprefix("Requires-Dist: "))[0]  # type: ignore[index]
        for line in metadata
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    )
    return Wheel(files, entry_points, requires)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Wheel]:
    root = tmp_path_factory.mktemp("distributions")
    operator = root / "operator"
    operator.mkdir()
    shutil.copy(REPO / "pyproject.toml", operator)
    shutil.copy(REPO / "README.md", operator)
    shutil.copytree(REPO / "operator", operator / "operator", ignore=IGNORED)
    shutil.copytree(REPO / "emulator", root / "emulator", ignore=IGNORED)
    shutil.copytree(REPO / "controlplane", root / "controlplane", ignore=IGNORED)
    builds = {
        name: subprocess.Popen(
            [sys.executable, "-c", BUILD],
            cwd=root / name,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("operator", "emulator", "controlplane")
    }
    built = {}
    for name, build in builds.items():
        out, err = build.communicate(timeout=120)
        assert build.returncode == 0, err
        built[name] = read_wheel(root / name / "dist" / out.strip().splitlines()[-1])
    return built


def test_the_operator_wheel_holds_the_operator_only(wheels: dict[str, Wheel]) -> None:
    wheel = wheels["operator"]
    assert wheel.top_level == {"acr_eci_operator"}
    assert {
        "acr_eci_operator/__init__.py",
        "acr_eci_operator/cli.py",
        "acr_eci_operator/py.typed",
    } <= wheel.files
    assert not [name for name in wheel.files if "eci_emulator" in name or "local_control_plane" in name]
    assert dict(wheel.entry_points["console_scripts"]) == {"acr-eci-operator": "acr_eci_operator.cli:main"}
    assert not wheel.entry_points.has_section("pytest11")
    # What it runs on: neither a test tool nor the emulator or control plane.
    assert not {name for name in wheel.requires if name.startswith(("pytest", "acr-eci-"))}


def test_the_emulator_wheel_holds_the_emulator_and_its_fixture(wheels: dict[str, Wheel]) -> None:
    wheel = wheels["emulator"]
    assert wheel.top_level == {"eci_emulator"}
    assert {
        "eci_emulator/server.py",
        "eci_emulator/pytest_plugin.py",
        "eci_emulator/sample_acr_instances.yaml",
        "eci_emulator/py.typed",
    } <= wheel.files
    assert dict(wheel.entry_points["console_scripts"]) == {"eci-emulator": "eci_emulator.cli:main"}
    assert dict(wheel.entry_points["pytest11"]) == {
        "eci_emulator.pytest_plugin": "eci_emulator.pytest_plugin"
    }
    assert wheel.requires == {"PyYAML"}


def test_the_control_plane_wheel_holds_the_control_plane_and_its_recipes(wheels: dict[str, Wheel]) -> None:
    wheel = wheels["controlplane"]
    assert wheel.top_level == {"local_control_plane"}
    assert {
        "local_control_plane/cluster.py",
        "local_control_plane/pytest_plugin.py",
        "local_control_plane/build-kube-apiserver.sh",
        "local_control_plane/build-apiextensions-apiserver.sh",
        "local_control_plane/py.typed",
    } <= wheel.files
    assert dict(wheel.entry_points["console_scripts"]) == {
        "local-control-plane": "local_control_plane.cli:main"
    }
    assert dict(wheel.entry_points["pytest11"]) == {
        "local_control_plane.pytest_plugin": "local_control_plane.pytest_plugin"
    }
