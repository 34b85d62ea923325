"""Benchmark: DescribeContainerGroups over 1,000 groups against the ECI emulator.

Starts `eci-emulator` as its own process (flow control off), creates the groups through the SDK, then for
each mode runs client processes x threads for a fixed time and prints requests per second and latency
percentiles:

- ids:    ContainerGroupIds with 20 random ids per call
- paging: Limit=20 with NextToken through every group (each page one request)

Usage: python benchmarks/bench_emulator.py [--groups 1000] [--duration 5] [--processes 2] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aliyunsdkcore.client import AcsClient
from aliyunsdkeci.request.v20180808.CreateContainerGroupRequest import CreateContainerGroupRequest
from aliyunsdkeci.request.v20180808.DescribeContainerGroupsRequest import DescribeContainerGroupsRequest

ACCESS_KEY_ID = "bench-key"
ACCESS_KEY_SECRET = "bench-secret"
REGION_ID = "cn-beijing"


@dataclass
class Result:
    requests: int
    errors: int
    latencies: list[float]


def _client() -> AcsClient:
    return AcsClient(ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION_ID, timeout=30)


def _request(endpoint: str, request: DescribeContainerGroupsRequest | CreateContainerGroupRequest) -> None:
    request.set_endpoint(endpoint)
    request.set_protocol_type("http")


def create_groups(endpoint: str, count: int) -> list[str]:
    def create(index: int) -> str:
        request = CreateContainerGroupRequest()
        _request(endpoint, request)
        request.add_query_param("ContainerGroupName", f"bench-{index}")
        request.add_query_param("Container.1.Name", "main")
        request.add_query_param("Container.1.Image", "nginx:1.25")
        request.add_query_param("Tag.1.Key", "bench")
        request.add_query_param("Tag.1.Value", str(index % 10))
        return str(json.loads(_client().do_action_with_exception(request))["ContainerGroupId"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(create, range(count)))


def _thread_loop(endpoint: str, mode: str, ids: list[str], deadline: float, result: Result) -> None:
    client = _client()
    rng = random.Random()
    token = ""
    while time.monotonic() < deadline:
        request = DescribeContainerGroupsRequest()
        _request(endpoint, request)
        if mode == "ids":
            request.add_query_param("ContainerGroupIds", json.dumps(rng.sample(ids, 20)))
        else:
            request.add_query_param("Limit", "20")
            if token:
                request.add_query_param("NextToken", token)
        started = time.perf_counter()
        try:
            answer = json.loads(client.do_action_with_exception(request))
            if mode == "paging":
                token = answer["NextToken"]
            elif len(answer["ContainerGroups"]) != 20:
                result.errors += 1
        except Exception:
            result.errors += 1
        result.latencies.append(time.perf_counter() - started)
        result.requests += 1


def _process_main(
    endpoint: str, mode: str, ids: list[str], threads: int, deadline_in: float, queue: object
) -> None:
    deadline = time.monotonic() + deadline_in
    results = [Result(0, 0, []) for _ in range(threads)]
    workers = [
        threading.Thread(target=_thread_loop, args=(endpoint, mode, ids, deadline, result))
        for result in results
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(  # type: ignore[attr-defined]
        (
            sum(r.requests for r in results),
            sum(r.errors for r in results),
            [x for r in results for x in r.latencies],
        )
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 where unavailable."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    endpoint: str, mode: str, ids: list[str], processes: int, threads: int, duration: float, server_pid: int
) -> None:
    context = multiprocessing.get_context("spawn")
    cpu_before = _cpu_seconds(server_pid)
    queue = context.Queue()
    started = time.monotonic()
    workers = [
        context.Process(target=_process_main, args=(endpoint, mode, ids, threads, duration, queue))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [queue.get(timeout=duration + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    elapsed = time.monotonic() - started
    server_cpu = _cpu_seconds(server_pid) - cpu_before
    requests = sum(outcome[0] for outcome in outcomes)
    errors = sum(outcome[1] for outcome in outcomes)
    latencies = sorted(x for outcome in outcomes for x in outcome[2])
    p50 = statistics.median(latencies) * 1000 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    sys.stdout.write(
        f"DescribeContainerGroups [{mode:6}] clients={processes}x{threads} duration={duration:.0f}s "
        f"requests={requests} errors={errors} rps={requests / duration:.0f} "
        f"p50={p50:.1f}ms p99={p99:.1f}ms (wall {elapsed:.1f}s)\n"
    )
    if requests and server_cpu:
        per_request = server_cpu / requests
        sys.stdout.write(
            f"  emulator CPU {per_request * 1000:.2f}ms/request -> about {1 / per_request:.0f} requests/s per "
            f"core of emulator capacity (machine has {os.cpu_count()} CPUs shared with the clients)\n"
        )
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    env = {
        **os.environ,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eci_emulator.cli",
            "--port",
            "0",
            "--no-rate-limits",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        endpoint = url.removeprefix("http://")
        started = time.monotonic()
        ids = create_groups(endpoint, args.groups)
        sys.stdout.write(
            f"emulator {url}: created {len(ids)} groups through the SDK in {time.monotonic() - started:.1f}s\n"
        )
        for mode in ("ids", "paging"):
            measure(endpoint, mode, ids, args.processes, args.threads, args.duration, server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
