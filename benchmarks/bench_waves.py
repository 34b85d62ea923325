"""Benchmark: a wave of creates against ECI's documented Create limit (a bucket of 100 refilled 20 per
second), alone and with another client of the same account spending half the budget.

Starts the local control plane once; for each case a fresh ECI emulator with ECI's documented limits and
a fresh operator with its default settings (the documented limits, adaptive), then applies N
AcrContainerGroups at once and measures the time until every one has a group id in status, against the
bound the Create bucket sets (N - burst creates at the refill rate: 1,000 creates -> 45 s), and the share
of the operator's CreateContainerGroup calls ECI throttled. It also counts look-ups by tag
(DescribeContainerGroups with a uid tag): a first create needs none. Prints a table; asserts nothing.

    .venv/bin/python benchmarks/bench_waves.py [--sizes 100,1000] [--with-5000] [--cases alone,shared]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from kubernetes import client, config

from eci_emulator.admin import AdminClient
from eci_emulator.ratelimit import DEFAULT_LIMITS
from local_control_plane.cluster import ControlPlane, free_port

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION, PLURAL = "eci.acr-operator.dev", "v1alpha1", "acrcontainergroups"
REGION = "cn-beijing"
KEY_ID, KEY_SECRET = "LTAI-bench", os.urandom(12).hex()
OTHER_ID, OTHER_SECRET = "LTAI-bench-other", os.urandom(12).hex()
CREATE_RATE, CREATE_BURST = DEFAULT_LIMITS["CreateContainerGroup"]
TARGET_RATIO, TARGET_THROTTLED = 1.1, 0.01


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Result:
    size: int
    case: str
    seconds: float
    bound: float
    calls: int
    throttled: int
    look_ups: int
    other_calls: int
    eci_span: float
    """From our first create call to our last successful one, at ECI (the request log's whole seconds)."""

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.bound if self.bound > 0 else None

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.calls if self.calls else 0.0


def bound(size: int, rate: float = CREATE_RATE, burst: float = CREATE_BURST) -> float:
    """The least time ECI's Create bucket allows for `size` creates (the first `burst` at once)."""
    return max(0.0, (size - burst) / rate)


def other_client(endpoint: str, stop: threading.Event, rate: float) -> None:
    """Another client of the account: `rate` CreateContainerGroup calls per second, whatever the answer
    (without containers: each spends a token of ECI's bucket and makes no group)."""
    sdk = AcsClient(OTHER_ID, OTHER_SECRET, REGION)
    due = time.monotonic()
    while not stop.is_set():
        request = CreateContainerGroupRequest()
        request.set_endpoint(endpoint)
        request.set_protocol_type("http")
        request.add_query_param("RegionId", REGION)
        with contextlib.suppress(ServerException, ClientException):
            sdk.do_action_with_exception(request)
        due += 1 / rate
        stop.wait(max(0.0, due - time.monotonic()))


def run_case(
    plane: ControlPlane,
    api: client.ApiClient,
    size: int,
    case: str,
    workdir: Path,
    timeout: float,
    timeline: bool = False,
) -> Result:
    namespace = f"wave-{size}-{case}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    custom = client.CustomObjectsApi(api)
    # The emulator runs in a process of its own, as ECI does not share the benchmark's interpreter.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = subprocess.Popen(
        [str(Path(sys.executable).with_name("eci-emulator")), "--port", str(port), "--log-level", "WARNING"],
        env={
            **os.environ,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    operator: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    other: threading.Thread | None = None
    try:
        admin = AdminClient(url)
        wait(lambda: _answers(admin), 30, "the emulator", interval=0.2)
        admin.add_access_key(OTHER_ID, OTHER_SECRET)
        for action, (rate, burst) in DEFAULT_LIMITS.items():
            admin.set_rate_limit(action, rate=rate, burst=burst)  # ECI's documented limits
        health = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KUBECONFIG": str(plane.kubeconfig_path),
            "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
            "ALIBABA_CLOUD_REGION_ID": REGION,
            "ECI_ENDPOINT": url,
            "ECI_DEFAULT_SECURITY_GROUP_ID": "sg-bench",
            "ECI_DEFAULT_VSWITCH_IDS": "vsw-bench",
            "ACR_ECI_LOG_LEVEL": "WARNING",
        }
        with (workdir / f"operator-{namespace}.log").open("wb") as log:
            operator = subprocess.Popen(
                [str(Path(sys.executable).with_name("acr-eci-operator")), "run", "--standalone",
                 "--namespace", namespace, "--liveness", f"http://127.0.0.1:{health}/healthz"],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait(lambda: _healthy(health), 60, "the operator", interval=0.2)
        if case == "shared":
            other = threading.Thread(
                target=other_client, args=(f"127.0.0.1:{port}", stop, CREATE_RATE / 2), daemon=True
            )
            other.start()
            time.sleep(2)  # let the other client settle into its pace before the wave

        say(f"{size} creates, {case}: applying")
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda index: custom.create_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, _resource(index)
                    ),
                    range(size),
                )
            )
        say(f"  applied in {time.monotonic() - started:.1f}s; waiting for every group id")
        wait(lambda: _with_ids(custom, namespace) >= size, timeout, "every group id", interval=0.25)
        seconds = time.monotonic() - started
        stop.set()
        creates = admin.requests("CreateContainerGroup")
        ours = [r for r in creates if r["access_key_id"] == KEY_ID]
        look_ups = [
            r
            for r in admin.requests("DescribeContainerGroups")
            if r["access_key_id"] == KEY_ID and "Tag.1.Key" in r["parameters"]
        ]
        stamps = [_seconds(r["time"]) for r in ours]
        if timeline and stamps:
            start = min(stamps)
            line = []
            for second in range(int(max(stamps) - start) + 1):
                at = [r for r in ours if _seconds(r["time"]) - start == second]
                throttled = sum(1 for r in at if str(r["error_code"]).startswith("Throttling"))
                line.append(f"{len(at) - throttled}" + (f"/{throttled}t" if throttled else ""))
            say("  creates accepted per second (/throttled): " + " ".join(line))
        done = [_seconds(r["time"]) for r in ours if r["http_status"] == 200]
        return Result(
            eci_span=max(done) - min(stamps) if done else 0.0,
            size=size,
            case=case,
            seconds=seconds,
            bound=bound(size, CREATE_RATE / 2 if case == "shared" else CREATE_RATE),
            calls=len(ours),
            throttled=sum(1 for r in ours if str(r["error_code"]).startswith("Throttling")),
            look_ups=len(look_ups),
            other_calls=len(creates) - len(ours),
        )
    finally:
        stop.set()
        if other is not None:
            other.join(10)
        if operator is not None and operator.poll() is None:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()
        emulator.terminate()
        try:
            emulator.wait(30)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000", help="wave sizes, comma-separated")
    parser.add_argument("--with-5000", action="store_true", help="add a wave of 5,000")
    parser.add_argument("--cases", default="alone,shared", help="alone, shared (another client at half)")
    parser.add_argument("--timeline", action="store_true", help="print the creates at ECI per second")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for one wave")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if args.with_5000:
        sizes.append(5000)
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    if not set(cases) <= {"alone", "shared"}:
        raise SystemExit("--cases takes alone and/or shared")

    workdir = Path(tempfile.mkdtemp(prefix="acr-eci-bench-waves-"))
    plane = ControlPlane()
    results: list[Result] = []
    try:
        plane.start()
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))  # type: ignore[no-untyped-call]
        api.configuration.connection_pool_maxsize = 16
        crd = yaml.safe_load((REPO / "crds" / "acrcontainergroups.eci.acr-operator.dev.yaml").read_text())
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        wait(lambda: _crd_served(client.CustomObjectsApi(api)), 30, "the CRD", interval=0.2)
        for size in sizes:
            for case in cases:
                results.append(run_case(plane, api, size, case, workdir, args.timeout, args.timeline))
                say(f"  done in {results[-1].seconds:.1f}s")
    finally:
        plane.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)

    print()
    print(f"ECI's Create limit: burst {CREATE_BURST:g}, {CREATE_RATE:g}/s; the operator at its defaults")
    print(f"target: within {TARGET_RATIO}x the bound, at most {TARGET_THROTTLED:.0%} of creates throttled")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    print()
    header = (
        f"{'creates':>7}  {'case':<7}  {'all ids':>8}  {'bound':>6}  {'ratio':>6}  "
        f"{'at ECI':>6}  {'create calls':>12}  {'throttled':>13}  {'look-ups':>8}  {'other client':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        print(
            f"{r.size:>7}  {r.case:<7}  {r.seconds:>7.1f}s  {r.bound:>5.0f}s  {ratio:>6}  "
            f"{r.eci_span:>5.0f}s  {r.calls:>12}  {r.throttled:>5} ({r.throttled_share:>5.1%})  {r.look_ups:>8}  {r.other_calls:>12}"
        )
    print()
    print("all ids: from the first apply until every resource has status.containerGroupId; bound:")
    print("(N - burst) / rate, with half the rate when shared (no bound below the burst: that row is the")
    print("operator's own overhead);")
    print("at ECI: from the operator's first create call to its last successful one (whole seconds);")
    print("shared: another client of the account sends creates at half the refill rate meanwhile.")
    return 0


def wait(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def _seconds(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def _resource(index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AcrContainerGroup",
        "metadata": {"name": f"wave-{index:04d}"},
        "spec": {
            "containers": [
                {"name": "web", "image": "testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0"}
            ],
            "acrRegistryInfos": [{"instanceId": "cri-nwj395hgf6f3abcd"}],
        },
    }


def _crd_served(custom: client.CustomObjectsApi) -> bool:
    try:
        custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    except client.exceptions.ApiException:
        return False
    return True


def _answers(admin: AdminClient) -> bool:
    try:
        admin.rate_limits()
    except OSError:
        return False
    return True


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _with_ids(custom: client.CustomObjectsApi, namespace: str) -> int:
    listing: dict[str, Any] = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)  # type: ignore[assignment]
    return sum(1 for item in listing["items"] if (item.get("status") or {}).get("containerGroupId"))


if __name__ == "__main__":
    raise SystemExit(main())
