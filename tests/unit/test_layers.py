"""What the import contracts of pyproject.toml (`lint-imports`) cannot say: that an import inside a function
is not run when the module is imported."""

from __future__ import annotations

import subprocess
import sys


def test_the_operator_runs_without_cel_python() -> None:
    """cel-python is the optional extra `lint`: the operator's image leaves it out, so the operator runs
    without it and only `lint` (lazily) imports cel_offline, the one module that uses it (a contract)."""
    code = (
        "import sys; sys.modules['celpy'] = None\n"
        "import acr_eci_operator.cli, acr_eci_operator.handlers, acr_eci_operator.lint\n"
        "assert 'acr_eci_operator.cel_offline' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
