"""Fixtures for the chart tests: the real helm binary, and `helm template` parsed into objects."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "acr-eci-operator"

HelmRun = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary that scripts/fetch-tools.sh (`make tools`) fetches once into the cache."""
    result = subprocess.run(
        ["bash", "scripts/fetch-tools.sh"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    helm_path = Path(lines[-1]) / "helm" if lines else None
    if result.returncode != 0 or helm_path is None or not helm_path.is_file():
        pytest.fail(
            "helm is not available: `bash scripts/fetch-tools.sh` (make tools) exited "
            f"{result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return helm_path


@pytest.fixture
def run_helm(helm: Path) -> HelmRun:
    """Run helm with the given arguments; the caller checks the exit code."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(helm), *map(str, args)], capture_output=True, text=True, check=False, timeout=120
        )

    return run


@pytest.fixture
def write_values(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write a values file into the test's tmp_path and return its path."""
    written: list[Path] = []

    def write(values: dict[str, Any]) -> Path:
        path = tmp_path / f"values-{len(written)}.yaml"
        path.write_text(yaml.safe_dump(values))
        written.append(path)
        return path

    return write


@pytest.fixture
def template(
    run_helm: HelmRun, write_values: Callable[[dict[str, Any]], Path]
) -> Callable[..., list[dict[str, Any]]]:
    """Render the chart (release "rel" in namespace "acr-eci-system") with the given values."""

    def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        values_file = write_values(values or {})
        result = run_helm("template", "rel", CHART_DIR, "--namespace", "acr-eci-system", "-f", values_file)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return render
