"""Benchmark: the shared poller's cost and reaction time with many running groups.

Starts the local control plane, the ECI emulator and the real operator; creates N AcrContainerGroups
(default 1,000); waits until all are Running; then, over a few poll intervals, counts the
DescribeContainerGroups calls the emulator received and measures how long a group deleted behind the
operator's back takes to show on its resource. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_poller.py [--groups 1000] [--interval 15] [--intervals 3]
"""

from __future__ import annotations

import argparse
import datetime
import math
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
KEY_ID, KEY_SECRET = "LTAI-bench", os.urandom(12).hex()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _poll_cycles(requests: list[dict[str, Any]], interval: float) -> list[int]:
    """Describe calls per poll cycle: bursts of calls separated by more than a third of the interval
    (the request log has one-second times); the first and last bursts of the window may be partial."""
    times = sorted(datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%SZ").timestamp() for r in requests)
    bursts: list[int] = []
    last: float | None = None
    for moment in times:
        if last is None or moment - last > interval / 3:
            bursts.append(0)
        bursts[-1] += 1
        last = moment
    return bursts


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
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=15.0, help="ECI_POLL_INTERVAL_SECONDS")
    parser.add_argument("--intervals", type=int, default=3, help="poll intervals to count calls over")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="acr-eci-bench-"))
    plane = ControlPlane()
    emulator = Emulator(access_keys={KEY_ID: KEY_SECRET}, acr_instances=sample_catalog_document())
    operator: subprocess.Popen[bytes] | None = None
    try:
        plane.start()
        emulator.start()
        admin = AdminClient(emulator.url)
        for action in ("CreateContainerGroup", "DescribeContainerGroups"):
            admin.set_rate_limit(action, rate=1000, burst=1000)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))  # type: ignore[no-untyped-call]
        crd = yaml.safe_load((REPO / "crds" / "acrcontainergroups.eci.acr-operator.dev.yaml").read_text())
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
        )
        custom = client.CustomObjectsApi(api)
        wait(lambda: _crd_served(custom), 30, "the CRD", interval=0.2)

        health = free_port()
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
            "ECI_MUTATE_RATE_PER_SECOND": "50",
            "ACR_ECI_LOG_LEVEL": "WARNING",
        }
        log = (workdir / "operator.log").open("wb")
        operator = subprocess.Popen(
            [str(Path(sys.executable).with_name("acr-eci-operator")), "run", "--standalone", "--namespace", NAMESPACE,
             "--liveness", f"http://127.0.0.1:{health}/healthz"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait(lambda: _healthy(health), 60, "the operator", interval=0.2)

        say(f"creating {args.groups} AcrContainerGroups")
        started = time.monotonic()
        for index in range(args.groups):
            custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, _resource(index))
        created_in = time.monotonic() - started
        say(f"  applied in {created_in:.1f}s; waiting until all are Running")
        running_in = wait(lambda: _running(custom) >= args.groups, 1800, "all Running", interval=2.0)
        say(f"  all {args.groups} Running {running_in:.1f}s after the last apply")

        admin.clear_requests()
        window = args.interval * args.intervals
        say(f"counting ECI calls over {args.intervals} poll intervals ({window:.0f}s)")
        time.sleep(window)  # a benchmark's measuring window, not a wait for a condition
        calls: dict[str, int] = {}
        for request in admin.requests():
            calls[request["action"]] = calls.get(request["action"], 0) + 1
        describes = calls.get("DescribeContainerGroups", 0)
        per_interval = describes / args.intervals
        cycles = _poll_cycles(admin.requests("DescribeContainerGroups"), args.interval)
        budget = math.ceil(args.groups / 20)

        victim_id = _status(custom, "bench-0000")["containerGroupId"]
        admin.delete_group(victim_id)
        noticed = wait(
            lambda: (
                _status(custom, "bench-0000").get("containerGroupId") not in (None, victim_id)
                or _status(custom, "bench-0000").get("phase") != "Running"
            ),
            4 * args.interval,
            "the lost group to show",
            interval=0.1,
        )

        print()
        print(f"groups                               {args.groups}")
        print(f"poll interval                        {args.interval:g}s")
        print(f"DescribeContainerGroups per interval {per_interval:.1f} (budget ceil(N/20) = {budget})")
        print(f"ECI calls per interval, all actions  {sum(calls.values()) / args.intervals:.1f} {calls}")
        print(f"calls per 20 groups per interval     {per_interval / (args.groups / 20):.2f}")
        print(f"Describe calls per whole poll cycle  {cycles} (the window's first and last may be cut)")
        print(f"lost group visible after             {noticed:.1f}s (target: within one interval)")
        print(
            f"time to all Running                  {created_in + running_in:.1f}s for {args.groups} creates"
        )
        rss = _rss_mib(operator.pid)
        print(f"operator resident memory             {rss:.0f} MiB")
        return 0
    finally:
        if operator is not None and operator.poll() is None:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()
        emulator.stop()
        plane.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


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
