"""Start and stop a real kube-apiserver (v1.20.2, built from Debian's source) with etcd on 127.0.0.1.

Both processes run in a temporary folder, on free ports, with token authentication and RBAC. They are
started with PR_SET_PDEATHSIG so that they die with the Python process that started them, even when it
is killed; `stop()` ends them by pid and waits for them. The helpers here (build cache, etcd, process
and kubeconfig helpers, LocalApiserver) also serve `apiextensions.py`, the CEL-enforcing 1.36 server.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().parent / "build-kube-apiserver.sh"
"""The recipe that builds kube-apiserver into the cache (shipped in this package)."""
CACHE_DIR = Path(os.environ.get("ACR_ECI_CACHE", Path.home() / ".cache" / "acr-eci-operator"))
"""The cache of slow builds and fetched tools (the build scripts write it; ACR_ECI_CACHE moves it)."""

ADMIN_USER = "admin"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started."""


@dataclass(frozen=True)
class TokenUser:
    """One line of the apiserver's --token-auth-file: a bearer token and who it authenticates as."""

    token: str
    user: str
    groups: tuple[str, ...] = ()


def service_account_user(namespace: str, name: str, token: str) -> TokenUser:
    """A token that authenticates exactly as the ServiceAccount namespace/name would in a cluster."""
    return TokenUser(
        token=token,
        user=f"system:serviceaccount:{namespace}:{name}",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


def ensure_built(script: Path, override_variable: str, what: str) -> Path:
    """Return the binary a build script caches, building it first (minutes, with progress on stderr) if
    needed.

    The build script owns the cache's layout and prints the binary's path; the environment variable
    `override_variable` overrides it."""
    override = os.environ.get(override_variable)
    if override:
        return Path(override)
    result = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    binary = Path(lines[-1]) if lines else None
    if result.returncode != 0 or binary is None or not binary.is_file():
        raise ControlPlaneError(f"building {what} failed (exit {result.returncode}); see the log above")
    return binary


def ensure_apiserver_binary() -> Path:
    """The cached kube-apiserver 1.20.2 (KUBE_APISERVER_BINARY overrides it)."""
    return ensure_built(BUILD_SCRIPT, "KUBE_APISERVER_BINARY", "kube-apiserver")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def start_process(
    argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a helper process that writes to log_path and is killed if this process dies."""
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate one process by pid, escalate to SIGKILL, and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def start_etcd(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start etcd on free 127.0.0.1 ports with its data and log in workdir; returns it and its client URL."""
    etcd = shutil.which("etcd")
    if etcd is None:
        raise ControlPlaneError("etcd is not installed: apt-get install etcd-server")
    client_port, peer_port = free_port(), free_port()
    client_url = f"http://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    process = start_process(
        [
            etcd,
            "--name=local",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=local={peer_url}",
            "--log-level=warn",
        ],
        workdir / "etcd.log",
    )
    return process, client_url


def write_kubeconfig(path: Path, server: str, ca_path: Path, user: dict[str, str]) -> Path:
    """Write a kubeconfig for one server and one user (`token`, or `client-certificate` and `client-key`)."""
    credentials = "".join(f"    {key}: {value}\n" for key, value in user.items())
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: local\n  cluster:\n"
        f"    server: {server}\n    certificate-authority: {ca_path}\n"
        f"users:\n- name: user\n  user:\n{credentials}"
        "contexts:\n- name: local\n  context:\n    cluster: local\n    user: user\n"
        "    namespace: default\n"
        "current-context: local\n"
    )
    return path


@dataclass
class LocalApiserver:
    """An apiserver with its own etcd on 127.0.0.1, in one working folder (a temporary one unless given);
    both processes are stopped together, by pid."""

    workdir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    etcd_url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _own_workdir: bool = False

    @property
    def server(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def kubeconfig_path(self) -> Path:
        """The admin kubeconfig."""
        assert self.workdir is not None
        return self.workdir / "kubeconfig"

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def _start_with_etcd(
        self,
        workdir_prefix: str,
        launch: Callable[[Path], None],
        ready: str,
        timeout: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Start etcd, then `launch(workdir)` the apiserver, and wait until GET `ready` answers 200 (TLS,
        certificate not checked), failing early if a process exits; stop everything on any failure."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=workdir_prefix))
            self._own_workdir = True
        try:
            etcd, self.etcd_url = start_etcd(self.workdir)
            self.processes.append(etcd)
            launch(self.workdir)
            self._wait_ready(f"{self.server}{ready}", timeout, headers or {})
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, url: str, timeout: float, headers: dict[str, str]) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(url, headers=headers)
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise ControlPlaneError(
                        f"process {process.pid} exited with {process.returncode}; logs in {self.workdir}"
                    )
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{url} not ready after {timeout:.0f}s ({last_error}); logs in {self.workdir}"
        )

    def stop(self) -> None:
        """Stop every process by pid (the last started first), then remove a temporary workdir."""
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class ControlPlane(LocalApiserver):
    """A running etcd + kube-apiserver pair. Use `start()` / `stop()` or the `running()` context manager."""

    extra_tokens: Sequence[TokenUser] = ()
    apiserver_binary: Path | None = None
    admin_token: str = field(default_factory=lambda: os.urandom(16).hex())

    @property
    def apiserver_log(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "kube-apiserver.log"

    @property
    def ca_path(self) -> Path:
        """The apiserver's self-signed serving certificate chain (its CA included)."""
        assert self.workdir is not None
        return self.workdir / "certs" / "apiserver.crt"

    def kubeconfig_for(self, token: str, path: Path) -> Path:
        """Write a kubeconfig that talks to this apiserver with the given bearer token."""
        return write_kubeconfig(path, self.server, self.ca_path, {"token": token})

    def start(self, timeout: float = 60.0) -> ControlPlane:
        binary = self.apiserver_binary or ensure_apiserver_binary()
        self._start_with_etcd(
            "acr-eci-control-plane-",
            lambda workdir: self._start_apiserver(binary, workdir),
            "/readyz",
            timeout,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        self.kubeconfig_for(self.admin_token, self.kubeconfig_path)
        return self

    def _start_apiserver(self, binary: Path, workdir: Path) -> None:
        key = workdir / "service-account.key"
        pub = workdir / "service-account.pub"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        subprocess.run(
            ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True
        )
        tokens = [TokenUser(self.admin_token, ADMIN_USER, ("system:masters",)), *self.extra_tokens]
        (workdir / "tokens.csv").write_text(
            "".join(f'{t.token},{t.user},{t.user},"{",".join(t.groups)}"\n' for t in tokens)
        )
        self.port = self.port or free_port()
        self.processes.append(
            start_process(
                [
                    str(binary),
                    f"--etcd-servers={self.etcd_url}",
                    f"--bind-address={self.host}",
                    f"--advertise-address={self.host}",
                    f"--secure-port={self.port}",
                    f"--cert-dir={workdir / 'certs'}",
                    f"--token-auth-file={workdir / 'tokens.csv'}",
                    "--authorization-mode=RBAC",
                    f"--service-account-key-file={pub}",
                    f"--service-account-signing-key-file={key}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--disable-admission-plugins=ServiceAccount",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    "--endpoint-reconciler-type=none",
                    "--enable-priority-and-fairness=false",
                    "--v=1",
                ],
                self.apiserver_log,
            )
        )


@contextlib.contextmanager
def running(extra_tokens: Sequence[TokenUser] = ()) -> Iterator[ControlPlane]:
    """A started control plane for the duration of the block, stopped however the block ends."""
    plane = ControlPlane(extra_tokens=extra_tokens)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
