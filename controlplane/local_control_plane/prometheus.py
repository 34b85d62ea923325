"""A real Prometheus on 127.0.0.1 for the metrics tests: Debian's /usr/bin/prometheus (`make prometheus`
installs it), a temporary config that scrapes the given targets every second (and loads the given rule
files), its TSDB in a temporary folder, a free port. Started with PR_SET_PDEATHSIG like the apiserver, so
it dies with the Python process that started it; `stop()` ends it by pid and waits for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

from local_control_plane.cluster import ControlPlaneError, free_port, start_process, stop_process

PROMETHEUS_BINARY = Path(os.environ.get("PROMETHEUS_BINARY", "/usr/bin/prometheus"))
JOB = "acr-eci-operator"


@dataclass
class LocalPrometheus:
    """One Prometheus process scraping `targets` (host:port, path /metrics) as job `acr-eci-operator`."""

    targets: Sequence[str]
    rule_files: Sequence[Path] = ()
    interval: str = "1s"
    binary: Path = PROMETHEUS_BINARY
    workdir: Path | None = None
    port: int = 0
    process: Popen[bytes] | None = None
    _own_workdir: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "prometheus.log"

    def start(self, timeout: float = 60.0) -> LocalPrometheus:
        if not self.binary.is_file():
            raise ControlPlaneError(f"{self.binary} is missing: `make prometheus` installs Debian's package")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="acr-eci-prometheus-"))
            self._own_workdir = True
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "scrape_interval": self.interval,
                    "scrape_timeout": self.interval,
                    "static_configs": [{"targets": list(self.targets)}],
                }
            ],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.port = free_port()
        try:
            self.process = start_process(
                [
                    str(self.binary),
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                self.log_path,
            )
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ControlPlaneError(
                    f"prometheus exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ControlPlaneError(f"prometheus not ready after {timeout:.0f}s; log in {self.log_path}")

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: the `data` of a successful answer (AssertionError otherwise)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as answer:
            body = json.loads(answer.read())
        assert body.get("status") == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [time, "text"]}, ...]."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        """Stop the process by pid, then remove a temporary workdir."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_prometheus(targets: Sequence[str], rule_files: Sequence[Path] = ()) -> Iterator[LocalPrometheus]:
    """A started Prometheus for the duration of the block, stopped however the block ends."""
    prometheus = LocalPrometheus(targets, rule_files).start()
    try:
        yield prometheus
    finally:
        prometheus.stop()
