"""`make demo` end to end: scripts/demo.py runs to exit 0 and shows the settled table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "scripts" / "demo.py"


def example_names() -> list[str]:
    names = []
    for path in sorted((REPO / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "AcrContainerGroup":
                names.append(doc["metadata"]["name"])
    return names


def settled_table(output: str) -> list[str]:
    """The table printed after the `final table:` line (up to the next timestamped line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("final table:")) + 1
    table = []
    for line in lines[start:]:
        if line.startswith("["):
            break
        table.append(line)
    return table


@pytest.mark.cluster
@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_demo_runs_to_completion(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--workdir", str(tmp_path / "demo"), "--timeout", "180"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=380,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output[-6000:]

    table = settled_table(output)
    assert table[0].split() == ["NAME", "PHASE", "GROUP", "ID", "READY", "REASON"], output[-3000:]
    rows = {line.split()[0]: line.split() for line in table[1:] if line.strip()}
    names = example_names()
    assert "missing-registry-info" in names
    assert sorted(rows) == sorted(names), table
    for name in names:
        _, phase, group_id, ready, reason = rows[name]
        assert group_id.startswith("eci-"), rows[name]
        if name == "missing-registry-info":
            assert ready == "False" and reason in {"ErrImagePull", "ImagePullBackOff"}, rows[name]
        else:
            assert (phase, ready, reason) == ("Running", "True", "Running"), rows[name]
    assert "container groups left at the emulator: 0" in output
