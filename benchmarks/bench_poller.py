"""Benchmark: what the operator costs and how fast it reacts, at several numbers of groups.

Starts the local control plane, the ECI emulator (with ECI's documented rate limits) and the real
operator, then grows the number of AcrContainerGroups in stages (default 100, 1,000, 5,000). At each
stage:

- wave: the new resources are applied while the operator runs (as Argo CD syncs an application): the
  time from the first apply until every resource has a group id, against the bound ECI's Create limit
  sets (burst 100, then 20 per second), and the throttled calls;
- quiet: ECI calls per minute of all kinds over one full poll interval with nothing changing, and the
  operator's CPU share over that minute and its resident memory;
- change: a group turned Expired behind the operator's back, until its resource shows it;
- vanished: a group deleted behind its back, until its resource shows it.

Prints one table; asserts nothing.

    .venv/bin/python benchmarks/bench_poller.py [--stages 100,1000,5000] [--interval 60]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from eci_emulator.admin import AdminClient
from eci_emulator.server import Emulator, sample_catalog_document
from local_control_plane.cluster import ControlPlane, free_port

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION, PLURAL = "eci.acr-operator.dev", "v1alpha1", "acrcontainergroups"
NAMESPACE = "bench"
APPLY_THREADS = 16
"""The resources of a stage are created this many at a time (one by one, 4,000 took over 8 minutes)."""
KEY_ID, KEY_SECRET = "LTAI-bench", os.urandom(12).hex()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stages", default="100,1000,5000", help="numbers of groups, growing")
    parser.add_argument("--interval", type=float, default=60.0, help="ECI_POLL_INTERVAL_SECONDS")
    parser.add_argument("--status-interval", type=float, default=2.5, help="ECI_STATUS_POLL_INTERVAL_SECONDS")
    args = parser.parse_args()
    stages = [int(n) for n in args.stages.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="acr-eci-bench-"))
    plane = ControlPlane()
    emulator = Emulator(access_keys={KEY_ID: KEY_SECRET}, acr_instances=sample_catalog_document())
    operator: subprocess.Popen[bytes] | None = None
    rows: list[dict[str, str]] = []
    try:
        plane.start()
        emulator.start()
        admin = AdminClient(emulator.url)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))  # type: ignore[no-untyped-call]
        api.configuration.connection_pool_maxsize = APPLY_THREADS
        crd = yaml.safe_load((REPO / "crds" / "acrcontainergroups.eci.acr-operator.dev.yaml").read_text())
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
        )
        custom = client.CustomObjectsApi(api)
        wait(lambda: _crd_served(custom), 30, "the CRD", interval=0.2)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KUBECONFIG": str(plane.kubeconfig_path),
            "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
            "ALIBABA_CLOUD_REGION_ID": "cn-beijing",
            "ECI_ENDPOINT": emulator.url,
            "ECI_DEFAULT_SECURITY_GROUP_ID": "sg-bench",
            "ECI_DEFAULT_VSWITCH_IDS": "vsw-bench",
            "ECI_POLL_INTERVAL_SECONDS": str(args.interval),
            "ECI_STATUS_POLL_INTERVAL_SECONDS": str(args.status_interval),
            "ACR_ECI_LOG_LEVEL": "WARNING",
        }
        log = (workdir / "operator.log").open("wb")
        health = free_port()
        operator = subprocess.Popen(
            [str(Path(sys.executable).with_name("acr-eci-operator")), "run", "--standalone", "--namespace",
             NAMESPACE, "--liveness", f"http://127.0.0.1:{health}/healthz"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait(lambda: _healthy(health), 60, "the operator", interval=0.2)
        applied = 0
        for stage in stages:
            say(f"stage {stage}: applying {stage - applied} AcrContainerGroups (operator running)")
            admin.clear_requests()
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(APPLY_THREADS) as pool:
                list(
                    pool.map(
                        lambda index: custom.create_namespaced_custom_object(
                            GROUP, VERSION, NAMESPACE, PLURAL, _resource(index)
                        ),
                        range(applied, stage),
                    )
                )
            wave, applied = stage - applied, stage
            rows.append(_measure(custom, admin, operator, health, stage, wave, started, args))
            say(f"  {rows[-1]}")
        print()
        print(
            f"poll interval {args.interval:g}s, status interval {args.status_interval:g}s; ECI limits as documented"
        )
        headers = list(rows[0])
        widths = [max(len(h), *(len(row[h]) for row in rows)) for h in headers]
        print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        print("-|-".join("-" * w for w in widths))
        for row in rows:
            print(" | ".join(row[h].ljust(w) for h, w in zip(headers, widths, strict=True)))
        return 0
    finally:
        if operator is not None:
            _stop(operator)
        emulator.stop()
        plane.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def _measure(
    custom: client.CustomObjectsApi,
    admin: AdminClient,
    operator: subprocess.Popen[bytes],
    health: int,
    stage: int,
    wave: int,
    started: float,
    args: argparse.Namespace,
) -> dict[str, str]:
    """One stage's figures, from the first apply of its wave at `started` (see the module's docstring)."""
    # Listing every resource is not free: at 5,000 it is asked every 2.5 s (about the accuracy it gives).
    wait(lambda: _with_ids(custom) >= stage, 3600, "every group id", interval=max(0.25, stage / 2000))
    ids_in = time.monotonic() - started
    creates = admin.requests("CreateContainerGroup")
    throttled = sum(1 for r in creates if str(r.get("error_code") or "").startswith("Throttling"))
    bound = max(0.0, (wave - 100) / 20)
    say(f"  {wave} creates: every id after {ids_in:.1f}s (bound {bound:.0f}s), {throttled} throttled")
    wait(lambda: _running(custom) >= stage, 3600, "all Running", interval=2.0)
    wait(lambda: _healthy(health), 60, "the operator", interval=0.2)

    # Quiet: one full poll interval with nothing changing.
    time.sleep(2 * args.status_interval + 5)  # let the last changes age out of SinceSecond
    admin.clear_requests()
    cpu_before, wall_before = _cpu_seconds(operator.pid), time.monotonic()
    time.sleep(args.interval)  # a benchmark's measuring window, not a wait for a condition
    cpu = (_cpu_seconds(operator.pid) - cpu_before) / (time.monotonic() - wall_before)
    calls: dict[str, int] = {}
    for request in admin.requests():
        calls[request["action"]] = calls.get(request["action"], 0) + 1
    per_minute = sum(calls.values()) * 60 / args.interval
    say(f"  quiet calls over {args.interval:g}s: {calls}")
    rss = _rss_mib(operator.pid)

    changed = f"bench-{stage - 1:04d}"
    changed_id = _status(custom, changed)["containerGroupId"]
    admin.expire_group(changed_id)
    change_in = wait(
        lambda: (
            _status(custom, changed).get("phase") != "Running"
            or _status(custom, changed).get("containerGroupId") != changed_id
        ),
        10 * args.interval,
        "the change to show",
        interval=0.1,
    )
    victim = f"bench-{stage - 2:04d}"
    victim_id = _status(custom, victim)["containerGroupId"]
    admin.delete_group(victim_id)
    vanished_in = wait(
        lambda: (
            _status(custom, victim).get("containerGroupId") not in (None, victim_id)
            or _status(custom, victim).get("phase") != "Running"
        ),
        10 * args.interval,
        "the vanished group to show",
        interval=0.1,
    )
    return {
        "groups": str(stage),
        "wave": str(wave),
        "wave time / bound": f"{ids_in:.1f}s / {bound:.0f}s" + (f" ({ids_in / bound:.2f}x)" if bound else ""),
        "throttled": f"{throttled}/{len(creates)}",
        "calls/min quiet": f"{per_minute:.1f}",
        "change seen": f"{change_in:.1f}s",
        "vanished seen": f"{vanished_in:.1f}s",
        "RSS": f"{rss:.0f} MiB",
        "CPU": f"{100 * cpu:.1f}%",
    }


def _stop(operator: subprocess.Popen[bytes]) -> None:
    if operator.poll() is None:
        operator.send_signal(signal.SIGTERM)
        try:
            operator.wait(30)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()


def _with_ids(custom: client.CustomObjectsApi) -> int:
    listing: dict[str, Any] = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)  # type: ignore[assignment]
    return sum(1 for item in listing["items"] if (item.get("status") or {}).get("containerGroupId"))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _resource(index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AcrContainerGroup",
        "metadata": {"name": f"bench-{index:04d}"},
        "spec": {
            "containers": [
                {"name": "web", "image": "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"}
            ],
            "acrRegistryInfos": [{"instanceId": "cri-nwj395hgf6f3abcd"}],
        },
    }


def _crd_served(custom: client.CustomObjectsApi) -> bool:
    try:
        custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
    except client.exceptions.ApiException:
        return False
    return True


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _running(custom: client.CustomObjectsApi) -> int:
    listing: dict[str, Any] = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)  # type: ignore[assignment]
    items = listing["items"]
    return sum(1 for item in items if (item.get("status") or {}).get("phase") == "Running")


def _status(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    body: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)  # type: ignore[assignment]
    return dict(body.get("status") or {})


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    raise SystemExit(main())
