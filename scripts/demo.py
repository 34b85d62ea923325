#!/usr/bin/env python3
"""`make demo`: the operator end to end on the local control plane and the ECI emulator.

It starts a local kube-apiserver (with etcd) and the ECI emulator, installs the CRD, runs the real
operator as a child process, applies every `examples/*.yaml` into namespace `demo` and shows a live
table until the examples settle: all running, except `missing-registry-info`, whose image pull fails
because no AcrRegistryInfo covers its ACR Enterprise Edition image. Then it deletes the resources,
shows that no container group is left at the emulator, stops everything (by pid) and exits 0.

Exit codes: 0 done, 1 the examples did not settle or clean up in time, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from eci_emulator.admin import AdminClient
from local_control_plane.cluster import CACHE_DIR, ControlPlane, free_port, start_process

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
ACR_INSTANCES = EXAMPLES / "emulator" / "acr-instances.yaml"
CRD_FILE = REPO / "crds" / "acrcontainergroups.eci.acr-operator.dev.yaml"
GROUP, VERSION, PLURAL, KIND = "eci.acr-operator.dev", "v1alpha1", "acrcontainergroups", "AcrContainerGroup"
NAMESPACE = "demo"
REGION = "cn-beijing"
SECURITY_GROUP = "sg-2zeh4cev9y7ulbrabcd"
VSWITCH = "vsw-2zejlv7xjnw61w6zabcd"
BROKEN_EXAMPLE = "missing-registry-info"
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")
COLUMNS = ("NAME", "PHASE", "GROUP ID", "READY", "REASON")

T = TypeVar("T")
_STARTED = time.monotonic()


class DemoFailed(RuntimeError):
    """The demo could not reach its goal; the message says why."""


def say(message: str) -> None:
    elapsed = time.monotonic() - _STARTED
    print(f"[{time.strftime('%H:%M:%S')} +{elapsed:5.1f}s] {message}", flush=True)


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll predicate() until it returns something truthy; DemoFailed after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def executable(name: str) -> str:
    """A console script of this virtualenv (next to the interpreter), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise DemoFailed(f"{name} not found: run `make venv` first")
    return found


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_child(process: subprocess.Popen[bytes] | None, what: str, timeout: float = 20.0) -> None:
    """SIGTERM by pid, wait, SIGKILL if it does not end in time."""
    if process is None:
        return
    if process.poll() is not None:
        say(f"{what} (pid {process.pid}) had already exited with {process.returncode}")
        return
    say(f"stopping {what} (pid {process.pid}, SIGTERM)")
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        say(f"{what} (pid {process.pid}) did not stop within {timeout:.0f}s: SIGKILL")
        process.kill()
        process.wait(timeout)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without settings that would steer the children elsewhere."""
    prefixes = ("ALIBABA_CLOUD_", "ECI_", "ACR_ECI_LOG_", "KUBECONFIG")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(extra)
    return env


# ---- the examples and their state -------------------------------------------------------------------


def load_examples() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def condition(resource: dict[str, Any], type_: str) -> dict[str, Any]:
    for entry in (resource.get("status") or {}).get("conditions") or []:
        if entry.get("type") == type_:
            return dict(entry)
    return {}


def row(resource: dict[str, Any]) -> tuple[str, str, str, str, str]:
    status = resource.get("status") or {}
    ready, synced = condition(resource, "Ready"), condition(resource, "Synced")
    reason = synced.get("reason") if synced.get("status") == "False" else ready.get("reason")
    return (
        str(resource["metadata"]["name"]),
        str(status.get("phase") or "-"),
        str(status.get("containerGroupId") or "-"),
        str(ready.get("status") or "-"),
        str(reason or "-"),
    )


def render_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(line[i]) for line in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [COLUMNS, *rows]
    )


def settled(resource: dict[str, Any]) -> bool:
    ready = condition(resource, "Ready")
    if resource["metadata"]["name"] == BROKEN_EXAMPLE:
        return ready.get("reason") in PULL_FAILURES
    status = resource.get("status") or {}
    return status.get("phase") == "Running" and ready.get("status") == "True"


# ---- the demo ------------------------------------------------------------------------------------------


class Demo:
    def __init__(self, workdir: Path, settle_timeout: float) -> None:
        self.workdir = workdir
        self.settle_timeout = settle_timeout
        self.plane: ControlPlane | None = None
        self.emulator: subprocess.Popen[bytes] | None = None
        self.operator: subprocess.Popen[bytes] | None = None
        self.api: client.ApiClient | None = None
        self.operator_log = workdir / "operator.log"
        self.emulator_log = workdir / "emulator.log"
        self.last_table = ""
        self.settled_table = ""

    # -- setup --

    def start_control_plane(self) -> None:
        say("starting the local control plane (etcd + kube-apiserver 1.20)")
        plane_dir = self.workdir / "control-plane"
        plane_dir.mkdir()
        self.plane = ControlPlane(workdir=plane_dir)
        self.plane.start()
        say(f"  control plane up at {self.plane.server} (pids {', '.join(map(str, self.plane.pids))})")
        say(f"  kubeconfig: {self.plane.kubeconfig_path}")
        kubeconfig = str(self.plane.kubeconfig_path)
        self.api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]

    def start_emulator(self) -> tuple[str, str, str]:
        key_id = "LTAI5tDemo" + secrets.token_hex(6)
        key_secret = secrets.token_urlsafe(24)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        say("starting the ECI emulator (scheduling 1 s, pending 1 s)")
        argv = [
            executable("eci-emulator"),
            "--port",
            str(port),
            "--acr-instances",
            str(ACR_INSTANCES),
            "--scheduling-seconds",
            "1",
            "--pending-seconds",
            "1",
        ]
        # The demo's key pair goes by environment, not on the command line where `ps` would show it.
        env = child_env(
            {"ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": key_secret}
        )
        self.emulator = start_process(argv, self.emulator_log, env)
        admin = AdminClient(url, timeout=2)

        def healthy() -> bool:
            if self.emulator is not None and self.emulator.poll() is not None:
                raise DemoFailed(
                    f"the emulator exited with {self.emulator.returncode}:\n{tail(self.emulator_log)}"
                )
            try:
                admin.health()
            except (OSError, RuntimeError):
                return False
            return True

        wait_for(healthy, 30, "the emulator's health endpoint")
        instances = admin.acr_instances()
        names = [entry.get("instanceName") for entry in instances.get("acrInstances") or []]
        listed = ", ".join(map(str, names))
        say(f"  emulator up at {url} (pid {self.emulator.pid}); ACR EE instances: {listed}")
        say(f"  emulator log: {self.emulator_log}")
        return url, key_id, key_secret

    def install_crd(self) -> None:
        say(f"applying the CRD {CRD_FILE.relative_to(REPO)}")
        body = yaml.safe_load(CRD_FILE.read_text())
        extensions = client.ApiextensionsV1Api(self.api)
        extensions.create_custom_resource_definition(body)

        def established() -> bool:
            crd = extensions.read_custom_resource_definition(body["metadata"]["name"])
            conditions = (crd.status.conditions if crd.status else None) or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        wait_for(established, 30, "the CRD to be Established")
        say("  CRD established")
        client.CoreV1Api(self.api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
        )
        say(f"  namespace {NAMESPACE} created")

    def start_operator(self, emulator_url: str, key_id: str, key_secret: str) -> None:
        assert self.plane is not None
        port = free_port()
        health = f"http://127.0.0.1:{port}/healthz"
        argv = [
            executable("acr-eci-operator"),
            "run",
            "--standalone",
            "--namespace",
            NAMESPACE,
            "--liveness",
            health,
        ]
        env = child_env(
            {
                "KUBECONFIG": str(self.plane.kubeconfig_path),
                "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": key_secret,
                "ALIBABA_CLOUD_REGION_ID": REGION,
                "ECI_ENDPOINT": emulator_url,
                "ECI_DEFAULT_SECURITY_GROUP_ID": SECURITY_GROUP,
                "ECI_DEFAULT_VSWITCH_IDS": VSWITCH,
                "ECI_POLL_INTERVAL_SECONDS": "1",
                "ACR_ECI_LOG_FORMAT": "text",
                "ACR_ECI_LOG_LEVEL": "INFO",
            }
        )
        say(f"starting the operator: {' '.join(argv[1:])}")
        self.operator = start_process(argv, self.operator_log, env)
        say(f"  operator pid {self.operator.pid}; log: {self.operator_log}")

        def alive() -> bool:
            if self.operator is not None and self.operator.poll() is not None:
                raise DemoFailed(
                    f"the operator exited with {self.operator.returncode}:\n{tail(self.operator_log)}"
                )
            return http_ok(health)

        wait_for(alive, 60, "the operator's liveness endpoint")
        say(f"  operator healthy ({health})")
        kubectl = CACHE_DIR / "bin" / "kubectl"
        if kubectl.exists():
            command = f"KUBECONFIG={self.plane.kubeconfig_path} {kubectl} get acg -n {NAMESPACE}"
            say(f"  to look while the demo runs: {command}")

    # -- the examples --

    def apply_examples(self, documents: Iterable[dict[str, Any]]) -> list[str]:
        core, custom = client.CoreV1Api(self.api), client.CustomObjectsApi(self.api)
        ordered = sorted(documents, key=lambda doc: doc["kind"] == KIND)  # Secrets and ConfigMaps first
        names: list[str] = []
        for doc in ordered:
            body = {**doc, "metadata": {**doc["metadata"], "namespace": NAMESPACE}}
            name = body["metadata"]["name"]
            if doc["kind"] == "Secret":
                core.create_namespaced_secret(NAMESPACE, body)  # type: ignore[arg-type]
            elif doc["kind"] == "ConfigMap":
                core.create_namespaced_config_map(NAMESPACE, body)  # type: ignore[arg-type]
            elif doc["kind"] == KIND:
                custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
                names.append(name)
            else:
                raise DemoFailed(f"unexpected kind {doc['kind']} in examples/")
            say(f"  created {doc['kind']} {NAMESPACE}/{name}")
        return names

    def list_resources(self) -> list[dict[str, Any]]:
        custom = client.CustomObjectsApi(self.api)
        answer: dict[str, Any] = custom.list_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, NAMESPACE, PLURAL
        )
        return sorted(answer.get("items") or [], key=lambda item: item["metadata"]["name"])

    def watch_until_settled(self, names: Sequence[str]) -> list[dict[str, Any]]:
        say(
            f"waiting for the examples to settle (all Running; {BROKEN_EXAMPLE} failing its pull); "
            f"timeout {self.settle_timeout:.0f}s"
        )
        deadline = time.monotonic() + self.settle_timeout
        last_note = time.monotonic()
        while True:
            resources = self.list_resources()
            table = render_table([row(resource) for resource in resources])
            if table != self.last_table:
                say("status:")
                print(table, flush=True)
                self.last_table = table
                last_note = time.monotonic()
            by_name = {resource["metadata"]["name"]: resource for resource in resources}
            pending = [name for name in names if name not in by_name or not settled(by_name[name])]
            if not pending:
                self.settled_table = table
                return resources
            if self.operator is not None and self.operator.poll() is not None:
                raise DemoFailed(f"the operator exited with {self.operator.returncode}")
            if time.monotonic() >= deadline:
                raise DemoFailed(
                    f"not settled after {self.settle_timeout:.0f}s; still waiting for {', '.join(pending)}"
                )
            if time.monotonic() - last_note >= 10:
                say(f"  still waiting for {', '.join(pending)}")
                last_note = time.monotonic()
            time.sleep(1)

    def explain_failure(self, resources: Sequence[dict[str, Any]]) -> None:
        broken = next((r for r in resources if r["metadata"]["name"] == BROKEN_EXAMPLE), None)
        if broken is None:
            return
        ready = condition(broken, "Ready")
        say(f"why {BROKEN_EXAMPLE} does not run: its Ready condition")
        print(f"  {ready.get('reason')}: {ready.get('message')}", flush=True)
        for container in (broken.get("status") or {}).get("containers") or []:
            detail = str(container.get("message") or "")
            if (
                container.get("reason") in PULL_FAILURES
                and detail
                and detail not in str(ready.get("message"))
            ):
                say(f"  and its container {container.get('name')} ({container.get('reason')}):")
                print(f"  {detail}", flush=True)
        selector = f"involvedObject.name={BROKEN_EXAMPLE},involvedObject.kind={KIND}"
        events = client.CoreV1Api(self.api).list_namespaced_event(NAMESPACE, field_selector=selector).items
        events.sort(key=lambda event: str(event.first_timestamp or event.event_time or ""))
        # Identical events are shown once (oldest first), with how many times they were posted.
        counts: dict[tuple[str, str], int] = {}
        for event in events:
            if event.type == "Warning":
                key = (str(event.reason), str(event.message))
                counts[key] = counts.get(key, 0) + (event.count or 1)
        say(f"Warning events on {BROKEN_EXAMPLE} ({sum(counts.values())}):")
        for (reason, message), count in counts.items():
            times = f" (x{count})" if count > 1 else ""
            print(f"  {reason}{times}: {message}", flush=True)

    def delete_all(self, emulator_url: str) -> int:
        custom = client.CustomObjectsApi(self.api)
        say("deleting every AcrContainerGroup in namespace demo")
        for resource in self.list_resources():
            name = resource["metadata"]["name"]
            try:
                custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
            except ApiException as error:
                if error.status != 404:
                    raise
            say(f"  deleted {name} (the operator's finalizer deletes its container group)")

        def gone() -> bool:
            left = self.list_resources()
            table = render_table([row(resource) for resource in left]) if left else "(none left)"
            if table != self.last_table:
                say("status:")
                print(table, flush=True)
                self.last_table = table
            return not left

        wait_for(gone, 60, "the AcrContainerGroups to be deleted (finalizers)", interval=0.5)
        say("  all AcrContainerGroups are gone")
        groups = AdminClient(emulator_url).groups()
        say(f"container groups left at the emulator: {len(groups)}")
        for group in groups:
            print(
                f"  {group.get('ContainerGroupId')} {group.get('ContainerGroupName')} {group.get('Status')}"
            )
        return len(groups)

    def run(self) -> None:
        self.start_control_plane()
        emulator_url, key_id, key_secret = self.start_emulator()
        self.install_crd()
        self.start_operator(emulator_url, key_id, key_secret)
        say("applying examples/*.yaml into namespace demo")
        names = self.apply_examples(load_examples())
        resources = self.watch_until_settled(names)
        say(f"settled: {len(names) - 1} examples running, {BROKEN_EXAMPLE} failing its pull as expected")
        self.explain_failure(resources)
        left = self.delete_all(emulator_url)
        if left:
            raise DemoFailed(f"{left} container group(s) still exist at the emulator")

    def stop(self) -> None:
        """Stop whatever was started, in reverse order, each by pid; never raises."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("operator", lambda: stop_child(self.operator, "the operator")),
            ("emulator", lambda: stop_child(self.emulator, "the emulator", timeout=10)),
            ("api client", self._close_api),
            ("control plane", self._stop_plane),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as error:  # keep stopping the rest
                say(f"stopping the {what} failed: {error!r}")

    def _close_api(self) -> None:
        if self.api is not None:
            self.api.close()  # type: ignore[no-untyped-call]

    def _stop_plane(self) -> None:
        if self.plane is not None and self.plane.processes:
            say(f"stopping the control plane (pids {', '.join(map(str, self.plane.pids))})")
            self.plane.stop()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds for the examples to settle")
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)  # also when started with SIGINT ignored (a background job)

    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="acr-eci-demo-")) if own_workdir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"acr-eci-operator demo; working folder {workdir}")
    demo = Demo(workdir, args.timeout)
    code = 1
    try:
        demo.run()
        code = 0
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        code = 130
    except DemoFailed as error:
        say(f"FAILED: {error}")
        print(f"--- last lines of the operator log ({demo.operator_log}) ---", flush=True)
        print(tail(demo.operator_log, 60), flush=True)
    except Exception as error:
        say(f"FAILED: {error!r}")
        print(f"--- last lines of the operator log ({demo.operator_log}) ---", flush=True)
        print(tail(demo.operator_log, 60), flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.stop()
        if own_workdir and code != 1:
            shutil.rmtree(workdir, ignore_errors=True)
            say(f"removed {workdir}")
        elif own_workdir:
            say(f"logs kept in {workdir}")
    if code == 0:
        say("final table:")
        print(demo.settled_table, flush=True)
        say(f"demo done in {time.monotonic() - _STARTED:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
